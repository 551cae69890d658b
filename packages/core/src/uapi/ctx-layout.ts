import { ProgType } from './prog-types.js';

/**
 * The contexts programs get in r1, as a test run has to build them: the UAPI struct of each
 * program type (`include/uapi/linux/bpf.h`, `bpf_perf_event.h`; x86-64, so `__bpf_md_ptr` fields
 * and `struct pt_regs` registers are 8 bytes), reduced to what a runtime must fill in: where the
 * packet pointers go, where the packet length goes, and which pointer fields hold NULL or point at
 * another struct. Everything else is plain memory the program reads (and, where the verifier lets
 * it, writes).
 *
 * Only the runtimes' facts live here; the verifier's per-field access rules are in
 * `@tsbpf/verifier`'s `ctx.ts`, and its tests check both against the running kernel's BTF.
 */

/** A pointer-sized field of a context: `u32` in `__sk_buff` / `xdp_md`, `__bpf_md_ptr` (8) elsewhere. */
export interface CtxField {
  /** Byte offset in the context. */
  off: number;
  /** Bytes: 4 for the `__u32` packet pointers of `__sk_buff` and `xdp_md`, 8 for `__bpf_md_ptr`. */
  size: 4 | 8;
}

/** Where a context keeps its packet: `data`, `data_end` and, where there is one, `data_meta`. */
export interface CtxPacketFields {
  data: CtxField;
  dataEnd: CtxField;
  /** XDP and `__sk_buff` metadata pointer (equal to `data` when there is no metadata). */
  dataMeta?: CtxField;
}

/** A pointer field the runtime fills in before a run. */
export interface CtxPointer extends CtxField {
  /** The field's UAPI name (`sk`, `flow_keys`). */
  name: string;
  /**
   * What it points at in a test run: a zeroed struct of `size` bytes (the kernel's test run gives
   * an `__sk_buff` a dummy socket; `bpf_sock_addr.sk` always has one), or NULL when absent
   * (`flow_keys` outside flow dissectors, `bpf_sk_lookup.sk` before a socket is assigned).
   */
  target?: { struct: string; size: number };
  /**
   * The verifier types the field `*_or_null`, so programs must test it for NULL and a run may
   * leave it NULL even when it has a target (`__sk_buff.sk`, `bpf_sock_ops.sk`).
   */
  nullable?: boolean;
}

/** What a runtime needs to know of one program type's context. */
export interface CtxLayout {
  /** The UAPI struct (`__sk_buff`, `xdp_md`, `pt_regs`, ...). */
  struct: string;
  /** Bytes the context spans: `sizeof` the struct, or the verifier's bound for buffer contexts. */
  size: number;
  /** The packet pointers, for program types that see a packet. */
  packet?: CtxPacketFields;
  /** Offset of the `__u32` packet length (`__sk_buff.len`, `sk_msg_md.size`, ...). */
  len?: number;
  /**
   * Bytes of a test run's packet before `data`: the kernel's `BPF_PROG_TEST_RUN` pulls the
   * Ethernet header (14) for the `__sk_buff` types that see packets from the network header
   * (all but tc's `SCHED_CLS` / `SCHED_ACT`), and hands it back zeroed in `data_out`.
   */
  linkHeader?: number;
  /** Pointer fields that are not packet pointers. */
  pointers?: readonly CtxPointer[];
}

/** `sizeof(struct bpf_sock)`: what `PTR_TO_SOCKET` context fields point at. */
export const BPF_SOCK_SIZE = 80;
/** `sizeof(struct bpf_flow_keys)`. */
export const BPF_FLOW_KEYS_SIZE = 56;
/** `sizeof(struct pt_regs)` on x86-64 (21 registers). */
export const PT_REGS_SIZE = 168;
/** `PERF_MAX_TRACE_SIZE`: what the verifier lets a tracepoint program read of its record. */
export const PERF_MAX_TRACE_SIZE = 8192;
/** `MAX_BPF_FUNC_ARGS` u64 arguments: raw tracepoints, fentry/fexit, LSM. */
export const BPF_FUNC_ARGS_SIZE = 12 * 8;

const u32 = (off: number): CtxField => ({ off, size: 4 });
const ptr = (off: number): CtxField => ({ off, size: 8 });
const BPF_SOCK = { struct: 'bpf_sock', size: BPF_SOCK_SIZE };
/** A `PTR_TO_SOCKET` field: always a socket. */
const sock = (name: string, off: number): CtxPointer => ({ name, ...ptr(off), target: BPF_SOCK });
/** A `sock_or_null` field that has a socket unless a run asks for NULL. */
const sockOrNull = (name: string, off: number): CtxPointer => ({ ...sock(name, off), nullable: true });
/** A field that is NULL in a test run. */
const nullPtr = (name: string, off: number): CtxPointer => ({ name, ...ptr(off), nullable: true });

/**
 * `struct __sk_buff` (192 bytes) of tc programs: `len` at 0, `data` 76, `data_end` 80,
 * `data_meta` 140, `flow_keys` (144, NULL: only flow dissectors read it) and `sk` (168: the
 * kernel's test run gives the skb a dummy socket; the verifier types it `sock_common_or_null`).
 * The packet starts at the Ethernet header.
 */
