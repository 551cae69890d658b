/**
 * Context access rules per program type: what the kernel's `*_is_valid_access` callbacks decide
 * for a load from or a store into the context (`r1` at entry), and what a load yields.
 *
 * The tables follow Linux 6.18 (`net/core/filter.c`, `kernel/trace/bpf_trace.c`,
 * `kernel/bpf/cgroup.c`, `kernel/bpf/syscall.c`, `kernel/bpf/btf.c`, `net/netfilter/nf_bpf_link.c`,
 * `drivers/media/rc/bpf-lirc.c`), written from the UAPI layouts of `include/uapi/linux/bpf.h`
 * (x86-64: pointers and `__bpf_md_ptr` are 8 bytes, `struct pt_regs` is 168 bytes). The
 * differential test in `ctx.test.ts` loads every (offset, size, direction) against the running
 * kernel and compares.
 */
import {
  AttachType, BPF_FUNC_ARGS_SIZE, BPF_SOCK_SIZE, BtfKind, PERF_MAX_TRACE_SIZE, PT_REGS_SIZE, ProgType, SK_BUFF_LAYOUT, XDP_MD_LAYOUT,
  type Btf, type BtfType,
} from '@tsbpf/core';

/**
 * What a context load yields. Scalars are zero-extended from the access size by the engine (or
 * sign-extended for `BPF_MEMSX`); pointers are 64-bit with a known-zero offset and, for the
 * `*_or_null` kinds, a fresh id the program must test against NULL.
 */
export type CtxValue =
  | 'scalar'
  | 'pkt'
  | 'pkt_meta'
  | 'pkt_end'
  | 'sock_common_or_null'
  | 'sock_or_null'
  | 'sock'
  | 'flow_keys'
  | 'tcp_sock_or_null'
  | 'btf_id'
  | 'tp_buffer'
  | string;

/** A BTF pointer a context load yields (`PTR_TO_BTF_ID` and its flags). */
export interface CtxBtfPointer {
  /** Type id of the pointed-to struct (in vmlinux BTF unless the caller's BTF says otherwise). */
  id?: number;
  /** Struct name (`sk_buff`, `task_struct`). */
  name: string;
  /** `PTR_TRUSTED` (tp_btf, iterators, struct_ops, netfilter). */
  trusted?: boolean;
  /** `PTR_MAYBE_NULL` (a `__nullable` argument). */
  maybeNull?: boolean;
  /** `MEM_USER` / `MEM_PERCPU` from a `user` / `percpu` type tag. */
  user?: boolean;
  percpu?: boolean;
}

/** The verdict on one context access. */
export type CtxAccessResult =
  | {
      ok: true;
      /** What a read yields (`'scalar'` for writes). */
      value: CtxValue;
      /** For `value: 'btf_id'`: the type and flags. */
      btf?: CtxBtfPointer;
      /** The load reads an LSM hook's return value: the engine bounds it by `retvalRange`. */
      retval?: true;
      /** Lines the kernel logs while accepting the access (BTF-typed contexts). */
      log?: string[];
    }
  | {
      ok: false;
      /** The kernel's line: `invalid bpf_context access off=%d size=%d` (or the atomic one). */
      message: string;
      /** Lines the kernel logs before `message` (BTF-typed contexts explain themselves). */
      log?: string[];
    };

/** The kind of a BTF type as `btf_ctx_access` classifies it (after typedefs and qualifiers). */
export interface CtxBtfType {
  /**
   * `'int'`, `'enum'` (also enum64), `'struct'`, `'union'`, `'ptr'`, `'void'`, or the kernel's
   * `btf_type_str()` of any other kind (`'FLOAT'`, `'ARRAY'`, `'FUNC_PROTO'`, ...).
   */
  kind: string;
  /** Size in bytes (pointers: 8, void: 0). */
  size: number;
  /** The type's name (empty for anonymous types). */
  name: string;
  /** For `'ptr'`: what it points to. */
  pointee?: {
    /** Same vocabulary as `kind`. */
    kind: string;
    /** BTF id of the pointee once typedefs and qualifiers are skipped. */
    id: number;
    name: string;
    /** A `user` / `percpu` type tag directly on the pointer. */
    tag?: 'user' | 'percpu';
  };
}

/**
 * The BTF function prototype a BTF-typed context describes (`prog->aux->attach_func_proto`): the
 * traced function's (fentry/fexit/fmod_ret, LSM hook), the `btf_trace_<tp>` typedef's (tp_btf,
 * whose first parameter is the hidden `void *__data`), or a struct_ops member's.
 */
export interface CtxFuncProto {
  /** `prog->aux->attach_func_name` (for tp_btf, the tracepoint name without `btf_trace_`). */
  name: string;
  /** Every BTF parameter, in order (tp_btf: including `__data`). */
  params: { name: string; type: CtxBtfType }[];
  /** Return type (`{ kind: 'void', size: 0 }` for void). */
  ret: CtxBtfType;
}

/** Options beyond the program and attach type. */
export interface CtxAccessOptions {
  /** A sign-extending load (`BPF_MEMSX`): packet pointer fields refuse it. */
  signExtend?: boolean;
  /** The base register, for the atomic message (default 1). */
  reg?: number;
  /** The loader has CAP_BPF (default true): cgroup_skb `data`/`data_end` reads and `tstamp` writes need it. */
  capBpf?: boolean;
  /** The XDP program is offloaded to a NIC: `rx_queue_index` becomes writable. */
  offloaded?: boolean;
  /** BTF prototype for tracing, LSM and struct_ops programs; without it every argument slot reads as a u64 scalar. */
  proto?: CtxFuncProto;
  /**
   * kprobe programs may store into `pt_regs` (the 6.18 sources' `kprobe_write_ctx`, for uprobes).
   * Default false: the running 6.18 kernel the tests compare with refuses every such store.
   */
  kprobeWriteCtx?: boolean;
}

