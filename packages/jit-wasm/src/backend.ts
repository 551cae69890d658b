import {
  RuntimeError, helperName, type Backend, type Insn, type LoadedProgram, type MapSpec, type ProgramSpec, type TestRunResult,
} from '@tsbpf/core';
import { HELPER_IMPLS, Runtime, helperProto, packetPointers, userTestRun, type HelperImpl, type RuntimeOptions, type UserTestRunOptions } from '@tsbpf/helpers';
import type { BpfMap } from '@tsbpf/maps';
import { compileProgram, slotProgram, TrapKind, type CompiledModule } from './compile.js';

/** Kernel limits the JIT keeps. */
export const MAX_TAIL_CALLS = 33;
const STACK = 512;
/** Stack frames: the main function and 7 nested calls, as in the kernel. */
const MAX_CALL_FRAMES = 8;
const TWO32 = 0x100000000;
/** The interpreter's default instruction budget. */
const DEFAULT_BUDGET = 100_000_000;
const MAX_BUDGET = 0x7fffffff;

/** Ends a whole run early with `r0` (a failed `LD_ABS`, bpf_conformance's unwind helper). */
class ProgramExit {
  constructor(readonly r0: bigint) {}
}

/** Options of {@link JitBackend}. */
export interface JitOptions extends RuntimeOptions {
  /** Share a runtime (address space, maps, helpers) with other backends. */
  runtime?: Runtime;
  /**
   * Check each load and store for the NULL page (addresses below 4096) and for addresses at or
   * above 2^32, so an unverified program faults where the interpreter does (default true). Off,
   * a verified program runs a little faster and an unverified one still cannot leave the
   * WebAssembly memory (its addresses wrap to 32 bits).
   */
  nullChecks?: boolean;
  /**
   * Count loop iterations against the run's instruction budget (default true), so loops of
   * unverified programs stop. Off for programs the verifier accepted (their loops are bounded).
   */
  budget?: boolean;
}

/** Options of a run: the interpreter's. */
export interface JitRunOptions {
  /** r1..r5 at entry (numbers below 2^53). */
  args?: number[];
  /**
   * Instructions before `E_BUDGET` (default 100M, at most 2^31 - 1). The JIT charges each loop
   * iteration the length of the loop, so a program stops at about the interpreter's count.
   */
  budget?: number;
  /** The uBPF "unwind" helper of bpf_conformance: helper 5 returns r1 and stops the program when r1 is 0. */
  unwindHelper5?: boolean;
}

/** What a run returns: r0 as two 32-bit halves and as a bigint. */
export interface JitRunResult {
  lo: number;
  hi: number;
  r0: bigint;
}

/** Options of {@link JitProgram.testRun}. */
export interface JitTestRunOptions extends UserTestRunOptions {
  budget?: number;
}

interface Exports {
  run(budget: number, r10: number): void;
  callback(slot: number, r10: number): void;
  budget: WebAssembly.Global;
  fault: WebAssembly.Global;
}

/** How long compilation took, in ns, per stage. */
export interface CompileStats {
  /** eBPF to WebAssembly bytes. */
  emitNs: number;
  /** `new WebAssembly.Module` + `new WebAssembly.Instance`. */
  instantiateNs: number;
  /** Size of the module in bytes. */
  wasmBytes: number;
  /** Instruction slots compiled. */
  slots: number;
  /** Functions that needed the dispatch loop (irreducible control flow). */
  dispatched: number;
}

/** A program compiled to WebAssembly. */
export class JitProgram implements LoadedProgram {
  readonly name: string;
  readonly log = '';
  readonly fd: number;
  readonly compiled: CompiledModule;
  readonly stats: CompileStats;
  private readonly exports: Exports;
  private readonly moduleName: string;
  private readonly insns: readonly Insn[];
  private unwind = false;
  /** The frame a callback runs in: one above the frame of the helper call that runs it. */
  private callbackFrame = 0;

