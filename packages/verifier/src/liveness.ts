import { Code, subprogStarts, type SlotView } from './structure.js';

/**
 * Static register liveness: for every slot, the registers some path from it may read before
 * writing them. The kernel computes the same thing (compute_live_registers); states that differ
 * only in dead registers are equivalent for pruning.
 */

/** One slot as an object (see {@link Code.at}). */
export type Slot = SlotView;
const ALL_ARGS = 0b111110; // r1..r5
const CALLER_SAVED = 0b111111; // r0..r5

const pack = (use: number, def: number): number => use | (def << 16);

/** Registers a slot reads and writes, as `use | def << 16`. */
function useDef(code: Code, pc: number, helperArgs?: (id: number) => number): number {
  const sop = code.op[pc]!;
  const ssrc = code.src[pc]!;
  const simm = code.imm[pc]!;
  const cls = sop & 7;
  const d = 1 << code.dst[pc]!;
  const r = 1 << ssrc;
  switch (cls) {
    case 0: {
      if (sop === 0x18) return pack(0, d);
      // LD_ABS / LD_IND: reads r6 (and src), clobbers r0..r5
      const mode = sop & 0xe0;
      return pack((1 << 6) | (mode === 0x40 ? r : 0), CALLER_SAVED);
    }
    case 1:
      return pack(r, d);
    case 2:
      return pack(d, 0);
    case 3: {
      if ((sop & 0xe0) === 0xc0) {
        // atomics: cmpxchg reads/writes r0, fetch writes src
        if (simm === 0xf1) return pack(d | r | 1, 1);
        if (simm & 1) return pack(d | r, r);
        if (simm === 0x100) return pack(r, d); // load_acquire: dst = *(src + off)
        return pack(d | r, 0);
      }
      return pack(d | r, 0);
    }
    case 4:
    case 7: {
      const op = sop & 0xf0;
      const x = (sop & 8) !== 0;
      if (op === 0xb0) return pack(x ? r : 0, d);
      if (op === 0x80 || op === 0xd0) return pack(d, d);
      return pack(d | (x ? r : 0), d);
    }
    default: {
      const op = sop & 0xf0;
      if (cls === 5 && op === 0x80) {
        if (ssrc === 0 && helperArgs) {
          const k = helperArgs(simm);
          return pack(((1 << (k + 1)) - 1) & ALL_ARGS, CALLER_SAVED);
        }
        return pack(ALL_ARGS, CALLER_SAVED);
      }
      if (cls === 5 && op === 0x90) return pack(1, 0);
      if (op === 0x00 || op === 0xe0) return pack(0, 0);
      return pack(d | ((sop & 8) !== 0 ? r : 0), 0);
    }
  }
}

/**
 * Successors of every slot, within its function (calls fall through to the next slot): at most two
 * (`s0`, `s1`, -1 for none); and how many predecessors each slot has
 * (`predStart[pc + 1] - predStart[pc]`, a running count).
 */
export interface Cfg {
  s0: Int32Array;
  s1: Int32Array;
  predStart: Int32Array;
}

export function buildCfg(code: Code): Cfg {
  const n = code.length;
  const s0 = new Int32Array(n).fill(-1);
  const s1 = new Int32Array(n).fill(-1);
  const count = new Int32Array(n + 1);
  const keep = (t: number) => (t >= 0 && t < n ? t : -1);
  for (let pc = 0; pc < n; pc++) {
    if (code.tail[pc]) continue;
    const sop = code.op[pc]!;
    const cls = sop & 7;
    const op = sop & 0xf0;
    if (sop === 0x18) s0[pc] = keep(pc + 2);
    else if (cls !== 5 && cls !== 6) s0[pc] = keep(pc + 1);
    else if (cls === 5 && op === 0x90) continue;
    else if (cls === 5 && op === 0x80) s0[pc] = keep(pc + 1);
    else if (op === 0x00) s0[pc] = keep(pc + 1 + (cls === 6 ? code.imm[pc]! : code.off[pc]!));
    else {
      s0[pc] = keep(pc + 1);
      s1[pc] = keep(pc + 1 + code.off[pc]!);
    }
    if (s0[pc]! >= 0) count[s0[pc]!]++;
    if (s1[pc]! >= 0) count[s1[pc]!]++;
  }
  const predStart = new Int32Array(n + 1);
  for (let pc = 0; pc < n; pc++) predStart[pc + 1] = predStart[pc]! + count[pc]!;
  return { s0, s1, predStart };
}

