/**
 * The path-sensitive abstract interpretation (the kernel's do_check): walks every path of the
 * program, keeping register types, scalar bounds, stack slots and references, checks every memory
 * access, helper call and exit, and prunes paths whose state is covered by one already verified.
 */
import { helperProto, isHelperAllowed, type ArgType, type HelperProto, type RetType } from '@tsbpf/helpers';
import { MapType, ProgType } from '@tsbpf/core';
import {
  branchTaken,
  negateOp,
  refineCond,
  scalarAlu,
  scalarBswap,
  scalarConstParts,
  scalarIsConst,
  scalarMovsx,
  scalarSubsumes,
  scalarTruncate,
  scalarUnknown,
  scalarValue,
  type AluOp as SAluOp,
  type JmpOp as SJmpOp,
  type Scalar,
} from './scalar.js';
import { tnumIn, tnumString } from './tnum.js';
import { liveness, type Slot } from './liveness.js';
import type { Code } from './structure.js';
import {
  NOT_INIT_REG,
  RT,
  SB,
  STACK,
  UNKNOWN_REG,
  constReg,
  immReg,
  copyState,
  ownStack,
  frameString,
  newFrame,
  ptrReg,
  regTypeStr,
  scalarReg,
  type Frame,
  type Reg,
  type State,
} from './state.js';
import { bpfSockAccessOk, ctxAccess } from './ctx.js';
import { retvalMessage, retvalRange } from './retval.js';
import { directPacketAccess, helperAcquires, helperChangesPktData, helperReleasesArg, mapFuncCompat, PROTO_OVERRIDES } from './helper-rules.js';
import { LinePrinter } from './line-info.js';
import type { FuncArg, LineInfo, VerifierMap } from './types.js';

export const EINVAL = 22;
export const EACCES = 13;
export const E2BIG = 7;
export const EFAULT = 14;

/** A rejection: thrown inside the analysis, caught by verify(). */
export class Reject {
  constructor(
    readonly insn: number,
    readonly message: string,
    readonly errno: number,
  ) {}
}

const MAX_VAR_OFF = 1 << 29;
const MAX_PACKET_OFF = 0xffff;
const MAX_CALL_FRAMES = 8;
const S64_MIN = -(1n << 63n);
const S64_MAX = (1n << 63n) - 1n;

export interface EngineOptions {
  progType: number;
  attachType: number | undefined;
  maps: Map<number, VerifierMap>;
  logLevel: 0 | 1 | 2;
  strictAlignment: boolean;
  license: string;
  insnLimit: number;
  recordStates: boolean;
  /** Subprogram start slots (sorted, 0 first). */
  subprogs: number[];
  /** Kernel functions by call slot. */
  kfuncs?: Map<number, string>;
  /** Global (BTF_FUNC_GLOBAL) functions by first slot. */
  globals?: Map<number, GlobalFunc>;
  /** `line_info`, checked: the log prints the C source lines. */
  lineInfo?: readonly LineInfo[];
}

/** A global function: verified once on its own, for any arguments matching `args`. */
export interface GlobalFunc {
  /** Subprogram number (the kernel's func#). */
  index: number;
  name: string;
  params: number;
  args?: FuncArg[];
  argsError?: string;
}

/** The subprogram (index in `starts`, sorted) that slot `pc` belongs to. */
function subprogOf(starts: readonly number[], pc: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= pc) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Subprograms (by index) that use LD_ABS / LD_IND, which may end the program early. */
function ldAbsSubprogIndexes(code: Code, starts: readonly number[]): Set<number> {
  const out = new Set<number>();
  for (let pc = 0; pc < code.length; pc++) {
    if (!code.tail[pc] && (code.op[pc]! & 7) === 0 && code.op[pc] !== 0x18) out.add(subprogOf(starts, pc));
  }
  return out;
}

/** The kernel's prune points: calls and their return sites, jump targets, conditional jumps. */
function prunePoints(code: Code): Uint8Array {
  const n = code.length;
  const prune = new Uint8Array(n);
  const mark = (pc: number) => {
    if (pc >= 0 && pc < n) prune[pc] = 1;
  };
  for (let pc = 0; pc < n; pc++) {
    if (code.tail[pc]) continue;
    const sop = code.op[pc]!;
    const cls = sop & 7;
    if (cls !== 5 && cls !== 6) continue;
    const op = sop & 0xf0;
    if (op === 0x90) continue;
    if (op === 0x80) {
      mark(pc);
      mark(pc + 1);
    } else if (op === 0x00) {
      mark(pc + 1 + (cls === 6 ? code.imm[pc]! : code.off[pc]!));
    } else {
      // a conditional jump and its branch target (push_insn marks BRANCH edges)
      mark(pc);
      mark(pc + 1 + code.off[pc]!);
    }
  }
  return prune;
}

/** widen_imprecise_scalars: imprecise scalars that differ from `old` become unknown. */
function widenChanged(old: State, cur: State): void {
  widenScalars(old, cur, (o, c, f, r) => o !== undefined && o.t === RT.SCALAR && !(r >= 0 && ((old.precise?.[f] ?? 0) >> r) & 1) && !sameScalar(o.s, c.s));
}

/**
 * Makes unknown the scalars of `cur` (registers r0-r9 and spilled slots, frame by frame) for which
 * `widen(old's register or slot, cur's, frame, register number or -1 for a slot)` says so.
 */
function widenScalars(old: State, cur: State, widen: (o: Reg | undefined, c: Reg, f: number, r: number) => boolean): void {
  for (let f = 0; f < Math.min(old.frames.length, cur.frames.length); f++) {
    const of = old.frames[f]!;
    const cf = cur.frames[f]!;
    for (let r = 0; r < 10; r++) {
      const c = cf.regs[r]!;
      if (c.t === RT.SCALAR && widen(of.regs[r], c, f, r)) cf.regs[r] = UNKNOWN_REG;
    }
    for (let k = 0; k < cf.spill.length; k++) {
      const c = cf.spill[k];
      if (c && c.t === RT.SCALAR && widen(of.spill[k], c, f, -1)) ownStack(cf).spill[k] = UNKNOWN_REG;
    }
  }
}

/** A global function whose arguments this verifier models (else it is analysed per call site). */
const separate = (g: GlobalFunc): boolean => g.argsError !== undefined || (g.args !== undefined && g.args.every((a) => a.kind !== 'unsupported'));

interface Pending {
  st: State;
  logPos: number;
}

const ALU_NAMES = ['+=', '-=', '*=', '/=', '|=', '&=', '<<=', '>>=', 'neg', '%=', '^=', '=', 's>>=', 'endian'];

/** The analysis of one program. */
export class Engine {
  /** The program's slots. */
  readonly code: Code;
  private readonly slot: Slot = { op: 0, dst: 0, src: 0, off: 0, imm: 0, imm2: 0, head2: 0 };
  readonly live: Uint16Array;
  private readonly liveLo: Uint32Array;
  private readonly liveHi: Uint32Array;
  readonly prune: Uint8Array;
  /** Checkpoints by slot (the kernel's explored_states). */
  explored = new Map<number, { done: State[]; loop: Map<number, State[]>; loopCount: number }>();
  readonly log: string[] = [];
  processed = 0;
  totalStates = 0;
  peakStates = 0;
  curStates = 0;
  private jmps = 0;
  private prevJmps = 0;
  private prevInsns = 0;
  private idGen = 0;
  private pending: Pending[] = [];
  private cur!: State;
  private pc = 0;
  readonly stackDepth: number[];
  private readonly auxType: Uint8Array;
  private readonly ldAbsSubprogs = new Set<number>();
  readonly stateText: (string | undefined)[];
  /** Global functions called from verified code (do_check_subprogs verifies these). */
  private readonly calledGlobals = new Set<number>();
  private changesPkt: Uint8Array | undefined;
  /** Prints source lines into the log (with a log and line info only). */
  private readonly lines: LinePrinter | undefined;

  constructor(
    code: Code,
    readonly o: EngineOptions,
  ) {
    this.code = code;
    const n = code.length;
    const helperArgs = (id: number) => {
      const p = PROTO_OVERRIDES.get(id)?.args ?? helperProto(id)?.args;
      return p ? p.length : 5;
    };
    const lv = liveness(code, o.subprogs, helperArgs);
    this.live = lv.regs;
    this.liveLo = lv.lo;
    this.liveHi = lv.hi;
    this.auxType = new Uint8Array(n);
    this.stackDepth = new Array(o.subprogs.length).fill(0);
    this.stateText = o.recordStates ? new Array(n) : [];
    // (separate functions: one constructor with several hot loops loses its optimised code in V8)
    for (const si of ldAbsSubprogIndexes(code, o.subprogs)) if (si > 0) this.ldAbsSubprogs.add(o.subprogs[si]!);
    this.prune = prunePoints(code);
    if (o.logLevel >= 1 && o.lineInfo?.length) this.lines = new LinePrinter(o.lineInfo, n);
  }

  private verbose(line: string): void {
    this.log.push(line);
  }

  /** verbose_linfo(env, pc, "; "): the C source line of `pc`, when it is not the one printed last. */
  private verboseLine(pc: number): void {
    const line = this.lines?.at(pc, '; ');
    if (line !== undefined) this.verbose(line);
  }

  private fail(message: string, errno = EACCES): never {
    throw new Reject(this.pc, message, errno);
  }

  private frame(): Frame {
    return this.cur.frames[this.cur.frames.length - 1]!;
  }

  private regs(): Reg[] {
    return this.frame().regs;
  }

  /**
   * Runs the analysis from the main program's first slot, then (do_check_subprogs) each global
   * function the verified code calls, on its own. Throws Reject.
   */
  run(): void {
    const st: State = { frames: [newFrame(-1, 0, 0)], refs: [], lock: undefined, parent: undefined, branches: 1, insn: 0, speculative: false };
    st.frames[0]!.regs[1] = ptrReg(RT.CTX);
    this.pass(st);
    const verified = new Set<number>();
    for (let found = true; found; ) {
      found = false;
      for (const start of this.o.subprogs) {
        const g = this.o.globals?.get(start);
        if (!g || !separate(g) || !this.calledGlobals.has(start) || verified.has(start)) continue;
        this.checkGlobal(start, g);
        verified.add(start);
        found = true;
      }
    }
  }

  /** do_check_common: one pass from `st`; a successful pass at level 1 leaves no log behind. */
  private pass(st: State): void {
    this.explored = new Map();
    this.cur = st;
    this.lines?.reset();
    this.loop();
    if (this.o.logLevel === 1) this.log.length = 0;
  }

  /** Verifies global function `start` for any arguments its BTF allows. */
  private checkGlobal(start: number, g: GlobalFunc): void {
    this.pc = start;
    this.verbose(`Validating ${g.name}() func#${g.index}...`);
    if (g.argsError !== undefined) this.fail(g.argsError, EINVAL);
    const st: State = { frames: [newFrame(-1, start, 0)], refs: [], lock: undefined, parent: undefined, branches: 1, insn: start, speculative: false };
    const regs = st.frames[0]!.regs;
    g.args!.forEach((a, i) => {
      if (a.kind === 'ctx') regs[i + 1] = ptrReg(RT.CTX);
      else if (a.kind === 'mem') regs[i + 1] = ptrReg(RT.MEM, { range: a.size, nul: a.nullable, id: a.nullable ? this.newId() : 0 });
      else regs[i + 1] = UNKNOWN_REG;
    });
    this.pass(st);
    if (this.o.logLevel >= 1) this.verbose(`Func#${g.index} ('${g.name}') is safe for any args that match its prototype`);
  }

  private loop(): void {
    const o = this.o;
    for (;;) {
      const pc = this.cur.insn;
      this.pc = pc;
      if (++this.processed > o.insnLimit) {
        this.fail(`BPF program is too large. Processed ${this.processed} insn`, E2BIG);
      }
      if (this.prune[pc]) {
        if (this.isStateVisited(pc)) {
          if (o.logLevel >= 2) this.verbose(`${pc}: safe`);
          if (!this.popPath()) return;
          continue;
        }
      }
      // one slot object for the whole run: step() reads it and keeps nothing of it
      const s = this.code.load(pc, this.slot);
      if (!s) this.fail(`invalid insn idx ${pc}`, EFAULT);
      if (o.logLevel >= 1) {
        this.verboseLine(pc);
        this.verbose(`${pc}: (${s.op.toString(16).padStart(2, '0')}) ${insnText(s, pc)}`);
      }
      if (o.recordStates && this.stateText[pc] === undefined) this.stateText[pc] = frameString(this.frame());
      const cont = this.step(s, pc);
      if (!cont) {
        if (!this.popPath()) return;
      }
    }
  }

  /** Ends the current path; continues with the next pending branch. False when none is left. */
  private popPath(): boolean {
    let p = this.cur.parent;
    while (p) {
      if (--p.branches > 0) break;
      this.completed(p);
      p = p.parent;
    }
    const next = this.pending.pop();
    if (!next) return false;
    if (this.o.logLevel === 1) this.log.length = next.logPos;
    this.cur = next.st;
    if (this.o.logLevel >= 2) this.verbose(`from ? to ${next.st.insn}: ${frameString(this.frame())}`);
    return true;
  }

  /** Queues another path (the kernel's push_stack). */
  private push(st: State): void {
    if (st.parent) st.parent.branches++;
    if (this.pending.length > 8192) this.fail(`The sequence of ${this.pending.length} jumps is too complex.`, E2BIG);
    this.pending.push({ st, logPos: this.log.length });
  }

  // ---------------------------------------------------------------------------------------------
  // State pruning