  constructor(readonly backend: JitBackend, readonly spec: ProgramSpec) {
    this.name = spec.name ?? '';
    this.insns = spec.insns;
    const rt = backend.runtime;
    rt.checkProgram(spec.insns);
    // One name for every module: V8 reuses the compiled code of byte-identical modules (the same
    // program loaded twice), and a trap is found as the top WebAssembly frame of its stack.
    this.moduleName = 'tsbpf_jit';
    const t0 = process.hrtime.bigint();
    const p = slotProgram(spec.insns, (insn) => rt.resolveLddw(insn));
    this.compiled = compileProgram(p, {
      scratch: backend.scratch,
      stackLimit: backend.stack + STACK * MAX_CALL_FRAMES,
      nullChecks: backend.nullChecks,
      budget: backend.budgetChecks,
      moduleName: this.moduleName,
      checkHelperArgs: rt.space.strict,
    });
    const t1 = process.hrtime.bigint();
    const module = new WebAssembly.Module(this.compiled.bytes);
    const instance = new WebAssembly.Instance(module, { env: this.imports() });
    const t2 = process.hrtime.bigint();
    this.exports = instance.exports as unknown as Exports;
    this.stats = {
      emitNs: Number(t1 - t0), instantiateNs: Number(t2 - t1), wasmBytes: this.compiled.bytes.length,
      slots: p.n, dispatched: this.compiled.dispatched.length,
    };
    this.fd = rt.registerProgram(this);
  }

  /** The functions the module imports: traps, packet loads, helpers. */
  private imports(): WebAssembly.ModuleImports {
    const rt = this.backend.runtime;
    const env: WebAssembly.ModuleImports = { memory: rt.space.memory };
    env.ldpkt = (op: number, srcLo: number, imm: number, _pc: number) => {
      const size = (op & 0x18) === 0x10 ? 1 : (op & 0x18) === 0x08 ? 2 : 4;
      const pkt = rt.packet;
      const { data, end } = pkt ? packetPointers(rt.space, pkt) : { data: 0, end: 0 };
      const at = ((op & 0xe0) === 0x40 ? srcLo >>> 0 : 0) + imm;
      // The kernel ends the program with r0 = 0 when the load is out of the packet.
      if (!pkt || at < 0 || data + at + size > end) throw new ProgramExit(0n);
      const v = rt.space.view;
      return size === 1 ? v.getUint8(data + at) : size === 2 ? v.getUint16(data + at, false) : v.getUint32(data + at, false);
    };
    env.callx = (id: number, pc: number, r10: number) => {
      this.callHelper(id >>> 0, pc, r10);
      rt.pendingTailCall = undefined;
      return 0;
    };
    for (const fd of this.compiled.mapLookups) {
      const map = rt.map(fd);
      env[`m${fd}`] = map ? (key: number) => map.lookupAddr(key >>> 0, rt.context.cpu) : () => 0;
    }
    for (const id of this.compiled.helpers) {
      env[`h${id}`] = id === 12 ? (pc: number, r10: number) => this.tailCall(pc, r10) : this.helperImport(id);
    }
    return env;
  }

  /** The import of helper `id`: r1..r5 in the scratch area, r0 back into it. */
  private helperImport(id: number): (pc: number, r10: number) => number {
    const rt = this.backend.runtime;
    const impl = HELPER_IMPLS[id];
    const takesCallback = helperProto(id)?.args.includes('ARG_PTR_TO_FUNC') ?? false;
    if (id === 5) return (pc, r10) => this.callHelper(5, pc, r10);
    if (takesCallback || rt.space.strict || !impl) return (pc, r10) => this.callHelper(id, pc, r10);
    // The hot path: the implementation reads and writes the scratch area directly.
    const backend = this.backend;
    return () => {
      impl(rt, backend.regs());
      return 0;
    };
  }