/** Live-in register masks (bit i = ri) per slot. */
export function liveRegisters(code: Code, helperArgs?: (id: number) => number, cfg = buildCfg(code)): Uint16Array {
  return liveness(code, subprogStarts(code), helperArgs, cfg).regs;
}

const NOT_FP = 0x7fff;
const SIZES = [4, 2, 1, 8] as const;
const ANY = 0x7ffe;

/**
 * Static stack-slot liveness: for every slot index, which of the 64 eight-byte stack slots of
 * its own frame some path may read before overwriting them (bit i of lo/hi = the slot at
 * fp-512+8i). Frame-pointer offsets are propagated forward (a register is fp+k, not a frame
 * pointer, or unknown); a read through an unknown pointer, a helper or bpf-to-bpf call that may
 * get a stack pointer makes every slot live. States that differ only in dead slots are equal.
 * (Each phase below is its own function: one large function with several hot loops keeps losing
 * its optimised code in V8.)
 */
export function liveStackSlots(
  code: Code,
  starts: readonly number[],
  helperArgs?: (id: number) => number,
  cfg = buildCfg(code),
): { lo: Uint32Array; hi: Uint32Array } {
  const { lo, hi } = liveness(code, starts, helperArgs, cfg);
  return { lo, hi };
}

/**
 * Where the forward pass keeps a state, numbered: starts, slots with other than one predecessor,
 * and both successors of a conditional jump (every other slot continues its predecessor's walk).
 */
function joinPoints(code: Code, starts: readonly number[], cfg: Cfg): { entry: Int32Array; count: number } {
  const n = code.length;
  const { s0, s1, predStart } = cfg;
  const mark = new Uint8Array(n);
  for (const st of starts) if (st >= 0 && st < n) mark[st] = 1;
  for (let pc = 0; pc < n; pc++) {
    if (predStart[pc + 1]! - predStart[pc]! !== 1) mark[pc] = 1;
    if (s1[pc]! >= 0) {
      mark[s1[pc]!] = 1;
      if (s0[pc]! >= 0) mark[s0[pc]!] = 1;
    }
  }
  const entry = new Int32Array(n).fill(-1);
  let count = 0;
  for (let pc = 0; pc < n; pc++) if (!code.tail[pc] && mark[pc]) entry[pc] = count++;
  return { entry, count };
}

/**
 * Forward: what each register holds (NOT_FP, ANY, or an fp offset). States are stored only where
 * paths meet (or start); straight-line code is walked with one register file. Recorded per slot:
 * the base of a memory access, ANY for a call that may get a stack pointer. Join points are walked
 * in slot order (a topological order for forward jumps), again while a back edge changed one
 * behind the sweep.
 */
function stackBases(code: Code, starts: readonly number[], helperArgs: ((id: number) => number) | undefined, cfg: Cfg): { base: Int16Array; seen: Uint8Array } {
  const n = code.length;
  const { s0, s1 } = cfg;
  const { entry, count } = joinPoints(code, starts, cfg);
  const at = new Int16Array(count * 11);
  const seen = new Uint8Array(n);
  const base = new Int16Array(n).fill(NOT_FP);
  const dirty = new Uint8Array(n);
  for (const st of starts) {
    if (st < 0 || st >= n || seen[st]) continue;
    const e = entry[st]! * 11;
    for (let r = 0; r < 11; r++) at[e + r] = r === 10 ? 0 : r >= 1 && r <= 5 ? ANY : NOT_FP;
    seen[st] = 1;
    dirty[st] = 1;
  }
  const regs = new Int16Array(11);
  for (let again = true; again; ) {
    again = false;
    for (let first = 0; first < n; first++) {
      if (!dirty[first]) continue;
      dirty[first] = 0;
      const e = entry[first]! * 11;
      for (let r = 0; r < 11; r++) regs[r] = at[e + r]!;
      const last = walkSegment(code, first, regs, base, seen, entry, s0, s1, helperArgs);
      for (const to of [s0[last]!, s1[last]!]) {
        if (to < 0 || code.tail[to]) continue;
        if (joinState(at, entry[to]! * 11, regs, seen[to] === 0)) {
          seen[to] = 1;
          dirty[to] = 1;
          if (to <= first) again = true;
        }
      }
    }
  }
  return { base, seen };
}

