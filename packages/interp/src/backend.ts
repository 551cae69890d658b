import type { Backend, LoadedProgram, MapSpec, ProgramSpec, TestRunResult, Insn } from '@tsbpf/core';
import { Runtime, userTestRun, type RuntimeOptions, type UserTestRunOptions } from '@tsbpf/helpers';
import type { BpfMap } from '@tsbpf/maps';
import { Decoded, run, type RunLimits, type RunResult } from './interp.js';

/** Options of {@link InterpProgram.testRun}: the kernel's, an instruction budget, and a way to reach NULL paths. */
export interface InterpTestRunOptions extends UserTestRunOptions, RunLimits {}

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
   * {@link ctxLayout} describes it (see {@link userTestRun} for how the context and packet are
   * built). `durationNs` is the mean wall time per run.
   */
  testRun(options: InterpTestRunOptions = {}): TestRunResult {
    return userTestRun(this.backend.runtime, this.spec.progType, options, (ctx, repeat) => {
      let r: RunResult | undefined;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < repeat; i++) r = this.run({ args: [ctx], budget: options.budget });
      return { r0: r!.r0, ns: Number(process.hrtime.bigint() - t0) / repeat };
    });
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