type Kind = 'read' | 'write' | 'atomic';

/** What a rule decides: `false` to reject, or the accepted access. */
type Verdict = false | { value: CtxValue; btf?: CtxBtfPointer; retval?: true; log?: string[] };

interface Access {
  off: number;
  size: number;
  write: boolean;
  ldsx: boolean;
  attach: number;
  opts: CtxAccessOptions;
  /** Lines the rule wants logged (BTF contexts), kept on rejection too. */
  log: string[];
}

const SCALAR: Verdict = { value: 'scalar' };
const yes = (ok: boolean, value: CtxValue = 'scalar'): Verdict => (ok ? (value === 'scalar' ? SCALAR : { value }) : false);

/** `[offset, size]` of a field. */
type Field = readonly [number, number];
/** `bpf_ctx_range`: `off` lies inside the field. */
const inF = (off: number, f: Field) => off >= f[0] && off < f[0] + f[1];
/** `bpf_ctx_range_till(first, last)`. */
const till = (off: number, first: Field, last: Field) => off >= first[0] && off < last[0] + last[1];
/** `bpf_ctx_narrow_access_ok`: a power-of-two size no wider than the field (the offset is not looked at). */
const narrowOk = (size: number, fieldSize: number) => size <= fieldSize && (size & (size - 1)) === 0;
/** C's `off % size != 0` (negative offsets keep C's sign rules, so `-8 % 8` is 0). */
const misaligned = (off: number, size: number) => off % size !== 0;

// ---- struct __sk_buff (192 bytes) -------------------------------------------------------------

const SKB = {
  len: [0, 4], pkt_type: [4, 4], mark: [8, 4], queue_mapping: [12, 4], protocol: [16, 4],
  vlan_present: [20, 4], vlan_tci: [24, 4], vlan_proto: [28, 4], priority: [32, 4],
  ingress_ifindex: [36, 4], ifindex: [40, 4], tc_index: [44, 4], cb: [48, 20], cb4: [64, 4],
  hash: [68, 4], tc_classid: [72, 4], data: [76, 4], data_end: [80, 4], napi_id: [84, 4],
  family: [88, 4], remote_ip4: [92, 4], local_ip4: [96, 4], remote_ip6: [100, 16],
  local_ip6: [116, 16], remote_port: [132, 4], local_port: [136, 4], data_meta: [140, 4],
  flow_keys: [144, 8], tstamp: [152, 8], wire_len: [160, 4], gso_segs: [164, 4], sk: [168, 8],
  gso_size: [176, 4], tstamp_type: [180, 1], hwtstamp: [184, 8],
} as const satisfies Record<string, Field>;
const SKB_SIZE = SK_BUFF_LAYOUT.size;

/** `bpf_skb_is_valid_access`: the part every `__sk_buff` program shares. */
function skbCommon(a: Access, value: CtxValue = 'scalar'): Verdict {
  const { off, size, write } = a;
  if (off < 0 || off >= SKB_SIZE) return false;
  if (misaligned(off, size)) return false;
  if (inF(off, SKB.cb)) return yes(off + size <= SKB.cb[0] + SKB.cb[1], value);
  if (inF(off, SKB.data) || inF(off, SKB.data_meta) || inF(off, SKB.data_end)) return yes(!a.ldsx && size === 4, value);
  if (inF(off, SKB.remote_ip6) || inF(off, SKB.local_ip6) || inF(off, SKB.remote_ip4) || inF(off, SKB.local_ip4)) return yes(size === 4, value);
  if (inF(off, SKB.flow_keys)) return false;
  if (inF(off, SKB.hwtstamp)) return yes(!write && size === 8, value);
  if (inF(off, SKB.tstamp)) return yes(size === 8, value);
  if (inF(off, SKB.sk)) return yes(!write && size === 8, 'sock_common_or_null');
  if (off === SKB.tstamp_type[0]) return false;
  if (off > SKB.tstamp_type[0] && off < SKB.hwtstamp[0]) return false; // padding
  // Every other field is a u32: stores are 4 bytes, loads may be narrower.
  return yes(write ? size === 4 : narrowOk(size, 4), value);
}

/** The packet pointer an `__sk_buff` field yields, for the types that expose `data`. */
function skbPkt(off: number, meta: boolean): CtxValue {
  if (inF(off, SKB.data)) return 'pkt';
  if (inF(off, SKB.data_end)) return 'pkt_end';
  if (meta && inF(off, SKB.data_meta)) return 'pkt_meta';
  return 'scalar';
}

const skbSockFields = (off: number) => till(off, SKB.family, SKB.local_port);

/** BPF_PROG_TYPE_SOCKET_FILTER: `sk_filter_is_valid_access`. */
function skFilter(a: Access): Verdict {
  const { off } = a;
  if (inF(off, SKB.tc_classid) || inF(off, SKB.data) || inF(off, SKB.data_meta) || inF(off, SKB.data_end)
    || skbSockFields(off) || inF(off, SKB.tstamp) || inF(off, SKB.wire_len) || inF(off, SKB.hwtstamp)) return false;
  if (a.write && !inF(off, SKB.cb)) return false;
  return skbCommon(a);
}

/** BPF_PROG_TYPE_CGROUP_SKB: `cg_skb_is_valid_access`. */
function cgSkb(a: Access): Verdict {
  const { off } = a;
  const capBpf = a.opts.capBpf ?? true;
  if (inF(off, SKB.tc_classid) || inF(off, SKB.data_meta) || inF(off, SKB.wire_len)) return false;
  if ((inF(off, SKB.data) || inF(off, SKB.data_end)) && !capBpf) return false;
  if (a.write) {
    const ok = inF(off, SKB.mark) || inF(off, SKB.priority) || inF(off, SKB.cb) || (inF(off, SKB.tstamp) && capBpf);
    if (!ok) return false;
  }
  return skbCommon(a, skbPkt(off, false));
}

