import { helperName, layoutSlots, PseudoLd, type Insn } from '@tsbpf/core';
import { buildCfg, isCondJump, Term, type Cfg, type SlotProgram } from './cfg.js';
import { Bytes, I32, I64, ModuleBuilder, Op, VOID, type FuncType } from './wasm.js';

/**
 * Kinds of trap. The compiled code raises them with a bare `unreachable` (or the engine's own
 * bounds check), whose module offset the compiler records: a call on the cold path would keep
 * registers busy in the hot loop around it.
 */
export const enum TrapKind {
  MemRead = 0,
  MemWrite = 1,
  Budget = 2,
  CallDepth = 3,
  FellOff = 4,
  BadJump = 5,
  UnknownOpcode = 6,
  /** A kfunc call (`call` with src 2): only the kernel has kfuncs. */
  Kfunc = 7,
}

/** Compile-time facts about the address space and what to check. */
export interface CompileOptions {
  /** Guest address of the 48-byte area helpers exchange r0..r5 through. */
  scratch: number;
  /** The highest r10 a call may set (top of the last of the 8 stack frames). */
  stackLimit: number;
  /**
   * Check every load and store for the NULL page and for addresses at or above 2^32, as the
   * interpreter does (default true). Without it an access still cannot leave the WebAssembly
   * memory; it only wraps to 32 bits.
   */
  nullChecks?: boolean;
  /** Count loop iterations against the run's instruction budget (default true). */
  budget?: boolean;
  /** The value a pseudo `lddw` (map fd, map value) loads, or `undefined` when it names nothing. */
  resolveLddw?(insn: Insn): number | undefined;
  /** The WebAssembly module's name (stack traces name it). */
  moduleName: string;
  /** Every helper call goes through the generic import, which checks its arguments (strict address spaces). */
  checkHelperArgs?: boolean;
}

/** What the compiler produced. */
export interface CompiledModule {
  bytes: Uint8Array<ArrayBuffer>;
  /** Helper ids in import order: import `h<id>` for each. */
  helpers: number[];
  /**
   * Map descriptors with a direct lookup import `m<fd>(keyAddr) -> valueAddr | 0`: the
   * `bpf_map_lookup_elem` calls whose map is loaded into r1 in the same block.
   */
  mapLookups: number[];
  /**
   * Where a trap can happen: module offsets (sorted) of the loads and stores and of the
   * `unreachable` of each check, with the eBPF slot and the {@link TrapKind} of each.
   */
  siteOffsets: Int32Array;
  sitePcs: Int32Array;
  siteKinds: Uint8Array;
  /** Slots of the callbacks (`BPF_PSEUDO_FUNC` targets), each exported as `cb<slot>`. */
  callbacks: number[];
  /** Functions compiled with the dispatch loop (irreducible control flow), by entry slot. */
  dispatched: number[];
  /** Number of eBPF functions (entries) compiled. */
  functions: number;
}

/** The opcodes the interpreter implements: the same set, so both backends agree on what is invalid. */
const VALID_OPS = new Uint8Array(256);
for (const op of [
  0x07, 0x17, 0x27, 0x37, 0x47, 0x57, 0x67, 0x77, 0x87, 0x97, 0xa7, 0xb7, 0xc7,
  0x0f, 0x1f, 0x2f, 0x3f, 0x4f, 0x5f, 0x6f, 0x7f, 0x9f, 0xaf, 0xbf, 0xcf, 0xd7,
  0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c, 0x64, 0x6c, 0x74, 0x7c,
  0x84, 0x94, 0x9c, 0xa4, 0xac, 0xb4, 0xbc, 0xc4, 0xcc, 0xd4, 0xdc,
  0x18, 0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xdb,
  0x05, 0x06, 0xe5, 0x15, 0x1d, 0x55, 0x5d, 0x25, 0x2d, 0x35, 0x3d, 0xa5, 0xad, 0xb5, 0xbd,
  0x65, 0x6d, 0x75, 0x7d, 0xc5, 0xcd, 0xd5, 0xdd, 0x45, 0x4d,
  0x16, 0x1e, 0x56, 0x5e, 0x26, 0x2e, 0x36, 0x3e, 0xa6, 0xae, 0xb6, 0xbe, 0x66, 0x6e, 0x76, 0x7e,
  0xc6, 0xce, 0xd6, 0xde, 0x46, 0x4e,
  0x85, 0x8d, 0x95, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50,
]) VALID_OPS[op] = 1;

/**
 * Lays a program out slot by slot ({@link layoutSlots}); slots whose opcode the interpreter does
 * not implement are invalid here too, so both backends fault on the same instructions.
 */
export function slotProgram(insns: readonly Insn[], resolveLddw?: (insn: Insn) => number | undefined): SlotProgram {
  const p = layoutSlots(insns, resolveLddw);
  for (let s = 0; s < p.n; s++) if (p.valid[s] && !VALID_OPS[p.op[s]]) p.valid[s] = 0;
  return p;
}

/** Imports every module has, in this order, before the helpers. */
const IMPORT_LDPKT = 0; // ldpkt(opcode, srcLo, imm, pc) -> i32
const IMPORT_CALLX = 1; // callx(id, pc, r10) -> i32
const FIXED_IMPORTS = 2;
/** Global 1 (i64): the address of the last access the NULL check refused. */
const FAULT_GLOBAL = 1;
const TAIL_CALL = 12;

/** Locals: r0..r10 are the parameters; then scratch. */
const A64 = 11;
const B64 = 12;
const W32 = 13;
const V32 = 14;
/**
 * The budget left, in a local: a global would put a store and a load on every loop iteration's
 * path. It is written back to global 0 around calls and at exits, and read again after calls.
 */
const BUD = 15;
const FN_TYPE: FuncType = { params: Array(11).fill(I64), results: [I64] };
const FN_LOCALS: [number, typeof I64 | typeof I32][] = [[2, I64], [3, I32]];