/** Merges `regs` into the state at `e`; true when it changed. */
function joinState(at: Int16Array, e: number, regs: Int16Array, fresh: boolean): boolean {
  if (fresh) {
    for (let r = 0; r < 11; r++) at[e + r] = regs[r]!;
    return true;
  }
  let changed = false;
  for (let r = 0; r < 11; r++) {
    const a = at[e + r]!;
    if (a !== regs[r] && a !== ANY) {
      at[e + r] = ANY;
      changed = true;
    }
  }
  return changed;
}

/** Walks straight-line code from `pc` (updating `regs`) to the last slot before a join point or branch. */
function walkSegment(
  code: Code,
  pc: number,
  regs: Int16Array,
  base: Int16Array,
  seen: Uint8Array,
  entry: Int32Array,
  s0: Int32Array,
  s1: Int32Array,
  helperArgs: ((id: number) => number) | undefined,
): number {
  for (;;) {
    const sop = code.op[pc]!;
    const sdst = code.dst[pc]!;
    const ssrc = code.src[pc]!;
    const soff = code.off[pc]!;
    const simm = code.imm[pc]!;
    seen[pc] = 1;
    const cls = sop & 7;
    if (sdst > 10 || ssrc > 10) base[pc] = ANY; // rejected later ("R12 is invalid"); assume the worst
    else if (cls === 4 || cls === 7) {
      const op = sop & 0xf0;
      const x = (sop & 8) !== 0;
      const d = regs[sdst]!;
      if (op === 0xb0) regs[sdst] = x && cls === 7 && soff === 0 ? regs[ssrc]! : NOT_FP;
      else if (cls === 7 && (op === 0x00 || op === 0x10) && !x && d !== NOT_FP && d !== ANY) {
        const k = op === 0x00 ? d + simm : d - simm;
        regs[sdst] = k >= -4096 && k <= 4096 ? k : ANY;
      } else if (d !== NOT_FP || (x && regs[ssrc] !== NOT_FP)) regs[sdst] = ANY;
      else regs[sdst] = NOT_FP;
    } else if (cls === 1) {
      base[pc] = regs[ssrc]!;
      regs[sdst] = ANY;
    } else if (cls === 0) {
      if (sop === 0x18) regs[sdst] = NOT_FP;
      else for (let r = 0; r <= 5; r++) regs[r] = NOT_FP;
    } else if (cls === 2 || cls === 3) {
      base[pc] = regs[sdst]!;
      if (cls === 3 && (sop & 0xe0) === 0xc0) {
        if (simm === 0xf1) regs[0] = ANY;
        else if (simm & 1) regs[ssrc] = ANY;
      }
    } else if (cls === 5 && (sop & 0xf0) === 0x80) {
      const nargs = ssrc === 0 && helperArgs ? helperArgs(simm) : 5;
      let stackArg = ssrc === 1;
      for (let r = 1; r <= nargs; r++) if (regs[r] !== NOT_FP) stackArg = true;
      base[pc] = stackArg ? ANY : NOT_FP;
      for (let r = 0; r <= 5; r++) regs[r] = NOT_FP;
    }
    const t0 = s0[pc]!;
    // straight on into a slot only this one leads to
    if (s1[pc]! < 0 && t0 >= 0 && entry[t0] === -1 && !code.tail[t0]) {
      pc = t0;
      continue;
    }
    return pc;
  }
}