/** BPF_PROG_TYPE_LWT_IN / LWT_OUT / LWT_XMIT / LWT_SEG6LOCAL: `lwt_is_valid_access`. */
function lwt(a: Access): Verdict {
  const { off } = a;
  if (inF(off, SKB.tc_classid) || skbSockFields(off) || inF(off, SKB.data_meta) || inF(off, SKB.tstamp)
    || inF(off, SKB.wire_len) || inF(off, SKB.hwtstamp)) return false;
  if (a.write && !(inF(off, SKB.mark) || inF(off, SKB.priority) || inF(off, SKB.cb))) return false;
  return skbCommon(a, skbPkt(off, false));
}

/** BPF_PROG_TYPE_SCHED_CLS / SCHED_ACT: `tc_cls_act_is_valid_access`. */
function tcClsAct(a: Access): Verdict {
  const { off } = a;
  if (a.write) {
    const ok = inF(off, SKB.mark) || inF(off, SKB.tc_index) || inF(off, SKB.priority) || inF(off, SKB.tc_classid)
      || inF(off, SKB.cb) || inF(off, SKB.tstamp) || inF(off, SKB.queue_mapping);
    if (!ok) return false;
  }
  if (skbSockFields(off)) return false;
  // tstamp_type is a one-byte field only tc programs may read.
  if (off === SKB.tstamp_type[0]) return yes(a.size === 1);
  return skbCommon(a, skbPkt(off, true));
}

/** BPF_PROG_TYPE_SK_SKB: `sk_skb_is_valid_access`. */
function skSkb(a: Access): Verdict {
  const { off } = a;
  if (inF(off, SKB.tc_classid) || inF(off, SKB.data_meta) || inF(off, SKB.tstamp) || inF(off, SKB.wire_len)
    || inF(off, SKB.hwtstamp)) return false;
  if (a.write && !(inF(off, SKB.tc_index) || inF(off, SKB.priority))) return false;
  if (inF(off, SKB.mark)) return false;
  return skbCommon(a, skbPkt(off, false));
}

/** BPF_PROG_TYPE_FLOW_DISSECTOR: `flow_dissector_is_valid_access` (only three fields). */
function flowDissector(a: Access): Verdict {
  const { off, size } = a;
  if (off < 0 || off >= SKB_SIZE || misaligned(off, size) || a.write) return false;
  if (inF(off, SKB.data)) return yes(!a.ldsx && size === 4, 'pkt');
  if (inF(off, SKB.data_end)) return yes(!a.ldsx && size === 4, 'pkt_end');
  if (inF(off, SKB.flow_keys)) return yes(size === 8, 'flow_keys');
  return false;
}

// ---- struct xdp_md (24 bytes) -----------------------------------------------------------------

const XDP = { data: 0, data_end: 4, data_meta: 8, ingress_ifindex: 12, rx_queue_index: 16, egress_ifindex: 20 } as const;
const XDP_SIZE = XDP_MD_LAYOUT.size;

/** BPF_PROG_TYPE_XDP: `xdp_is_valid_access`. Every field is a u32 read whole. */
function xdp(a: Access): Verdict {
  const { off, size } = a;
  const plain = () => off >= 0 && off < XDP_SIZE && !misaligned(off, size) && size === 4;
  if (a.attach !== AttachType.XdpDevmap && off === XDP.egress_ifindex) return false;
  if (a.write) return yes(!!a.opts.offloaded && off === XDP.rx_queue_index && plain());
  const ptr = off === XDP.data ? 'pkt' : off === XDP.data_meta ? 'pkt_meta' : off === XDP.data_end ? 'pkt_end' : undefined;
  if (ptr && a.ldsx) return false;
  return yes(plain(), ptr ?? 'scalar');
}

// ---- struct bpf_sock (80 bytes): cgroup_sock programs ------------------------------------------

const SOCK = {
  bound_dev_if: [0, 4], family: [4, 4], type: [8, 4], protocol: [12, 4], mark: [16, 4], priority: [20, 4],
  src_ip4: [24, 4], src_ip6: [28, 16], src_port: [44, 4], dst_port: [48, 2], dst_ip4: [52, 4],
  dst_ip6: [56, 16], state: [72, 4], rx_queue_mapping: [76, 4],
} as const satisfies Record<string, Field>;
const SOCK_SIZE = BPF_SOCK_SIZE;

/** Whether a read of `size` bytes at `off` of a `struct bpf_sock *` is allowed (bpf_sock_is_valid_access). */
export function bpfSockAccessOk(off: number, size: number): boolean {
  return bpfSock({ off, size, write: false, ldsx: false, attach: 0, opts: {}, log: [] });
}

/** `bpf_sock_is_valid_access`: also what a `struct bpf_sock *` allows (shared with helpers' sockets). */
function bpfSock(a: Access): boolean {
  const { off, size } = a;
  if (off < 0 || off >= SOCK_SIZE || misaligned(off, size)) return false;
  if (off === SOCK.state[0] || off === SOCK.family[0] || off === SOCK.type[0] || off === SOCK.protocol[0]
    || off === SOCK.src_port[0] || off === SOCK.rx_queue_mapping[0] || inF(off, SOCK.src_ip4)
    || inF(off, SOCK.src_ip6) || inF(off, SOCK.dst_ip4) || inF(off, SOCK.dst_ip6)) return narrowOk(size, 4);
  // dst_port is a __be16 followed by zero padding; a 4-byte load of both is still allowed.
  if (inF(off, SOCK.dst_port)) return narrowOk(size, size === 4 ? 4 : 2);
  if (off >= SOCK.dst_port[0] + 2 && off < SOCK.dst_ip4[0]) return false;
  return size === 4;
}