/** WebAssembly opcode of each simple ALU operation (by `op >> 4`), 0 for the others. */
const ALU64 = Uint8Array.of(Op.i64_add, Op.i64_sub, Op.i64_mul, 0, Op.i64_or, Op.i64_and, Op.i64_shl, Op.i64_shr_u, 0, 0, Op.i64_xor, 0, Op.i64_shr_s, 0, 0, 0);
const ALU32 = Uint8Array.of(Op.i32_add, Op.i32_sub, Op.i32_mul, 0, Op.i32_or, Op.i32_and, Op.i32_shl, Op.i32_shr_u, 0, 0, Op.i32_xor, 0, Op.i32_shr_s, 0, 0, 0);
/** 64-bit comparison of each conditional jump (by `op >> 4`). */
const CMP64 = Uint8Array.of(0, Op.i64_eq, Op.i64_gt_u, Op.i64_ge_u, 0, Op.i64_ne, Op.i64_gt_s, Op.i64_ge_s, 0, 0, Op.i64_lt_u, Op.i64_le_u, Op.i64_lt_s, Op.i64_le_s, 0, 0);

/** One entry of the structuring context: what a `br` at this depth reaches. */
type Ctx = { kind: 'loop'; block: number } | { kind: 'follow'; block: number } | { kind: 'if' };

/**
 * Nesting the recursive structuring may reach (loops, if/else arms, inner merge blocks) before a
 * function falls back to the dispatch loop: well inside the host's stack.
 */
const MAX_NESTING = 1500;
const TOO_DEEP = new Error('structuring nests too deep');

class FunctionCompiler {
  readonly code: Bytes;
  /** Offsets in `code` of the loads and stores, and their slots. */
  readonly siteOffsets: number[] = [];
  readonly sitePcs: number[] = [];
  readonly siteKinds: number[] = [];
  private readonly ctx: Ctx[] = [];

  constructor(
    private readonly m: ModuleCompiler,
    private readonly p: SlotProgram,
    private readonly cfg: Cfg,
  ) {
    this.code = new Bytes(64 + 16 * (cfg.blocks.length ? cfg.blocks[cfg.blocks.length - 1].end - cfg.blocks[0].start : 0));
  }

  // ---- small emitters ----
  private op(b: number): void {
    this.code.byte(b);
  }
  private get(r: number): void {
    this.code.byte(Op.local_get).u32(r);
  }
  private set(r: number): void {
    this.code.byte(Op.local_set).u32(r);
  }
  private i64(lo: number, hi: number): void {
    this.code.byte(Op.i64_const).s64(lo, hi);
  }
  private i32(v: number): void {
    this.code.byte(Op.i32_const).s32(v);
  }
  private trap(kind: TrapKind, pc: number): void {
    this.site(pc, kind);
    this.op(Op.unreachable);
  }

  /** Writes the budget left back to the global (before calls and exits). */
  private saveBudget(): void {
    if (!this.m.budget) return;
    this.get(BUD);
    this.code.byte(Op.global_set).u32(0);
  }

  /** Reads the budget left from the global (at entry and after calls). */
  private loadBudget(): void {
    if (!this.m.budget) return;
    this.code.byte(Op.global_get).u32(0);
    this.set(BUD);
  }

  private exit(): void {
    this.saveBudget();
    this.get(0);
    this.op(Op.return);
  }

  /** A body that traps at once (a call to outside the program). */
  trapOnly(kind: TrapKind, pc: number): void {
    this.trap(kind, pc);
    this.op(Op.end);
  }

  /** Compiles the function's body into `code`; returns whether it needed the dispatch loop. */
  compile(): boolean {
    const { cfg } = this;
    const start = this.code.len;
    const sites = this.siteOffsets.length;
    this.loadBudget();
    let dispatched = !cfg.reducible;
    if (!dispatched) {
      try {
        this.doTree(cfg.order[0]);
      } catch (e) {
        if (e !== TOO_DEEP) throw e;
        // Nesting deeper than the host stack allows: start over with the dispatch loop.
        dispatched = true;
        this.code.len = start;
        this.siteOffsets.length = this.sitePcs.length = this.siteKinds.length = sites;
        this.ctx.length = 0;
        this.depth = 0;
        this.loadBudget();
      }
    }
    if (dispatched) this.dispatch();
    this.op(Op.unreachable);
    this.op(Op.end);
    return dispatched;
  }

  // ---- structured control flow (Ramsey, "Beyond Relooper", ICFP 2022) ----

  /** First slot of the block being translated. */
  private blockStart = 0;
  /**
   * Per register: whether its value in this block comes from `<<= 1..3` (64-bit). V8 fuses
   * `x + (y << k)` into one `lea`, which takes 2 cycles on AMD Zen where add and shift take 1 each
   * off the chain through x; `x - (0 - (y << k))` keeps them apart (loop100k: 121 -> 91 us).
   */
  private readonly shifted = new Uint8Array(11);

  /** Updates {@link shifted} after the instruction at `s`. */
  private track(s: number): void {
    const p = this.p;
    const op = p.op[s];
    const cls = op & 7;
    if (op === 0x67 && p.imm[s] >= 1 && p.imm[s] <= 3) {
      this.shifted[p.dst[s]] = 1;
      return;
    }
    if (cls === 4 || cls === 7 || cls === 1 || op === 0x18) this.shifted[p.dst[s]] = 0;
    else if (cls === 3 && (op & 0xe0) === 0xc0) {
      if (p.imm[s] & 1) this.shifted[p.src[s]] = 0;
      this.shifted[0] = 0;
    } else if (op === 0x85 || op === 0x8d || cls === 0) this.shifted.fill(0);
  }

  /** Nesting of the recursive translation (each level a few JS frames). */
  private depth = 0;

  private enter(): void {
    if (++this.depth > MAX_NESTING) throw TOO_DEEP;
  }