  private isStateVisited(pc: number): boolean {
    const cur = this.cur;
    let ex = this.explored.get(pc);
    let addNew = false;
    const c = this.code;
    const sop = c.tail[pc] ? -1 : c.op[pc]!;
    const loopPoint = sop === 0xe5 || (sop === 0x85 && c.src[pc] === 2) || (sop === 0x85 && c.src[pc] === 0 && CALLBACK_HELPERS.has(c.imm[pc]!));
    if (loopPoint || (this.jmps - this.prevJmps >= 2 && this.processed - this.prevInsns >= 8)) addNew = true;
    const fp = this.fingerprint(cur, pc);
    if (ex) {
      // checkpoints still being explored: an exact match is an infinite loop
      if (ex.loopCount > 0) {
        if (loopPoint) {
          for (const bucket of ex.loop.values()) {
            for (const old of bucket) {
              if (sop === 0xe5) {
                // may_goto: a state covered by one still being explored at another depth is done
                if ((old.mayGotoDepth ?? 0) !== (cur.mayGotoDepth ?? 0) && this.statesEqual(old, cur, false)) return true;
                continue;
              }
              // iterator and callback loops: a state covered by one still being explored is done
              // (the kernel compares with imprecise scalars here; we widen the differing scalars)
              if (this.statesEqual(old, cur, false)) return true;
              if (this.statesEqual(old, cur, false, true)) this.widen(old, cur);
            }
          }
        } else {
          const bucket = ex.loop.get(fp);
          if (bucket) for (const old of bucket) if ((old.mayGotoDepth ?? 0) === (cur.mayGotoDepth ?? 0) && this.statesEqual(old, cur, true)) {
            this.verboseLine(pc);
            this.fail(`infinite loop detected at insn ${pc}`, EINVAL);
          }
          // inside a loop: checkpoint less often (every 20 jumps and 100 instructions)
          if (this.jmps - this.prevJmps < 20 && this.processed - this.prevInsns < 100) addNew = false;
        }
      }
      const list = ex.done;
      for (let i = 0; i < list.length; i++) {
        const old = list[i]!;
        if (this.statesEqual(old, cur, false)) {
          old.hits = (old.hits ?? 0) + 1;
          return true;
        }
        old.misses = (old.misses ?? 0) + 1;
        // states that keep missing are dropped, as the kernel does
        if (old.misses > (old.hits ?? 0) * 3 + 3) {
          list[i] = list[list.length - 1]!;
          list.pop();
          i--;
          this.curStates--;
        }
      }
    }
    if (!addNew) return false;
    this.prevJmps = this.jmps;
    this.prevInsns = this.processed;
    const copy = copyState(cur);
    copy.insn = pc;
    copy.branches = 1;
    copy.parent = cur.parent;
    copy.fp = fp;
    cur.parent = copy;
    if (!ex) this.explored.set(pc, (ex = { done: [], loop: new Map(), loopCount: 0 }));
    let bucket = ex.loop.get(fp);
    if (!bucket) ex.loop.set(fp, (bucket = []));
    bucket.push(copy);
    ex.loopCount++;
    this.totalStates++;
    this.curStates++;
    if (this.curStates > this.peakStates) this.peakStates = this.curStates;
    return false;
  }

  /** A checkpoint whose paths are all verified moves to the list used for pruning. */
  private completed(st: State): void {
    const ex = this.explored.get(st.insn);
    if (!ex) return;
    const bucket = ex.loop.get(st.fp!);
    if (!bucket) return;
    const i = bucket.indexOf(st);
    if (i < 0) return;
    bucket[i] = bucket[bucket.length - 1]!;
    bucket.pop();
    if (!bucket.length) ex.loop.delete(st.fp!);
    ex.loopCount--;
    ex.done.push(st);
  }

  /** Replaces every scalar of `cur` that `old` does not cover by an unknown scalar. */
  private widen(old: State, cur: State): void {
    widenScalars(old, cur, (o, c) => !(o !== undefined && o.t === RT.SCALAR && scalarSubsumes(o.s, c.s)));
  }

  /** A hash of what an exact comparison looks at first: equal states have equal fingerprints. */
  private fingerprint(st: State, pc: number): number {
    const f = st.frames[st.frames.length - 1]!;
    const live = this.live[pc]!;
    let h = st.frames.length * 31 + st.refs.length;
    for (let r = 0; r < 10; r++) {
      if (!(live & (1 << r))) continue;
      const x = f.regs[r]!;
      h = (Math.imul(h, 16777619) ^ (x.t * 257 + x.off)) | 0;
      if (x.t === RT.SCALAR) {
        const sc = x.s;
        h = (Math.imul(h, 16777619) ^ Number(sc.var.value & 0xffffffn) ^ (Number(sc.var.mask & 0xffffn) << 8)) | 0;
        if (sc.var.mask !== 0n) h = (Math.imul(h, 16777619) ^ Number(sc.umin & 0xffffffn) ^ Number(sc.umax & 0xffffffn) ^ Number(sc.smin & 0xfffn) ^ sc.u32min ^ sc.s32max) | 0;
      }
    }
    return h;
  }

  /** A cheap test that rules out most non-equal pairs before the full comparison. */
  private quickDiffer(old: State, cur: State): boolean {
    if (old.frames.length !== cur.frames.length) return true;
    const of = old.frames[old.frames.length - 1]!;
    const cf = cur.frames[cur.frames.length - 1]!;
    const live = this.live[old.insn]!;
    for (let r = 0; r < 10; r++) {
      if (!(live & (1 << r))) continue;
      const o = of.regs[r]!;
      const c = cf.regs[r]!;
      if (o === c) continue;
      if (o.t !== c.t) return o.t !== RT.NOT_INIT;
      if (o.t === RT.SCALAR && o.s.var.mask === 0n && c.s.var.mask === 0n && o.s.var.value !== c.s.var.value) return true;
      if (o.off !== c.off) return true;
    }
    return false;
  }

  private statesEqual(old: State, cur: State, exact: boolean, ignoreScalars = false): boolean {
    if (old.frames.length !== cur.frames.length) return false;
    if (!ignoreScalars && this.quickDiffer(old, cur)) return false;
    if (old.refs.length !== cur.refs.length) return false;
    if ((old.lock === undefined) !== (cur.lock === undefined)) return false;
    const idmap = new Map<number, number>();
    for (let i = 0; i < old.refs.length; i++) {
      if (!checkId(idmap, old.refs[i]!.id, cur.refs[i]!.id)) return false;
    }
    const top = old.frames.length - 1;
    for (let f = 0; f <= top; f++) {
      const of = old.frames[f]!;
      const cf = cur.frames[f]!;
      if (of.callsite !== cf.callsite) return false;
      const liveMask = f === top ? this.live[old.insn]! : (this.live[cur.frames[f + 1]!.callsite + 1] ?? 0x7ff) & 0x3c0;
      for (let r = 0; r < 10; r++) {
        if (!(liveMask & (1 << r))) continue;
        const o = of.regs[r]!;
        const c = cf.regs[r]!;
        if (ignoreScalars && o.t === RT.SCALAR && c.t === RT.SCALAR) continue;
        if (!regsafe(o, c, idmap, exact)) return false;
      }
      if (!this.stacksafe(of, cf, idmap, exact, ignoreScalars, f === top ? old.insn : -1)) return false;
    }
    return true;
  }