export const SK_BUFF_LAYOUT: CtxLayout = {
  struct: '__sk_buff',
  size: 192,
  packet: { data: u32(76), dataEnd: u32(80), dataMeta: u32(140) },
  len: 0,
  pointers: [nullPtr('flow_keys', 144), sockOrNull('sk', 168)],
};

/** `struct __sk_buff` of the types that see packets from the network header (socket filters, cgroup skb, LWT, sk_skb). */
export const SK_BUFF_L3_LAYOUT: CtxLayout = { ...SK_BUFF_LAYOUT, linkHeader: 14 };

/** `struct xdp_md` (24 bytes): `data` 0, `data_end` 4, `data_meta` 8. */
export const XDP_MD_LAYOUT: CtxLayout = {
  struct: 'xdp_md',
  size: 24,
  packet: { data: u32(0), dataEnd: u32(4), dataMeta: u32(8) },
};

/** A context that is plain memory: registers, tracepoint records, arguments, user buffers. */
const plain = (struct: string, size: number): CtxLayout => ({ struct, size });

const LAYOUTS = new Map<number, CtxLayout>([
  [ProgType.SchedCls, SK_BUFF_LAYOUT],
  [ProgType.SchedAct, SK_BUFF_LAYOUT],
  [ProgType.SocketFilter, SK_BUFF_L3_LAYOUT],
  [ProgType.CgroupSkb, SK_BUFF_L3_LAYOUT],
  [ProgType.LwtIn, SK_BUFF_L3_LAYOUT],
  [ProgType.LwtOut, SK_BUFF_L3_LAYOUT],
  [ProgType.LwtXmit, SK_BUFF_L3_LAYOUT],
  [ProgType.LwtSeg6local, SK_BUFF_L3_LAYOUT],
  [ProgType.SkSkb, SK_BUFF_L3_LAYOUT],
  // Flow dissectors see the whole frame, only through data, data_end and flow_keys (PTR_TO_FLOW_KEYS, never NULL).
  [ProgType.FlowDissector, {
    struct: '__sk_buff',
    size: SK_BUFF_LAYOUT.size,
    packet: SK_BUFF_LAYOUT.packet,
    pointers: [{ name: 'flow_keys', ...ptr(144), target: { struct: 'bpf_flow_keys', size: BPF_FLOW_KEYS_SIZE } }, sockOrNull('sk', 168)],
  }],
  [ProgType.Xdp, XDP_MD_LAYOUT],
  [ProgType.SkMsg, { struct: 'sk_msg_md', size: 80, packet: { data: ptr(0), dataEnd: ptr(8) }, len: 68, pointers: [sock('sk', 72)] }],
  [ProgType.SkReuseport, {
    struct: 'sk_reuseport_md', size: 56, packet: { data: ptr(0), dataEnd: ptr(8) }, len: 16,
    pointers: [sock('sk', 40), nullPtr('migrating_sk', 48)],
  }],
  [ProgType.SockOps, {
    struct: 'bpf_sock_ops', size: 224, packet: { data: ptr(192), dataEnd: ptr(200) }, len: 208, pointers: [sockOrNull('sk', 184)],
  }],
  // `optval` .. `optval_end` is the option buffer, which the verifier treats as packet data.
  [ProgType.CgroupSockopt, { struct: 'bpf_sockopt', size: 40, packet: { data: ptr(8), dataEnd: ptr(16) }, len: 32, pointers: [sock('sk', 0)] }],
  [ProgType.CgroupSockAddr, { struct: 'bpf_sock_addr', size: 72, pointers: [sock('sk', 64)] }],
  [ProgType.SkLookup, { struct: 'bpf_sk_lookup', size: 72, pointers: [nullPtr('sk', 0)] }],
  [ProgType.CgroupSock, plain('bpf_sock', BPF_SOCK_SIZE)],
  [ProgType.CgroupDevice, plain('bpf_cgroup_dev_ctx', 12)],
  [ProgType.CgroupSysctl, plain('bpf_sysctl', 8)],
  [ProgType.LircMode2, plain('u32 sample', 4)],
  [ProgType.Kprobe, plain('pt_regs', PT_REGS_SIZE)],
  [ProgType.PerfEvent, plain('bpf_perf_event_data', PT_REGS_SIZE + 16)],
  [ProgType.Tracepoint, plain('tracepoint record', PERF_MAX_TRACE_SIZE)],
  [ProgType.RawTracepoint, plain('bpf_raw_tracepoint_args', BPF_FUNC_ARGS_SIZE)],
  [ProgType.RawTracepointWritable, plain('bpf_raw_tracepoint_args', BPF_FUNC_ARGS_SIZE)],
  [ProgType.Tracing, plain('u64 args[12]', BPF_FUNC_ARGS_SIZE)],
  [ProgType.Lsm, plain('u64 args[12]', BPF_FUNC_ARGS_SIZE)],
  // A syscall program's context is a user buffer of up to U16_MAX bytes.
  [ProgType.Syscall, plain('user buffer', 0xffff)],
]);

/**
 * The context layout of a program type, or `undefined` for types whose context a runtime cannot
 * build (BTF-typed kernel objects: netfilter, struct_ops, ext).
 *
 * @example
 * ```ts
 * const skb = ctxLayout(ProgType.SchedCls)!;
 * skb.packet!.data; // { off: 76, size: 4 }
 * ```
 */
export function ctxLayout(progType: number): CtxLayout | undefined {
  return LAYOUTS.get(progType);
}