/** Backward: the registers and stack slots each slot reads (use) and fully overwrites (def), the latter from the recorded bases. */
function slotUseDef(code: Code, base: Int16Array, seen: Uint8Array, helperArgs: ((id: number) => number) | undefined): SlotFacts {
  const n = code.length;
  const { tail, op, off } = code;
  const use = new Uint16Array(n);
  const def = new Uint16Array(n);
  const useLo = new Uint32Array(n);
  const useHi = new Uint32Array(n);
  const defLo = new Uint32Array(n);
  const defHi = new Uint32Array(n);
  for (let pc = 0; pc < n; pc++) {
    if (tail[pc]) continue;
    const x = useDef(code, pc, helperArgs);
    use[pc] = x & 0xffff;
    def[pc] = x >>> 16;
    if (!seen[pc]) continue;
    const sop = op[pc]!;
    const soff = off[pc]!;
    const cls = sop & 7;
    const size = SIZES[(sop >> 3) & 3]!;
    const b = base[pc]!;
    if (cls === 1 || (cls === 3 && (sop & 0xe0) === 0xc0) || (cls === 5 && (sop & 0xf0) === 0x80)) {
      if (b === ANY) {
        useLo[pc] = 0xffffffff;
        useHi[pc] = 0xffffffff;
      } else if (b !== NOT_FP && cls !== 5) {
        // bytes [from, to) relative to fp: the eight-byte slots they touch
        const from = Math.max(b + soff, -512);
        const to = Math.min(b + soff + size, 0);
        for (let slot = (from + 512) >> 3; from < to && slot <= (to - 1 + 512) >> 3; slot++) {
          if (slot < 32) useLo[pc] = (useLo[pc]! | (1 << slot)) >>> 0;
          else useHi[pc] = (useHi[pc]! | (1 << (slot - 32))) >>> 0;
        }
      }
    } else if ((cls === 2 || cls === 3) && size === 8) {
      if (b !== ANY && b !== NOT_FP && ((b + soff) & 7) === 0 && b + soff >= -512 && b + soff < 0) {
        const slot = (b + soff + 512) >> 3;
        if (slot < 32) defLo[pc] = (1 << slot) >>> 0;
        else defHi[pc] = (1 << (slot - 32)) >>> 0;
      }
    }
  }
  return { use, def, useLo, useHi, defLo, defHi };
}

/** Register and stack-slot liveness of every slot (see {@link liveRegisters}, {@link liveStackSlots}). */
export interface Liveness {
  /** Live-in register masks (bit i = ri). */
  regs: Uint16Array;
  /** Live-in stack slots of the slot's own frame (bit i of lo/hi = the slot at fp-512+8i). */
  lo: Uint32Array;
  hi: Uint32Array;
}

/**
 * Both liveness analyses at once, solved over straight-line segments instead of single slots: a
 * segment's effect is a (gen, kill) pair, the fixpoint runs on the few segments, and one backward
 * walk per segment then gives every slot its facts. Equal to {@link liveRegisters} and
 * {@link liveStackSlots} slot by slot, several times faster on large programs.
 */
export function liveness(code: Code, starts: readonly number[], helperArgs?: (id: number) => number, cfg = buildCfg(code)): Liveness {
  const n = code.length;
  const { entry, count } = joinPoints(code, starts, cfg);
  const seg = segmentsOf(code, entry, count, cfg);
  const { base, seen } = stackBases(code, starts, helperArgs, cfg);
  const facts = slotUseDef(code, base, seen, helperArgs);
  // without a backward edge between segments one sweep from the last segment settles everything;
  // otherwise the fixpoint runs on the segments' (gen, kill) summaries first
  const dag = forwardOnly(seg);
  const ins = dag ? { regs: new Uint16Array(count), lo: new Uint32Array(count), hi: new Uint32Array(count) } : solveSegments(seg, segmentSummaries(seg, facts));
  const out: Liveness = { regs: new Uint16Array(n), lo: new Uint32Array(n), hi: new Uint32Array(n) };
  fillSlots(seg, facts, ins, seen, out, dag);
  return out;
}

