/**
 * Static register liveness: for every slot, the registers some path from it may read before
 * writing them. The kernel computes the same thing (compute_live_registers); states that differ
 * only in dead registers are equivalent for pruning.
 */

export interface Slot {
  op: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  /** Second imm of an lddw. */
  imm2: number;
}

const ALL_ARGS = 0b111110; // r1..r5
const CALLER_SAVED = 0b111111; // r0..r5

function useDef(s: Slot, helperArgs?: (id: number) => number): [use: number, def: number] {
  const cls = s.op & 7;
  const d = 1 << s.dst;
  const r = 1 << s.src;
  switch (cls) {
    case 0: {
      if (s.op === 0x18) return [0, d];
      // LD_ABS / LD_IND: reads r6 (and src), clobbers r0..r5
      const mode = s.op & 0xe0;
      return [(1 << 6) | (mode === 0x40 ? r : 0), CALLER_SAVED];
    }
    case 1:
      return [r, d];
    case 2:
      return [d, 0];
    case 3: {
      if ((s.op & 0xe0) === 0xc0) {
        // atomics: cmpxchg reads/writes r0, fetch writes src
        if (s.imm === 0xf1) return [d | r | 1, 1];
        if (s.imm & 1) return [d | r, r];
        if (s.imm === 0x100) return [r, d]; // load_acquire: dst = *(src + off)
        return [d | r, 0];
      }
      return [d | r, 0];
    }
    case 4:
    case 7: {
      const op = s.op & 0xf0;
      const x = (s.op & 8) !== 0;
      if (op === 0xb0) return [x ? r : 0, d];
      if (op === 0x80 || op === 0xd0) return [d, d];
      return [d | (x ? r : 0), d];
    }
    default: {
      const op = s.op & 0xf0;
      if (cls === 5 && op === 0x80) {
        if (s.src === 0 && helperArgs) {
          const k = helperArgs(s.imm);
          return [((1 << (k + 1)) - 1) & ALL_ARGS, CALLER_SAVED];
        }
        return [ALL_ARGS, CALLER_SAVED];
      }
      if (cls === 5 && op === 0x90) return [1, 0];
      if (op === 0x00 || op === 0xe0) return [0, 0];
      return [d | ((s.op & 8) !== 0 ? r : 0), 0];
    }
  }
}

/** Successors of a slot within its own function (calls fall through to the next slot). */
export function successors(slots: readonly (Slot | undefined)[], pc: number): number[] {
  const s = slots[pc];
  if (!s) return [];
  const cls = s.op & 7;
  if (s.op === 0x18) return [pc + 2];
  if (cls !== 5 && cls !== 6) return [pc + 1];
  const op = s.op & 0xf0;
  if (cls === 5 && op === 0x90) return [];
  if (cls === 5 && op === 0x80) return [pc + 1];
  if (op === 0x00) return [pc + 1 + (cls === 6 ? s.imm : s.off)];
  return [pc + 1, pc + 1 + s.off];
}

/** Successor and predecessor lists of every slot, within its function. */
export interface Cfg {
  succ: number[][];
  preds: number[][];
}

export function buildCfg(slots: readonly (Slot | undefined)[]): Cfg {
  const n = slots.length;
  const succ: number[][] = [];
  const preds: number[][] = Array.from({ length: n }, () => []);
  for (let pc = 0; pc < n; pc++) {
    const ss = slots[pc] ? successors(slots, pc).filter((t) => t >= 0 && t < n) : [];
    succ.push(ss);
    for (const t of ss) preds[t]!.push(pc);
  }
  return { succ, preds };
}

/** Backward dataflow to a fixpoint: `update(pc)` recomputes the facts of `pc` from its successors and says whether they changed. */
function solveBackward(cfg: Cfg, update: (pc: number, succ: readonly number[]) => boolean): void {
  const n = cfg.succ.length;
  const work: number[] = [];
  const queued = new Uint8Array(n);
  for (let pc = n - 1; pc >= 0; pc--) {
    work.push(pc);
    queued[pc] = 1;
  }
  while (work.length) {
    const pc = work.pop()!;
    queued[pc] = 0;
    if (!update(pc, cfg.succ[pc]!)) continue;
    for (const p of cfg.preds[pc]!) {
      if (!queued[p]) {
        queued[p] = 1;
        work.push(p);
      }
    }
  }
}