/** BPF_PROG_TYPE_CGROUP_SOCK: `sock_filter_is_valid_access` (fields depend on the attach type). */
function cgroupSock(a: Access): Verdict {
  if (!bpfSock(a)) return false;
  const { off, attach } = a;
  if (off === SOCK.bound_dev_if[0] || off === SOCK.mark[0] || off === SOCK.priority[0]) {
    return yes(attach === AttachType.CgroupInetSockCreate || attach === AttachType.CgroupInetSockRelease);
  }
  if (inF(off, SOCK.src_ip4)) return yes(attach === AttachType.CgroupInet4PostBind && !a.write);
  if (inF(off, SOCK.src_ip6)) return yes(attach === AttachType.CgroupInet6PostBind && !a.write);
  if (inF(off, SOCK.src_port)) {
    return yes((attach === AttachType.CgroupInet4PostBind || attach === AttachType.CgroupInet6PostBind) && !a.write);
  }
  return yes(!a.write);
}

// ---- struct bpf_sock_addr (72 bytes) ----------------------------------------------------------

const SADDR = {
  user_family: [0, 4], user_ip4: [4, 4], user_ip6: [8, 16], user_port: [24, 4], family: [28, 4],
  type: [32, 4], protocol: [36, 4], msg_src_ip4: [40, 4], msg_src_ip6: [44, 16], sk: [64, 8],
} as const satisfies Record<string, Field>;
const SADDR_SIZE = 72;

const INET4_ADDR = new Set<number>([
  AttachType.CgroupInet4Bind, AttachType.CgroupInet4Connect, AttachType.CgroupInet4Getpeername,
  AttachType.CgroupInet4Getsockname, AttachType.CgroupUdp4Sendmsg, AttachType.CgroupUdp4Recvmsg,
]);
const INET6_ADDR = new Set<number>([
  AttachType.CgroupInet6Bind, AttachType.CgroupInet6Connect, AttachType.CgroupInet6Getpeername,
  AttachType.CgroupInet6Getsockname, AttachType.CgroupUdp6Sendmsg, AttachType.CgroupUdp6Recvmsg,
]);

/** `bpf_ctx_wide_access_ok`: an aligned 8-byte access inside an array field. */
const wideOk = (off: number, size: number, f: Field) => size === 8 && off >= f[0] && off + 8 <= f[0] + f[1] && off % 8 === 0;

/** BPF_PROG_TYPE_CGROUP_SOCK_ADDR: `sock_addr_is_valid_access`. */
function sockAddr(a: Access): Verdict {
  const { off, size, attach } = a;
  if (off < 0 || off >= SADDR_SIZE || misaligned(off, size)) return false;
  // Address fields of the other family (or of a hook without a message source) do not exist.
  if (inF(off, SADDR.user_ip4) && !INET4_ADDR.has(attach)) return false;
  if (inF(off, SADDR.user_ip6) && !INET6_ADDR.has(attach)) return false;
  if (inF(off, SADDR.msg_src_ip4) && attach !== AttachType.CgroupUdp4Sendmsg) return false;
  if (inF(off, SADDR.msg_src_ip6) && attach !== AttachType.CgroupUdp6Sendmsg) return false;
  if (inF(off, SADDR.user_ip4) || inF(off, SADDR.user_ip6) || inF(off, SADDR.msg_src_ip4)
    || inF(off, SADDR.msg_src_ip6) || inF(off, SADDR.user_port)) {
    if (wideOk(off, size, SADDR.user_ip6) || wideOk(off, size, SADDR.msg_src_ip6)) return SCALAR;
    return yes(a.write ? size === 4 : narrowOk(size, 4));
  }
  if (inF(off, SADDR.sk)) return yes(!a.write && size === 8, 'sock');
  if (inF(off, SADDR.user_family) || inF(off, SADDR.family) || inF(off, SADDR.type) || inF(off, SADDR.protocol)) {
    return yes(!a.write && size === 4);
  }
  return false;
}

// ---- struct bpf_sock_ops (224 bytes) ----------------------------------------------------------

const SOPS = {
  reply: 4, sk_txhash: 164, bytes_received: [168, 8], bytes_acked: [176, 8], sk: [184, 8],
  skb_data: [192, 8], skb_data_end: [200, 8], skb_tcp_flags: 212, skb_hwtstamp: [216, 8],
} as const;
const SOPS_SIZE = 224;

/** BPF_PROG_TYPE_SOCK_OPS: `sock_ops_is_valid_access`. */
function sockOps(a: Access): Verdict {
  const { off, size } = a;
  if (off < 0 || off >= SOPS_SIZE || misaligned(off, size)) return false;
  if (a.write) return yes((off === SOPS.reply || off === SOPS.sk_txhash) && size === 4);
  if (till(off, SOPS.bytes_received, SOPS.bytes_acked) || inF(off, SOPS.skb_hwtstamp)) return yes(size === 8);
  if (inF(off, SOPS.sk)) return yes(size === 8, 'sock_or_null');
  if (inF(off, SOPS.skb_data)) return yes(size === 8, 'pkt');
  if (inF(off, SOPS.skb_data_end)) return yes(size === 8, 'pkt_end');
  if (off === SOPS.skb_tcp_flags) return yes(narrowOk(size, 4));
  return yes(size === 4);
}

// ---- struct sk_msg_md (80 bytes) --------------------------------------------------------------

/** BPF_PROG_TYPE_SK_MSG: `sk_msg_is_valid_access`: read-only, u32 fields whole, pointers 8 bytes. */
function skMsg(a: Access): Verdict {
  const { off, size } = a;
  if (a.write || misaligned(off, size)) return false;
  if (off >= 0 && off < 8) return yes(size === 8, 'pkt');
  if (off >= 8 && off < 16) return yes(size === 8, 'pkt_end');
  if (off >= 72 && off < 80) return yes(size === 8, 'sock');
  if (off >= 16 && off < 72) return yes(size === 4); // family .. size
  return false;
}

