import {
  Errno, MapError, MapType, NotSupportedError, PseudoLd, classify, helperName, type CtxPacketFields, type Insn,
} from '@tsbpf/core';
import { AddressSpace, BpfMap, RingBufMap, createMap, type CreateMapOptions } from '@tsbpf/maps';
import { HELPER_IMPLS, type HelperImpl } from './impl.js';
import { helperProto } from './prototypes.js';

/** The process a program runs on behalf of, as providers set it (pid, comm, cpu, ...). */
export interface EventContext {
  pid: number;
  tgid: number;
  uid: number;
  gid: number;
  /** At most 15 bytes are visible to programs, as in the kernel's TASK_COMM_LEN. */
  comm: string;
  cpu: number;
  /**
   * Guest address of the current task's `struct task_struct` image, laid out as the kernel's BTF
   * says (an event provider synthesizes it): what `bpf_get_current_task` returns. Unset: the helper
   * refuses to run, since there is no task to point at.
   */
  task?: number;
}

/** One `bpf_trace_printk` line on the trace pipe. */
export interface TraceLine {
  pid: number;
  comm: string;
  cpu: number;
  /** Nanoseconds on the runtime's clock. */
  ts: bigint;
  msg: string;
}

/** The packet of the current run, for the packet helpers (`bpf_skb_load_bytes`, the XDP adjust helpers, ...). */
export interface PacketState {
  /** Guest address of the context (`struct xdp_md`, `struct __sk_buff`, ...). */
  ctx: number;
  /** Where that context keeps `data`, `data_end` and `data_meta` (`ctxLayout(progType).packet`). */
  fields: CtxPacketFields;
  /** The packet buffer region: headroom before `data`, tailroom after `data_end`. */
  bufStart: number;
  bufEnd: number;
}

/**
 * `sizeof(struct bpf_map)` (Linux 6.18, x86-64). `lddw map_fd` gives a program a pointer to the
 * kernel's `struct bpf_map`, whose fields a privileged program may read (`map->max_entries`); here
 * it points at a zeroed region of that size, so those reads stay inside live memory.
 */
const BPF_MAP_STRUCT_SIZE = 296;

/** Options of {@link Runtime}. */
export interface RuntimeOptions {
  space?: AddressSpace;
  /** CPUs of per-CPU maps (default 2). */
  cpus?: number;
  context?: Partial<EventContext>;
  /** Monotonic clock in ns (`bpf_ktime_get_ns`); default `process.hrtime.bigint()`. */
  clock?: () => bigint;
  /** Offset of the boot clock from the monotonic clock (`bpf_ktime_get_boot_ns`). */
  bootOffsetNs?: bigint;
  /** Random u32 source (`bpf_get_prandom_u32`). */
  random?: () => number;
}

/**
 * What backends run against: the one address space, the map registry (fd-like handles), the
 * helper implementations and the event context providers set. Helpers use a BigInt-free calling
 * convention: `regs` holds r0..r5 as (low, high) u32 pairs; a helper reads r1..r5 and writes r0.
 */
export class Runtime {
  readonly space: AddressSpace;
  readonly cpus: number;
  context: EventContext;
  clock: () => bigint;
  bootOffsetNs: bigint;
  random: () => number;
  /** `bpf_trace_printk` output, oldest first (the facade's `trace_print` reads it). */
  readonly tracePipe: TraceLine[] = [];
  /** Packet of the current run, set by the backend for packet program types. */
  packet?: PacketState;
  /** Set by `bpf_tail_call`; the backend jumps to it after the helper returns. */
  pendingTailCall?: { mapFd: number; index: number };
  /** Set by backends that support callbacks (`bpf_loop`): runs the subprogram at `pc` with r1..r5. */
  invokeCallback?: (pc: number, args: number[]) => bigint;
  private readonly maps = new Map<number, BpfMap>();
  /** Each map's `struct bpf_map` stand-in, by descriptor, and the maps by stand-in address. */
  private readonly mapStructs = new Map<number, number>();
  private readonly mapsByStruct = new Map<number, BpfMap>();
  private readonly programs = new Map<number, { id: number; program: unknown }>();
  private nextFd = 3;
  private nextProgId = 1;
  private nextMapId = 1;