  /** The merge children of `x`, highest reverse-postorder number first. */
  private mergesOf(x: number): number[] {
    const { cfg } = this;
    const kids = cfg.children[x];
    const out: number[] = [];
    for (const c of kids) if (cfg.merge[c]) out.push(c);
    return out.sort((a, b) => cfg.rpo[b] - cfg.rpo[a]);
  }

  /** The code of the dominator subtree rooted at block `x`. */
  private doTree(x: number): void {
    this.enter();
    if (this.cfg.loopHeader[x]) {
      this.code.byte(Op.loop).byte(VOID);
      this.ctx.push({ kind: 'loop', block: x });
      this.chargeLoop(x);
      this.region(x);
      this.ctx.pop();
      this.op(Op.end);
    } else this.region(x);
    this.depth--;
  }

  /**
   * `x`'s code inside blocks for its merge children, then the merge children: the outermost
   * merge's subtree and a branch to a child in tail position continue in this loop instead of
   * recursing, so a long chain of blocks costs no stack.
   */
  private region(x: number): void {
    for (;;) {
      const merges = this.mergesOf(x);
      let next: number;
      if (merges.length === 0) {
        this.blockBody(x);
        next = this.terminator(x);
      } else {
        // Merge children, highest reverse-postorder number first: its block is the outermost, so
        // its code comes last and every earlier one can branch forward to it.
        this.code.byte(Op.block).byte(VOID);
        this.ctx.push({ kind: 'follow', block: merges[0] });
        this.nodeWithin(x, merges, 1);
        this.ctx.pop();
        this.op(Op.end);
        next = merges[0];
      }
      if (next < 0) return;
      if (this.cfg.loopHeader[next]) {
        this.doTree(next);
        return;
      }
      x = next;
    }
  }

  private nodeWithin(x: number, merges: number[], i: number): void {
    this.enter();
    if (i === merges.length) {
      this.blockBody(x);
      const next = this.terminator(x);
      if (next >= 0) this.doTree(next);
    } else {
      this.code.byte(Op.block).byte(VOID);
      this.ctx.push({ kind: 'follow', block: merges[i] });
      this.nodeWithin(x, merges, i + 1);
      this.ctx.pop();
      this.op(Op.end);
      this.doTree(merges[i]);
    }
    this.depth--;
  }

  /** The `br` depth of the construct a branch to `target` uses, or -1 when it is not a plain branch. */
  private branchDepth(from: number, target: number): number {
    if (target < 0) return -1;
    const { cfg } = this;
    const back = cfg.rpo[target] <= cfg.rpo[from];
    if (!back && !cfg.merge[target]) return -1;
    const kind = back ? 'loop' : 'follow';
    for (let d = this.ctx.length - 1; d >= 0; d--) {
      const c = this.ctx[d];
      if (c.kind === kind && c.block === target) return this.ctx.length - 1 - d;
    }
    throw new Error(`internal: no enclosing construct for the branch from block ${from} to ${target}`);
  }

  /**
   * A branch from `from` to `target`: a `br` to the loop or block that reaches it, a trap for a
   * jump outside the program, or else the target's own code. The target is returned instead of
   * translated when `tail` (the caller continues with it), -1 when nothing is left to do.
   */
  private branch(from: number, target: number, tail = false): number {
    if (target < 0) {
      const t = this.cfg.traps[-1 - target];
      this.trap(t.fellOff ? TrapKind.FellOff : TrapKind.BadJump, t.pc);
      return -1;
    }
    const depth = this.branchDepth(from, target);
    if (depth >= 0) {
      this.code.byte(Op.br).u32(depth);
      return -1;
    }
    if (tail) return target;
    this.doTree(target);
    return -1;
  }

  /** Translates `x`'s last instruction; returns a block to continue with in tail position, or -1. */
  private terminator(x: number): number {
    const b = this.cfg.blocks[x];
    switch (b.term) {
      case Term.Fall:
      case Term.Jump:
        return this.branch(x, b.succ[0], true);
      case Term.Exit:
        this.exit();
        return -1;
      case Term.Invalid:
        this.invalid(b.end - 1);
        return -1;
      default: {
        const [t, f] = b.succ;
        if (t === f) return this.branch(x, t, true);
        this.condition(b.end - 1);
        const dt = this.branchDepth(x, t);
        if (dt >= 0) {
          this.code.byte(Op.br_if).u32(dt);
          return this.branch(x, f, true);
        }
        const df = this.branchDepth(x, f);
        if (df >= 0) {
          this.op(Op.i32_eqz);
          this.code.byte(Op.br_if).u32(df);
          return this.branch(x, t, true);
        }
        this.code.byte(Op.if).byte(VOID);
        this.ctx.push({ kind: 'if' });
        this.branch(x, t);
        this.op(Op.else);
        this.branch(x, f);
        this.ctx.pop();
        this.op(Op.end);
        return -1;
      }
    }
  }

  /** Instructions a loop iteration may run at most: from the header to the furthest back edge. */
  private chargeLoop(x: number): void {
    const { cfg } = this;
    let span = 1;
    const head = cfg.blocks[x];
    for (const u of head.preds) {
      if (cfg.rpo[u] >= cfg.rpo[x]) span = Math.max(span, cfg.blocks[u].end - head.start);
    }
    this.charge(span, head.start);
  }

  private charge(n: number, pc: number): void {
    if (!this.m.budget) return;
    this.get(BUD);
    this.i32(n);
    this.op(Op.i32_sub);
    this.code.byte(Op.local_tee).u32(BUD);
    this.i32(0);
    this.op(Op.i32_lt_s);
    this.code.byte(Op.if).byte(VOID);
    this.trap(TrapKind.Budget, pc);
    this.op(Op.end);
  }