// ---- struct sk_reuseport_md (56 bytes) --------------------------------------------------------

/** BPF_PROG_TYPE_SK_REUSEPORT: `sk_reuseport_is_valid_access`. */
function skReuseport(a: Access): Verdict {
  const { off, size } = a;
  if (off < 0 || off >= 56 || misaligned(off, size) || a.write) return false;
  switch (off) {
    case 0: return yes(size === 8, 'pkt');
    case 8: return yes(size === 8, 'pkt_end');
    case 32: return yes(size === 4); // hash
    case 40: return yes(size === 8, 'sock');
    case 48: return yes(size === 8, 'sock_common_or_null'); // migrating_sk
  }
  // eth_protocol is read from the 2-byte skb->protocol: no single-byte loads.
  if (off >= 20 && off < 24 && size < 2) return false;
  if (off >= 16 && off < 32) return yes(narrowOk(size, 4)); // len, eth_protocol, ip_protocol, bind_inany
  return false;
}

// ---- struct bpf_sk_lookup (72 bytes) ----------------------------------------------------------

/** BPF_PROG_TYPE_SK_LOOKUP: `sk_lookup_is_valid_access`. */
function skLookup(a: Access): Verdict {
  const { off, size } = a;
  if (off < 0 || off >= 72 || misaligned(off, size) || a.write) return false;
  if (off < 8) return yes(size === 8, 'sock_or_null');
  // remote_port is a __be16; a 4-byte load of it (with its zero padding) is kept for old programs.
  if (off >= 36 && off < 38) return yes(size === 4 || narrowOk(size, 2));
  if (off >= 38 && off < 40) return yes(narrowOk(size, 2));
  // family, protocol, remote_ip4, remote_ip6, local_ip4, local_ip6, local_port, ingress_ifindex
  if (off >= 8 && off < 68) return yes(narrowOk(size, 4));
  return false;
}

// ---- struct bpf_sockopt (40 bytes) ------------------------------------------------------------

/** BPF_PROG_TYPE_CGROUP_SOCKOPT: `cg_sockopt_is_valid_access`. */
function cgSockopt(a: Access): Verdict {
  const { off, size, attach } = a;
  if (off < 0 || off >= 40 || misaligned(off, size)) return false;
  const get = attach === AttachType.CgroupGetsockopt;
  if (a.write) {
    switch (off) {
      case 36: return yes(size === 4 && get); // retval
      case 24: case 28: return yes(size === 4 && attach === AttachType.CgroupSetsockopt); // level, optname
      case 32: return yes(size === 4); // optlen
      default: return false;
    }
  }
  if (off < 8) return yes(size === 8, 'sock');
  if (off < 16) return yes(size === 8, 'pkt'); // optval
  if (off < 24) return yes(size === 8, 'pkt_end'); // optval_end
  if (off >= 36) return yes(size === 4 && get);
  return yes(size === 4);
}

/** BPF_PROG_TYPE_CGROUP_SYSCTL: `sysctl_is_valid_access` (`write` read-only, `file_pos` writable whole). */
function sysctl(a: Access): Verdict {
  const { off, size } = a;
  if (off < 0 || off + size > 8 || misaligned(off, size)) return false;
  if (off < 4) return yes(!a.write && narrowOk(size, 4));
  return yes(a.write ? size === 4 : narrowOk(size, 4));
}

/** BPF_PROG_TYPE_CGROUP_DEVICE: `cgroup_dev_is_valid_access` (`access_type` narrow, `major`/`minor` whole). */
function cgroupDev(a: Access): Verdict {
  const { off, size } = a;
  if (a.write || off < 0 || off + size > 12 || misaligned(off, size)) return false;
  return yes(off < 4 ? narrowOk(size, 4) : size === 4);
}

// ---- tracing contexts -------------------------------------------------------------------------

/** `MAX_BPF_FUNC_ARGS * sizeof(u64)`. */
const TRACING_CTX_SIZE = BPF_FUNC_ARGS_SIZE;
/** `sizeof(struct bpf_perf_event_data)`: pt_regs, sample_period, addr. */
const PERF_EVENT_SIZE = PT_REGS_SIZE + 16;
/** `U16_MAX`: the syscall program's context is a user buffer of up to this size. */
const SYSCALL_CTX_SIZE = 0xffff;

/**
 * BPF_PROG_TYPE_KPROBE: `kprobe_prog_is_valid_access`: any aligned access inside pt_regs. The
 * 6.18 sources accept stores too (for uprobes, checked at attach time), but the 6.18 kernel the
 * differential test runs on refuses every store: stores follow `kprobeWriteCtx`.
 */
function kprobe(a: Access): Verdict {
  const { off, size } = a;
  if (a.write && !a.opts.kprobeWriteCtx) return false;
  return yes(off >= 0 && off < PT_REGS_SIZE && !misaligned(off, size) && off + size <= PT_REGS_SIZE);
}

/**
 * BPF_PROG_TYPE_TRACEPOINT: `tp_prog_is_valid_access`: the first 8 bytes (the common fields) are
 * hidden. The kernel compares `off < sizeof(void *)` unsigned, so negative offsets pass that test
 * (and `off >= PERF_MAX_TRACE_SIZE`): an aligned negative offset is accepted, as the kernel does.
 */
function tracepoint(a: Access): Verdict {
  const { off, size } = a;
  const hidden = off >= 0 && off < 8;
  return yes(!hidden && off < PERF_MAX_TRACE_SIZE && !a.write && !misaligned(off, size));
}

/** `bpf_tracing_ctx_access`: up to 12 u64 arguments, read-only. */
const tracingCtx = (a: Access) => a.off >= 0 && a.off < TRACING_CTX_SIZE && !a.write && !misaligned(a.off, a.size);