/** Straight-line segments: each starts at a join point and follows single successors. */
interface Segments {
  count: number;
  /** Slots of segment k: order[first[k] .. first[k + 1]), in execution order. */
  first: Int32Array;
  order: Int32Array;
  /** Successor segments of segment k (-1 for none). */
  succ0: Int32Array;
  succ1: Int32Array;
}

function segmentsOf(code: Code, entry: Int32Array, count: number, cfg: Cfg): Segments {
  const n = code.length;
  const { s0, s1 } = cfg;
  const first = new Int32Array(count + 1);
  const order = new Int32Array(n);
  const succ0 = new Int32Array(count).fill(-1);
  const succ1 = new Int32Array(count).fill(-1);
  let at = 0;
  for (let e = 0; e < n; e++) {
    const k = entry[e]!;
    if (k < 0) continue;
    first[k] = at;
    let pc = e;
    for (;;) {
      order[at++] = pc;
      const t0 = s0[pc]!;
      if (s1[pc]! < 0 && t0 >= 0 && entry[t0] === -1 && !code.tail[t0]) {
        pc = t0;
        continue;
      }
      break;
    }
    const t0 = s0[pc]!;
    const t1 = s1[pc]!;
    if (t0 >= 0 && !code.tail[t0]) succ0[k] = entry[t0]!;
    if (t1 >= 0 && !code.tail[t1]) succ1[k] = entry[t1]!;
  }
  // entries are numbered in slot order and walked in that order, so `first` is increasing
  first[count] = at;
  return { count, first, order: order.subarray(0, at), succ0, succ1 };
}

interface SlotFacts {
  use: Uint16Array;
  def: Uint16Array;
  useLo: Uint32Array;
  useHi: Uint32Array;
  defLo: Uint32Array;
  defHi: Uint32Array;
}

/** Per segment, in = gen | (out & ~kill) for registers and both halves of the stack. */
function segmentSummaries(seg: Segments, f: SlotFacts): { gen: Uint16Array; kill: Uint16Array; genLo: Uint32Array; killLo: Uint32Array; genHi: Uint32Array; killHi: Uint32Array } {
  const c = seg.count;
  const gen = new Uint16Array(c);
  const kill = new Uint16Array(c);
  const genLo = new Uint32Array(c);
  const killLo = new Uint32Array(c);
  const genHi = new Uint32Array(c);
  const killHi = new Uint32Array(c);
  for (let k = 0; k < c; k++) {
    let g = 0;
    let kl = 0;
    let gl = 0;
    let kll = 0;
    let gh = 0;
    let klh = 0;
    for (let i = seg.first[k + 1]! - 1; i >= seg.first[k]!; i--) {
      const pc = seg.order[i]!;
      g = f.use[pc]! | (g & ~f.def[pc]!);
      kl |= f.def[pc]!;
      gl = (f.useLo[pc]! | (gl & ~f.defLo[pc]!)) >>> 0;
      kll = (kll | f.defLo[pc]!) >>> 0;
      gh = (f.useHi[pc]! | (gh & ~f.defHi[pc]!)) >>> 0;
      klh = (klh | f.defHi[pc]!) >>> 0;
    }
    gen[k] = g & 0x7ff;
    kill[k] = kl;
    genLo[k] = gl;
    killLo[k] = kll;
    genHi[k] = gh;
    killHi[k] = klh;
  }
  return { gen, kill, genLo, killLo, genHi, killHi };
}