  // ---- the fallback for irreducible control flow: a dispatch loop over the blocks ----
  private dispatch(): void {
    const { cfg } = this;
    const nb = cfg.blocks.length;
    const entry = cfg.order[0];
    // The block to run next, in a local (W32 doubles as it: nothing else uses it across blocks).
    this.i32(entry);
    this.set(W32);
    this.code.byte(Op.loop).byte(VOID);
    for (let i = 0; i < nb; i++) this.code.byte(Op.block).byte(VOID);
    this.get(W32);
    this.code.byte(Op.br_table).u32(nb);
    for (let i = 0; i < nb; i++) this.code.u32(i);
    this.code.u32(0);
    for (let i = 0; i < nb; i++) {
      this.op(Op.end);
      // Inside the blocks i+1..nb-1 and the loop: `br (nb - 1 - i)` reaches the loop.
      const toLoop = nb - 1 - i;
      const b = cfg.blocks[i];
      this.charge(b.end - b.start, b.start);
      this.blockBody(i);
      const go = (t: number) => {
        if (t < 0) {
          const tr = cfg.traps[-1 - t];
          this.trap(tr.fellOff ? TrapKind.FellOff : TrapKind.BadJump, tr.pc);
          return;
        }
        this.i32(t);
        this.set(W32);
        // An enclosing `if` (of a conditional jump) is one more level.
        this.code.byte(Op.br).u32(toLoop + this.ctx.length);
      };
      switch (b.term) {
        case Term.Fall:
        case Term.Jump:
          go(b.succ[0]);
          break;
        case Term.Exit:
          this.exit();
          break;
        case Term.Invalid:
          this.invalid(b.end - 1);
          break;
        case Term.Cond:
          this.condition(b.end - 1);
          this.code.byte(Op.if).byte(VOID);
          this.ctx.push({ kind: 'if' });
          go(b.succ[0]);
          this.op(Op.else);
          go(b.succ[1]);
          this.ctx.pop();
          this.op(Op.end);
          this.op(Op.unreachable);
          break;
      }
    }
    this.op(Op.end);
  }

  // ---- instructions ----
  private invalid(s: number): void {
    this.trap(TrapKind.UnknownOpcode, s);
  }

  /** The instructions of block `x` before its terminator. */
  private blockBody(x: number): void {
    const b = this.cfg.blocks[x];
    const last = b.term === Term.Fall ? b.end : b.end - 1;
    const p = this.p;
    this.blockStart = b.start;
    this.shifted.fill(0);
    for (let s = b.start; s < last; s += p.op[s] === 0x18 ? 2 : 1) {
      this.insn(s);
      this.track(s);
    }
  }

  private insn(s: number): void {
    const p = this.p;
    const op = p.op[s];
    const d = p.dst[s];
    const sr = p.src[s];
    const imm = p.imm[s];
    switch (op & 7) {
      case 7: this.alu64(s, op, d, sr, imm); return;
      case 4: this.alu32(s, op, d, sr, imm); return;
      case 0: // LD: lddw or the legacy packet loads
        if (op === 0x18) {
          this.i64(p.lo[s], p.hi[s]);
          this.set(d);
        } else this.ldPacket(s, op, sr, imm);
        return;
      case 1: this.load(s, op, d, sr); return;
      case 2: this.store(s, op, d, () => this.i64(imm, imm >> 31)); return;
      case 3:
        if ((op & 0xe0) === 0xc0) this.atomic(s, op, d, sr, imm);
        else this.store(s, op, d, () => this.get(sr));
        return;
      default: // JMP / JMP32 inside a block: call, may_goto
        if (op === 0x85) this.call(s, sr, imm);
        else if (op === 0x8d) this.helper(s, -1, d);
        // 0xe5 may_goto: never taken here, as in the interpreter (the budget bounds loops)
        return;
    }
  }

  /** Pushes the i32 condition of the conditional jump at `s`. */
  private condition(s: number): void {
    const p = this.p;
    const op = p.op[s];
    const wide = (op & 7) === 5;
    const d = p.dst[s];
    const imm = p.imm[s];
    const x = (op & 8) !== 0;
    this.get(d);
    if (!wide) this.op(Op.i32_wrap_i64);
    if (x) {
      this.get(p.src[s]);
      if (!wide) this.op(Op.i32_wrap_i64);
    } else if (wide) this.i64(imm, imm >> 31);
    else this.i32(imm);
    const code = op & 0xf0;
    if (code === 0x40) {
      // jset: (dst & src) != 0
      this.op(wide ? Op.i64_and : Op.i32_and);
      if (wide) {
        this.op(Op.i64_eqz);
        this.op(Op.i32_eqz);
      }
      return;
    }
    const o = CMP64[code >> 4];
    // The i32 comparison opcodes sit at a fixed distance from the i64 ones.
    this.op(wide ? o : o - (Op.i64_eq - Op.i32_eq));
  }

  private alu64(s: number, op: number, d: number, sr: number, imm: number): void {
    const x = (op & 8) !== 0;
    const code = op & 0xf0;
    if (op === 0x0f && this.shifted[sr] && sr !== d) {
      // d += s, with s just shifted left: d - (0 - s), so V8 does not fuse it into a slow lea.
      this.get(d);
      this.i64(0, 0);
      this.get(sr);
      this.op(Op.i64_sub);
      this.op(Op.i64_sub);
      this.set(d);
      return;
    }
    const simple = ALU64[code >> 4];
    if (simple !== 0) {
      this.get(d);
      if (x) this.get(sr);
      else this.i64(imm, imm >> 31);
      this.op(simple);
      this.set(d);
      return;
    }
    switch (code) {
      case 0x30: case 0x90: this.div(true, code === 0x90, this.p.off[s] === 1, d, x ? sr : -1, imm); return;
      case 0x80:
        this.i64(0, 0);
        this.get(d);
        this.op(Op.i64_sub);
        this.set(d);
        return;
      case 0xb0: {
        const o = this.p.off[s];
        if (!x) this.i64(imm, imm >> 31);
        else {
          this.get(sr);
          if (o === 8) this.op(Op.i64_extend8_s);
          else if (o === 16) this.op(Op.i64_extend16_s);
          else if (o === 32) this.op(Op.i64_extend32_s);
          // other offsets (addr_space_cast): one address space, a plain move
        }
        this.set(d);
        return;
      }
      case 0xd0: // bswap16/32/64
        this.swap(d, imm);
        return;
    }
  }