  constructor(opts: RuntimeOptions = {}) {
    this.space = opts.space ?? new AddressSpace();
    this.cpus = opts.cpus ?? 2;
    this.context = { pid: process.pid, tgid: process.pid, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, comm: 'node', cpu: 0, ...opts.context };
    this.clock = opts.clock ?? (() => process.hrtime.bigint());
    this.bootOffsetNs = opts.bootOffsetNs ?? 0n;
    this.random = opts.random ?? (() => (Math.random() * 0x100000000) >>> 0);
  }

  /**
   * Creates a map in this runtime's address space and gives it a descriptor, an id and the
   * `struct bpf_map` stand-in programs hold it by ({@link BpfMap.ptr}). Maps of maps resolve the
   * descriptors written into them here, so their lookups give programs that same stand-in.
   */
  createMap(opts: Omit<CreateMapOptions, 'space'>): BpfMap {
    const m = createMap({ cpus: this.cpus, resolveFd: (fd) => this.programs.get(fd)?.id, resolveMap: (fd) => this.maps.get(fd), ...opts, space: this.space });
    m.fd = this.nextFd++;
    m.id = this.nextMapId++;
    this.maps.set(m.fd, m);
    const struct = this.space.alloc(BPF_MAP_STRUCT_SIZE, `struct bpf_map:${m.name}`);
    m.ptr = struct;
    this.mapStructs.set(m.fd, struct);
    this.mapsByStruct.set(struct, m);
    return m;
  }

  /** The map with descriptor `fd`. */
  map(fd: number): BpfMap | undefined {
    return this.maps.get(fd);
  }

  /**
   * The map a helper argument names: the pointer `lddw map_fd` loaded (see {@link resolveLddw}),
   * or a descriptor (callers that pass one directly).
   */
  mapArg(value: number): BpfMap | undefined {
    return this.maps.get(value) ?? this.mapsByStruct.get(value);
  }

  /**
   * Releases a map's descriptor. A map an outer map still holds lives on (as in the kernel, where
   * the outer map keeps a reference) and is freed when the last outer map lets go of it.
   */
  closeMap(fd: number): void {
    const m = this.maps.get(fd);
    this.maps.delete(fd);
    const struct = this.mapStructs.get(fd);
    this.mapStructs.delete(fd);
    const destroy = () => {
      m?.close();
      if (struct !== undefined) {
        this.space.free(struct);
        this.mapsByStruct.delete(struct);
      }
    };
    if (m?.held) m.onReleased = destroy;
    else destroy();
  }

  /** Registers a loaded program (for prog arrays); returns its descriptor. */
  registerProgram(program: unknown): number {
    const fd = this.nextFd++;
    this.programs.set(fd, { id: this.nextProgId++, program });
    return fd;
  }

  /** The program a prog array slot points to (what `bpf_tail_call` jumps to). */
  tailCallTarget(mapFd: number, index: number): unknown {
    const m = this.maps.get(mapFd);
    const fd = m && 'fdAt' in m ? (m as unknown as { fdAt(i: number): number | undefined }).fdAt(index) : undefined;
    return fd === undefined ? undefined : this.programs.get(fd)?.program;
  }

  /** The ring buffer map whose data area contains guest address `addr` (for submit/discard). */
  ringbufAt(addr: number): RingBufMap | undefined {
    for (const m of this.maps.values()) {
      if (m instanceof RingBufMap && addr >= m.dataAddr && addr < m.dataAddr + 2 * (m.mask + 1)) return m;
    }
    return undefined;
  }

  /** The implementation of helper `id`, or `undefined` when the runtime cannot honour it. */
  helper(id: number): HelperImpl | undefined {
    return HELPER_IMPLS[id];
  }

  /** Runs helper `id` with the registers in `regs` (r0..r5 as u32 pairs). */
  call(id: number, regs: Uint32Array): void {
    const impl = HELPER_IMPLS[id];
    if (!impl) throw new NotSupportedError(`helper ${helperName(id) ?? id} is not implemented by the user-space runtime`, { code: 'E_HELPER_NOT_SUPPORTED' });
    impl(this, regs);
  }