  private stacksafe(of: Frame, cf: Frame, idmap: Map<number, number>, exact: boolean, ignoreScalars = false, pc = -1): boolean {
    const lo = pc >= 0 ? this.liveLo[pc]! : 0xffffffff;
    const hi = pc >= 0 ? this.liveHi[pc]! : 0xffffffff;
    // slots below both frames' deepest access were never touched in either
    const first = (STACK - Math.max(of.depth, cf.depth)) >> 3;
    for (let slot = first; slot < STACK / 8; slot++) {
      if (!exact && !(slot < 32 ? (lo >>> slot) & 1 : (hi >>> (slot - 32)) & 1)) continue;
      const base = slot * 8;
      const osp = of.spill[slot];
      const csp = cf.spill[slot];
      if (osp) {
        if (!csp) {
          // An old spilled unknown scalar covers any bytes.
          if (!exact && osp.t === RT.SCALAR && osp.id === 0 && isUnknownScalar(osp.s)) {
            let ok = true;
            for (let b = 0; b < 8; b++) if (cf.stype[base + b] === SB.INVALID) ok = false;
            if (ok) continue;
          }
          return false;
        }
        if (ignoreScalars && osp.t === RT.SCALAR && csp.t === RT.SCALAR) continue;
        if (!regsafe(osp, csp, idmap, exact)) return false;
        continue;
      }
      for (let b = 0; b < 8; b++) {
        const ot = of.stype[base + b]!;
        const ct = cf.stype[base + b]!;
        if (exact) {
          if (ot !== ct) return false;
          continue;
        }
        if (ot === SB.INVALID) continue;
        // privileged: uninitialised stack reads are allowed, so MISC covers anything
        if (ot === SB.MISC) continue;
        if (ot === SB.ZERO && ct === SB.ZERO) continue;
        if (ot === SB.ZERO && ct === SB.SPILL && cf.spill[slot] && isZeroScalar(cf.spill[slot]!)) continue;
        if (ot !== ct) return false;
      }
    }
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Instructions

  /** Executes one instruction; false when the path ends. */
  private step(s: Slot, pc: number): boolean {
    const cls = s.op & 7;
    switch (cls) {
      case 4:
      case 7:
        this.checkAlu(s, cls === 7);
        this.cur.insn = pc + 1;
        return true;
      case 1:
        this.checkLoad(s);
        this.cur.insn = pc + 1;
        return true;
      case 2:
      case 3:
        if (cls === 3 && (s.op & 0xe0) === 0xc0) this.checkAtomic(s);
        else this.checkStore(s, cls === 3);
        this.cur.insn = pc + 1;
        return true;
      case 0:
        if (s.op === 0x18) {
          this.checkLdImm64(s);
          this.cur.insn = pc + 2;
          return true;
        }
        this.checkLdAbs(s);
        this.cur.insn = pc + 1;
        return true;
      default:
        return this.checkJmp(s, pc, cls === 6);
    }
  }

  private readReg(r: number): Reg {
    if (r > 10) this.fail(`R${r} is invalid`, EINVAL);
    const reg = this.regs()[r]!;
    if (reg.t === RT.NOT_INIT) this.fail(`R${r} !read_ok`);
    return reg;
  }

  private checkDst(r: number): void {
    if (r > 10) this.fail(`R${r} is invalid`, EINVAL);
    if (r === 10) this.fail('frame pointer is read only');
  }

  private setReg(r: number, reg: Reg): void {
    this.regs()[r] = reg;
  }

  private newId(): number {
    return ++this.idGen;
  }

  // --- ALU -------------------------------------------------------------------------------------

  private checkAlu(s: Slot, is64: boolean): void {
    const op = s.op & 0xf0;
    const x = (s.op & 8) !== 0;
    if (op === 0x80 || op === 0xd0) {
      // neg / end
      if (op === 0x80) {
        if (x || s.src !== 0 || s.off !== 0 || s.imm !== 0) this.fail('BPF_NEG uses reserved fields', EINVAL);
      } else if (s.src !== 0 || s.off !== 0 || (s.imm !== 16 && s.imm !== 32 && s.imm !== 64) || (is64 && x)) {
        this.fail('BPF_END uses reserved fields', EINVAL);
      }
      this.checkDst(s.dst);
      const d = this.readReg(s.dst);
      if (d.t !== RT.SCALAR) this.fail(`R${s.dst} pointer arithmetic prohibited`);
      if (op === 0x80) this.setReg(s.dst, scalarReg(scalarAlu('neg', d.s, d.s, is64)));
      else this.setReg(s.dst, scalarReg(scalarBswap(d.s, s.imm as 16 | 32 | 64, is64 ? true : x)));
      return;
    }
    if (op === 0xb0) {
      // mov / movsx / addr_space_cast
      if (x) {
        if (s.imm !== 0 || (s.off !== 0 && s.off !== 8 && s.off !== 16 && s.off !== 32) || (!is64 && s.off === 32)) {
          if (!(is64 && s.off === 1 && (s.imm === 1 || s.imm === 1 << 16))) this.fail('BPF_MOV uses reserved fields', EINVAL);
        }
      } else if (s.src !== 0 || s.off !== 0) this.fail('BPF_MOV uses reserved fields', EINVAL);
      this.checkDst(s.dst);
      if (x) {
        const src = this.readReg(s.src);
        if (s.off === 0) {
          if (is64) {
            if (src.t === RT.SCALAR && !scalarIsConst(src.s)) {
              // link the two registers so that a bounds check on one applies to both
              let linked = src;
              if (src.id === 0) {
                linked = { ...src, id: this.newId() };
                this.setReg(s.src, linked);
              }
              this.setReg(s.dst, linked);
            } else this.setReg(s.dst, src);
          } else if (src.t !== RT.SCALAR) {
            this.setReg(s.dst, UNKNOWN_REG);
            this.setReg(s.dst, scalarReg(scalarTruncate(scalarUnknown(), 4)));
          } else {
            this.setReg(s.dst, scalarReg(scalarTruncate(src.s, 4)));
          }
        } else if (s.off === 1) {
          this.setReg(s.dst, src.t === RT.SCALAR ? scalarReg(scalarTruncate(src.s, 4)) : UNKNOWN_REG);
        } else {
          if (src.t !== RT.SCALAR) this.setReg(s.dst, UNKNOWN_REG);
          else this.setReg(s.dst, scalarReg(scalarMovsx(src.s, s.off as 8 | 16 | 32, is64)));
        }
      } else {
        this.setReg(s.dst, immReg(s.imm, is64));
      }
      return;
    }
    if (op > 0xc0) this.fail(`invalid BPF_ALU opcode ${op.toString(16)}`, EINVAL);
    if (x) {
      if (s.imm !== 0 || (s.off !== 0 && !((op === 0x30 || op === 0x90) && s.off === 1))) this.fail(`BPF_ALU uses reserved fields`, EINVAL);
    } else if (s.src !== 0 || (s.off !== 0 && !((op === 0x30 || op === 0x90) && s.off === 1))) this.fail(`BPF_ALU uses reserved fields`, EINVAL);
    const d = this.readReg(s.dst);
    let srcReg: Reg;
    if (x) srcReg = this.readReg(s.src);
    else {
      if ((op === 0x30 || op === 0x90) && s.imm === 0) this.fail('div by zero', EINVAL);
      if ((op === 0x60 || op === 0x70 || op === 0xc0) && (s.imm < 0 || s.imm >= (is64 ? 64 : 32))) this.fail(`invalid shift ${s.imm}`, EINVAL);
      srcReg = immReg(s.imm, is64);
    }
    this.checkDst(s.dst);
    const signed = s.off === 1;
    const sop: SAluOp = aluOpName(op, signed);
    if (d.t !== RT.SCALAR || srcReg.t !== RT.SCALAR) {
      this.pointerAlu(s, d, srcReg, op, is64);
      return;
    }
    this.setReg(s.dst, scalarReg(scalarAlu(sop, d.s, srcReg.s, is64)));
  }

  private pointerAlu(s: Slot, d: Reg, src: Reg, op: number, is64: boolean): void {
    const dst = s.dst;
    if (d.t !== RT.SCALAR && src.t !== RT.SCALAR) {
      if (op === 0x10 && is64) {
        this.setReg(dst, UNKNOWN_REG);
        return;
      }
      this.fail(`R${dst} pointer ${ALU_NAMES[op >> 4]} pointer prohibited`);
    }
    let ptr: Reg;
    let offReg: Reg;
    let ptrIsDst: boolean;
    if (d.t !== RT.SCALAR) {
      ptr = d;
      offReg = src;
      ptrIsDst = true;
    } else {
      ptr = src;
      offReg = d;
      ptrIsDst = false;
    }
    if (!is64) {
      if (op === 0x10) {
        this.setReg(dst, UNKNOWN_REG);
        return;
      }
      this.fail(`R${dst} 32-bit pointer arithmetic prohibited`);
    }
    const typeStr = regTypeStr(ptr);
    if (ptr.nul) this.fail(`R${dst} pointer arithmetic on ${typeStr} prohibited, null-check it first`);
    const known = scalarIsConst(offReg.s);
    const val = known ? BigInt.asIntN(64, scalarValue(offReg.s)) : 0n;
    switch (ptr.t) {
      case RT.CTX:
      case RT.MAP_VALUE:
      case RT.MAP_KEY:
      case RT.STACK:
      case RT.PKT_META:
      case RT.PKT:
      case RT.TP_BUFFER:
      case RT.BTF_ID:
      case RT.MEM:
      case RT.RINGBUF_MEM:
      case RT.BUF:
      case RT.FUNC:
        break;
      case RT.FLOW_KEYS:
        if (known) break;
        if (known && val === 0n && op === 0x00) break;
        this.fail(`R${dst} pointer arithmetic on ${typeStr} prohibited`);
        break;
      case RT.MAP_PTR:
        if (known && val === 0n && op === 0x00) break;
        this.fail(`R${dst} pointer arithmetic on ${typeStr} prohibited`);
        break;
      default:
        this.fail(`R${dst} pointer arithmetic on ${typeStr} prohibited`);
    }
    if (op !== 0x00 && op !== 0x10) {
      if (op === 0x40 || op === 0x50 || op === 0xa0) this.fail(`R${dst} bitwise operator ${ALU_NAMES[op >> 4]} on pointer prohibited`);
      this.fail(`R${dst} pointer arithmetic with ${ALU_NAMES[op >> 4]} operator prohibited`);
    }
    if (op === 0x10 && !ptrIsDst) this.fail(`R${dst} tried to subtract pointer from scalar`);
    if (op === 0x10 && ptr.t === RT.STACK) this.fail(`R${dst} subtraction from stack pointer prohibited`);
    this.saneOffset(offReg, ptr);
    this.saneOffset(ptr, ptr);
    let out: Reg;
    if (op === 0x00) {
      const nOff = ptr.off + Number(val);
      if (known && nOff === (nOff | 0)) {
        out = { ...ptr, off: nOff };
      } else {
        const v = scalarAlu('add', ptr.s, offReg.s, true);
        out = { ...ptr, s: v };
        if (ptr.t === RT.PKT || ptr.t === RT.PKT_META) out = { ...out, id: this.newId(), range: 0 };
      }
    } else {
      const nOff = ptr.off - Number(val);
      if (known && nOff === (nOff | 0)) {
        out = { ...ptr, off: nOff };
      } else {
        const v = scalarAlu('sub', ptr.s, offReg.s, true);
        out = { ...ptr, s: v };
        if (ptr.t === RT.PKT || ptr.t === RT.PKT_META) {
          out = { ...out, id: this.newId() };
          if (offReg.s.smin < 0n) out = { ...out, range: 0 };
        }
      }
    }
    this.saneOffset(out, ptr);
    this.setReg(dst, out);
  }

  private saneOffset(reg: Reg, ptr: Reg): void {
    const tstr = regTypeStr(ptr);
    const known = scalarIsConst(reg.s);
    const val = BigInt.asIntN(64, reg.s.var.value);
    if (known && (val >= MAX_VAR_OFF || val <= -MAX_VAR_OFF)) this.fail(`math between ${tstr} pointer and ${val} is not allowed`);
    if (reg.off >= MAX_VAR_OFF || reg.off <= -MAX_VAR_OFF) this.fail(`${tstr} pointer offset ${reg.off} is not allowed`);
    if (reg.s.smin === S64_MIN) this.fail(`math between ${tstr} pointer and register with unbounded min value is not allowed`);
    if (reg.s.smin >= MAX_VAR_OFF || reg.s.smin <= -MAX_VAR_OFF) this.fail(`value ${reg.s.smin} makes ${tstr} pointer be out of bounds`);
  }

  // --- memory ----------------------------------------------------------------------------------

  /** save_aux_ptr_type: one load/store instruction may not see a context (or socket) pointer on one path and another pointer on another. */
  private auxPtrType(reg: Reg): void {
    const prev = this.auxType[this.pc]!;
    const t = reg.t + 1;
    if (prev === 0) {
      this.auxType[this.pc] = t;
      return;
    }
    if (prev === t) return;
    const special = (x: number) => x === RT.CTX + 1 || x === RT.SOCK + 1 || x === RT.SOCK_COMMON + 1 || x === RT.TCP_SOCK + 1 || x === RT.XDP_SOCK + 1 || x === RT.BTF_ID + 1;
    if (special(prev) || special(t)) this.fail('same insn cannot be used with different pointers', EINVAL);
  }

  private checkLoad(s: Slot): void {
    const mode = s.op & 0xe0;
    const size = SIZES[(s.op >> 3) & 3]!;
    const src = this.readReg(s.src);
    this.checkDst(s.dst);
    const val = this.memAccess(s.src, s.off, size, 'read', mode === 0x80, s.dst);
    this.auxPtrType(src);
    this.setReg(s.dst, val ?? UNKNOWN_REG);
  }

  private checkStore(s: Slot, isReg: boolean): void {
    const size = SIZES[(s.op >> 3) & 3]!;
    if (isReg) this.readReg(s.src);
    const d = this.readReg(s.dst);
    if (isReg) this.memAccess(s.dst, s.off, size, 'write', false, s.src);
    else this.memAccess(s.dst, s.off, size, 'write', false, -1, s.imm);
    this.auxPtrType(d);
  }

  private checkAtomic(s: Slot): void {
    const size = SIZES[(s.op >> 3) & 3]!;
    const op = s.imm;
    const valid = [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x100, 0x110];
    if (!valid.includes(op)) this.fail(`BPF_ATOMIC uses invalid atomic opcode ${op.toString(16).padStart(2, '0')}`, EINVAL);
    if (op === 0x100 || op === 0x110) {
      // load_acquire / store_release
      if (op === 0x100) {
        this.readReg(s.src);
        this.checkDst(s.dst);
        const v = this.memAccess(s.src, s.off, size, 'read', false, s.dst);
        this.setReg(s.dst, v ?? UNKNOWN_REG);
      } else {
        this.readReg(s.src);
        this.readReg(s.dst);
        this.memAccess(s.dst, s.off, size, 'write', false, s.src);
      }
      return;
    }
    if (size !== 4 && size !== 8) this.fail('invalid atomic operand size', EINVAL);
    this.readReg(s.src);
    const d = this.readReg(s.dst);
    if (op === 0xf1) this.readReg(0);
    const t = d.t;
    if (t === RT.CTX || t === RT.PKT || t === RT.PKT_META || t === RT.FLOW_KEYS || t === RT.SOCK || t === RT.SOCK_COMMON || t === RT.TCP_SOCK || t === RT.XDP_SOCK) {
      this.fail(`BPF_ATOMIC stores into R${s.dst} ${regTypeStr(d)} is not allowed`);
    }
    const fetch = (op & 1) !== 0;
    const loadReg = op === 0xf1 ? 0 : fetch ? s.src : -1;
    // the kernel marks the load register written before the accesses, and checks the write after
    // the fill: when it is also the address register, the address is gone (an unknown scalar)
    if (loadReg >= 0) {
      this.checkDst(loadReg);
      this.setReg(loadReg, UNKNOWN_REG);
    }
    this.strictOnce = true;
    const v = this.memAccess(s.dst, s.off, size, 'read', false, loadReg >= 0 ? loadReg : -1);
    if (loadReg >= 0) this.setReg(loadReg, v ?? scalarReg(scalarTruncate(scalarUnknown(), size)));
    this.memAccess(s.dst, s.off, size, 'write', false, -1);
    this.strictOnce = false;
  }

  /**
   * check_mem_access: checks an access of `size` bytes at `reg + off`; for reads returns the
   * loaded value (undefined = unknown scalar). `valueReg` is the stored register (or -1 and `imm`).
   */
  private memAccess(regno: number, off: number, size: number, kind: 'read' | 'write', sx: boolean, valueReg: number, imm?: number, atomic = false): Reg | undefined {
    const reg = this.regs()[regno]!;
    const write = kind === 'write';
    if (reg.t === RT.NOT_INIT) this.fail(`R${regno} !read_ok`);
    if (reg.nul) this.fail(`R${regno} invalid mem access '${regTypeStr(reg)}'`);
    this.checkAlignment(reg, regno, off, size);
    const total = off + reg.off;
    switch (reg.t) {
      case RT.STACK:
        return this.stackAccess(reg, regno, total, size, kind, sx, valueReg, imm);
      case RT.MAP_VALUE: {
        const m = reg.map!;
        if (write && (m.frozen || ((m.flags ?? 0) & 0x80) !== 0)) this.fail(`write into map forbidden, value_size=${m.valueSize} off=${total} size=${size}`);
        if (!write && ((m.flags ?? 0) & 0x100) !== 0) this.fail(`read from map forbidden, value_size=${m.valueSize} off=${total} size=${size}`);
        this.regionAccess(reg, regno, total, size, m.valueSize, false);
        this.specialFieldAccess(m, reg, total, size);
        if (!write && m.frozen && m.initialValue && scalarIsConst(reg.s)) {
          const at = total + Number(scalarValue(reg.s));
          if (at >= 0 && at + size <= m.initialValue.length) {
            let v = 0n;
            for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(m.initialValue[at + i]!);
            if (sx) v = BigInt.asUintN(64, BigInt.asIntN(size * 8, v));
            return constReg(v);
          }
        }
        if (!write && valueReg >= 0) return this.loadedScalar(size, sx);
        return undefined;
      }
      case RT.MAP_KEY:
        if (write) this.fail(`R${regno} cannot write into ${regTypeStr(reg)}`);
        this.regionAccess(reg, regno, total, size, reg.map!.keySize, false);
        return this.loadedScalar(size, sx);
      case RT.MEM:
      case RT.RINGBUF_MEM:
      case RT.BUF:
        if (write && reg.rdonly) this.fail(`R${regno} cannot write into ${regTypeStr(reg)}`);
        this.regionAccess(reg, regno, total, size, reg.range, false);
        return this.loadedScalar(size, sx);
      case RT.CTX: {
        this.checkPtrOffReg(reg, regno, false);
        const res = ctxAccess(this.o.progType, this.o.attachType, total, size, atomic ? 'atomic' : write ? 'write' : 'read', { signExtend: sx, reg: regno });
        if (!res.ok) {
          for (const l of res.log ?? []) this.verbose(l);
          this.fail(res.message || `invalid bpf_context access off=${total} size=${size}`);
        }
        if (write) return undefined;
        return this.ctxValue(res.value, size, sx);
      }
      case RT.PKT:
      case RT.PKT_META: {
        if (write && !directPacketAccess(this.o.progType, this.o.attachType, true)) this.fail('cannot write into packet');
        this.packetAccess(reg, regno, total, size, false);
        return this.loadedScalar(size, sx);
      }
      case RT.FLOW_KEYS: {
        if (total < 0 || total + size > 56 || !scalarIsConst(reg.s) || reg.s.var.value !== 0n) this.fail(`invalid access to flow keys off=${total} size=${size}`);
        return this.loadedScalar(size, sx);
      }
      case RT.SOCK:
      case RT.SOCK_COMMON:
      case RT.TCP_SOCK:
      case RT.XDP_SOCK: {
        if (write) this.fail(`R${regno} cannot write into ${regTypeStr(reg)}`);
        if (!scalarIsConst(reg.s) || reg.s.var.value !== 0n) this.fail(`R${regno} invalid variable offset: off=${reg.off}, var_off=${tnumString(reg.s.var)}`);
        const name = RT_SOCK_NAMES[reg.t]!;
        if (total < 0) this.fail(`R${regno} invalid ${name} access off=${total} size=${size}`);
        let ok: boolean;
        if (reg.t === RT.SOCK) ok = bpfSockAccessOk(total, size);
        else if (reg.t === RT.SOCK_COMMON) ok = bpfSockAccessOk(total, size) && !(total >= 8 && total < 24);
        else if (reg.t === RT.TCP_SOCK) ok = total < 112 && total % size === 0 && size === (total === 80 || total === 88 ? 8 : 4); // bytes_received, bytes_acked are __u64
        else ok = total === 0 && size === 4;
        if (!ok) this.fail(`R${regno} invalid ${name} access off=${total} size=${size}`);
        return this.loadedScalar(size, sx);
      }
      case RT.BTF_ID:
        if (write) this.fail(`only read is supported`);
        if (total < 0) this.fail(`R${regno} is ptr_${reg.btf ?? ''} invalid negative access: off=${total}`);
        return this.loadedScalar(size, sx);
      case RT.MAP_PTR: {
        if (write) this.fail(`R${regno} cannot write into ${regTypeStr(reg)}`);
        if (total < 0) this.fail(`R${regno} is ${mapStructName(reg.map)} invalid negative access: off=${total}`);
        return this.loadedScalar(size, sx);
      }
      case RT.TP_BUFFER:
        return this.loadedScalar(size, sx);
      default:
        this.fail(`R${regno} invalid mem access '${regTypeStr(reg)}'`);
    }
  }

  private loadedScalar(size: number, sx: boolean): Reg {
    if (size === 8) return UNKNOWN_REG;
    if (sx) return scalarReg(scalarMovsx(scalarUnknown(), (size * 8) as 8 | 16 | 32, true));
    return scalarReg(scalarTruncate(scalarUnknown(), size as 1 | 2 | 4));
  }

  private ctxValue(v: string, size: number, sx: boolean): Reg {
    switch (v) {
      case 'scalar':
        return this.loadedScalar(size, sx);
      case 'pkt':
        return ptrReg(RT.PKT);
      case 'pkt_meta':
        return ptrReg(RT.PKT_META);
      case 'pkt_end':
        return ptrReg(RT.PKT_END);
      case 'flow_keys':
        return ptrReg(RT.FLOW_KEYS);
      case 'sock':
        return ptrReg(RT.SOCK);
      case 'sock_or_null':
        return ptrReg(RT.SOCK, { nul: true, id: this.newId() });
      case 'sock_common_or_null':
        return ptrReg(RT.SOCK_COMMON, { nul: true, id: this.newId() });
      case 'tcp_sock_or_null':
        return ptrReg(RT.TCP_SOCK, { nul: true, id: this.newId() });
      case 'btf_id':
        return ptrReg(RT.BTF_ID);
      default:
        return this.loadedScalar(size, sx);
    }
  }

  private strictOnce = false;

  private checkAlignment(reg: Reg, regno: number, off: number, size: number): void {
    let strict = this.o.strictAlignment || this.strictOnce;
    let desc = '';
    switch (reg.t) {
      case RT.PKT:
      case RT.PKT_META: {
        if (!strict || size === 1) return;
        // NET_IP_ALIGN is 2: packet data starts two bytes into an aligned buffer
        const v = scalarIsConst(reg.s) ? Number(reg.s.var.value) : 0;
        const mask = scalarIsConst(reg.s) ? 0n : reg.s.var.mask;
        const total = 2 + reg.off + off + v;
        if (total % size !== 0 || (mask & BigInt(size - 1)) !== 0n) {
          this.fail(`misaligned packet access off 2+${tnumString(reg.s.var)}+${reg.off + off} size ${size}`);
        }
        return;
      }
      case RT.MAP_VALUE:
        desc = 'value ';
        break;
      case RT.CTX:
        desc = 'context ';
        break;
      case RT.FLOW_KEYS:
        desc = 'flow keys ';
        break;
      case RT.STACK:
        desc = 'stack ';
        strict = true;
        break;
      case RT.SOCK:
      case RT.SOCK_COMMON:
      case RT.TCP_SOCK:
      case RT.XDP_SOCK:
        desc = 'sock ';
        strict = true;
        break;
      default:
        break;
    }
    if (!strict || size === 1) return;
    const total = BigInt(reg.off + off);
    const v = reg.s.var;
    const lowMask = BigInt(size - 1);
    if ((v.mask & lowMask) !== 0n || ((v.value + total) & lowMask) !== 0n) {
      this.fail(`misaligned ${desc}access off ${tnumString(v)}+${reg.off}+${off} size ${size}`);
    }
  }

  private checkPtrOffReg(reg: Reg, regno: number, fixedOk: boolean): void {
    const t = regTypeStr(reg);
    if (!fixedOk && reg.off < 0) this.fail(`negative offset ${t} ptr R${regno} off=${reg.off} disallowed`);
    if (!fixedOk && reg.off !== 0) this.fail(`dereference of modified ${t} ptr R${regno} off=${reg.off} disallowed`);
    if (!scalarIsConst(reg.s) || reg.s.var.value !== 0n) this.fail(`variable ${t} access var_off=${tnumString(reg.s.var)} disallowed`);
  }

  /** check_mem_region_access. */
  private regionAccess(reg: Reg, regno: number, off: number, size: number, memSize: number, zeroOk: boolean): void {
    const s = reg.s;
    const smin = s.smin;
    if (smin < 0n && (smin === S64_MIN || BigInt(off) + smin !== BigInt.asIntN(32, BigInt(off) + smin) || smin + BigInt(off) < 0n)) {
      this.fail(`R${regno} min value is negative, either use unsigned index or do a if (index >=0) check.`);
    }
    if (!this.memOk(reg, regno, Number(smin) + off, size, memSize, zeroOk)) this.fail(`R${regno} min value is outside of the allowed memory range`);
    if (s.umax >= BigInt(MAX_VAR_OFF)) this.fail(`R${regno} unbounded memory access, make sure to bounds check any such access`);
    if (!this.memOk(reg, regno, Number(s.umax) + off, size, memSize, zeroOk)) this.fail(`R${regno} max value is outside of the allowed memory range`);
  }

  /** __check_mem_access: prints the kernel's line and returns false when out of bounds. */
  private memOk(reg: Reg, regno: number, off: number, size: number, memSize: number, zeroOk: boolean): boolean {
    const sizeOk = size > 0 || (size === 0 && zeroOk);
    if (off >= 0 && sizeOk && off + size <= memSize) return true;
    switch (reg.t) {
      case RT.MAP_KEY:
        this.verbose(`invalid access to map key, key_size=${memSize} off=${off} size=${size}`);
        break;
      case RT.MAP_VALUE:
        this.verbose(`invalid access to map value, value_size=${memSize} off=${off} size=${size}`);
        break;
      case RT.PKT:
      case RT.PKT_META:
      case RT.PKT_END:
        this.verbose(`invalid access to packet, off=${off} size=${size}, R${regno}(id=${reg.id},off=${reg.off},r=${reg.range})`);
        break;
      default:
        this.verbose(`invalid access to memory, mem_size=${memSize} off=${off} size=${size}`);
    }
    return false;
  }

  private packetAccess(reg: Reg, regno: number, off: number, size: number, zeroOk: boolean): void {
    if (reg.s.smin < 0n) this.fail(`R${regno} min value is negative, either use unsigned index or 'var &= const'`);
    if (reg.range < 0 || !this.memOk(reg, regno, off, size, reg.range, zeroOk)) this.fail(`R${regno} offset is outside of the packet`);
  }

  private specialFieldAccess(m: VerifierMap, reg: Reg, off: number, size: number): void {
    if (!m.specialFields?.length) return;
    const lo = off + Number(reg.s.smin < 0n ? 0n : reg.s.umin);
    const hi = off + Number(reg.s.umax > 1n << 30n ? 1n << 30n : reg.s.umax) + size;
    for (const f of m.specialFields) {
      if (lo < f.offset + f.size && hi > f.offset) {
        if (f.kind === 'bpf_spin_lock') this.fail('bpf_spin_lock cannot be accessed directly by load/store');
        if (f.kind === 'bpf_timer') this.fail('bpf_timer cannot be accessed directly by load/store');
        if (f.kind === 'kptr') continue;
        this.fail(`${f.kind} cannot be accessed directly by load/store`);
      }
    }
  }

  private stackAccess(reg: Reg, regno: number, off: number, size: number, kind: 'read' | 'write', sx: boolean, valueReg: number, imm?: number): Reg | undefined {
    const f = this.cur.frames[reg.frame]!;
    const varConst = scalarIsConst(reg.s);
    const minOff = varConst ? off + Number(BigInt.asIntN(64, reg.s.var.value)) : off + Number(reg.s.smin);
    const maxOff = varConst ? minOff + size : off + Number(reg.s.smax) + size;
    const extra = kind === 'read' ? ' read from' : ' write to';
    if (!varConst && (reg.s.smin < -1000000n || reg.s.smax > 1000000n)) {
      this.fail(`invalid unbounded variable-offset${extra} stack R${regno}`);
    }
    if (minOff < -STACK || maxOff > 0 || size <= 0) {
      if (varConst) this.fail(`invalid${extra} stack R${regno} off=${minOff} size=${size}`);
      this.fail(`invalid variable-offset${extra} stack R${regno} var_off=${tnumString(reg.s.var)} off=${off} size=${size}`);
    }
    const depth = -minOff;
    if (depth > f.depth) f.depth = depth;
    const si = subprogOf(this.o.subprogs, f.subprog);
    if (depth > this.stackDepth[si]!) this.stackDepth[si] = depth;
    if (kind === 'write') ownStack(f);
    if (!varConst) {
      if (kind === 'write') {
        for (let i = minOff; i < maxOff; i++) {
          const idx = STACK + i;
          const slot = idx >> 3;
          if (f.spill[slot]) this.scrubSlot(f, slot);
          if (f.stype[idx] !== SB.ZERO || !(imm === 0)) f.stype[idx] = SB.MISC;
        }
        return undefined;
      }
      return this.loadedScalar(size, sx);
    }
    const idx = STACK + minOff;
    const slot = idx >> 3;
    if (kind === 'write') {
      const value = valueReg >= 0 ? this.regs()[valueReg]! : undefined;
      const aligned = (idx & 7) === 0;
      if (value && value.t !== RT.SCALAR) {
        if (size !== 8) this.fail('invalid size of register spill');
        if (f.spill[slot]) this.scrubSlot(f, slot);
        if (reg.frame !== this.cur.frames.length - 1 && value.t === RT.STACK) {
          this.fail('cannot spill pointers to stack into stack frame of the caller', EINVAL);
        }
        f.spill[slot] = value;
        f.stype.fill(SB.SPILL, slot * 8, slot * 8 + 8);
        return undefined;
      }
      if (aligned && value) {
        // a scalar spill (narrow spills keep the value when it fits)
        if (f.spill[slot]) this.scrubSlot(f, slot);
        let v = value;
        if (v.id === 0 && !scalarIsConst(v.s) && (size === 8 || v.s.umax < 1n << BigInt(size * 8))) {
          // the spilled copy and the register stay linked (assign_scalar_id_before_mov)
          v = { ...v, id: this.newId() };
          this.setReg(valueReg, v);
        }
        if (size < 8) {
          const fits = v.s.umax < 1n << BigInt(size * 8);
          v = fits ? v : scalarReg(scalarTruncate(v.s, size as 1 | 2 | 4));
        }
        f.spill[slot] = v;
        f.stype.fill(SB.SPILL, idx, idx + size);
        return undefined;
      }
      if (aligned && imm !== undefined) {
        if (f.spill[slot]) this.scrubSlot(f, slot);
        const v = BigInt.asUintN(size * 8, BigInt(imm));
        f.spill[slot] = constReg(size === 8 ? BigInt.asUintN(64, BigInt(imm)) : v);
        f.stype.fill(SB.SPILL, idx, idx + size);
        return undefined;
      }
      // A narrower write: the slot's spilled register (if any) is gone.
      if (f.spill[slot]) this.scrubSlot(f, slot);
      const zero = imm === 0 || (value !== undefined && isZeroScalar(value));
      for (let i = idx; i < idx + size; i++) f.stype[i] = zero ? SB.ZERO : SB.MISC;
      return undefined;
    }
    // read
    const sp = f.spill[slot];
    if (sp) {
      const base = slot * 8;
      let spillSize = 0;
      while (spillSize < 8 && f.stype[base + spillSize] === SB.SPILL) spillSize++;
      if (idx === base && size === spillSize) {
        if (valueReg < 0) return sp.t === RT.SCALAR ? sp : UNKNOWN_REG;
        if (sx && size < 8 && sp.t === RT.SCALAR) return scalarReg(scalarMovsx(sp.s, (size * 8) as 8 | 16 | 32, true));
        return sp;
      }
      if (sp.t !== RT.SCALAR) this.fail('invalid size of register fill');
      // narrow fill of a spilled scalar: the low bytes of a little-endian value
      if (idx === base && size < spillSize && scalarIsConst(sp.s)) {
        let v = BigInt.asUintN(size * 8, scalarValue(sp.s));
        if (sx) v = BigInt.asUintN(64, BigInt.asIntN(size * 8, v));
        return constReg(v);
      }
      if (idx === base && size < spillSize && !sx) return scalarReg(scalarTruncate(sp.s, size as 1 | 2 | 4));
      if (idx >= base + spillSize) {
        // bytes past a narrow spill: ordinary stack bytes
      } else return this.loadedScalar(size, sx);
    }
    let allZero = true;
    for (let i = idx; i < idx + size; i++) {
      const t = f.stype[i]!;
      if (t !== SB.ZERO) allZero = false;
      if (t === SB.SPILL) {
        const s2 = f.spill[i >> 3];
        if (s2 && s2.t !== RT.SCALAR) this.fail('invalid size of register fill');
      }
    }
    if (allZero) return constReg(0n);
    return this.loadedScalar(size, sx);
  }

  private scrubSlot(f: Frame, slot: number): void {
    ownStack(f);
    const sp = f.spill[slot];
    f.spill[slot] = undefined;
    for (let i = slot * 8; i < slot * 8 + 8; i++) {
      if (f.stype[i] === SB.SPILL) f.stype[i] = sp && isZeroScalar(sp) ? SB.ZERO : SB.MISC;
    }
  }

  // --- lddw / ld_abs ---------------------------------------------------------------------------

  private checkLdImm64(s: Slot): void {
    if (s.off !== 0) this.fail('BPF_LD_IMM64 uses reserved fields', EINVAL);
    this.checkDst(s.dst);
    switch (s.src) {
      case 0:
        this.setReg(s.dst, scalarReg(scalarConstParts(s.imm2, s.imm >>> 0)));
        return;
      case 1:
      case 5: {
        const m = this.o.maps.get(s.imm)!;
        this.setReg(s.dst, ptrReg(RT.MAP_PTR, { map: m }));
        return;
      }
      case 2:
      case 6: {
        const m = this.o.maps.get(s.imm)!;
        this.setReg(s.dst, ptrReg(RT.MAP_VALUE, { map: m, off: s.imm2 }));
        return;
      }
      case 4: {
        this.setReg(s.dst, ptrReg(RT.FUNC, { frame: this.pc + 1 + s.imm }));
        return;
      }
      case 3:
        this.setReg(s.dst, ptrReg(RT.BTF_ID, { btf: 'ksym' }));
        return;
      default:
        this.fail('invalid bpf_ld_imm64 insn', EINVAL);
    }
  }

  private checkLdAbs(s: Slot): void {
    const pt = this.o.progType;
    if (pt !== ProgType.SocketFilter && pt !== ProgType.SchedCls && pt !== ProgType.SchedAct) {
      this.fail('BPF_LD_[ABS|IND] instructions not allowed for this program type', EINVAL);
    }
    const mode = s.op & 0xe0;
    if (s.dst !== 0 || s.off !== 0 || (s.op & 0x18) === 0x18 || (mode === 0x20 && s.src !== 0)) this.fail('BPF_LD_[ABS|IND] uses reserved fields', EINVAL);
    const r6 = this.readReg(6);
    if (this.cur.refs.length) this.fail('BPF_LD_[ABS|IND] cannot be mixed with socket references', EINVAL);
    if (this.cur.lock) this.fail('BPF_LD_[ABS|IND] cannot be used inside bpf_spin_lock-ed region', EINVAL);
    if (mode === 0x40) this.readReg(s.src);
    if (r6.t !== RT.CTX) this.fail('at the time of BPF_LD_ABS|IND R6 != pointer to skb', EINVAL);
    this.checkPtrOffReg(r6, 6, false);
    const regs = this.regs();
    for (let i = 0; i <= 5; i++) regs[i] = NOT_INIT_REG;
    regs[0] = UNKNOWN_REG;
  }

  // --- jumps -----------------------------------------------------------------------------------

  private checkJmp(s: Slot, pc: number, is32: boolean): boolean {
    const op = s.op & 0xf0;
    const x = (s.op & 8) !== 0;
    this.jmps++;
    if (op === 0x80 && !is32) return this.checkCall(s, pc);
    if (op === 0x90 && !is32) {
      if (x || s.src !== 0 || s.dst !== 0 || s.off !== 0 || s.imm !== 0) this.fail('BPF_EXIT uses reserved fields', EINVAL);
      return this.checkExit(pc);
    }
    if (op === 0x00) {
      if (is32) {
        if (x || s.src !== 0 || s.dst !== 0 || s.off !== 0) this.fail('BPF_JA uses reserved fields', EINVAL);
        this.cur.insn = pc + 1 + s.imm;
      } else {
        if (x || s.src !== 0 || s.dst !== 0 || s.imm !== 0) this.fail('BPF_JA uses reserved fields', EINVAL);
        this.cur.insn = pc + 1 + s.off;
      }
      return true;
    }
    if (op === 0xe0) {
      // may_goto: one path leaves the loop, the other continues with the budget spent
      if (x || s.src !== 0 || s.dst !== 0 || s.imm !== 0 || is32) this.fail('invalid may_goto imm', EINVAL);
      // the kernel follows the jump first and queues the loop body one level deeper, its scalars
      // widened against the previous visit of this may_goto on the path (widen_imprecise_scalars;
      // without precision marks every scalar that changed is widened)
      const body = copyState(this.cur);
      body.insn = pc + 1;
      body.mayGotoDepth = (body.mayGotoDepth ?? 0) + 1;
      let prev = this.cur.parent;
      if (prev && prev.insn === pc) prev = prev.parent;
      while (prev && prev.insn !== pc) prev = prev.parent;
      if (prev) widenChanged(prev, body);
      this.push(body);
      this.cur.insn = pc + 1 + s.off;
      return true;
    }
    if (op > 0xd0) this.fail(`invalid BPF_JMP/JMP32 opcode ${op.toString(16)}`, EINVAL);
    if (x) {
      if (s.imm !== 0) this.fail('BPF_JMP/JMP32 uses reserved fields', EINVAL);
    } else if (s.src !== 0) this.fail('BPF_JMP/JMP32 uses reserved fields', EINVAL);
    const dst = this.readReg(s.dst);
    const src = x ? this.readReg(s.src) : constReg(is32 ? BigInt(s.imm >>> 0) : BigInt.asUintN(64, BigInt(s.imm)));
    const jop = JMP_OPS[op >> 4]!;
    const target = pc + 1 + s.off;

    // pointer vs pointer / pointer vs scalar
    if (dst.t !== RT.SCALAR || src.t !== RT.SCALAR) {
      let pred: 1 | 0 | -1 = -1;
      const isZeroSrc = src.t === RT.SCALAR && scalarIsConst(src.s) && scalarValue(src.s) === 0n;
      const notNull = dst.t === RT.SOCK || dst.t === RT.TCP_SOCK || dst.t === RT.MAP_VALUE || dst.t === RT.MAP_KEY || dst.t === RT.SOCK_COMMON || dst.t === RT.MEM || dst.t === RT.RINGBUF_MEM;
      if (notNull && isZeroSrc && !dst.nul && (jop === 'jeq' || jop === 'jne') && !is32) {
        pred = jop === 'jeq' ? 0 : 1;
      }
      if (pred !== -1) return this.decided(pred, target, pc);
      const other = this.fork(target, pc);
      // null checks
      if (!is32 && (jop === 'jeq' || jop === 'jne') && isZeroSrc && dst.nul) {
        const nullInTaken = jop === 'jeq';
        this.markPtrOrNull(other, dst, nullInTaken);
        this.markPtrOrNull(this.cur, dst, !nullInTaken);
      } else if (!is32 && x) {
        this.matchPktPointers(jop, dst, src, other, this.cur);
      }
      this.push(other);
      return true;
    }

    const pred = branchTaken(jop, dst.s, src.s, is32);
    if (pred !== -1) {
      this.markPrecise((1 << s.dst) | (x ? 1 << s.src : 0));
      return this.decided(pred, target, pc);
    }
    const other = this.fork(target, pc);
    // refine both
    const taken = refineCond(jop, dst.s, src.s, is32);
    const fall = refineCond(negateOp(jop), dst.s, src.s, is32);
    let pushOther = true;
    if (taken) this.applyRefined(other, s.dst, x ? s.src : -1, dst, src, taken[0], taken[1]);
    else pushOther = false;
    if (fall) this.applyRefined(this.cur, s.dst, x ? s.src : -1, dst, src, fall[0], fall[1]);
    if (!fall) {
      // fall-through impossible: continue on the taken path instead
      if (!taken) return false;
      this.cur = other;
      return true;
    }
    if (pushOther) this.push(other);
    return true;
  }

  /** A branch whose outcome is known: only one successor. */
  /**
   * A branch decided by the bounds of these registers: the checkpoints on the path keep them
   * precise (a simplified mark_chain_precision: the same registers, no backtracking through the
   * instructions that computed them), so may_goto does not widen them.
   */
  private markPrecise(bits: number): void {
    const fi = this.cur.frames.length - 1;
    for (let p = this.cur.parent; p && p.frames.length > fi; p = p.parent) {
      const masks = (p.precise ??= []);
      const had = masks[fi] ?? 0;
      if ((had & bits) === bits) break;
      masks[fi] = had | bits;
    }
  }

  private decided(pred: 1 | 0, target: number, pc: number): boolean {
    this.cur.insn = pred === 1 ? target : pc + 1;
    return true;
  }

  /** Both successors: the copy takes the branch (pushed by the caller), the current state falls through. */
  private fork(target: number, pc: number): State {
    const other = copyState(this.cur);
    other.insn = target;
    this.cur.insn = pc + 1;
    return other;
  }

  private applyRefined(st: State, dstNo: number, srcNo: number, dst: Reg, src: Reg, nd: Scalar, ns: Scalar): void {
    const regs = st.frames[st.frames.length - 1]!.regs;
    regs[dstNo] = { ...dst, s: nd };
    if (dst.id) syncLinked(st, dst.id, nd);
    if (srcNo >= 0) {
      regs[srcNo] = { ...src, s: ns };
      if (src.id) syncLinked(st, src.id, ns);
    }
  }

  private markPtrOrNull(st: State, reg: Reg, isNull: boolean): void {
    const id = reg.id;
    if (!id) return;
    const map = (r: Reg): Reg => {
      if (!r.nul || r.id !== id) return r;
      if (isNull) return constReg(0n);
      if (r.t === RT.MAP_VALUE && r.map && (r.map.type === MapType.ArrayOfMaps || r.map.type === MapType.HashOfMaps)) {
        return { ...r, nul: false };
      }
      const lock = r.t === RT.MAP_VALUE && r.map?.specialFields?.some((f) => f.kind === 'bpf_spin_lock');
      return { ...r, nul: false, id: r.ref || lock ? r.id : 0 };
    };
    for (const f of st.frames) {
      for (let i = 0; i < 11; i++) f.regs[i] = map(f.regs[i]!);
      for (let k = 0; k < f.spill.length; k++) {
        const sp = f.spill[k];
        if (!sp) continue;
        const m = map(sp);
        if (m !== sp) ownStack(f).spill[k] = m;
      }
    }
    if (isNull && reg.ref) st.refs = st.refs.filter((r) => r.id !== reg.ref);
  }

  private matchPktPointers(jop: SJmpOp, d: Reg, s: Reg, taken: State, fall: State): void {
    const isPkt = (r: Reg) => r.t === RT.PKT;
    const isInit = (r: Reg, t: RT) => r.t === t && r.off === 0 && scalarIsConst(r.s) && r.s.var.value === 0n;
    const good = (st: State, r: Reg, open: boolean) => findGoodPkt(st, r, open);
    switch (jop) {
      case 'jgt':
        if ((isPkt(d) && s.t === RT.PKT_END) || (d.t === RT.PKT_META && isInit(s, RT.PKT))) good(fall, d, false);
        else if ((d.t === RT.PKT_END && isPkt(s)) || (isInit(d, RT.PKT) && s.t === RT.PKT_META)) good(taken, s, true);
        break;
      case 'jlt':
        if ((isPkt(d) && s.t === RT.PKT_END) || (d.t === RT.PKT_META && isInit(s, RT.PKT))) good(taken, d, true);
        else if ((d.t === RT.PKT_END && isPkt(s)) || (isInit(d, RT.PKT) && s.t === RT.PKT_META)) good(fall, s, false);
        break;
      case 'jge':
        if ((isPkt(d) && s.t === RT.PKT_END) || (d.t === RT.PKT_META && isInit(s, RT.PKT))) good(fall, d, true);
        else if ((d.t === RT.PKT_END && isPkt(s)) || (isInit(d, RT.PKT) && s.t === RT.PKT_META)) good(taken, s, false);
        break;
      case 'jle':
        if ((isPkt(d) && s.t === RT.PKT_END) || (d.t === RT.PKT_META && isInit(s, RT.PKT))) good(taken, d, false);
        else if ((d.t === RT.PKT_END && isPkt(s)) || (isInit(d, RT.PKT) && s.t === RT.PKT_META)) good(fall, s, true);
        break;
      default:
        break;
    }
  }

  // --- calls -----------------------------------------------------------------------------------

  private checkCall(s: Slot, pc: number): boolean {
    if (s.src === 1) {
      if (s.off !== 0 || s.dst !== 0 || (s.op & 8) !== 0) this.fail('BPF_CALL uses reserved fields', EINVAL);
      return this.localCall(pc + 1 + s.imm, pc);
    }
    if (s.src === 2) return this.kfuncCall(pc);
    if (s.off !== 0 || s.dst !== 0 || s.src !== 0 || (s.op & 8) !== 0) this.fail('BPF_CALL uses reserved fields', EINVAL);
    if (this.cur.lock && s.imm !== 94) this.fail('function calls are not allowed while holding a lock', EINVAL);
    return this.helperCall(s.imm, pc);
  }

  /**
   * Kernel functions. Without the kernel's BTF prototypes a call is mostly opaque (r0 an unknown
   * scalar); open-coded iterators (bpf_iter_<kind>_new/next/destroy) are tracked: the iterator
   * on the stack must be created before use and destroyed before exit.
   */
  private kfuncCall(pc: number): boolean {
    const name = this.o.kfuncs?.get(pc);
    if (!name) this.fail('invalid kernel function call not eliminated in verifier pass', EINVAL);
    if (this.cur.lock) this.fail('function calls are not allowed while holding a lock', EINVAL);
    const regs = this.regs();
    let r0: Reg = UNKNOWN_REG;
    const it = /^bpf_iter_(\w+)_(new|next|destroy)$/.exec(name);
    if (it) {
      const kind = `iter_${it[1]}`;
      const r1 = regs[1]!;
      if (r1.t !== RT.STACK || !scalarIsConst(r1.s)) this.fail(`arg#0 expected pointer to an iterator on stack`, EINVAL);
      const f = this.cur.frames[r1.frame]!;
      const off = r1.off + Number(BigInt.asIntN(64, r1.s.var.value));
      if (off < -STACK || off >= 0 || (off & 7) !== 0) this.fail(`arg#0 expected pointer to an iterator on stack`, EINVAL);
      const slot = (STACK + off) >> 3;
      if (-off > f.depth) f.depth = -off;
      ownStack(f);
      const marker = f.spill[slot];
      const live = marker && marker.t === RT.BTF_ID && marker.btf === kind ? marker : undefined;
      if (it[2] === 'new') {
        if (live) this.fail(`expected uninitialized ${kind} as arg #0`, EINVAL);
        const id = this.newId();
        this.cur.refs.push({ id, insn: pc });
        f.spill[slot] = ptrReg(RT.BTF_ID, { btf: kind, ref: id, id });
        f.stype.fill(SB.SPILL, slot * 8, slot * 8 + 8);
      } else {
        if (!live) this.fail(`expected an initialized ${kind} as arg #0`, EINVAL);
        if (it[2] === 'destroy') {
          this.cur.refs = this.cur.refs.filter((r) => r.id !== live.ref);
          f.spill[slot] = undefined;
          f.stype.fill(SB.MISC, slot * 8, slot * 8 + 8);
        } else if (it[1] === 'num' || it[1] === 'bits') {
          r0 = ptrReg(RT.MEM, { rdonly: true, nul: true, id: this.newId(), range: 4 });
        } else r0 = ptrReg(RT.BTF_ID, { nul: true, id: this.newId(), btf: it[1] });
      }
    }
    for (let i = 1; i <= 5; i++) regs[i] = NOT_INIT_REG;
    regs[0] = r0;
    this.cur.insn = pc + 1;
    return true;
  }

  private localCall(target: number, pc: number): boolean {
    const g = this.o.globals?.get(target);
    if (g && separate(g)) return this.globalCall(target, g, pc);
    if (this.cur.lock) this.fail('function calls are not allowed while holding a lock', EINVAL);
    if (this.cur.frames.length >= MAX_CALL_FRAMES) this.fail(`the call stack of ${this.cur.frames.length + 1} frames is too deep !`, E2BIG);
    const caller = this.frame();
    const callee = newFrame(pc, target, this.cur.frames.length);
    // a global function we analyse per call site sees only its declared parameters
    const params = g?.params ?? 5;
    for (let i = 1; i <= 5; i++) callee.regs[i] = i <= params ? caller.regs[i]! : NOT_INIT_REG;
    this.cur.frames.push(callee);
    this.cur.insn = target;
    return true;
  }

  /**
   * A call of a global function: the caller's registers must match the BTF argument kinds
   * (btf_check_func_arg_match); the function is verified later on its own and returns an unknown
   * scalar.
   */
  private globalCall(target: number, g: GlobalFunc, pc: number): boolean {
    const regs = this.regs();
    const invalid = (line?: string): never => {
      if (line) this.verbose(line);
      return this.fail(`Caller passes invalid args into func#${g.index} ('${g.name}')`, EINVAL);
    };
    // the checks below fail through Reject; their message goes to the log before the verdict
    const check = (f: () => void) => {
      try {
        f();
      } catch (e) {
        if (e instanceof Reject) invalid(e.message);
        throw e;
      }
    };
    if (this.cur.lock) this.fail('global function calls are not allowed while holding a lock,\nuse static function instead', EINVAL);
    if (g.argsError !== undefined) invalid(g.argsError);
    g.args!.forEach((a, i) => {
      const regno = i + 1;
      const reg = regs[regno]!;
      if (a.kind === 'scalar') {
        if (reg.t !== RT.SCALAR) invalid(`R${regno} is not a scalar`);
      } else if (a.kind === 'ctx') {
        if (reg.t === RT.CTX) check(() => this.checkPtrOffReg(reg, regno, false));
        else invalid(`arg#${i} expects pointer to ctx`);
      } else if (a.kind === 'mem' && !isZeroScalar(reg)) {
        // check_mem_reg: the memory must be readable and writable, assuming the pointer is not NULL
        regs[regno] = reg.nul ? { ...reg, nul: false } : reg;
        check(() => {
          this.helperMemAccess(regno, a.size, 'read', true);
          this.helperMemAccess(regno, a.size, 'write', true);
        });
        regs[regno] = reg;
        if (!a.nullable && reg.nul) invalid(`arg#${i} is expected to be non-NULL`);
      }
    });
    if (this.o.logLevel >= 1) this.verbose(`Func#${g.index} ('${g.name}') is global and assumed valid.`);
    if (this.subprogChangesPkt(target)) this.clearPktPointers();
    this.calledGlobals.add(target);
    for (let i = 1; i <= 5; i++) regs[i] = NOT_INIT_REG;
    regs[0] = UNKNOWN_REG;
    this.cur.insn = pc + 1;
    return true;
  }

  /** Whether a subprogram, or one it calls, uses a helper that moves packet data. */
  private subprogChangesPkt(start: number): boolean {
    if (!this.changesPkt) {
      const subs = this.o.subprogs;
      const marks = new Uint8Array(subs.length);
      const edges: [number, number][] = [];
      const c = this.code;
      for (let pc = 0; pc < c.length; pc++) {
        if (c.tail[pc] || c.op[pc] !== 0x85) continue;
        const si = subprogOf(subs, pc);
        if (c.src[pc] === 0 && helperChangesPktData(c.imm[pc]!)) marks[si] = 1;
        else if (c.src[pc] === 1) edges.push([si, subs.indexOf(pc + 1 + c.imm[pc]!)]);
      }
      for (let changed = true; changed; ) {
        changed = false;
        for (const [from, to] of edges) {
          if (to < 0 || !marks[to] || marks[from]) continue;
          marks[from] = 1;
          changed = true;
        }
      }
      this.changesPkt = marks;
    }
    return this.changesPkt[this.o.subprogs.indexOf(start)] === 1;
  }

  private helperCall(id: number, pc: number): boolean {
    const o = this.o;
    const base = helperProto(id);
    if (!base) this.fail(`invalid func unknown#${id}`, EINVAL);
    const allowed = isHelperAllowed(o.progType as never, id);
    if (allowed === false) this.fail(`program of this type cannot use helper ${base.name}#${id}`, EINVAL);
    const over = PROTO_OVERRIDES.get(id);
    const proto: HelperProto = over ? ({ ...base, ...over } as HelperProto) : base;
    if (proto.gplOnly && !isGpl(o.license)) this.fail('cannot call GPL-restricted function from non-GPL compatible program', EINVAL);
    const meta: CallMeta = { map: undefined, memSize: -1, refId: 0, callback: -1 };
    const args = proto.args as string[];
    for (let i = 0; i < args.length; i++) this.checkFuncArg(i + 1, args[i]!, args, meta, proto);
    if (id === 81) {
      const flags = this.regs()[2]!;
      if (!(flags.t === RT.SCALAR && scalarIsConst(flags.s) && scalarValue(flags.s) === 0n)) this.fail("get_local_storage() doesn't support non-zero flags", EINVAL);
    }
    if (meta.map) {
      const msg = mapFuncCompat(meta.map.type, id, o.progType, o.attachType);
      if (msg) this.fail(msg, EINVAL);
    }
    const rel = helperReleasesArg(id);
    if (rel !== undefined) {
      const r = this.regs()[rel + 1]!;
      if (!r.ref) this.fail(`R${rel + 1} must be referenced when passed to release function`, EINVAL);
      this.releaseReference(r.ref);
    }
    if (id === 12 /* tail_call */ && this.cur.refs.length) this.fail('tail_call would lead to reference leak', EINVAL);
    if (id === 93 /* spin_lock */) {
      const r = this.regs()[1]!;
      if (this.cur.lock) this.fail('Locking two bpf_spin_locks are not allowed', EINVAL);
      this.cur.lock = { id: r.id, map: r.map, off: r.off };
    } else if (id === 94 /* spin_unlock */) {
      const r = this.regs()[1]!;
      if (!this.cur.lock) this.fail('bpf_spin_unlock without taking a lock', EINVAL);
      if (this.cur.lock.map !== r.map || this.cur.lock.id !== r.id || this.cur.lock.off !== r.off) this.fail('bpf_spin_unlock of different lock', EINVAL);
      this.cur.lock = undefined;
    }
    // callbacks (bpf_loop, for_each_map_elem, timer_set_callback, find_vma, user_ringbuf_drain)
    const cbReg = meta.callback;
    const regs = this.regs();
    const saved = regs.slice();
    for (let i = 1; i <= 5; i++) regs[i] = NOT_INIT_REG;
    regs[0] = this.retReg(proto.ret as RetType, meta, id);
    if (id === 1 && meta.map && (meta.map.type === MapType.Sockmap || meta.map.type === MapType.Sockhash)) {
      // a socket from a sockmap is a counted reference
      const nid = this.newId();
      this.cur.refs.push({ id: nid, insn: this.pc });
      regs[0] = ptrReg(RT.SOCK, { nul: true, id: nid, ref: nid });
    }
    if (helperChangesPktData(id)) this.clearPktPointers();
    if (cbReg >= 0) {
      const fn = saved[cbReg]!;
      // path 1: the callback is never called
      const skip = copyState(this.cur);
      skip.insn = pc + 1;
      // path 2: one call of the callback with the arguments the helper passes
      if (this.cur.frames.length >= MAX_CALL_FRAMES) this.fail(`the call stack of ${this.cur.frames.length + 1} frames is too deep`, E2BIG);
      const callee = newFrame(pc, fn.frame, this.cur.frames.length);
      const cbArgs = this.callbackArgs(id, saved, meta);
      for (let i = 1; i <= 5; i++) callee.regs[i] = cbArgs[i - 1] ?? NOT_INIT_REG;
      callee.callback = { min: 0n, max: id === 170 ? 0n : 1n, name: proto.name, args: saved.slice(1, 6) };
      this.push(skip);
      this.cur.frames.push(callee);
      this.cur.insn = fn.frame;
      return true;
    }
    this.cur.insn = pc + 1;
    return true;
  }

  private callbackArgs(id: number, saved: Reg[], meta: CallMeta): Reg[] {
    switch (id) {
      case 181: // bpf_loop(nr, cb, ctx, flags): cb(u64 index, void *ctx)
        return [scalarReg(scalarTruncate(scalarUnknown(), 4)), saved[3]!];
      case 164: {
        // for_each_map_elem(map, cb, ctx, flags): cb(map, key, value, ctx)
        const m = meta.map!;
        return [ptrReg(RT.MAP_PTR, { map: m }), ptrReg(RT.MAP_KEY, { map: m }), ptrReg(RT.MAP_VALUE, { map: m }), saved[3]!];
      }
      case 170: {
        const m = saved[1]!.map;
        return [ptrReg(RT.MAP_PTR, { map: m }), ptrReg(RT.MAP_KEY, { map: m }), ptrReg(RT.MAP_VALUE, { map: m })];
      }
      case 180:
        return [ptrReg(RT.BTF_ID, { btf: 'task_struct' }), ptrReg(RT.BTF_ID, { btf: 'vm_area_struct' }), saved[4]!];
      case 209:
        return [ptrReg(RT.STACK, { frame: this.cur.frames.length }), saved[3]!];
      default:
        return [];
    }
  }

  private clearPktPointers(): void {
    for (const f of this.cur.frames) {
      for (let i = 0; i < 11; i++) {
        const t = f.regs[i]!.t;
        if (t === RT.PKT || t === RT.PKT_META || t === RT.PKT_END) f.regs[i] = UNKNOWN_REG;
      }
      for (let k = 0; k < f.spill.length; k++) {
        const sp = f.spill[k];
        if (sp && (sp.t === RT.PKT || sp.t === RT.PKT_META || sp.t === RT.PKT_END)) ownStack(f).spill[k] = UNKNOWN_REG;
      }
    }
  }

  private releaseReference(ref: number): void {
    const before = this.cur.refs.length;
    this.cur.refs = this.cur.refs.filter((r) => r.id !== ref);
    if (this.cur.refs.length === before) this.fail(`R1 must be referenced when passed to release function`, EINVAL);
    for (const f of this.cur.frames) {
      for (let i = 0; i < 11; i++) if (f.regs[i]!.ref === ref) f.regs[i] = UNKNOWN_REG;
      for (let k = 0; k < f.spill.length; k++) if (f.spill[k]?.ref === ref) ownStack(f).spill[k] = UNKNOWN_REG;
    }
  }

  private retReg(ret: RetType, meta: CallMeta, id: number): Reg {
    switch (ret) {
      case 'RET_INTEGER':
        return UNKNOWN_REG;
      case 'RET_VOID':
        return NOT_INIT_REG;
      case 'RET_PTR_TO_MAP_VALUE':
        if (!meta.map) this.fail('kernel subsystem misconfigured verifier', EINVAL);
        return ptrReg(RT.MAP_VALUE, { map: meta.map });
      case 'RET_PTR_TO_MAP_VALUE_OR_NULL': {
        const m = meta.map;
        if (!m) this.fail('kernel subsystem misconfigured verifier', EINVAL);
        if (m.type === MapType.ArrayOfMaps || m.type === MapType.HashOfMaps) {
          const inner = m.inner ? ({ fd: -1, ...m.inner } as VerifierMap) : m;
          return ptrReg(RT.MAP_PTR, { nul: true, id: this.newId(), map: inner });
        }
        // an array lookup with a constant key in range cannot fail (can_elide_value_nullness)
        const lockId = m.specialFields?.some((f) => f.kind === 'bpf_spin_lock') ? this.newId() : 0;
        if ((m.type === MapType.Array || m.type === MapType.PercpuArray) && id === 1 && meta.constKey !== undefined && meta.constKey < BigInt(m.maxEntries)) {
          return ptrReg(RT.MAP_VALUE, { map: m, id: lockId });
        }
        return ptrReg(RT.MAP_VALUE, { nul: true, id: this.newId(), map: m });
      }
      case 'RET_PTR_TO_SOCKET_OR_NULL':
      case 'RET_PTR_TO_TCP_SOCK_OR_NULL':
      case 'RET_PTR_TO_SOCK_COMMON_OR_NULL': {
        const t = ret === 'RET_PTR_TO_SOCKET_OR_NULL' ? RT.SOCK : ret === 'RET_PTR_TO_TCP_SOCK_OR_NULL' ? RT.TCP_SOCK : RT.SOCK_COMMON;
        const nid = this.newId();
        if (helperAcquires(id)) {
          this.cur.refs.push({ id: nid, insn: this.pc });
          return ptrReg(t, { nul: true, id: nid, ref: nid });
        }
        return ptrReg(t, { nul: true, id: nid, ref: meta.refId });
      }
      case 'RET_PTR_TO_RINGBUF_MEM_OR_NULL': {
        const nid = this.newId();
        this.cur.refs.push({ id: nid, insn: this.pc });
        return ptrReg(RT.RINGBUF_MEM, { nul: true, id: nid, ref: nid, range: meta.memSize < 0 ? 0 : meta.memSize });
      }
      case 'RET_PTR_TO_BTF_ID':
        return ptrReg(RT.BTF_ID, { btf: 'btf' });
      case 'RET_PTR_TO_BTF_ID_OR_NULL':
        return ptrReg(RT.BTF_ID, { btf: 'btf', nul: true, id: this.newId() });
      case 'RET_PTR_TO_MEM_OR_BTF_ID':
        return ptrReg(RT.MEM, { rdonly: true, range: 8 });
      default:
        return UNKNOWN_REG;
    }
  }

  private argTypeError(regno: number, reg: Reg, expected: string[]): never {
    this.fail(`R${regno} type=${regTypeStr(reg)} expected=${expected.join(', ')}`);
  }

  private checkFuncArg(regno: number, argType: string, args: string[], meta: CallMeta, proto: HelperProto): void {
    const reg = this.regs()[regno]!;
    if (argType === 'ARG_DONTCARE') return;
    if (reg.t === RT.NOT_INIT) this.fail(`R${regno} !read_ok`);
    const isNull = reg.t === RT.SCALAR && scalarIsConst(reg.s) && scalarValue(reg.s) === 0n;
    const MEM = ['fp', 'pkt', 'pkt_meta', 'map_key', 'map_value', 'mem', 'ringbuf_mem', 'buf', 'trusted_ptr_'];
    const memTypes = [RT.STACK, RT.PKT, RT.PKT_META, RT.MAP_KEY, RT.MAP_VALUE, RT.MEM, RT.RINGBUF_MEM, RT.BUF];
    switch (argType) {
      case 'ARG_ANYTHING':
        return;
      case 'ARG_CONST_MAP_PTR':
        if (reg.t !== RT.MAP_PTR || reg.nul) this.argTypeError(regno, reg, ['map_ptr']);
        meta.map = reg.map;
        return;
      case 'ARG_PTR_TO_MAP_KEY':
      case 'ARG_PTR_TO_MAP_VALUE':
      case 'ARG_PTR_TO_UNINIT_MAP_VALUE': {
        if (argType === 'ARG_PTR_TO_MAP_VALUE' && meta.map && (meta.map.type === MapType.Sockmap || meta.map.type === MapType.Sockhash)) {
          // resolve_map_arg_type: a sockmap stores sockets
          this.checkFuncArg(regno, 'ARG_PTR_TO_BTF_ID_SOCK_COMMON', args, meta, proto);
          return;
        }
        if (!memTypes.includes(reg.t) || reg.nul) this.argTypeError(regno, reg, MEM);
        const m = meta.map;
        if (!m) this.fail('invalid map_ptr to access map->key', EACCES);
        const size = argType === 'ARG_PTR_TO_MAP_KEY' ? m.keySize : m.valueSize;
        if (argType === 'ARG_PTR_TO_MAP_KEY') meta.constKey = this.constantMapKey(reg, m.keySize);
        // resolve_map_arg_type: a bloom filter's peek reads the value it tests (pop/peek of queues write it)
        const writes = argType === 'ARG_PTR_TO_UNINIT_MAP_VALUE' && !(m.type === MapType.BloomFilter && proto.id === 89);
        this.helperMemAccess(regno, size, writes ? 'write' : 'read', false);
        return;
      }
      case 'ARG_PTR_TO_MEM':
      case 'ARG_PTR_TO_MEM_OR_NULL':
      case 'ARG_PTR_TO_UNINIT_MEM':
      case 'ARG_PTR_TO_MEM_RDONLY': {
        if (argType === 'ARG_PTR_TO_MEM_OR_NULL' && isNull) return;
        if (!memTypes.includes(reg.t) || reg.nul) this.argTypeError(regno, reg, MEM);
        if ((reg.t === RT.PKT || reg.t === RT.PKT_META) && !directPacketAccess(this.o.progType, this.o.attachType, false)) {
          this.fail('helper access to the packet is not allowed');
        }
        const next = args[regno];
        if (next !== 'ARG_CONST_SIZE' && next !== 'ARG_CONST_SIZE_OR_ZERO') {
          const fixed = (proto as HelperProto & { argSizes?: number[] }).argSizes?.[regno - 1];
          if (fixed) this.helperMemAccess(regno, fixed, argType === 'ARG_PTR_TO_UNINIT_MEM' ? 'write' : 'read', false);
        }
        return;
      }
      case 'ARG_CONST_SIZE':
      case 'ARG_CONST_SIZE_OR_ZERO': {
        if (reg.t !== RT.SCALAR) this.argTypeError(regno, reg, ['scalar']);
        const zeroOk = argType === 'ARG_CONST_SIZE_OR_ZERO';
        if (reg.s.smin < 0n) this.fail(`R${regno} min value is negative, either use unsigned or 'var &= const'`);
        if (reg.s.umin === 0n && !zeroOk) this.fail(`R${regno} invalid zero-sized read: u64=[${reg.s.umin},${reg.s.umax}]`);
        if (reg.s.umax >= BigInt(MAX_VAR_OFF)) this.fail(`R${regno} unbounded memory access, use 'var &= const' or 'if (var < const)'`);
        const prev = args[regno - 2];
        const write = prev === 'ARG_PTR_TO_UNINIT_MEM';
        const memReg = this.regs()[regno - 1]!;
        this.helperMemAccess(regno - 1, Number(reg.s.umax), write ? 'write' : 'read', zeroOk);
        return;
      }
      case 'ARG_CONST_ALLOC_SIZE_OR_ZERO':
        if (reg.t !== RT.SCALAR) this.argTypeError(regno, reg, ['scalar']);
        if (!scalarIsConst(reg.s)) this.fail(`R${regno} is not a known constant'`);
        meta.memSize = Number(scalarValue(reg.s));
        return;
      case 'ARG_PTR_TO_CTX':
      case 'ARG_PTR_TO_CTX_OR_NULL':
        if (argType === 'ARG_PTR_TO_CTX_OR_NULL' && isNull) return;
        if (reg.t !== RT.CTX) this.argTypeError(regno, reg, ['ctx']);
        this.checkPtrOffReg(reg, regno, false);
        return;
      case 'ARG_PTR_TO_LONG':
      case 'ARG_PTR_TO_INT': {
        const ok = [RT.STACK, RT.PKT, RT.PKT_META, RT.MAP_KEY, RT.MAP_VALUE];
        if (!ok.includes(reg.t) || reg.nul) this.argTypeError(regno, reg, ['fp', 'pkt', 'pkt_meta', 'map_key', 'map_value']);
        this.strictOnce = true;
        this.checkAlignment(reg, regno, 0, argType === 'ARG_PTR_TO_LONG' ? 8 : 4);
        this.strictOnce = false;
        this.helperMemAccess(regno, argType === 'ARG_PTR_TO_LONG' ? 8 : 4, 'write', false);
        return;
      }
      case 'ARG_PTR_TO_SOCKET':
        if (reg.t !== RT.SOCK || reg.nul) this.argTypeError(regno, reg, ['sock']);
        this.checkPtrOffReg(reg, regno, false);
        if (reg.ref) meta.refId = reg.ref;
        return;
      case 'ARG_PTR_TO_SOCK_COMMON':
      case 'ARG_PTR_TO_BTF_ID_SOCK_COMMON': {
        const ok = [RT.SOCK_COMMON, RT.SOCK, RT.TCP_SOCK, RT.XDP_SOCK, RT.BTF_ID];
        if (!ok.includes(reg.t) || reg.nul) this.argTypeError(regno, reg, ['sock_common', 'sock', 'tcp_sock', 'xdp_sock', 'ptr_', 'trusted_ptr_']);
        if (helperReleasesArg(proto.id) === regno - 1 && reg.off !== 0) this.fail(`R${regno} must have zero offset when passed to release func or trusted arg to kfunc`, EINVAL);
        this.checkPtrOffReg(reg, regno, false);
        if (reg.ref) meta.refId = reg.ref;
        return;
      }
      case 'ARG_PTR_TO_BTF_ID':
        if (reg.t !== RT.BTF_ID || reg.nul) this.argTypeError(regno, reg, ['ptr_', 'trusted_ptr_']);
        return;
      case 'ARG_PTR_TO_ALLOC_MEM':
        if (reg.t !== RT.RINGBUF_MEM || reg.nul) this.argTypeError(regno, reg, ['ringbuf_mem']);
        if (!reg.ref) this.fail(`R${regno} must be referenced when passed to release function`, EINVAL);
        if (reg.off !== 0 || !scalarIsConst(reg.s) || reg.s.var.value !== 0n) this.fail(`R${regno} must have zero offset when passed to release func or trusted arg to kfunc`, EINVAL);
        return;
      case 'ARG_PTR_TO_FUNC':
        if (reg.t !== RT.FUNC) this.argTypeError(regno, reg, ['func']);
        meta.callback = regno;
        return;
      case 'ARG_PTR_TO_STACK_OR_NULL':
        if (isNull) return;
        if (reg.t !== RT.STACK) this.argTypeError(regno, reg, ['fp']);
        return;
      case 'ARG_PTR_TO_SPIN_LOCK':
      case 'ARG_PTR_TO_TIMER': {
        if (reg.t !== RT.MAP_VALUE || reg.nul) this.argTypeError(regno, reg, ['map_value', 'ptr_']);
        const kind = argType === 'ARG_PTR_TO_SPIN_LOCK' ? 'bpf_spin_lock' : 'bpf_timer';
        const m = reg.map!;
        const f = m.specialFields?.find((x) => x.kind === kind);
        if (!scalarIsConst(reg.s)) this.fail(`R${regno} doesn't have constant offset. ${kind} has to be at the constant offset`);
        if (!f) this.fail(`map '${m.name ?? ''}' has no valid ${kind}`);
        const at = reg.off + Number(scalarValue(reg.s));
        if (f.offset !== at) this.fail(`off ${at} doesn't point to 'struct ${kind}' that is at ${f.offset}`);
        if (kind === 'bpf_timer') meta.map = m;
        return;
      }
      case 'ARG_PTR_TO_CONST_STR': {
        if (reg.t !== RT.MAP_VALUE || reg.nul) this.argTypeError(regno, reg, ['map_value']);
        const m = reg.map!;
        if (!m.frozen) this.fail(`R${regno} does not point to a readonly map'`);
        if (!scalarIsConst(reg.s)) this.fail(`R${regno} is not a constant address'`);
        const at = reg.off + Number(scalarValue(reg.s));
        this.regionAccess(reg, regno, reg.off, 1, m.valueSize, false);
        if (m.initialValue && !m.initialValue.subarray(at).includes(0)) this.fail(`string is not zero-terminated`);
        return;
      }
      case 'ARG_PTR_TO_KPTR':
      case 'ARG_PTR_TO_DYNPTR':
      default:
        return;
    }
  }

  /** get_constant_map_key: the key's value when the stack holds a known constant of the key's size. */
  private constantMapKey(reg: Reg, keySize: number): bigint | undefined {
    if (reg.t !== RT.STACK || !scalarIsConst(reg.s)) return undefined;
    const f = this.cur.frames[reg.frame]!;
    const off = reg.off + Number(BigInt.asIntN(64, reg.s.var.value));
    if (off < -STACK || off + keySize > 0) return undefined;
    const idx = STACK + off;
    let zero = 0;
    while (zero < keySize && f.stype[idx + zero] === SB.ZERO) zero++;
    if (zero >= keySize) return 0n;
    if ((idx & 7) !== 0) return undefined;
    const sp = f.spill[idx >> 3];
    if (!sp || sp.t !== RT.SCALAR || !scalarIsConst(sp.s)) return undefined;
    let spill = 0;
    while (spill < 8 && f.stype[idx + spill] === SB.SPILL) spill++;
    if (spill !== keySize) return undefined;
    return scalarValue(sp.s);
  }

  /** check_helper_mem_access. */
  private helperMemAccess(regno: number, size: number, kind: 'read' | 'write', zeroOk: boolean): void {
    const reg = this.regs()[regno]!;
    switch (reg.t) {
      case RT.PKT:
      case RT.PKT_META:
        this.packetAccess(reg, regno, reg.off, size, zeroOk);
        return;
      case RT.MAP_KEY:
        if (kind === 'write') this.fail(`R${regno} cannot write into ${regTypeStr(reg)}`);
        this.regionAccess(reg, regno, reg.off, size, reg.map!.keySize, false);
        return;
      case RT.MAP_VALUE: {
        const m = reg.map!;
        if (kind === 'write' && (m.frozen || ((m.flags ?? 0) & 0x80) !== 0)) this.fail(`write into map forbidden, value_size=${m.valueSize} off=${reg.off} size=${size}`);
        if (kind === 'read' && ((m.flags ?? 0) & 0x100) !== 0) this.fail(`read from map forbidden, value_size=${m.valueSize} off=${reg.off} size=${size}`);
        this.regionAccess(reg, regno, reg.off, size, m.valueSize, zeroOk);
        return;
      }
      case RT.MEM:
      case RT.RINGBUF_MEM:
      case RT.BUF:
        if (kind === 'write' && reg.rdonly) this.fail(`R${regno} cannot write into ${regTypeStr(reg)}`);
        this.regionAccess(reg, regno, reg.off, size, reg.range, zeroOk);
        return;
      case RT.STACK:
        this.stackRange(reg, regno, size, kind, zeroOk);
        return;
      default:
        if (zeroOk && size === 0 && isZeroScalar(reg)) return;
        this.fail(`R${regno} type=${regTypeStr(reg)} expected=fp`);
    }
  }

  /** check_stack_range_initialized (privileged: uninitialised bytes are readable). */
  private stackRange(reg: Reg, regno: number, size: number, kind: 'read' | 'write', zeroOk: boolean): void {
    if (size === 0 && !zeroOk) this.fail('invalid zero-sized read');
    const f = this.cur.frames[reg.frame]!;
    const varConst = scalarIsConst(reg.s);
    const minOff = varConst ? reg.off + Number(BigInt.asIntN(64, reg.s.var.value)) : reg.off + Number(reg.s.smin);
    const maxOff = varConst ? minOff : reg.off + Number(reg.s.smax);
    const extra = kind === 'read' ? ' read from' : ' write to';
    if (!varConst && (reg.s.smin < -1000000n || reg.s.smax > 1000000n)) this.fail(`R${regno} unbounded indirect variable offset stack access`);
    if (minOff < -STACK || maxOff + size > 0 || (size === 0 && minOff >= 0)) {
      if (varConst) this.fail(`invalid${extra} stack R${regno} off=${minOff} size=${size}`);
      this.fail(`invalid variable-offset${extra} stack R${regno} var_off=${tnumString(reg.s.var)} off=${reg.off} size=${size}`);
    }
    const depth = -minOff;
    if (depth > f.depth) f.depth = depth;
    const si = subprogOf(this.o.subprogs, f.subprog);
    if (depth > this.stackDepth[si]!) this.stackDepth[si] = depth;
    for (let i = minOff; i < maxOff + size; i++) {
      const idx = STACK + i;
      const slot = idx >> 3;
      const sp = f.spill[slot];
      if (kind === 'write') {
        if (sp) this.scrubSlot(f, slot);
        ownStack(f).stype[idx] = SB.MISC;
      } else if (sp && sp.t !== RT.SCALAR && f.stype[idx] === SB.SPILL) {
        // reading a spilled pointer's bytes is allowed for privileged programs
      }
    }
  }

  // --- exit ------------------------------------------------------------------------------------

  private checkExit(pc: number): boolean {
    const st = this.cur;
    const f = this.frame();
    const r0 = this.regs()[0]!;
    if (st.frames.length > 1) {
      if (r0.t === RT.NOT_INIT && this.frame().callback) this.fail('R0 !read_ok');
      // return to the caller
      const callee = st.frames.pop()!;
      const caller = this.frame();
      if (callee.callback) {
        if (r0.t !== RT.SCALAR) this.fail(`At callback return the register R0 is not a known value (${regTypeStr(r0)})`, EINVAL);
        const { min, max } = callee.callback;
        if (r0.s.smin < min || r0.s.smax > max) {
          this.fail(retvalMessage(r0.s.smin, r0.s.smax, { min, max }, 'At callback return'), EINVAL);
        }
        // the helper may call the callback again: go back to the call (a loop that converges
        // through the pruning of callback-calling instructions)
        for (let i = 1; i <= 5; i++) caller.regs[i] = callee.callback.args[i - 1]!;
        this.cur.insn = callee.callsite;
        return true;
      }
      if (r0.t === RT.STACK && r0.frame >= st.frames.length) this.fail('cannot return stack pointer to the caller frame', EINVAL);
      // LD_ABS / LD_IND in a subprogram may end the program early: its result is not known
      caller.regs[0] = this.ldAbsSubprogs.has(callee.subprog) || this.o.globals?.has(callee.subprog) ? UNKNOWN_REG : r0;
      for (let i = 1; i <= 5; i++) caller.regs[i] = NOT_INIT_REG;
      this.cur.insn = callee.callsite + 1;
      return true;
    }
    void f;
    // main program exit
    if (st.lock) this.fail('BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region', EINVAL);
    if (st.refs.length) {
      const r = st.refs[0]!;
      this.fail(`Unreleased reference id=${r.id} alloc_insn=${r.insn}`, EINVAL);
    }
    if (r0.t === RT.NOT_INIT) this.fail('R0 !read_ok');
    if (f.subprog !== 0) {
      // a global function verified on its own: it returns a scalar
      if (r0.t !== RT.SCALAR) this.fail(`At subprogram exit the register R0 is not a scalar value (${regTypeStr(r0)})`, EINVAL);
      return false;
    }
    const range = retvalRange(this.o.progType, this.o.attachType);
    if (range) {
      if (r0.t !== RT.SCALAR) this.fail(`At program exit the register R0 is not a known value (${regTypeStr(r0)})`, EINVAL);
      const lo = range.return32 ? BigInt(r0.s.s32min) : r0.s.smin;
      const hi = range.return32 ? BigInt(r0.s.s32max) : r0.s.smax;
      if (lo < range.min || hi > range.max) this.fail(retvalMessage(lo, hi, range), EINVAL);
    }
    void pc;
    return false;
  }
}

function mapStructName(m: VerifierMap | undefined): string {
  switch (m?.type) {
    case MapType.Array:
    case MapType.PercpuArray:
    case MapType.ProgArray:
    case MapType.PerfEventArray:
    case MapType.ArrayOfMaps:
      return 'bpf_array';
    case MapType.Hash:
    case MapType.PercpuHash:
    case MapType.LruHash:
    case MapType.LruPercpuHash:
    case MapType.HashOfMaps:
      return 'bpf_htab';
    default:
      return 'bpf_map';
  }
}


interface CallMeta {
  constKey?: bigint;
  map: VerifierMap | undefined;
  memSize: number;
  refId: number;
  callback: number;
}

const SIZES = [4, 2, 1, 8];
/** Helpers that call a callback: bpf_loop, for_each_map_elem, timer_set_callback, find_vma, user_ringbuf_drain. */
const CALLBACK_HELPERS = new Set([181, 164, 170, 180, 209]);
const JMP_OPS: (SJmpOp | undefined)[] = [undefined, 'jeq', 'jgt', 'jge', 'jset', 'jne', 'jsgt', 'jsge', undefined, undefined, 'jlt', 'jle', 'jslt', 'jsle'];
const RT_SOCK_NAMES: Partial<Record<RT, string>> = { [RT.SOCK]: 'sock', [RT.SOCK_COMMON]: 'sock_common', [RT.TCP_SOCK]: 'tcp_sock', [RT.XDP_SOCK]: 'xdp_sock' };

function aluOpName(op: number, signed: boolean): SAluOp {
  switch (op) {
    case 0x00:
      return 'add';
    case 0x10:
      return 'sub';
    case 0x20:
      return 'mul';
    case 0x30:
      return signed ? 'sdiv' : 'div';
    case 0x40:
      return 'or';
    case 0x50:
      return 'and';
    case 0x60:
      return 'lsh';
    case 0x70:
      return 'rsh';
    case 0x90:
      return signed ? 'smod' : 'mod';
    case 0xa0:
      return 'xor';
    case 0xc0:
      return 'arsh';
    default:
      return 'mov';
  }
}

function isGpl(license: string): boolean {
  return ['GPL', 'GPL v2', 'GPL and additional rights', 'Dual BSD/GPL', 'Dual MIT/GPL', 'Dual MPL/GPL'].includes(license);
}

function isZeroScalar(r: Reg): boolean {
  return r.t === RT.SCALAR && scalarIsConst(r.s) && scalarValue(r.s) === 0n;
}

function isUnknownScalar(s: Scalar): boolean {
  return s.var.mask === (1n << 64n) - 1n && s.smin === S64_MIN && s.smax === S64_MAX;
}

function checkId(map: Map<number, number>, oldId: number, curId: number): boolean {
  if (oldId === 0) return curId === 0 || true;
  const m = map.get(oldId);
  if (m === undefined) {
    map.set(oldId, curId);
    return true;
  }
  return m === curId;
}

function regsafe(o: Reg, c: Reg, idmap: Map<number, number>, exact: boolean): boolean {
  if (o === c) return true;
  if (o.t === RT.NOT_INIT) return exact ? c.t === RT.NOT_INIT : true;
  if (o.t !== c.t || o.nul !== c.nul || o.rdonly !== c.rdonly) return false;
  if (exact) {
    return o.off === c.off && o.range === c.range && o.map === c.map && o.frame === c.frame && sameScalar(o.s, c.s) && checkId(idmap, o.id, c.id) && checkId(idmap, o.ref, c.ref);
  }
  if (o.t === RT.SCALAR) {
    if (!scalarSubsumes(o.s, c.s)) return false;
    if (o.id && !checkId(idmap, o.id, c.id)) return false;
    return true;
  }
  if (o.off !== c.off || o.map !== c.map || o.frame !== c.frame) return false;
  if (o.t === RT.PKT || o.t === RT.PKT_META) {
    if (o.range > c.range) return false;
    if (!checkId(idmap, o.id, c.id)) return false;
  } else if (o.t === RT.MEM || o.t === RT.RINGBUF_MEM) {
    if (o.range !== c.range) return false;
  }
  if (o.nul && !checkId(idmap, o.id, c.id)) return false;
  if (!checkId(idmap, o.ref, c.ref)) return false;
  return scalarSubsumes(o.s, c.s) && tnumIn(o.s.var, c.s.var);
}

function sameScalar(a: Scalar, b: Scalar): boolean {
  return (
    a.var.value === b.var.value &&
    a.var.mask === b.var.mask &&
    a.smin === b.smin &&
    a.smax === b.smax &&
    a.umin === b.umin &&
    a.umax === b.umax &&
    a.s32min === b.s32min &&
    a.s32max === b.s32max &&
    a.u32min === b.u32min &&
    a.u32max === b.u32max
  );
}

function syncLinked(st: State, id: number, s: Scalar): void {
  for (const f of st.frames) {
    for (let i = 0; i < 11; i++) {
      const r = f.regs[i]!;
      if (r.t === RT.SCALAR && r.id === id) f.regs[i] = { ...r, s };
    }
    for (let k = 0; k < f.spill.length; k++) {
      const r = f.spill[k];
      if (r && r.t === RT.SCALAR && r.id === id) ownStack(f).spill[k] = { ...r, s };
    }
  }
}

function findGoodPkt(st: State, d: Reg, open: boolean): void {
  if (d.off < 0 || (d.off === 0 && open)) return;
  if (d.s.umax > BigInt(MAX_PACKET_OFF) || d.s.umax + BigInt(d.off) > BigInt(MAX_PACKET_OFF)) return;
  const newRange = open ? d.off + 1 : d.off;
  for (const f of st.frames) {
    for (let i = 0; i < 11; i++) {
      const r = f.regs[i]!;
      if (r.t === d.t && r.id === d.id && r.range < newRange) f.regs[i] = { ...r, range: newRange };
    }
    for (let k = 0; k < f.spill.length; k++) {
      const r = f.spill[k];
      if (r && r.t === d.t && r.id === d.id && r.range < newRange) ownStack(f).spill[k] = { ...r, range: newRange };
    }
  }
}

/** The kernel's print_bpf_insn, close enough for reading logs. */
export function insnText(s: Slot, pc: number): string {
  const cls = s.op & 7;
  const r = (n: number) => `r${n}`;
  const w = (n: number) => `w${n}`;
  const sz = ['u32', 'u16', 'u8', 'u64'][(s.op >> 3) & 3];
  switch (cls) {
    case 4:
    case 7: {
      const op = s.op & 0xf0;
      const R = cls === 7 ? r : w;
      const srcTxt = (s.op & 8) !== 0 ? R(s.src) : String(s.imm);
      if (op === 0x80) return `${R(s.dst)} = -${R(s.dst)}`;
      if (op === 0xd0) return `${R(s.dst)} = ${cls === 7 ? 'bswap' : (s.op & 8) !== 0 ? 'be' : 'le'}${s.imm} ${R(s.dst)}`;
      if (op === 0xb0 && s.off > 1 && (s.op & 8) !== 0) return `${R(s.dst)} = (s${s.off})${R(s.src)}`;
      return `${R(s.dst)} ${(s.off === 1 && (op === 0x30 || op === 0x90) ? 's' : '') + ALU_NAMES[op >> 4]} ${srcTxt}`;
    }
    case 1:
      return `${r(s.dst)} = *(${(s.op & 0xe0) === 0x80 ? 's' + sz!.slice(1) : sz} *)(${r(s.src)} ${s.off >= 0 ? '+' : ''}${s.off})`;
    case 2:
      return `*(${sz} *)(${r(s.dst)} ${s.off >= 0 ? '+' : ''}${s.off}) = ${s.imm}`;
    case 3:
      if ((s.op & 0xe0) === 0xc0) return `atomic op 0x${s.imm.toString(16)} (${r(s.dst)} ${s.off >= 0 ? '+' : ''}${s.off}), ${r(s.src)}`;
      return `*(${sz} *)(${r(s.dst)} ${s.off >= 0 ? '+' : ''}${s.off}) = ${r(s.src)}`;
    case 0:
      if (s.op === 0x18) return s.src ? `${r(s.dst)} = map[id:${s.imm}]${s.src === 2 ? `[0]+${s.imm2}` : ''}` : `${r(s.dst)} = 0x${BigInt.asUintN(64, (BigInt(s.imm2) << 32n) | BigInt(s.imm >>> 0)).toString(16)}`;
      return `r0 = *(${sz} *)skb[${(s.op & 0xe0) === 0x40 ? r(s.src) + ' + ' : ''}${s.imm}]`;
    default: {
      const op = s.op & 0xf0;
      if (op === 0x90) return 'exit';
      if (op === 0x80) {
        if (s.src === 1) return `call pc${s.imm >= 0 ? '+' : ''}${s.imm}`;
        const p = helperProto(s.imm);
        return `call ${p ? p.name : 'unknown'}#${s.imm}`;
      }
      if (op === 0x00) return `goto pc${(cls === 6 ? s.imm : s.off) >= 0 ? '+' : ''}${cls === 6 ? s.imm : s.off}`;
      if (op === 0xe0) return `may_goto pc${s.off >= 0 ? '+' : ''}${s.off}`;
      const R = cls === 6 ? w : r;
      const names: Record<number, string> = { 0x10: '==', 0x20: '>', 0x30: '>=', 0x40: '&', 0x50: '!=', 0x60: 's>', 0x70: 's>=', 0xa0: '<', 0xb0: '<=', 0xc0: 's<', 0xd0: 's<=' };
      const srcTxt = (s.op & 8) !== 0 ? R(s.src) : `0x${(s.imm >>> 0).toString(16)}`;
      void pc;
      return `if ${R(s.dst)} ${names[op] ?? '?'} ${srcTxt} goto pc${s.off >= 0 ? '+' : ''}${s.off}`;
    }
  }
}