/** The backward fixpoint on segments: live-in facts of each segment's first slot. */
function solveSegments(seg: Segments, s: ReturnType<typeof segmentSummaries>): { regs: Uint16Array; lo: Uint32Array; hi: Uint32Array } {
  const c = seg.count;
  const regs = new Uint16Array(c);
  const lo = new Uint32Array(c);
  const hi = new Uint32Array(c);
  // predecessors of each segment, compressed
  const pcount = new Int32Array(c + 1);
  for (let k = 0; k < c; k++) {
    if (seg.succ0[k]! >= 0) pcount[seg.succ0[k]! + 1]++;
    if (seg.succ1[k]! >= 0) pcount[seg.succ1[k]! + 1]++;
  }
  for (let k = 0; k < c; k++) pcount[k + 1] += pcount[k]!;
  const preds = new Int32Array(pcount[c]!);
  const fill = pcount.slice(0, c);
  for (let k = 0; k < c; k++) {
    if (seg.succ0[k]! >= 0) preds[fill[seg.succ0[k]!]!++] = k;
    if (seg.succ1[k]! >= 0) preds[fill[seg.succ1[k]!]!++] = k;
  }
  const work = new Int32Array(c + 1);
  const queued = new Uint8Array(c);
  let top = 0;
  for (let k = 0; k < c; k++) {
    work[top++] = k;
    queued[k] = 1;
  }
  while (top > 0) {
    const k = work[--top]!;
    queued[k] = 0;
    const a = seg.succ0[k]!;
    const b = seg.succ1[k]!;
    const oR = (a >= 0 ? regs[a]! : 0) | (b >= 0 ? regs[b]! : 0);
    const oL = (a >= 0 ? lo[a]! : 0) | (b >= 0 ? lo[b]! : 0);
    const oH = (a >= 0 ? hi[a]! : 0) | (b >= 0 ? hi[b]! : 0);
    const r = (s.gen[k]! | (oR & ~s.kill[k]!)) & 0x7ff;
    const l = (s.genLo[k]! | (oL & ~s.killLo[k]!)) >>> 0;
    const h = (s.genHi[k]! | (oH & ~s.killHi[k]!)) >>> 0;
    if (r === regs[k] && l === lo[k] && h === hi[k]) continue;
    regs[k] = r;
    lo[k] = l;
    hi[k] = h;
    for (let i = pcount[k]!; i < pcount[k + 1]!; i++) {
      const p = preds[i]!;
      if (!queued[p]) {
        queued[p] = 1;
        work[top++] = p;
      }
    }
  }
  return { regs, lo, hi };
}

/** Whether every segment edge goes to a later segment (no loops). */
function forwardOnly(seg: Segments): boolean {
  for (let k = 0; k < seg.count; k++) {
    const a = seg.succ0[k]!;
    const b = seg.succ1[k]!;
    if ((a >= 0 && a <= k) || (b >= 0 && b <= k)) return false;
  }
  return true;
}

/**
 * Every slot's facts: one backward walk per segment from what its successors need. With `sweep`
 * (no loops), segments are walked last to first and each one's live-in is recorded in `ins` for
 * the earlier ones; otherwise `ins` is the solved fixpoint.
 */
function fillSlots(seg: Segments, f: SlotFacts, ins: { regs: Uint16Array; lo: Uint32Array; hi: Uint32Array }, seen: Uint8Array, out: Liveness, sweep: boolean): void {
  for (let j = 0; j < seg.count; j++) {
    const k = sweep ? seg.count - 1 - j : j;
    const a = seg.succ0[k]!;
    const b = seg.succ1[k]!;
    let r = (a >= 0 ? ins.regs[a]! : 0) | (b >= 0 ? ins.regs[b]! : 0);
    let l = (a >= 0 ? ins.lo[a]! : 0) | (b >= 0 ? ins.lo[b]! : 0);
    let h = (a >= 0 ? ins.hi[a]! : 0) | (b >= 0 ? ins.hi[b]! : 0);
    for (let i = seg.first[k + 1]! - 1; i >= seg.first[k]!; i--) {
      const pc = seg.order[i]!;
      r = (f.use[pc]! | (r & ~f.def[pc]!)) & 0x7ff;
      l = (f.useLo[pc]! | (l & ~f.defLo[pc]!)) >>> 0;
      h = (f.useHi[pc]! | (h & ~f.defHi[pc]!)) >>> 0;
      out.regs[pc] = r;
      // slots the forward pass never reached: every stack slot live (conservative)
      out.lo[pc] = seen[pc] ? l : 0xffffffff;
      out.hi[pc] = seen[pc] ? h : 0xffffffff;
    }
    if (sweep) {
      ins.regs[k] = r;
      ins.lo[k] = l;
      ins.hi[k] = h;
    }
  }
}