/** BPF_PROG_TYPE_RAW_TRACEPOINT: `raw_tp_prog_is_valid_access`. */
function rawTp(a: Access): Verdict {
  return yes(tracingCtx(a));
}

/** BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE: argument 0 is the writable tracepoint buffer. */
function rawTpWritable(a: Access): Verdict {
  if (a.off === 0) return yes(a.size === 8 && !a.write && tracingCtx(a), 'tp_buffer');
  return rawTp(a);
}

/** BPF_PROG_TYPE_PERF_EVENT: `pe_prog_is_valid_access` (registers whole, sample_period/addr narrow). */
function perfEvent(a: Access): Verdict {
  const { off, size } = a;
  if (off < 0 || off >= PERF_EVENT_SIZE || a.write || misaligned(off, size)) return false;
  if (off >= PT_REGS_SIZE) return yes(narrowOk(size, 8));
  return yes(size === 8);
}

/** BPF_PROG_TYPE_SYSCALL: `syscall_prog_is_valid_access` (a plain buffer, reads and writes). */
function syscall(a: Access): Verdict {
  const { off, size } = a;
  return yes(off >= 0 && off < SYSCALL_CTX_SIZE && !misaligned(off, size));
}

/** BPF_PROG_TYPE_NETFILTER: `nf_is_valid_access` (`struct bpf_nf_ctx { state; skb; }`, trusted BTF pointers). */
function netfilter(a: Access): Verdict {
  const { off, size } = a;
  if (off < 0 || off >= 16 || misaligned(off, size) || a.write || size !== 8) return false;
  return { value: 'btf_id', btf: { name: off === 0 ? 'nf_hook_state' : 'sk_buff', trusted: true } };
}

/** BPF_PROG_TYPE_LIRC_MODE2: one u32 sample. */
function lircMode2(a: Access): Verdict {
  return yes(!a.write && a.off === 0 && a.size === 4);
}

/** Rounds up to 8 as `btf_ctx_arg_idx` does for by-value arguments. */
const slotBytes = (t: CtxBtfType) => (t.kind === 'ptr' ? 8 : Math.ceil(t.size / 8) * 8);

/**
 * `btf_ctx_access` (tracing, LSM, struct_ops; after `bpf_tracing_ctx_access` for the first two):
 * which argument an offset names, and whether that argument may be read this way.
 */
function btfCtx(a: Access, progType: number): Verdict {
  const { off, size, attach } = a;
  const proto = a.opts.proto;
  const name = proto?.name ?? '';
  if (off % 8 !== 0) {
    a.log.push(`func '${name}' offset ${off} is not multiple of 8`);
    return false;
  }
  if (!proto) return SCALAR; // without BTF: a u64 argument in every slot
  // The argument index counts slots of the full prototype (tp_btf: with __data) ...
  let arg = proto.params.length + 1;
  let end = 0;
  for (let i = 0; i < proto.params.length; i++) {
    end += slotBytes(proto.params[i].type);
    if (off < end) { arg = i; break; }
  }
  if (arg === proto.params.length + 1 && off < end + slotBytes(proto.ret)) arg = proto.params.length;
  // ... but tp_btf programs do not see __data, so the names shift by one.
  const skip = attach === AttachType.TraceRawTp && progType === ProgType.Tracing ? 1 : 0;
  const params = proto.params.slice(skip);
  const nrArgs = params.length;
  const missing = () => { a.log.push(`func '${name}' doesn't have ${arg + 1}-th argument`); return false as const; };
  if (arg > nrArgs) return missing();
  let t: CtxBtfType;
  let retval = false;
  if (arg === nrArgs) {
    if (progType === ProgType.Lsm && attach === AttachType.LsmMac) retval = true;
    if (attach === AttachType.LsmMac || attach === AttachType.LsmCgroup || attach === AttachType.TraceFexit) {
      t = proto.ret;
    } else if (attach === AttachType.ModifyReturn) {
      t = proto.ret;
      if (t.kind !== 'int' || t.size > 8) {
        a.log.push(`ret type ${btfKindStr(t.kind)} not allowed for fmod_ret`);
        return false;
      }
    } else {
      return missing();
    }
  } else {
    t = params[arg].type;
  }
  // Small integers, enums and by-value structs or unions read as scalars.
  if (t.kind === 'int' ? t.size <= 8 : t.kind === 'enum' || t.kind === 'struct' || t.kind === 'union') {
    return retval ? { value: 'scalar', retval: true } : SCALAR;
  }
  if (t.kind !== 'ptr' || !t.pointee) {
    a.log.push(`func '${name}' arg${arg} '${t.name}' has type ${btfKindStr(t.kind)}. Only pointer access is allowed`);
    return false;
  }
  if (size !== 8) {
    a.log.push(`func '${name}' size ${size} must be 8`);
    return false;
  }
  const p = t.pointee;
  if (p.kind === 'void' || p.kind === 'int') return SCALAR;
  const trusted = (progType === ProgType.Tracing && (attach === AttachType.TraceRawTp || attach === AttachType.TraceIter))
    || progType === ProgType.StructOps;
  const paramName = arg < nrArgs ? params[arg].name : '';
  const btf: CtxBtfPointer = { id: p.id, name: p.name };
  if (trusted) btf.trusted = true;
  if (paramName.endsWith('__nullable')) btf.maybeNull = true;
  if (p.tag === 'user') btf.user = true;
  if (p.tag === 'percpu') btf.percpu = true;
  if (p.kind !== 'struct' && p.kind !== 'union') {
    a.log.push(`func '${name}' arg${arg} type ${btfKindStr(p.kind)} is not a struct`);
    return false;
  }
  a.log.push(`func '${name}' arg${arg} has btf_id ${p.id} type ${btfKindStr(p.kind)} '${p.name}'`);
  return { value: 'btf_id', btf };
}

