import {
  ctxLayout, type Backend, type CtxLayout, type LoadedProgram, type MapSpec, type ProgramSpec, type TestRunOptions, type TestRunResult, type Insn,
} from '@tsbpf/core';
import { Runtime, packetPointers, setPacketPointers, writeCtxPointer, type RuntimeOptions } from '@tsbpf/helpers';
import type { BpfMap } from '@tsbpf/maps';
import { Decoded, run, type RunLimits, type RunResult } from './interp.js';

/** Bytes before and after a test run's packet (the kernel's `XDP_PACKET_HEADROOM`), for the adjust helpers. */
const HEADROOM = 256;

/** The context after a run, with the fields the run filled in (pointers, length) as they came in. */
function ctxOut(after: Uint8Array, before: Uint8Array, layout: CtxLayout | undefined): Uint8Array {
  const packet = layout?.packet;
  const filled = [...(packet ? [packet.data, packet.dataEnd, packet.dataMeta] : []), ...(layout?.pointers ?? [])];
  if (layout?.len !== undefined) filled.push({ off: layout.len, size: 4 });
  for (const f of filled) {
    if (f && f.off < after.length) after.set(before.subarray(f.off, f.off + f.size), f.off);
  }
  return after;
}

/** Options of {@link InterpProgram.testRun}: the kernel's, an instruction budget, and a way to reach NULL paths. */
export interface InterpTestRunOptions extends TestRunOptions, RunLimits {
  /**
   * Leaves the context's nullable pointer fields NULL (`__sk_buff.sk`, `bpf_sock_ops.sk`), which
   * the kernel's test run always fills in, so a program's NULL paths run too.
   */
  nullPointers?: boolean;
}

/** A program loaded on the interpreter. */
export class InterpProgram implements LoadedProgram {
  readonly name: string;
  readonly log = '';
  readonly decoded: Decoded;
  /** Descriptor in the runtime's program registry (what prog arrays hold). */
  readonly fd: number;

  constructor(readonly backend: InterpBackend, readonly spec: ProgramSpec) {
    this.name = spec.name ?? '';
    backend.runtime.checkProgram(spec.insns);
    this.decoded = new Decoded(spec.insns, (insn) => backend.runtime.resolveLddw(insn));
    this.fd = backend.runtime.registerProgram(this);
  }