  private alu32(s: number, op: number, d: number, sr: number, imm: number): void {
    const x = (op & 8) !== 0;
    const code = op & 0xf0;
    const simple = ALU32[code >> 4];
    if (simple !== 0) {
      this.get(d);
      this.op(Op.i32_wrap_i64);
      if (x) {
        this.get(sr);
        this.op(Op.i32_wrap_i64);
      } else this.i32(imm);
      this.op(simple);
      this.op(Op.i64_extend_i32_u);
      this.set(d);
      return;
    }
    switch (code) {
      case 0x30: case 0x90: this.div(false, code === 0x90, this.p.off[s] === 1, d, x ? sr : -1, imm); return;
      case 0x80:
        this.i32(0);
        this.get(d);
        this.op(Op.i32_wrap_i64);
        this.op(Op.i32_sub);
        this.op(Op.i64_extend_i32_u);
        this.set(d);
        return;
      case 0xb0: {
        const o = this.p.off[s];
        if (!x) {
          this.i64(imm, 0);
        } else {
          this.get(sr);
          this.op(Op.i32_wrap_i64);
          if (o === 8) this.op(Op.i32_extend8_s);
          else if (o === 16) this.op(Op.i32_extend16_s);
          this.op(Op.i64_extend_i32_u);
        }
        this.set(d);
        return;
      }
      case 0xd0:
        if (op === 0xd4) {
          // le: a truncation on a little-endian machine
          if (imm === 64) return;
          this.get(d);
          this.i64(imm === 16 ? 0xffff : -1, 0);
          this.op(Op.i64_and);
          this.set(d);
        } else this.swap(d, imm);
        return;
    }
  }

  /** `d = bswap(d)` over 16, 32 or (anything else) 64 bits, zero-extended. */
  private swap(d: number, bits: number): void {
    const swap32 = () => {
      // (rotl(v, 8) & 0x00ff00ff) | (rotr(v, 8) & 0xff00ff00), v in W32
      this.get(W32);
      this.i32(8);
      this.op(Op.i32_rotl);
      this.i32(0x00ff00ff);
      this.op(Op.i32_and);
      this.get(W32);
      this.i32(8);
      this.op(Op.i32_rotr);
      this.i32(0xff00ff00 | 0);
      this.op(Op.i32_and);
      this.op(Op.i32_or);
    };
    if (bits === 16) {
      this.get(d);
      this.op(Op.i32_wrap_i64);
      this.code.byte(Op.local_tee).u32(W32);
      this.i32(8);
      this.op(Op.i32_shl);
      this.i32(0xff00);
      this.op(Op.i32_and);
      this.get(W32);
      this.i32(8);
      this.op(Op.i32_shr_u);
      this.i32(0xff);
      this.op(Op.i32_and);
      this.op(Op.i32_or);
      this.op(Op.i64_extend_i32_u);
      this.set(d);
    } else if (bits === 32) {
      this.get(d);
      this.op(Op.i32_wrap_i64);
      this.set(W32);
      swap32();
      this.op(Op.i64_extend_i32_u);
      this.set(d);
    } else {
      // The low half swapped becomes the high half.
      this.get(d);
      this.op(Op.i32_wrap_i64);
      this.set(W32);
      swap32();
      this.op(Op.i64_extend_i32_u);
      this.i64(32, 0);
      this.op(Op.i64_shl);
      this.get(d);
      this.i64(32, 0);
      this.op(Op.i64_shr_u);
      this.op(Op.i32_wrap_i64);
      this.set(W32);
      swap32();
      this.op(Op.i64_extend_i32_u);
      this.op(Op.i64_or);
      this.set(d);
    }
  }

  /**
   * Division and modulo with eBPF's rules, which never trap: x / 0 = 0, x % 0 = x, and the
   * signed INT_MIN / -1 wraps to INT_MIN (with INT_MIN % -1 = 0). `sr` is -1 for an immediate.
   */
  private div(wide: boolean, mod: boolean, signed: boolean, d: number, sr: number, imm: number): void {
    const T = wide ? I64 : I32;
    const getD = () => {
      this.get(d);
      if (!wide) this.op(Op.i32_wrap_i64);
    };
    const done = () => {
      if (!wide) this.op(Op.i64_extend_i32_u);
      this.set(d);
    };
    const divOp = wide
      ? (mod ? (signed ? Op.i64_rem_s : Op.i64_rem_u) : signed ? Op.i64_div_s : Op.i64_div_u)
      : mod ? (signed ? Op.i32_rem_s : Op.i32_rem_u) : signed ? Op.i32_div_s : Op.i32_div_u;
    if (sr < 0) {
      // The divisor is known: the immediate, sign-extended for 64 bits (unsigned 32 for 32 bits).
      if (imm === 0) {
        if (mod) {
          if (!wide) {
            getD();
            done();
          }
        } else {
          this.i64(0, 0);
          this.set(d);
        }
        return;
      }
      if (signed && imm === -1) {
        if (mod) this.i64(0, 0);
        else {
          if (wide) this.i64(0, 0);
          else this.i32(0);
          getD();
          this.op(wide ? Op.i64_sub : Op.i32_sub);
          if (!wide) this.op(Op.i64_extend_i32_u);
        }
        this.set(d);
        return;
      }
      getD();
      if (wide) this.i64(imm, imm >> 31);
      else this.i32(imm);
      this.op(divOp);
      done();
      return;
    }
    const getS = () => {
      this.get(sr);
      if (!wide) this.op(Op.i32_wrap_i64);
    };
    // if (s == 0) { 0 or d } else if (signed && s == -1) { -d or 0 } else { d op s }
    getS();
    this.op(wide ? Op.i64_eqz : Op.i32_eqz);
    this.code.byte(Op.if).byte(T);
    if (mod) getD();
    else if (wide) this.i64(0, 0);
    else this.i32(0);
    this.op(Op.else);
    if (signed) {
      getS();
      if (wide) this.i64(-1, -1);
      else this.i32(-1);
      this.op(wide ? Op.i64_eq : Op.i32_eq);
      this.code.byte(Op.if).byte(T);
      if (mod) {
        if (wide) this.i64(0, 0);
        else this.i32(0);
      } else {
        if (wide) this.i64(0, 0);
        else this.i32(0);
        getD();
        this.op(wide ? Op.i64_sub : Op.i32_sub);
      }
      this.op(Op.else);
      getD();
      getS();
      this.op(divOp);
      this.op(Op.end);
    } else {
      getD();
      getS();
      this.op(divOp);
    }
    this.op(Op.end);
    done();
  }