/** The kernel's `btf_type_str()` for our kind words. */
function btfKindStr(kind: string): string {
  switch (kind) {
    case 'int': return 'INT';
    case 'enum': return 'ENUM';
    case 'struct': return 'STRUCT';
    case 'union': return 'UNION';
    case 'ptr': return 'PTR';
    case 'void': return 'UNKN';
    default: return kind;
  }
}

/** BPF_PROG_TYPE_TRACING / LSM: `tracing_prog_is_valid_access` = `bpf_tracing_ctx_access` + `btf_ctx_access`. */
function tracing(progType: number) {
  return (a: Access): Verdict => (tracingCtx(a) ? btfCtx(a, progType) : false);
}

// ---- dispatch ---------------------------------------------------------------------------------

interface CtxType {
  check: (a: Access) => Verdict;
  /** The bound the verifier applies (bytes), or undefined. */
  size: number | undefined;
}

const TYPES = new Map<number, CtxType>([
  [ProgType.SocketFilter, { check: skFilter, size: SKB_SIZE }],
  [ProgType.Kprobe, { check: kprobe, size: PT_REGS_SIZE }],
  [ProgType.SchedCls, { check: tcClsAct, size: SKB_SIZE }],
  [ProgType.SchedAct, { check: tcClsAct, size: SKB_SIZE }],
  [ProgType.Tracepoint, { check: tracepoint, size: PERF_MAX_TRACE_SIZE }],
  [ProgType.Xdp, { check: xdp, size: XDP_SIZE }],
  [ProgType.PerfEvent, { check: perfEvent, size: PERF_EVENT_SIZE }],
  [ProgType.CgroupSkb, { check: cgSkb, size: SKB_SIZE }],
  [ProgType.CgroupSock, { check: cgroupSock, size: SOCK_SIZE }],
  [ProgType.LwtIn, { check: lwt, size: SKB_SIZE }],
  [ProgType.LwtOut, { check: lwt, size: SKB_SIZE }],
  [ProgType.LwtXmit, { check: lwt, size: SKB_SIZE }],
  [ProgType.SockOps, { check: sockOps, size: SOPS_SIZE }],
  [ProgType.SkSkb, { check: skSkb, size: SKB_SIZE }],
  [ProgType.CgroupDevice, { check: cgroupDev, size: 12 }],
  [ProgType.SkMsg, { check: skMsg, size: 80 }],
  [ProgType.RawTracepoint, { check: rawTp, size: TRACING_CTX_SIZE }],
  [ProgType.CgroupSockAddr, { check: sockAddr, size: SADDR_SIZE }],
  [ProgType.LwtSeg6local, { check: lwt, size: SKB_SIZE }],
  [ProgType.LircMode2, { check: lircMode2, size: 4 }],
  [ProgType.SkReuseport, { check: skReuseport, size: 56 }],
  [ProgType.FlowDissector, { check: flowDissector, size: SKB_SIZE }],
  [ProgType.CgroupSysctl, { check: sysctl, size: 8 }],
  [ProgType.RawTracepointWritable, { check: rawTpWritable, size: TRACING_CTX_SIZE }],
  [ProgType.CgroupSockopt, { check: cgSockopt, size: 40 }],
  [ProgType.Tracing, { check: tracing(ProgType.Tracing), size: TRACING_CTX_SIZE }],
  // struct_ops programs see their member's arguments through btf_ctx_access alone.
  [ProgType.StructOps, { check: (a) => btfCtx(a, ProgType.StructOps), size: undefined }],
  [ProgType.Lsm, { check: tracing(ProgType.Lsm), size: TRACING_CTX_SIZE }],
  [ProgType.SkLookup, { check: skLookup, size: 72 }],
  [ProgType.Syscall, { check: syscall, size: SYSCALL_CTX_SIZE }],
  [ProgType.Netfilter, { check: netfilter, size: 16 }],
]);

/**
 * The expected attach type the kernel works with: an unset one (0) becomes
 * `BPF_CGROUP_INET_SOCK_CREATE` for cgroup_sock and `BPF_SK_REUSEPORT_SELECT` for sk_reuseport
 * (`bpf_prog_load_fixup_attach_type`); otherwise an unset attach type is 0.
 */
export function effectiveAttachType(progType: number, attachType: number | undefined): number {
  if (!attachType) {
    if (progType === ProgType.CgroupSock) return AttachType.CgroupInetSockCreate;
    if (progType === ProgType.SkReuseport) return AttachType.SkReuseportSelect;
  }
  return attachType ?? 0;
}

/** `invalid bpf_context access off=%d size=%d`, the kernel's line for every refused context access. */
export function ctxAccessMessage(off: number, size: number): string {
  return `invalid bpf_context access off=${off} size=${size}`;
}

/**
 * Whether a program of type `progType` (expected attach type `attachType`) may access its context
 * at `off` with `size` bytes, and what a load yields.
 *
 * `kind: 'atomic'` is always refused (`BPF_ATOMIC stores into R1 ctx is not allowed`: the kernel
 * checks the pointer type before the field). A program type without context rules (`UNSPEC`,
 * `EXT` whose target decides) gets the generic refusal.
 *
 * @example
 * ctxAccess(ProgType.Xdp, undefined, 0, 4, 'read');   // { ok: true, value: 'pkt' }
 * ctxAccess(ProgType.Xdp, undefined, 2, 2, 'read');   // { ok: false, message: 'invalid bpf_context access off=2 size=2' }
 * ctxAccess(ProgType.CgroupSockAddr, AttachType.CgroupInet4Connect, 8, 4, 'read'); // refused: user_ip6 is for inet6 hooks
 */
