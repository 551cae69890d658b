import {
  ProgType, type Backend, type LoadedProgram, type MapSpec, type ProgramSpec, type TestRunOptions, type TestRunResult, type Insn,
} from '@tsbpf/core';
import { Runtime, type RuntimeOptions } from '@tsbpf/helpers';
import type { BpfMap } from '@tsbpf/maps';
import { Decoded, run, type RunLimits, type RunResult } from './interp.js';

const HEADROOM = 256;

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
   * Runs the program like `BPF_PROG_TEST_RUN`: for XDP and the skb types, `data` becomes a packet
   * with a `struct xdp_md`-like context (data at +0, data_end at +4, data_meta at +8) in r1; for
   * other types r1 points to `ctx` (or is 0). `durationNs` is the mean wall time per run.
   */
  testRun(options: TestRunOptions = {}): TestRunResult {
    const rt = this.backend.runtime;
    const space = rt.space;
    const data = options.data ?? new Uint8Array();
    const packetTypes = [ProgType.Xdp, ProgType.SchedCls, ProgType.SchedAct, ProgType.SocketFilter, ProgType.CgroupSkb];
    let ctxAddr = 0;
    let buf = 0;
    const regions: number[] = [];
    try {
      if (packetTypes.includes(this.spec.progType)) {
        buf = space.alloc(HEADROOM + data.length + HEADROOM, 'packet');
        regions.push(buf);
        space.write(buf + HEADROOM, data);
        ctxAddr = space.alloc(32, 'ctx');
        regions.push(ctxAddr);
        space.view.setUint32(ctxAddr, buf + HEADROOM, true);
        space.view.setUint32(ctxAddr + 4, buf + HEADROOM + data.length, true);
        space.view.setUint32(ctxAddr + 8, buf + HEADROOM, true);
        rt.packet = { ctx: ctxAddr, bufStart: buf, bufEnd: buf + 2 * HEADROOM + data.length };
      } else if (options.ctx) {
        ctxAddr = space.alloc(options.ctx.length, 'ctx');
        regions.push(ctxAddr);
        space.write(ctxAddr, options.ctx);
      }
      const repeat = Math.max(1, options.repeat ?? 1);
      let r: RunResult | undefined;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < repeat; i++) r = this.run({ args: [ctxAddr] });
      const ns = Number(process.hrtime.bigint() - t0) / repeat;
      const out: TestRunResult = { retval: r!.r0, durationNs: ns };
      if (buf) {
        const start = space.view.getUint32(ctxAddr, true);
        const end = space.view.getUint32(ctxAddr + 4, true);
        out.dataOut = space.read(start, end - start);
      } else if (options.ctx) out.ctxOut = space.read(ctxAddr, options.ctx.length);
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