  /**
   * Pushes the i32 WebAssembly address of `[reg + off]`. With NULL checks, an address below
   * 4096 or at or above 2^32 traps with the instruction's slot.
   */
  private address(s: number, reg: number, off: number, size: number, write: boolean): void {
    if (this.m.nullChecks) {
      this.get(reg);
      if (off !== 0) {
        this.i64(off, off >> 31);
        this.op(Op.i64_add);
      }
      // 4096 <= a < 2^32  <=>  (a >> 12) - 1 < 0xfffff: constants that fit an x86 immediate.
      this.code.byte(Op.local_tee).u32(A64);
      this.i64(12, 0);
      this.op(Op.i64_shr_u);
      this.i64(1, 0);
      this.op(Op.i64_sub);
      this.i64(0xfffff, 0);
      this.op(Op.i64_ge_u);
      this.code.byte(Op.if).byte(VOID);
      this.get(A64);
      this.code.byte(Op.global_set).u32(FAULT_GLOBAL);
      this.trap(write ? TrapKind.MemWrite : TrapKind.MemRead, s);
      this.op(Op.end);
      this.get(A64);
      this.op(Op.i32_wrap_i64);
      return;
    }
    this.get(reg);
    this.op(Op.i32_wrap_i64);
    if (off < 0) {
      this.i32(off);
      this.op(Op.i32_add);
    }
  }

  /** Memarg offset for an access whose address {@link address} pushed. */
  private memOffset(off: number): number {
    return this.m.nullChecks || off < 0 ? 0 : off;
  }

  private site(s: number, kind: TrapKind): void {
    this.siteOffsets.push(this.code.len);
    this.sitePcs.push(s);
    this.siteKinds.push(kind);
  }

  private memop(s: number, opcode: number, align: number, off: number, write: boolean): void {
    this.site(s, write ? TrapKind.MemWrite : TrapKind.MemRead);
    this.code.byte(opcode).u32(align).u32(this.memOffset(off));
  }

  private load(s: number, op: number, d: number, sr: number): void {
    const off = this.p.off[s];
    const size = [4, 2, 1, 8][(op >> 3) & 3];
    const signed = (op & 0xe0) === 0x80;
    this.address(s, sr, off, size, false);
    const opcode = size === 8 ? Op.i64_load
      : size === 4 ? (signed ? Op.i64_load32_s : Op.i64_load32_u)
        : size === 2 ? (signed ? Op.i64_load16_s : Op.i64_load16_u)
          : signed ? Op.i64_load8_s : Op.i64_load8_u;
    this.memop(s, opcode, 0, off, false);
    this.set(d);
  }

  private store(s: number, op: number, d: number, value: () => void): void {
    const off = this.p.off[s];
    const size = [4, 2, 1, 8][(op >> 3) & 3];
    this.address(s, d, off, size, true);
    value();
    const opcode = size === 8 ? Op.i64_store : size === 4 ? Op.i64_store32 : size === 2 ? Op.i64_store16 : Op.i64_store8;
    this.memop(s, opcode, 0, off, true);
  }

  /** Atomic read-modify-write, as plain loads and stores: a program runs on one thread. */
  private atomic(s: number, op: number, d: number, sr: number, imm: number): void {
    const off = this.p.off[s];
    const wide = op === 0xdb;
    const size = wide ? 8 : 4;
    const load = wide ? Op.i64_load : Op.i64_load32_u;
    const store = wide ? Op.i64_store : Op.i64_store32;
    const mo = this.memOffset(off);
    this.address(s, d, off, size, true);
    this.set(W32);
    // old value -> B64
    this.get(W32);
    this.site(s, TrapKind.MemWrite);
    this.code.byte(load).u32(0).u32(mo);
    this.set(B64);
    const base = imm & ~1;
    if (base === 0xf0) {
      // cmpxchg: store src when old == r0 (low 32 bits for the 32-bit form); r0 = old
      this.get(B64);
      this.get(0);
      if (!wide) {
        this.op(Op.i32_wrap_i64);
        this.code.byte(Op.local_set).u32(V32);
        this.op(Op.i32_wrap_i64);
        this.get(V32);
        this.op(Op.i32_eq);
      } else this.op(Op.i64_eq);
      this.code.byte(Op.if).byte(VOID);
      this.get(W32);
      this.get(sr);
      this.site(s, TrapKind.MemWrite);
      this.code.byte(store).u32(0).u32(mo);
      this.op(Op.end);
      this.get(B64);
      this.set(0);
      return;
    }
    this.get(W32);
    if (base === 0xe0) this.get(sr);
    else {
      this.get(B64);
      this.get(sr);
      this.op(base === 0x00 ? Op.i64_add : base === 0x40 ? Op.i64_or : base === 0x50 ? Op.i64_and : Op.i64_xor);
    }
    this.site(s, TrapKind.MemWrite);
    this.code.byte(store).u32(0).u32(mo);
    if (imm & 1) {
      this.get(B64);
      this.set(sr);
    }
  }

  /** `LD_ABS` / `LD_IND`: through the runtime's packet, in JS. */
  private ldPacket(s: number, op: number, sr: number, imm: number): void {
    this.i32(op);
    if ((op & 0xe0) === 0x40) {
      this.get(sr);
      this.op(Op.i32_wrap_i64);
    } else this.i32(0);
    this.i32(imm);
    this.i32(s);
    this.code.byte(Op.call).u32(IMPORT_LDPKT);
    this.op(Op.i64_extend_i32_u);
    this.set(0);
  }