export function ctxAccess(
  progType: number, attachType: number | undefined, off: number, size: number,
  kind: Kind, opts: CtxAccessOptions = {},
): CtxAccessResult {
  if (kind === 'atomic') return { ok: false, message: `BPF_ATOMIC stores into R${opts.reg ?? 1} ctx is not allowed` };
  const type = TYPES.get(progType);
  const access: Access = {
    off, size, write: kind === 'write', ldsx: kind === 'read' && !!opts.signExtend,
    attach: effectiveAttachType(progType, attachType), opts, log: [],
  };
  const v = type && size > 0 ? type.check(access) : false;
  const log = access.log.length ? { log: access.log } : {};
  if (!v) return { ok: false, message: ctxAccessMessage(off, size), ...log };
  // A store never yields anything: what the rule says a load of the field would give is irrelevant.
  if (kind === 'write') return { ok: true, value: 'scalar', ...log };
  return { ok: true, value: v.value, ...(v.btf ? { btf: v.btf } : {}), ...(v.retval ? { retval: true as const } : {}), ...log };
}

/**
 * Size in bytes of the context as the verifier bounds it: the UAPI struct (`__sk_buff` 192,
 * `xdp_md` 24, `pt_regs` 168, ...), 8192 for tracepoints (`PERF_MAX_TRACE_SIZE`), 96 for raw and
 * BTF tracepoints (12 u64 arguments), 65535 for syscall programs; undefined for types the
 * verifier does not bound this way (unspec, struct_ops, ext).
 */
export function ctxSize(progType: number): number | undefined {
  return TYPES.get(progType)?.size;
}

// ---- BTF prototypes ---------------------------------------------------------------------------

const KIND_STR: Record<number, string> = {
  [BtfKind.Unknown]: 'UNKN', [BtfKind.Int]: 'INT', [BtfKind.Ptr]: 'PTR', [BtfKind.Array]: 'ARRAY',
  [BtfKind.Struct]: 'STRUCT', [BtfKind.Union]: 'UNION', [BtfKind.Enum]: 'ENUM', [BtfKind.Fwd]: 'FWD',
  [BtfKind.Typedef]: 'TYPEDEF', [BtfKind.Volatile]: 'VOLATILE', [BtfKind.Const]: 'CONST',
  [BtfKind.Restrict]: 'RESTRICT', [BtfKind.Func]: 'FUNC', [BtfKind.FuncProto]: 'FUNC_PROTO',
  [BtfKind.Var]: 'VAR', [BtfKind.Datasec]: 'DATASEC', [BtfKind.Float]: 'FLOAT',
  [BtfKind.DeclTag]: 'DECL_TAG', [BtfKind.TypeTag]: 'TYPE_TAG', [BtfKind.Enum64]: 'ENUM64',
};

const MODIFIERS = new Set([BtfKind.Typedef, BtfKind.Volatile, BtfKind.Const, BtfKind.Restrict, BtfKind.TypeTag]);

function skipModifiers(btf: Btf, id: number): BtfType {
  let t = btf.type(id);
  for (let i = 0; i < 64 && MODIFIERS.has(t.kind); i++) t = btf.type(t.type);
  return t;
}

function kindWord(t: BtfType): string {
  switch (t.kind) {
    case BtfKind.Unknown: return 'void';
    case BtfKind.Int: return 'int';
    case BtfKind.Enum: case BtfKind.Enum64: return 'enum';
    case BtfKind.Struct: return 'struct';
    case BtfKind.Union: return 'union';
    case BtfKind.Ptr: return 'ptr';
    default: return KIND_STR[t.kind] ?? 'UNKN';
  }
}

function ctxBtfType(btf: Btf, id: number): CtxBtfType {
  const t = skipModifiers(btf, id);
  const out: CtxBtfType = { kind: kindWord(t), size: t.kind === BtfKind.Ptr ? 8 : t.size, name: t.name };
  if (t.kind === BtfKind.Ptr) {
    const first = btf.type(t.type);
    const tag = first.kind === BtfKind.TypeTag && !first.kindFlag && (first.name === 'user' || first.name === 'percpu') ? first.name : undefined;
    const p = skipModifiers(btf, t.type);
    out.pointee = { kind: kindWord(p), id: p.id, name: p.name, ...(tag ? { tag } : {}) };
  }
  return out;
}

/**
 * The prototype `btf_ctx_access` checks against, from BTF: `attachBtfId` is a `FUNC` (fentry,
 * fexit, fmod_ret, LSM), a `btf_trace_<tp>` typedef (tp_btf) or a `FUNC_PROTO`.
 *
 * @example
 * const proto = ctxFuncProtoFromBtf(vmlinuxBtf(), tpBtfId('sched_process_exec'));
 * ctxAccess(ProgType.Tracing, AttachType.TraceRawTp, 0, 8, 'read', { proto }); // btf_id task_struct
 */
export function ctxFuncProtoFromBtf(btf: Btf, attachBtfId: number): CtxFuncProto {
  const t = btf.type(attachBtfId);
  let name = t.name;
  let protoId = attachBtfId;
  if (t.kind === BtfKind.Func) protoId = t.type;
  else if (t.kind === BtfKind.Typedef) {
    if (name.startsWith('btf_trace_')) name = name.slice('btf_trace_'.length);
    const ptr = skipModifiers(btf, t.type);
    protoId = ptr.kind === BtfKind.Ptr ? ptr.type : ptr.id;
  }
  const proto = skipModifiers(btf, protoId);
  if (proto.kind !== BtfKind.FuncProto) throw new TypeError(`BTF type ${attachBtfId} (${t.name}) is not a function or a tracepoint`);
  return {
    name,
    params: (proto.params ?? []).map((p) => ({ name: p.name, type: ctxBtfType(btf, p.type) })),
    ret: proto.type === 0 ? { kind: 'void', size: 0, name: '' } : ctxBtfType(btf, proto.type),
  };
}