/** Live-in register masks (bit i = ri) per slot. */
export function liveRegisters(slots: readonly (Slot | undefined)[], helperArgs?: (id: number) => number, cfg = buildCfg(slots)): Uint16Array {
  const n = slots.length;
  const live = new Uint16Array(n);
  const use = new Uint16Array(n);
  const def = new Uint16Array(n);
  for (let pc = 0; pc < n; pc++) {
    const s = slots[pc];
    if (!s) continue;
    const [u, d] = useDef(s, helperArgs);
    use[pc] = u;
    def[pc] = d;
  }
  solveBackward(cfg, (pc, succ) => {
    let out = 0;
    for (const t of succ) out |= live[t]!;
    const inn = (use[pc]! | (out & ~def[pc]!)) & 0x7ff;
    if (inn === live[pc]) return false;
    live[pc] = inn;
    return true;
  });
  return live;
}

const NOT_FP = 0x7fff;
const ANY = 0x7ffe;

/**
 * Static stack-slot liveness: for every slot index, which of the 64 eight-byte stack slots of
 * its own frame some path may read before overwriting them (bit i of lo/hi = the slot at
 * fp-512+8i). Frame-pointer offsets are propagated forward (a register is fp+k, not a frame
 * pointer, or unknown); a read through an unknown pointer, a helper or bpf-to-bpf call that may
 * get a stack pointer makes every slot live. States that differ only in dead slots are equal.
 */