  private call(s: number, sr: number, imm: number): void {
    if (sr === 1) {
      const target = s + 1 + imm;
      // The callee's frame is the next 512 bytes; past the 8th frame the call fails.
      this.get(10);
      this.i64(512, 0);
      this.op(Op.i64_add);
      this.code.byte(Op.local_tee).u32(A64);
      this.i64(this.m.stackLimit, 0);
      this.op(Op.i64_gt_u);
      this.code.byte(Op.if).byte(VOID);
      this.trap(TrapKind.CallDepth, s);
      this.op(Op.end);
      this.saveBudget();
      for (let r = 0; r <= 9; r++) this.get(r);
      this.get(A64);
      this.code.byte(Op.call).u32(this.m.functionFor(target));
      this.set(0);
      this.loadBudget();
      return;
    }
    if (sr !== 0) {
      this.trap(TrapKind.Kfunc, s);
      return;
    }
    this.helper(s, imm, -1);
  }

  /**
   * The map `lddw map_fd` put in r1 earlier in this block (with nothing writing r1 since), or -1:
   * what lets a lookup skip the generic helper path.
   */
  private knownMapInR1(s: number): number {
    const p = this.p;
    // Walk back over the block's slots; the second half of an lddw has opcode 0 and is skipped.
    for (let k = s - 1; k >= this.blockStart; k--) {
      const op = p.op[k];
      if (op === 0) continue;
      const cls = op & 7;
      if (op === 0x18 && p.dst[k] === 1) return p.src[k] === PseudoLd.MAP_FD && p.valid[k] ? p.imm[k] : -1;
      if ((cls === 4 || cls === 7 || cls === 1) && p.dst[k] === 1) return -1;
      if (cls === 3 && (op & 0xe0) === 0xc0 && (p.imm[k] & 1) && p.src[k] === 1) return -1;
      if (op === 0x85 || op === 0x8d) return -1;
    }
    return -1;
  }

  /** A helper call: r1..r5 to the scratch area, the import, r0 back. `id` -1: callx, id in `reg`. */
  private helper(s: number, id: number, reg: number): void {
    const scratch = this.m.scratch;
    if (id === 1) {
      const fd = this.knownMapInR1(s);
      const imp = fd >= 0 ? this.m.mapLookupImport(fd) : undefined;
      if (imp !== undefined) {
        // bpf_map_lookup_elem(map, key): the key address straight to the map's lookup.
        this.get(2);
        this.op(Op.i32_wrap_i64);
        this.code.byte(Op.call).u32(imp);
        this.op(Op.i64_extend_i32_u);
        this.set(0);
        return;
      }
    }
    for (let r = 1; r <= 5; r++) {
      this.i32(0);
      this.get(r);
      this.code.byte(Op.i64_store).u32(3).u32(scratch + 8 * r);
    }
    if (id < 0) {
      this.get(reg);
      this.op(Op.i32_wrap_i64);
    }
    this.i32(s);
    this.get(10);
    this.op(Op.i32_wrap_i64);
    this.saveBudget();
    this.code.byte(Op.call).u32(id < 0 ? IMPORT_CALLX : this.m.helperImport(id));
    if (id === TAIL_CALL) {
      // >= 0: the tail call ran (the value is the budget left); its r0 is this function's result.
      this.code.byte(Op.local_tee).u32(V32);
      this.i32(0);
      this.op(Op.i32_ge_s);
      this.code.byte(Op.if).byte(VOID);
      this.get(V32);
      this.code.byte(Op.global_set).u32(0);
      this.i32(0);
      this.code.byte(Op.i64_load).u32(3).u32(scratch);
      this.op(Op.return);
      this.op(Op.end);
    } else this.op(Op.drop);
    this.loadBudget();
    this.i32(0);
    this.code.byte(Op.i64_load).u32(3).u32(scratch);
    this.set(0);
  }
}

/** Compiles a whole program: one WebAssembly function per eBPF function entry. */
class ModuleCompiler {
  readonly scratch: number;
  readonly stackLimit: number;
  readonly nullChecks: boolean;
  readonly budget: boolean;
  private readonly builder: ModuleBuilder;
  private readonly helperIds: number[];
  private readonly helperIndex = new Map<number, number>();
  private readonly mapIndex = new Map<number, number>();
  private readonly funcIndex = new Map<number, number>();
  private readonly pending: number[] = [];
  private readonly p: SlotProgram;
  private readonly visited: Uint8Array;
  private readonly leader: Uint8Array;

  constructor(p: SlotProgram, opts: CompileOptions) {
    this.p = p;
    this.scratch = opts.scratch;
    this.stackLimit = opts.stackLimit;
    this.nullChecks = opts.nullChecks ?? true;
    this.budget = opts.budget ?? true;
    this.builder = new ModuleBuilder(opts.moduleName);
    this.visited = new Uint8Array(p.n);
    this.leader = new Uint8Array(p.n);
    const b = this.builder;
    b.importFunc('env', 'ldpkt', { params: [I32, I32, I32, I32], results: [I32] });
    b.importFunc('env', 'callx', { params: [I32, I32, I32], results: [I32] });
    // Helpers the program calls, each its own import.
    const ids = new Set<number>();
    for (let s = 0; s < p.n; s++) if (p.valid[s] && p.op[s] === 0x85 && p.src[s] === 0) ids.add(p.imm[s]);
    this.helperIds = [...ids].sort((a, c) => a - c);
    for (const id of this.helperIds) {
      this.helperIndex.set(id, b.importFunc('env', `h${id}`, { params: [I32, I32], results: [I32] }));
    }
    // Direct lookups for the maps the program loads, when it looks anything up (and helper
    // arguments are not being checked one by one).
    if (ids.has(1) && !opts.checkHelperArgs) {
      const fds = new Set<number>();
      for (let s = 0; s < p.n; s++) if (p.valid[s] && p.op[s] === 0x18 && p.src[s] === PseudoLd.MAP_FD) fds.add(p.imm[s]);
      for (const fd of [...fds].sort((a, c) => a - c)) {
        this.mapIndex.set(fd, b.importFunc('env', `m${fd}`, { params: [I32], results: [I32] }));
      }
    }
    b.global(I32, 0, 'budget');
    b.global(I64, 0, 'fault');
  }