  /** A helper call with everything checked (strict mode, callbacks, unknown ids, unwind). */
  private callHelper(id: number, pc: number, r10: number): number {
    const rt = this.backend.runtime;
    const regs = this.backend.regs();
    if (this.unwind && id === 5) {
      regs[0] = regs[2];
      regs[1] = regs[3];
      if (regs[2] === 0 && regs[3] === 0) throw new ProgramExit(0n);
      return 0;
    }
    const impl: HelperImpl | undefined = rt.helper(id);
    if (!impl) throw new RuntimeError('E_UNKNOWN_HELPER', pc, `helper ${helperName(id) ?? `#${id}`} is not available in the user-space runtime`);
    // A copy: callbacks the helper runs use the scratch area themselves.
    const copy = regs.slice();
    if (rt.space.strict) {
      const fault = rt.helperArgFault(id, copy);
      if (fault) throw new RuntimeError('E_MEM_FAULT', pc, `helper ${helperName(id) ?? `#${id}`}: ${fault}`);
    }
    const outerFrame = this.callbackFrame;
    this.callbackFrame = r10 + STACK;
    try {
      impl(rt, copy);
    } finally {
      this.callbackFrame = outerFrame;
    }
    const after = this.backend.regs();
    after[0] = copy[0];
    after[1] = copy[1];
    return 0;
  }

  /**
   * `bpf_tail_call`: when the prog array slot holds a program of this backend and fewer than 33
   * tail calls ran, runs it in this frame with r1 = the context and returns the budget left (the
   * caller returns the target's r0); otherwise -1 and r0 = -ENOENT, as in the kernel.
   */
  private tailCall(pc: number, r10: number): number {
    const backend = this.backend;
    const rt = backend.runtime;
    this.callHelper(12, pc, r10);
    const t = rt.pendingTailCall;
    rt.pendingTailCall = undefined;
    if (!t || backend.tailCalls >= MAX_TAIL_CALLS) return -1;
    const target = rt.tailCallTarget(t.mapFd, t.index);
    if (!(target instanceof JitProgram)) return -1;
    backend.tailCalls++;
    // r1 is already in the scratch area (the helper's first argument).
    const left = this.exports.budget.value as number;
    target.enter(left, r10);
    return target.exports.budget.value as number;
  }

  /** Runs the module's entry with the budget and frame given; translates WebAssembly traps. */
  private enter(budget: number, r10: number): void {
    try {
      this.exports.run(budget, r10);
    } catch (e) {
      throw this.translate(e);
    }
  }

  /** The error a trap becomes: `outside` for the engine's own bounds check (the address is unknown). */
  private trapError(kind: TrapKind, pc: number, outside: boolean): RuntimeError {
    switch (kind) {
      case TrapKind.MemRead:
      case TrapKind.MemWrite: {
        const what = `invalid ${kind === TrapKind.MemWrite ? 'write' : 'read'} of ${this.accessSize(pc)} bytes`;
        if (outside) return new RuntimeError('E_MEM_FAULT', pc, `${what} outside guest memory (${this.backend.runtime.space.size} bytes)`);
        const at = BigInt.asUintN(64, this.exports.fault.value as bigint);
        return new RuntimeError('E_MEM_FAULT', pc, `${what} at 0x${at.toString(16)}${at < 4096n ? ' (NULL page)' : ''}`);
      }
      case TrapKind.Budget:
        return new RuntimeError('E_BUDGET', pc, `instruction budget of ${this.backend.lastBudget} exhausted`);
      case TrapKind.CallDepth:
        return new RuntimeError('E_CALL_DEPTH', pc, `call depth exceeds ${MAX_CALL_FRAMES} frames`);
      case TrapKind.FellOff:
        return new RuntimeError('E_FELL_OFF', pc, 'ran past the last instruction without exit');
      case TrapKind.BadJump:
        return new RuntimeError('E_BAD_JUMP', pc, `jump to ${pc}, before the program`);
      case TrapKind.Kfunc:
        return new RuntimeError('E_UNKNOWN_HELPER', pc, `kfunc calls (BTF id ${this.immAt(pc)}) need the kernel`);
      default: {
        const op = this.opcodeAt(pc);
        return new RuntimeError('E_UNKNOWN_OPCODE', pc, `unknown or invalid instruction (opcode 0x${op.toString(16).padStart(2, '0')})`);
      }
    }
  }

  private immAt(pc: number): number {
    let slot = 0;
    for (const insn of this.insns) {
      if (slot === pc) return insn.imm;
      slot += insn.wide ? 2 : 1;
    }
    return 0;
  }

  private opcodeAt(pc: number): number {
    let slot = 0;
    for (const insn of this.insns) {
      if (slot === pc) return insn.op;
      if (insn.wide && slot + 1 === pc) return 0;
      slot += insn.wide ? 2 : 1;
    }
    return 0;
  }

  private accessSize(pc: number): number {
    const op = this.opcodeAt(pc);
    if ((op & 0xe0) === 0xc0) return op === 0xdb ? 8 : 4;
    return [4, 2, 1, 8][(op >> 3) & 3];
  }

  /**
   * A WebAssembly trap becomes a {@link RuntimeError} at the eBPF instruction: the engine's stack
   * trace gives the module offset of the trapping instruction (a load or store, or the
   * `unreachable` of a check), which the compiler recorded with its slot and kind.
   */
  private translate(e: unknown): unknown {
    if (!(e instanceof WebAssembly.RuntimeError)) {
      if (e instanceof RangeError && /call stack/i.test(e.message)) return new RuntimeError('E_CALL_DEPTH', -1, 'call depth exceeds the host stack');
      return e;
    }
    const site = this.trapSite(e);
    if (site < 0) return new RuntimeError('E_UNKNOWN_OPCODE', -1, `WebAssembly trap at an unknown place: ${e.message}`);
    const { sitePcs, siteKinds } = this.compiled;
    return this.trapError(siteKinds[site], sitePcs[site], /out of bounds/.test(e.message));
  }

  /** The index of the trap site at the top of a trap's stack, or -1. */
  private trapSite(e: Error): number {
    const m = /wasm-function\[\d+\]:0x([0-9a-f]+)/.exec(e.stack ?? '');
    if (!m) return -1;
    const offset = parseInt(m[1], 16);
    const { siteOffsets } = this.compiled;
    let lo = 0;
    let hi = siteOffsets.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (siteOffsets[mid] === offset) return mid;
      if (siteOffsets[mid] < offset) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Runs once with r1..r5 = `args`. */
  run(opts: JitRunOptions = {}): JitRunResult {
    const r = this.runRepeat(opts.args ?? [], 1, opts);
    return r;
  }

  /**
   * Runs `repeat` times with the same arguments; returns the last r0. The loop only rewrites
   * the arguments and calls the module, so its mean is the program's own time.
   */
  runRepeat(args: readonly number[], repeat: number, opts: { budget?: number; unwindHelper5?: boolean } = {}): JitRunResult {
    const backend = this.backend;
    const rt = backend.runtime;
    const budget = Math.min(MAX_BUDGET, Math.max(0, Math.floor(opts.budget ?? DEFAULT_BUDGET)));
    backend.lastBudget = budget;
    this.unwind = opts.unwindHelper5 ?? false;
    const a = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    for (let i = 0; i < args.length && i < 5; i++) {
      a[2 * i] = args[i] >>> 0;
      a[2 * i + 1] = Math.floor(args[i] / TWO32) >>> 0;
    }
    const outer = rt.invokeCallback;
    if (this.compiled.callbacks.length) rt.invokeCallback = (slot, cbArgs) => this.callback(slot, cbArgs);
    const r10 = backend.stack + STACK;
    const savedLimit = Error.stackTraceLimit;
    if (!(savedLimit >= 10)) Error.stackTraceLimit = 10;
    let regs = backend.regs();
    try {
      for (let i = 0; i < repeat; i++) {
        backend.tailCalls = 0;
        regs[2] = a[0]; regs[3] = a[1]; regs[4] = a[2]; regs[5] = a[3]; regs[6] = a[4];
        regs[7] = a[5]; regs[8] = a[6]; regs[9] = a[7]; regs[10] = a[8]; regs[11] = a[9];
        try {
          this.exports.run(budget, r10);
        } catch (e) {
          if (e instanceof ProgramExit) {
            regs = backend.regs();
            regs[0] = Number(e.r0 & 0xffffffffn);
            regs[1] = Number(e.r0 >> 32n);
            continue;
          }
          throw this.translate(e);
        }
        if (regs.length === 0) regs = backend.regs();
      }
    } finally {
      rt.invokeCallback = outer;
      Error.stackTraceLimit = savedLimit;
      this.unwind = false;
    }
    regs = backend.regs();
    const lo = regs[0];
    const hi = regs[1];
    return { lo, hi, r0: (BigInt(hi) << 32n) | BigInt(lo) };
  }

  /** Runs the callback at `slot` (bpf_loop and friends) in the frame above the helper call's. */
  private callback(slot: number, args: number[]): bigint {
    const frame = this.callbackFrame;
    if (frame > this.backend.stack + STACK * MAX_CALL_FRAMES) throw new RuntimeError('E_CALL_DEPTH', slot, 'call depth exceeds 8 frames');
    const regs = this.backend.regs();
    for (let i = 0; i < 5; i++) {
      const v = args[i] ?? 0;
      regs[2 + 2 * i] = v >>> 0;
      regs[3 + 2 * i] = Math.floor(v / TWO32) >>> 0;
    }
    try {
      this.exports.callback(slot, frame);
    } catch (e) {
      if (e instanceof ProgramExit) throw e;
      throw this.translate(e);
    }
    const after = this.backend.regs();
    return (BigInt(after[1]) << 32n) | BigInt(after[0]);
  }

  /**
   * Runs the program like `BPF_PROG_TEST_RUN`, with r1 = the context of its program type (see
   * `userTestRun` of @tsbpf/helpers for how the context and packet are built). `durationNs` is
   * the mean wall time per run of the compiled code.
   */
  testRun(options: JitTestRunOptions = {}): TestRunResult {
    return userTestRun(this.backend.runtime, this.spec.progType, options, (ctx, repeat) => {
      const t0 = process.hrtime.bigint();
      const r = this.runRepeat([ctx], repeat, { budget: options.budget });
      return { r0: r.r0, ns: Number(process.hrtime.bigint() - t0) / repeat };
    });
  }

  close(): void {}
}

/**
 * The eBPF-to-WebAssembly JIT as a {@link Backend}. Programs and maps share one {@link Runtime}
 * (one address space): each program is compiled to a module that imports the runtime's
 * `WebAssembly.Memory`, so map values, contexts and packets are the bytes the interpreter and
 * user space see.
 */
export class JitBackend implements Backend {
  readonly name = 'jit-wasm';
  readonly runtime: Runtime;
  /** Guest address of the 48-byte area r0..r5 cross the helper boundary through. */
  readonly scratch: number;
  /** Guest address of the 8 stack frames (512 bytes each). */
  readonly stack: number;
  readonly nullChecks: boolean;
  readonly budgetChecks: boolean;
  /** Tail calls of the current run (the kernel's limit is 33). */
  tailCalls = 0;
  /** The budget of the current run (for messages). */
  lastBudget = DEFAULT_BUDGET;
  private regsView: Uint32Array;

  constructor(opts: JitOptions = {}) {
    this.runtime = opts.runtime ?? new Runtime(opts);
    this.nullChecks = opts.nullChecks ?? true;
    this.budgetChecks = opts.budget ?? true;
    const space = this.runtime.space;
    this.scratch = space.alloc(48, 'jit:regs');
    this.stack = space.alloc(STACK * MAX_CALL_FRAMES, 'stack');
    this.regsView = new Uint32Array(space.memory.buffer, this.scratch, 12);
  }

  /** r0..r5 as (low, high) u32 pairs in the scratch area: the helpers' calling convention. */
  regs(): Uint32Array {
    if (this.regsView.length === 0) this.regsView = new Uint32Array(this.runtime.space.memory.buffer, this.scratch, 12);
    return this.regsView;
  }

  createMap(spec: MapSpec): BpfMap {
    return this.runtime.createMap({ ...spec });
  }

  load(spec: ProgramSpec): JitProgram {
    return new JitProgram(this, spec);
  }

  /**
   * Compiles and runs a program in the uBPF / bpf_conformance convention: r1 = a copy of `mem` in
   * guest memory, r2 = its length. `unwindHelper5` gives helper 5 bpf_conformance's "unwind" meaning.
   */
  runRaw(insns: readonly Insn[], mem: Uint8Array, opts: Omit<JitRunOptions, 'args'> = {}): JitRunResult {
    const space = this.runtime.space;
    const prog = this.load({ insns, progType: 0 as never });
    const addr = mem.length ? space.alloc(mem.length, 'mem') : 0;
    try {
      if (addr) space.write(addr, mem);
      return prog.run({ ...opts, args: [addr, mem.length] });
    } finally {
      if (addr) space.free(addr);
    }
  }

  close(): void {}
}