export function liveStackSlots(
  slots: readonly (Slot | undefined)[],
  starts: readonly number[],
  helperArgs?: (id: number) => number,
  cfg = buildCfg(slots),
): { lo: Uint32Array; hi: Uint32Array } {
  const n = slots.length;
  // forward: what each register holds at each slot's entry (NOT_FP, ANY, or an fp offset)
  const at = new Int16Array(n * 11).fill(-1 as never);
  const seen = new Uint8Array(n);
  const work: number[] = [];
  for (const s of starts) {
    if (s < 0 || s >= n) continue;
    for (let r = 0; r < 11; r++) at[s * 11 + r] = r === 10 ? 0 : r >= 1 && r <= 5 ? ANY : NOT_FP;
    seen[s] = 1;
    work.push(s);
  }
  const regs = new Int16Array(11);
  const join = (to: number) => {
    if (to < 0 || to >= n || !slots[to]) return;
    let changed = false;
    if (!seen[to]) {
      seen[to] = 1;
      for (let r = 0; r < 11; r++) at[to * 11 + r] = regs[r]!;
      changed = true;
    } else {
      for (let r = 0; r < 11; r++) {
        const a = at[to * 11 + r]!;
        if (a !== regs[r] && a !== ANY) {
          at[to * 11 + r] = ANY;
          changed = true;
        }
      }
    }
    if (changed) work.push(to);
  };
  while (work.length) {
    const pc = work.pop()!;
    const s = slots[pc]!;
    for (let r = 0; r < 11; r++) regs[r] = at[pc * 11 + r]!;
    const cls = s.op & 7;
    if (cls === 4 || cls === 7) {
      const op = s.op & 0xf0;
      const x = (s.op & 8) !== 0;
      const d = regs[s.dst]!;
      if (op === 0xb0) regs[s.dst] = x && cls === 7 && s.off === 0 ? regs[s.src]! : NOT_FP;
      else if (cls === 7 && (op === 0x00 || op === 0x10) && !x && d !== NOT_FP && d !== ANY) {
        const k = op === 0x00 ? d + s.imm : d - s.imm;
        regs[s.dst] = k >= -4096 && k <= 4096 ? k : ANY;
      } else if (d !== NOT_FP || (x && regs[s.src] !== NOT_FP)) regs[s.dst] = ANY;
      else regs[s.dst] = NOT_FP;
    } else if (cls === 1) regs[s.dst] = ANY;
    else if (cls === 0) {
      if (s.op === 0x18) regs[s.dst] = NOT_FP;
      else for (let r = 0; r <= 5; r++) regs[r] = NOT_FP;
    } else if (cls === 3 && (s.op & 0xe0) === 0xc0) {
      if (s.imm === 0xf1) regs[0] = ANY;
      else if (s.imm & 1) regs[s.src] = ANY;
    } else if (cls === 5 && (s.op & 0xf0) === 0x80) {
      for (let r = 0; r <= 5; r++) regs[r] = NOT_FP;
    }
    for (const t of successors(slots, pc)) join(t);
  }
  // backward: live slots
  const lo = new Uint32Array(n);
  const hi = new Uint32Array(n);
  const useLo = new Uint32Array(n);
  const useHi = new Uint32Array(n);
  const defLo = new Uint32Array(n);
  const defHi = new Uint32Array(n);
  const mark = (pc: number, from: number, to: number) => {
    // bytes [from, to) relative to fp
    for (let b = Math.max(from, -512); b < Math.min(to, 0); b += 1) {
      const slot = (b + 512) >> 3;
      if (slot < 32) useLo[pc] = (useLo[pc]! | (1 << slot)) >>> 0;
      else useHi[pc] = (useHi[pc]! | (1 << (slot - 32))) >>> 0;
    }
  };
  const all = (pc: number) => {
    useLo[pc] = 0xffffffff;
    useHi[pc] = 0xffffffff;
  };
  for (let pc = 0; pc < n; pc++) {
    const s = slots[pc];
    if (!s || !seen[pc]) continue;
    const R = (r: number) => at[pc * 11 + r]!;
    const cls = s.op & 7;
    const size = [4, 2, 1, 8][(s.op >> 3) & 3]!;
    if (cls === 1 || (cls === 3 && (s.op & 0xe0) === 0xc0)) {
      const base = cls === 1 ? R(s.src) : R(s.dst);
      if (base === ANY) all(pc);
      else if (base !== NOT_FP) mark(pc, base + s.off, base + s.off + size);
    } else if ((cls === 2 || cls === 3) && size === 8) {
      const base = R(s.dst);
      if (base !== ANY && base !== NOT_FP && ((base + s.off) & 7) === 0 && base + s.off >= -512 && base + s.off < 0) {
        const slot = (base + s.off + 512) >> 3;
        if (slot < 32) defLo[pc] = (1 << slot) >>> 0;
        else defHi[pc] = (1 << (slot - 32)) >>> 0;
      }
    } else if (cls === 5 && (s.op & 0xf0) === 0x80) {
      let stackArg = false;
      const nargs = s.src === 0 && helperArgs ? helperArgs(s.imm) : 5;
      for (let r = 1; r <= nargs; r++) if (R(r) !== NOT_FP) stackArg = true;
      if (stackArg || s.src === 1) all(pc);
    }
  }
  solveBackward(cfg, (pc, succ) => {
    let oLo = 0;
    let oHi = 0;
    for (const t of succ) {
      oLo |= lo[t]!;
      oHi |= hi[t]!;
    }
    const iLo = (useLo[pc]! | (oLo & ~defLo[pc]!)) >>> 0;
    const iHi = (useHi[pc]! | (oHi & ~defHi[pc]!)) >>> 0;
    if (iLo === lo[pc] && iHi === hi[pc]) return false;
    lo[pc] = iLo;
    hi[pc] = iHi;
    return true;
  });
  // slots never reached by the forward pass: everything live (conservative)
  for (let pc = 0; pc < n; pc++) {
    if (!seen[pc]) {
      lo[pc] = 0xffffffff;
      hi[pc] = 0xffffffff;
    }
  }
  return { lo, hi };
}