  /**
   * Runs the program like `BPF_PROG_TEST_RUN`, with r1 = the context of its program type as
   * {@link ctxLayout} describes it:
   *
   * - types with a packet (XDP's `xdp_md`, the `__sk_buff` types, ...): `data` is copied into a
   *   packet buffer with 256 bytes of headroom and tailroom; the context's `data`, `data_end` and
   *   `data_meta` point into it and its length field (`__sk_buff.len`) holds the length. As in the
   *   kernel, the `__sk_buff` types other than tc's see the packet from the network header (the
   *   14-byte Ethernet header is pulled, and comes back zeroed in `dataOut`). `dataOut` is the
   *   packet from `data` to `data_end` after the run.
   * - other types with a known layout (`pt_regs`, tracepoint records, `bpf_sock_addr`, ...): the
   *   context is the whole struct.
   * - both: `ctx`, when given, is copied into the context first (the kernel's `ctx_in`); then the
   *   pointer fields are filled in: a zeroed struct where the layout has one (the dummy socket of
   *   `__sk_buff.sk`, `bpf_sock_addr.sk`), NULL elsewhere (`__sk_buff.flow_keys`).
   * - types without a layout: r1 points to a copy of `ctx`, or is 0.
   *
   * Unlike the kernel, packets shorter than an Ethernet header are run, no `ctx` field is refused
   * and the dummy socket is all zeroes (the kernel sets its family and addresses from the IP
   * header). `ctxOut` is the context after the run, with the fields the run filled in read back as
   * they came in (the kernel's `ctx_out` never shows its pointers). `durationNs` is the mean wall
   * time per run.
   */
  testRun(options: InterpTestRunOptions = {}): TestRunResult {
    const rt = this.backend.runtime;
    const space = rt.space;
    const layout = ctxLayout(this.spec.progType);
    const regions: number[] = [];
    const alloc = (size: number, tag: string) => {
      const a = space.alloc(size, tag);
      regions.push(a);
      return a;
    };
    const ctxIn = options.ctx;
    let ctxAddr = 0;
    let pulled = 0;
    try {
      if (layout) {
        ctxAddr = alloc(Math.max(layout.size, ctxIn?.length ?? 0), 'ctx');
        if (ctxIn) space.write(ctxAddr, ctxIn);
        for (const p of layout.pointers ?? []) {
          const target = p.target && !(p.nullable && options.nullPointers) ? alloc(p.target.size, p.target.struct) : 0;
          writeCtxPointer(space.view, ctxAddr, p, target);
        }
        if (layout.packet) {
          const data = options.data ?? new Uint8Array();
          const buf = alloc(HEADROOM + data.length + HEADROOM, 'packet');
          const start = buf + HEADROOM;
          space.write(start, data);
          pulled = Math.min(layout.linkHeader ?? 0, data.length);
          rt.packet = { ctx: ctxAddr, fields: layout.packet, bufStart: buf, bufEnd: start + data.length + HEADROOM };
          setPacketPointers(space, rt.packet, { data: start + pulled, end: start + data.length, meta: start + pulled });
          if (layout.len !== undefined) space.view.setUint32(ctxAddr + layout.len, data.length - pulled, true);
        }
      } else if (ctxIn) {
        ctxAddr = alloc(ctxIn.length, 'ctx');
        space.write(ctxAddr, ctxIn);
      }
      const repeat = Math.max(1, options.repeat ?? 1);
      let r: RunResult | undefined;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < repeat; i++) r = this.run({ args: [ctxAddr], budget: options.budget });
      const ns = Number(process.hrtime.bigint() - t0) / repeat;
      const out: TestRunResult = { retval: r!.r0, durationNs: ns };
      if (rt.packet) {
        const { data, end } = packetPointers(space, rt.packet);
        out.dataOut = new Uint8Array(pulled + end - data);
        out.dataOut.set(space.read(data, end - data), pulled);
      }
      if (ctxIn) out.ctxOut = ctxOut(space.read(ctxAddr, ctxIn.length), ctxIn, layout);
      return out;
    } finally {
      rt.packet = undefined;
      for (const a of regions) space.free(a);
    }
  }

  /** Runs once with r1..r5 = `args`. */
  run(opts: RunLimits & { args?: number[]; unwindHelper5?: boolean } = {}): RunResult {
    return run(this.decoded, this.backend.runtime, opts, (p) => (p instanceof InterpProgram ? p.decoded : undefined));
  }

  close(): void {}
}

/**
 * The interpreter as a {@link Backend}: programs and maps share one {@link Runtime} (one address
 * space), so map values a program reads through `bpf_map_lookup_elem` are the bytes user space sees.
 */
export class InterpBackend implements Backend {
  readonly name = 'interp';
  readonly runtime: Runtime;

  constructor(opts: RuntimeOptions & { runtime?: Runtime } = {}) {
    this.runtime = opts.runtime ?? new Runtime(opts);
  }

  createMap(spec: MapSpec): BpfMap {
    return this.runtime.createMap({ ...spec });
  }

  load(spec: ProgramSpec): InterpProgram {
    return new InterpProgram(this, spec);
  }

  /**
   * Runs a program in the uBPF / bpf_conformance convention: r1 = a copy of `mem` in guest memory,
   * r2 = its length. `unwindHelper5` gives helper 5 bpf_conformance's "unwind" meaning.
   */
  runRaw(insns: readonly Insn[], mem: Uint8Array, opts: RunLimits & { unwindHelper5?: boolean } = {}): RunResult {
    const space = this.runtime.space;
    const addr = mem.length ? space.alloc(mem.length, 'mem') : 0;
    try {
      if (addr) space.write(addr, mem);
      this.runtime.checkProgram(insns);
      const decoded = new Decoded(insns, (insn) => this.runtime.resolveLddw(insn));
      return run(decoded, this.runtime, { ...opts, args: [addr, mem.length] });
    } finally {
      if (addr) space.free(addr);
    }
  }

  close(): void {}
}