  mapLookupImport(fd: number): number | undefined {
    return this.mapIndex.get(fd);
  }

  helperImport(id: number): number {
    return this.helperIndex.get(id)!;
  }

  /** The function index of the eBPF function entered at `slot` (compiled later). */
  functionFor(slot: number): number {
    let i = this.funcIndex.get(slot);
    if (i === undefined) {
      // Function indexes: imports, then the two exports, then the eBPF functions in discovery order.
      i = FIXED_IMPORTS + this.helperIds.length + this.mapIndex.size + 2 + this.funcIndex.size;
      this.funcIndex.set(slot, i);
      this.pending.push(slot);
    }
    return i;
  }

  compile(): CompiledModule {
    const p = this.p;
    const b = this.builder;
    const scratch = this.scratch;
    const callbacks: number[] = [];
    for (let s = 0; s < p.n; s++) {
      if (p.valid[s] && p.op[s] === 0x18 && p.src[s] === PseudoLd.FUNC) callbacks.push(p.lo[s]);
    }
    const main = this.functionFor(0);
    for (const cb of callbacks) this.functionFor(cb);
    // run(budget, r10): r1..r5 from the scratch area, r0 back into it.
    const entry = (fn: number, setBudget: boolean): Bytes => {
      const c = new Bytes();
      if (setBudget) c.byte(Op.local_get).u32(0).byte(Op.global_set).u32(0);
      c.byte(Op.i32_const).s32(0);
      c.byte(Op.i64_const).s32(0);
      for (let r = 1; r <= 5; r++) c.byte(Op.i32_const).s32(0).byte(Op.i64_load).u32(3).u32(scratch + 8 * r);
      for (let r = 6; r <= 9; r++) c.byte(Op.i64_const).s32(0);
      c.byte(Op.local_get).u32(1).byte(Op.i64_extend_i32_u);
      c.byte(Op.call).u32(fn);
      c.byte(Op.i64_store).u32(3).u32(scratch);
      c.byte(Op.end);
      return c;
    };
    b.addFunc({ type: { params: [I32, I32], results: [] }, locals: [], code: entry(main, true), name: 'run', exportAs: 'run' });
    // Callback entries share one exported dispatcher: cb(slot, r10).
    const cbCode = new Bytes();
    for (const cb of callbacks) {
      cbCode.byte(Op.local_get).u32(0).byte(Op.i32_const).s32(cb).byte(Op.i32_eq).byte(Op.if).byte(VOID);
      const e = entry(this.functionFor(cb), false);
      // reuse the entry sequence, reading r10 from local 1
      const body = e.view();
      cbCode.bytes(body.subarray(0, body.length - 1));
      cbCode.byte(Op.return).byte(Op.end);
    }
    cbCode.byte(Op.end);
    b.addFunc({ type: { params: [I32, I32], results: [] }, locals: [], code: cbCode, name: 'callback', exportAs: 'callback' });
    const sites: [number, number, number][] = [];
    const fcs: { fc: FunctionCompiler; index: number }[] = [];
    const dispatched: number[] = [];
    while (this.pending.length) {
      const slot = this.pending.shift()!;
      const fc = this.compileFunction(slot, dispatched);
      const index = b.addFunc({ type: FN_TYPE, locals: FN_LOCALS, code: fc.code, name: `bpf_${slot}` });
      fcs.push({ fc, index });
    }
    void main;
    const { bytes, bodyOffsets } = b.build();
    // bodyOffsets are per defined function: the two entries first.
    fcs.forEach(({ fc }, k) => {
      const base = bodyOffsets[k + 2];
      fc.siteOffsets.forEach((o, i) => sites.push([base + o, fc.sitePcs[i], fc.siteKinds[i]]));
    });
    sites.sort((a, c) => a[0] - c[0]);
    return {
      bytes,
      helpers: this.helperIds,
      mapLookups: [...this.mapIndex.keys()],
      siteOffsets: Int32Array.from(sites, (x) => x[0]),
      sitePcs: Int32Array.from(sites, (x) => x[1]),
      siteKinds: Uint8Array.from(sites, (x) => x[2]),
      callbacks,
      dispatched,
      functions: this.funcIndex.size,
    };
  }

  private compileFunction(slot: number, dispatched: number[]): FunctionCompiler {
    const p = this.p;
    if (slot < 0 || slot >= p.n) {
      // A call to outside the program: the callee traps at once.
      const fc = new FunctionCompiler(this, p, emptyCfg());
      fc.trapOnly(slot >= p.n ? TrapKind.FellOff : TrapKind.BadJump, slot);
      return fc;
    }
    const cfg = buildCfg(p, slot, this.visited, this.leader);
    const fc = new FunctionCompiler(this, p, cfg);
    if (fc.compile()) dispatched.push(slot);
    return fc;
  }
}

function emptyCfg(): Cfg {
  return {
    blocks: [], traps: [], order: [], rpo: new Int32Array(0), idom: new Int32Array(0), children: [],
    loopHeader: new Uint8Array(0), merge: new Uint8Array(0), reducible: true, depth: 0,
  };
}

/** Compiles a laid-out program into a WebAssembly module. */
export function compileProgram(p: SlotProgram, opts: CompileOptions): CompiledModule {
  return new ModuleCompiler(p, opts).compile();
}

/** A readable name for a helper import (errors). */
export function helperLabel(id: number): string {
  return helperName(id) ?? `#${id}`;
}

export { isCondJump };