  /**
   * What a call of helper `id` with `regs` (r0..r5 as u32 pairs) would touch outside live memory,
   * for strict address spaces: each pointer argument its prototype gives a size (map keys and
   * values, `ARG_PTR_TO_MEM` with the `ARG_CONST_SIZE` after it, `ARG_PTR_TO_LONG` / `_INT`) is
   * checked as a load or store of that size would be. The verifier promises all of it; a problem
   * here is a verifier bug. Returns the problem, or `undefined`.
   */
  helperArgFault(id: number, regs: Uint32Array): string | undefined {
    const proto = helperProto(id);
    if (!proto) return undefined;
    const value = (i: number) => regs[2 * i] + regs[2 * i + 1] * 0x100000000;
    let map: BpfMap | undefined;
    for (let i = 0; i < proto.args.length; i++) {
      const type = proto.args[i];
      const v = value(i + 1);
      let size: number | undefined;
      switch (type) {
        case 'ARG_CONST_MAP_PTR':
          map = this.mapArg(v);
          continue;
        case 'ARG_PTR_TO_MAP_KEY':
          size = map?.spec.keySize;
          break;
        case 'ARG_PTR_TO_MAP_VALUE':
        case 'ARG_PTR_TO_UNINIT_MAP_VALUE':
          size = map?.spec.valueSize;
          break;
        case 'ARG_PTR_TO_MEM':
        case 'ARG_PTR_TO_UNINIT_MEM':
        case 'ARG_PTR_TO_MEM_OR_NULL': {
          const next = proto.args[i + 1];
          if ((next !== 'ARG_CONST_SIZE' && next !== 'ARG_CONST_SIZE_OR_ZERO') || (type === 'ARG_PTR_TO_MEM_OR_NULL' && v === 0)) continue;
          size = value(i + 2);
          break;
        }
        case 'ARG_PTR_TO_LONG':
          size = 8;
          break;
        case 'ARG_PTR_TO_INT':
          size = 4;
          break;
        default:
          continue;
      }
      if (size && !this.space.check(v, size)) return `R${i + 1} (${type}) names ${size} bytes at 0x${v.toString(16)}, outside live memory`;
    }
    return undefined;
  }

  /**
   * Checks, at load time, that every helper the program calls is implemented and every map it
   * references exists, so nothing silently returns 0 at run time.
   *
   * @throws NotSupportedError naming the helper and the instruction.
   * @throws MapError `EBADF` for a reference to an unknown map descriptor.
   */
  checkProgram(insns: readonly Insn[]): void {
    insns.forEach((insn, i) => {
      const form = classify(insn);
      if (form?.kind === 'call' && form.target === 'helper' && !HELPER_IMPLS[insn.imm]) {
        throw new NotSupportedError(`insn ${i}: helper ${helperName(insn.imm) ?? `#${insn.imm}`} is not available in the user-space runtime (run this program on the kernel backend)`, { code: 'E_HELPER_NOT_SUPPORTED' });
      }
      if (form?.kind === 'lddw' && (form.pseudo === PseudoLd.MAP_FD || form.pseudo === PseudoLd.MAP_VALUE) && !this.maps.has(insn.imm)) {
        throw new MapError(Errno.EBADF, `insn ${i}: no map with descriptor ${insn.imm}`);
      }
    });
  }

  /**
   * The value an `lddw` loads: for `map_fd`, the guest address of the map's `struct bpf_map`
   * stand-in (helpers take it for the map: {@link mapArg}); for `map_value`, the guest address of
   * the map value.
   */
  resolveLddw(insn: Insn): number | undefined {
    const form = classify(insn);
    if (form?.kind !== 'lddw') return undefined;
    if (form.pseudo === PseudoLd.MAP_FD) return this.mapStructs.get(insn.imm);
    if (form.pseudo === PseudoLd.MAP_VALUE) {
      const m = this.maps.get(insn.imm);
      if (!m || (m.spec.type !== MapType.Array)) return undefined;
      return (m as unknown as { valueAddr(i: number): number }).valueAddr(0) + (insn.wide?.imm ?? 0);
    }
    return undefined;
  }

  /** Appends a line to the trace pipe. */
  trace(msg: string): void {
    this.tracePipe.push({ pid: this.context.pid, comm: this.context.comm, cpu: this.context.cpu, ts: this.clock(), msg });
  }
}
