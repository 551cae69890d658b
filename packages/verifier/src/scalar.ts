/**
 * What the verifier knows about a scalar register (the numeric half of the kernel's
 * `bpf_reg_state`): a tnum plus signed and unsigned bounds for the whole 64-bit register and for
 * its low 32 bits, and the transfer functions the kernel applies to them: ALU operations
 * (`adjust_scalar_min_max_vals`), loads and moves that truncate or sign-extend
 * (`coerce_reg_to_size`, `coerce_reg_to_size_sx`), conditional jumps (`is_branch_taken`,
 * `regs_refine_cond_op`), state pruning (`range_within` + `tnum_in`), the bounds cross-deduction
 * (`reg_bounds_sync`), and the log text (`print_scalar_ranges`).
 *
 * Written from reading the Linux 6.18 verifier (kernel/bpf/verifier.c, kernel/bpf/tnum.c,
 * kernel/bpf/log.c), including the later stable fix that refines an s32 range crossing the sign
 * boundary (as 6.17 does for s64), so that bounds, and therefore the log, match a 6.18 kernel step
 * by step. Where 6.18 gives up (BPF_END, division and
 * modulo) the result is an unknown scalar, as there; {@link ScalarOptions} opts into the tracking
 * of later kernels.
 *
 * Values are immutable: every operation returns a new object (or one of its inputs, unchanged).
 * Bounds that can exceed 2^53 are bigints; the 32-bit bounds are numbers (u32 in [0, 2^32), s32 in
 * [-2^31, 2^31)).
 */
import {
  TNUM_UNKNOWN, tnumAdd, tnumAnd, tnumArshift, tnumIn, tnumIntersect, tnumLshift, tnumOr, tnumRshift, tnumString,
  tnumSub, tnumXor, type Tnum,
} from './tnum.js';

/** A scalar's abstract value. `var` is the tnum (the kernel's `var_off`). */
export interface Scalar {
  readonly var: Tnum;
  readonly smin: bigint;
  readonly smax: bigint;
  readonly umin: bigint;
  readonly umax: bigint;
  readonly s32min: number;
  readonly s32max: number;
  readonly u32min: number;
  readonly u32max: number;
}

/**
 * Opt-in tracking that kernel 6.18 does not do. The defaults reproduce 6.18 (and its log).
 *
 * @example
 * scalarAlu('mod', x, scalarConst(6n), true, { trackDivMod: true }); // umax=5, as bpf-next does
 */
export interface ScalarOptions {
  /** Bounds for div/mod by a constant (bpf-next, 2026); 6.18 marks the result unknown. */
  readonly trackDivMod?: boolean;
  /** Byte-swapped tnum / truncation for BPF_END (kernel 6.19); 6.18 marks the result unknown. */
  readonly trackEnd?: boolean;
}

type W = { -readonly [K in keyof Scalar]: Scalar[K] };

const M64 = 0xffff_ffff_ffff_ffffn;
const M32 = 0xffff_ffffn;
const NOT_M32 = ~M32; // ...ffff_0000_0000 (infinite two's complement: clears the low half of any bigint)
const TWO64 = 1n << 64n;
const SIGN64 = 1n << 63n;
const S64_MIN = -(1n << 63n);
const S64_MAX = (1n << 63n) - 1n;
const U32_MAX = 0xffff_ffff;
const S32_MIN = -0x8000_0000;
const S32_MAX = 0x7fff_ffff;
const S32_MIN_N = -0x8000_0000n;
const S32_MAX_N = 0x7fff_ffffn;
const TNUM_LOW32: Tnum = { value: 0n, mask: M32 };

/** (s64) of a u64 bigint (no range check on the input beyond [0, 2^64)). */
const s64 = (x: bigint): bigint => (x >= SIGN64 ? x - TWO64 : x);
/** (u64) of an s64 bigint. */
const u64 = (x: bigint): bigint => (x < 0n ? x + TWO64 : x);
const bmax = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const bmin = (a: bigint, b: bigint): bigint => (a < b ? a : b);

function mk(t: Tnum, smin: bigint, smax: bigint, umin: bigint, umax: bigint, s32min: number, s32max: number, u32min: number, u32max: number): W {
  return { var: t, smin, smax, umin, umax, s32min, s32max, u32min, u32max };
}
const copy = (s: Scalar): W => mk(s.var, s.smin, s.smax, s.umin, s.umax, s.s32min, s.s32max, s.u32min, s.u32max);

const UNKNOWN: Scalar = mk(TNUM_UNKNOWN, S64_MIN, S64_MAX, 0n, M64, S32_MIN, S32_MAX, 0, U32_MAX);

// ---------------------------------------------------------------------------------------------
// tnum helpers the kernel has and tnum.ts does not

/** Index of the highest set bit, plus one (`fls64`); 0 for 0. Takes x in [0, 2^64). */
function fls64(x: bigint): number {
  if (x <= M32) {
    const lo = Number(x);
    return lo === 0 ? 0 : 32 - Math.clz32(lo);
  }
  return 64 - Math.clz32(Number(x >> 32n));
}

/** BigInt(i) for small i, without the allocation. */
const SMALL_BIG = Array.from({ length: 1024 }, (_, i) => BigInt(i));

/** (1 << bits) - 1 and its complement, for 0 <= bits <= 64. */
const LOW_BITS = Array.from({ length: 65 }, (_, i) => (1n << BigInt(i)) - 1n);
const HIGH_BITS = LOW_BITS.map((d) => ~d);

/** `tnum_range`: the smallest tnum holding every u64 in [min, max]. */
function range(min: bigint, max: bigint): Tnum {
  let chi = min ^ max;
  if (chi === 0n && min >= 0n) return { value: min, mask: 0n };
  if (chi < 0n || chi > M64) chi &= M64; // only for states with bounds out of the domain
  if (chi >= SIGN64) return TNUM_UNKNOWN;
  const bits = fls64(chi);
  return { value: min & HIGH_BITS[bits] & M64, mask: LOW_BITS[bits] };
}

const subreg = (t: Tnum): Tnum => (t.value <= M32 && t.mask <= M32 ? t : { value: t.value & M32, mask: t.mask & M32 });
/** `tnum_with_subreg`: the high half of `t`, the low half of `low`. */
const withSubreg = (t: Tnum, low: Tnum): Tnum => ({ value: (t.value & NOT_M32) | (low.value & M32), mask: (t.mask & NOT_M32) | (low.mask & M32) });
/** `tnum_arshift(t, k, 32)`: arithmetic shift of the low 32 bits. */
function arshift32(t: Tnum, k: number): Tnum {
  const v = Number(t.value & M32) | 0;
  const m = Number(t.mask & M32) | 0;
  return { value: BigInt((v >> k) >>> 0), mask: BigInt((m >> k) >>> 0) };
}
/**
 * `tnum_step`: the smallest member of `t` above `z` (for `t.value <= z < tmax`; `t.value` below,
 * `tmax` from tmax up). Such a member matches `z` above some bit `i` where `z` has a 0 that `t`
 * can set, and is as small as `t` allows below it; the lowest such `i` at or above every known
 * bit of `t` that disagrees with `z` gives the smallest.
 */
function tnumStep(t: Tnum, z: bigint): bigint {
  const tmax = t.value | t.mask;
  if (z >= tmax) return tmax;
  if (z < t.value) return t.value;
  const h = fls64((t.value ^ z) & ~t.mask);
  const candidates = ~z & tmax & HIGH_BITS[h > 0 ? h - 1 : 0];
  const i = fls64(candidates & -candidates) - 1;
  return (z & HIGH_BITS[i + 1] & M64) | (1n << BigInt(i)) | (t.value & LOW_BITS[i]);
}

/** `tnumStep` for a tnum and `z` below 2^31, in numbers. */
function tnumStepSmall(v: number, m: number, z: number): number {
  const tmax = v | m;
  if (z >= tmax) return tmax;
  if (z < v) return v;
  const h = 32 - Math.clz32((v ^ z) & ~m);
  const candidates = ~z & tmax & ~((1 << (h > 0 ? h - 1 : 0)) - 1);
  const i = 31 - Math.clz32(candidates & -candidates);
  const p = 2 ** (i + 1);
  return Math.floor(z / p) * p + 2 ** i + (v & (2 ** i - 1));
}

/**
 * The one value the u64 range [lo, hi] shares with the tnum, if it shares exactly one (the
 * three cases `__update_reg64_bounds` checks since 6.18.y: only `lo`, only `tmax`, only one in
 * between). Else -1.
 */
function singleSmall(v: number, m: number, lo: number, hi: number): number {
  const next = tnumStepSmall(v, m, lo);
  if ((lo & ~m) === v) return next > hi ? lo : -1;
  if (next === (v | m)) return next;
  return next <= hi && tnumStepSmall(v, m, next) > hi ? next : -1;
}

/** `tnum_overlap`: whether the bits both tnums know agree. */
const overlap = (a: Tnum, b: Tnum): boolean => ((a.value ^ b.value) & ~a.mask & ~b.mask) === 0n;

/**
 * `tnum_mul` as of 6.18: long multiplication over the bits of `a`, adding `b` where the bit is a
 * known 1 and taking the union of "added" and "not added" where it is unknown. (The tnum.ts
 * version is the older value/mask decomposition, which the kernel dropped; the two differ in
 * precision, and the log shows it.)
 */
function mulTnum(a: Tnum, b: Tnum): Tnum {
  let av = a.value;
  let am = a.mask;
  let bv = b.value;
  let bm = b.mask;
  let v = 0n;
  let m = 0n;
  while (av !== 0n || am !== 0n) {
    if (av & 1n || am & 1n) {
      // tnum_add(acc, b)
      const sm = (m + bm) & M64;
      const sv = (v + bv) & M64;
      const mu = (((sm + sv) & M64) ^ sv) | m | bm;
      const nv = sv & ~mu;
      if (av & 1n) {
        v = nv;
        m = mu;
      } else {
        // tnum_union(acc, acc + b)
        const um = (v ^ nv) | m | mu;
        v = v & nv & ~um;
        m = um;
      }
    }
    av >>= 1n;
    am >>= 1n;
    bv = (bv << 1n) & M64;
    bm = (bm << 1n) & M64;
  }
  return { value: v, mask: m };
}

function swapBytes(x: bigint, bytes: number): bigint {
  let out = 0n;
  for (let i = 0; i < bytes; i++) {
    out = (out << 8n) | (x & 0xffn);
    x >>= 8n;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// reg_bounds_sync

function markUnbounded64(r: W): void {
  r.smin = S64_MIN;
  r.smax = S64_MAX;
  r.umin = 0n;
  r.umax = M64;
}
function markUnbounded32(r: W): void {
  r.s32min = S32_MIN;
  r.s32max = S32_MAX;
  r.u32min = 0;
  r.u32max = U32_MAX;
}

/** `__update_reg32_bounds`: what the low half of the tnum says about the 32-bit bounds. */
function update32(r: W): void {
  const v = Number(r.var.value & M32);
  const m = Number(r.var.mask & M32);
  const smin = v | (m & 0x8000_0000); // JS bit operators give the s32 reading
  const smax = v | (m & 0x7fff_ffff);
  if (smin > r.s32min) r.s32min = smin;
  if (smax < r.s32max) r.s32max = smax;
  if (v > r.u32min) r.u32min = v;
  const umax = (v | m) >>> 0;
  if (umax < r.u32max) r.u32max = umax;
}

/**
 * `__update_reg64_bounds`, with the 6.18.y addition (stable backport of "Improve bounds when tnum
 * has a single possible value"): when the u64 range and the tnum share one value, the register is
 * that constant. (When they share none, the kernel picks the tnum's maximum; so does this.)
 */
function update64(r: W): void {
  const t = r.var;
  const v = t.value;
  const m = t.mask;
  const smin = s64(v | (m & SIGN64));
  const smax = s64(v | (m & S64_MAX));
  if (smin > r.smin) r.smin = smin;
  if (smax < r.smax) r.smax = smax;
  if (v > r.umin) r.umin = v;
  const tmax = v | m;
  if (tmax < r.umax) r.umax = tmax;
  const { umin, umax } = r;
  if (m === M64) {
    if (umin === umax && umin !== M64) markKnown64(r, umin); // (every value is a member)
    return;
  }
  if (m !== 0n && umin === v && umax === tmax) return; // (both ends are members)
  const inT = (umin & ~m) === v;
  // (the member after umin lies in umin's block of the tnum's unknown bits)
  if (inT && umin < tmax && umax >= (umin | LOW_BITS[fls64(m)])) return;
  const next = tnumStep(t, umin);
  if (inT) {
    if (next > umax) markKnown64(r, umin);
  } else if (next === tmax) markKnown64(r, tmax);
  else if (next <= umax && tnumStep(t, next) > umax) markKnown64(r, next);
}

function updateBounds(r: W): void {
  update32(r);
  update64(r);
}

/** Tighten the s32 bounds to [lo, hi]. */
function meetS32(r: W, lo: number, hi: number): void {
  if (lo > r.s32min) r.s32min = lo;
  if (hi < r.s32max) r.s32max = hi;
}
/** Tighten the u32 bounds to [lo, hi]. */
function meetU32(r: W, lo: number, hi: number): void {
  if (lo > r.u32min) r.u32min = lo;
  if (hi < r.u32max) r.u32max = hi;
}

/** `__reg32_deduce_bounds`: 32-bit bounds from the 64-bit ones, and s32 <-> u32. */
function deduce32(r: W): void {
  // Upper halves equal: the low halves of the ends bound the subregister. Upper halves n and n+1
  // with the low halves running from negative to non-negative: still one s32 interval.
  if (r.umin !== 0n || r.umax !== M64) {
    let lo: number;
    let hi: number;
    let same: boolean;
    let next = false;
    if (r.umax <= M32 && r.umin <= M32) {
      lo = Number(r.umin);
      hi = Number(r.umax);
      same = true;
    } else {
      const a = Number(r.umin >> 32n) >>> 0;
      const b = Number(r.umax >> 32n) >>> 0;
      lo = Number(r.umin & M32);
      hi = Number(r.umax & M32);
      same = a === b;
      next = ((a + 1) >>> 0) === b;
    }
    if (same) {
      meetU32(r, lo, hi);
      if ((lo | 0) <= (hi | 0)) meetS32(r, lo | 0, hi | 0);
    } else if (next && (lo | 0) < 0 && (hi | 0) >= 0) meetS32(r, lo | 0, hi | 0);
  }
  if (r.smin !== S64_MIN || r.smax !== S64_MAX) {
    let lo: number;
    let hi: number;
    let same: boolean;
    let next = false;
    if (r.smin >= 0n && r.smax <= M32 && r.smin <= M32) {
      lo = Number(r.smin);
      hi = Number(r.smax);
      same = true;
    } else {
      const a = Number(r.smin >> 32n) >>> 0;
      const b = Number(r.smax >> 32n) >>> 0;
      lo = Number(r.smin & M32);
      hi = Number(r.smax & M32);
      same = a === b;
      next = ((a + 1) >>> 0) === b;
    }
    if (same) {
      if (lo <= hi) meetU32(r, lo, hi);
      if ((lo | 0) <= (hi | 0)) meetS32(r, lo | 0, hi | 0);
    } else if (next && (lo | 0) < 0 && (hi | 0) >= 0) meetS32(r, lo | 0, hi | 0);
  }
  // u32 and s32 agree when the range does not cross the sign bit
  if ((r.u32min | 0) <= (r.u32max | 0)) meetS32(r, r.u32min | 0, r.u32max | 0);
  const sminU = r.s32min >>> 0;
  const smaxU = r.s32max >>> 0;
  if (sminU <= smaxU) meetU32(r, sminU, smaxU);
  else if (r.u32max < sminU) {
    // the s32 range wraps through -1/0 and the u32 range only meets its non-negative part
    r.s32min = r.u32min | 0;
    if (smaxU < r.u32max) r.u32max = smaxU;
  } else if (smaxU < r.u32min) {
    // ... or only its negative part
    r.s32max = r.u32max | 0;
    if (sminU > r.u32min) r.u32min = sminU;
  }
}

/** `__reg64_deduce_bounds`: s64 <-> u64. */
function deduce64(r: W): void {
  const uminS = s64(r.umin);
  const umaxS = s64(r.umax);
  if (uminS <= umaxS) {
    if (uminS > r.smin) r.smin = uminS;
    if (umaxS < r.smax) r.smax = umaxS;
  }
  const sminU = u64(r.smin);
  const smaxU = u64(r.smax);
  if (sminU <= smaxU) {
    if (sminU > r.umin) r.umin = sminU;
    if (smaxU < r.umax) r.umax = smaxU;
  } else if (r.umax < sminU) {
    // the s64 range wraps through -1/0 and the u64 range only meets its non-negative part
    r.smin = s64(r.umin);
    if (smaxU < r.umax) r.umax = smaxU;
  } else if (smaxU < r.umin) {
    r.smax = s64(r.umax);
    if (sminU > r.umin) r.umin = sminU;
  }
}

/** `__reg_deduce_mixed_bounds`: 64-bit bounds from the 32-bit ones. */
function deduceMixed(r: W): void {
  if (r.u32min !== 0 || r.u32max !== U32_MAX) {
    // (full u32 bounds would change nothing)
    const lo = BigInt(r.u32min);
    const hi = BigInt(r.u32max);
    const umin = (r.umin & NOT_M32) | lo;
    const umax = (r.umax & NOT_M32) | hi;
    if (umin > r.umin) r.umin = umin;
    if (umax < r.umax) r.umax = umax;
    const smin = (r.smin & NOT_M32) | lo;
    const smax = (r.smax & NOT_M32) | hi;
    if (smin > r.smin) r.smin = smin;
    if (smax < r.smax) r.smax = smax;
  }
  // a 64-bit value within s32 range whose low half is non-negative is that low half
  if (r.s32min >= 0 && r.smin >= S32_MIN_N && r.smax <= S32_MAX_N) {
    const lo = BigInt(r.s32min);
    const hi = BigInt(r.s32max);
    r.smin = r.umin = lo;
    r.smax = r.umax = hi;
    const t = r.var;
    // (intersecting a tnum already inside [lo, hi] changes nothing)
    if (t.value < lo || (t.value | t.mask) > hi || (t.value & t.mask) !== 0n) r.var = tnumIntersect(t, range(lo, hi));
  }
}

function deduce(r: W): void {
  deduce32(r);
  deduce64(r);
  deduceMixed(r);
}

/** `__reg_bound_offset`: bits the bounds imply. */
function boundOffset(r: W): void {
  let t = r.var;
  // (a tnum already inside the bounds stays as it is)
  if (t.value < r.umin || (t.value | t.mask) > r.umax || (t.value & t.mask) !== 0n) t = tnumIntersect(t, range(r.umin, r.umax));
  const v = Number(t.value & M32);
  const m = Number(t.mask & M32);
  if (v < r.u32min || ((v | m) >>> 0) > r.u32max || (v & m) !== 0) {
    t = withSubreg(t, tnumIntersect(subreg(t), range(BigInt(r.u32min), BigInt(r.u32max))));
  }
  r.var = t;
}

/**
 * `reg_bounds_sync` when the tnum lies in [0, 2^31), so that after `updateBounds` every range does
 * too: there the kernel's deductions amount to intersecting the four ranges and the tnum's, then
 * the tnum with the result. Works in numbers; declines (false) when the ranges do not meet, where
 * the kernel's steps leave their own particular contradiction.
 */
function syncSmall(r: W): boolean {
  let t = r.var;
  let v = Number(t.value);
  let m = Number(t.mask);
  if ((v & m) !== 0) return false;
  // the first __update_reg64_bounds (bounds far outside [0, 2^31) convert inexactly, but then
  // never decide a max/min)
  const ulo = Math.max(Number(r.umin), v);
  const uhi = Math.min(Number(r.umax), v | m);
  if (ulo > uhi) return false;
  let one = singleSmall(v, m, ulo, uhi);
  if (one >= 0) {
    markKnown64(r, BigInt(one));
    return true;
  }
  let lo = Math.max(ulo, Number(r.smin), r.u32min, r.s32min);
  let hi = Math.min(uhi, Number(r.smax), r.u32max, r.s32max);
  if (lo > hi) return false;
  if (v < lo || (v | m) > hi) {
    t = tnumIntersect(t, range(BigInt(lo), BigInt(hi)));
    v = Number(t.value);
    m = Number(t.mask);
    if (v > lo) lo = v;
    if ((v | m) < hi) hi = v | m;
    if (lo > hi) return false;
  }
  // the last one
  one = singleSmall(v, m, lo, hi);
  if (one >= 0) {
    markKnown64(r, BigInt(one));
    return true;
  }
  r.var = t;
  r.u32min = r.s32min = lo;
  r.u32max = r.s32max = hi;
  r.umin = r.smin = lo < 1024 ? SMALL_BIG[lo] : BigInt(lo);
  r.umax = r.smax = hi < 1024 ? SMALL_BIG[hi] : BigInt(hi);
  return true;
}

/** `reg_bounds_sync`, in place. */
function sync(r: W): void {
  if (r.var.mask <= 0x7fff_ffffn && r.var.value <= 0x7fff_ffffn && syncSmall(r)) return;
  updateBounds(r);
  const { var: t, smin, smax, umin, umax, s32min, s32max, u32min, u32max } = r;
  deduce(r);
  // the kernel deduces twice; a pass that changed nothing would change nothing again
  if (
    r.var !== t || r.smin !== smin || r.smax !== smax || r.umin !== umin || r.umax !== umax ||
    r.s32min !== s32min || r.s32max !== s32max || r.u32min !== u32min || r.u32max !== u32max
  ) deduce(r);
  boundOffset(r);
  updateBounds(r);
}

/** Some range is empty: no value satisfies the state. */
const inverted = (r: Scalar): boolean => r.umin > r.umax || r.smin > r.smax || r.u32min > r.u32max || r.s32min > r.s32max;

/** `zext_32_to_64`: the register after a 32-bit operation. */
function zext(r: W): void {
  r.var = subreg(r.var);
  r.umin = BigInt(r.u32min);
  r.umax = BigInt(r.u32max);
  if (r.s32min >= 0 && r.s32max >= 0) {
    r.smin = BigInt(r.s32min);
    r.smax = BigInt(r.s32max);
  } else {
    r.smin = 0n;
    r.smax = M32;
  }
}

// ---------------------------------------------------------------------------------------------
// constructors and queries

/** Shared small constants: 0..1023 and -256..-1, the values programs use most. */
const SMALL = new Array<Scalar | undefined>(1024);
const SMALL_NEG = new Array<Scalar | undefined>(256);
const M64_LESS_255 = M64 - 255n;

/**
 * A known constant (taken mod 2^64).
 *
 * @example
 * scalarString(scalarConst(-1n)); // '-1'
 */
export function scalarConst(v: bigint): Scalar {
  return constU64(v >= 0n && v <= M64 ? v : BigInt.asUintN(64, v));
}

/** {@link scalarConst} of a value already in [0, 2^64). */
function constU64(u: bigint): Scalar {
  if (u < 1024n) {
    const i = Number(u);
    return (SMALL[i] ??= constOf(u));
  }
  if (u >= M64_LESS_255) {
    const i = Number(M64 - u);
    return (SMALL_NEG[i] ??= constOf(u));
  }
  return constOf(u);
}

/**
 * The constant `hi << 32 | lo` as an `lddw` holds it (`hi` signed 32-bit, `lo` unsigned): the same
 * scalar as {@link scalarConst}, without the BigInt work the halves make unnecessary.
 */
export function scalarConstParts(hi: number, lo: number): Scalar {
  if (hi === 0 && lo < 1024) return scalarConst(BigInt(lo));
  if (hi === -1 && lo >= 0xffffff00) return scalarConst(BigInt(lo) - 0x1_0000_0000n);
  const u = (BigInt(hi >>> 0) << 32n) | BigInt(lo);
  const sv = hi < 0 ? u - TWO64 : u;
  return mk({ value: u, mask: 0n }, sv, sv, u, u, lo | 0, lo | 0, lo, lo);
}

/** A constant scalar of `u` in [0, 2^64). */
function constOf(u: bigint): Scalar {
  const lo = Number(BigInt.asUintN(32, u));
  const sv = u >= SIGN64 ? u - TWO64 : u;
  return mk({ value: u, mask: 0n }, sv, sv, u, u, lo | 0, lo | 0, lo, lo);
}

/** Nothing known (`__mark_reg_unknown`). */
export function scalarUnknown(): Scalar {
  return UNKNOWN;
}

/** Whether the whole 64-bit value is known. */
export function scalarIsConst(s: Scalar): boolean {
  return s.var.mask === 0n;
}

/** The u64 value of a constant (the tnum's known bits otherwise). */
export function scalarValue(s: Scalar): bigint {
  return s.var.value;
}

/** Whether `x` (taken mod 2^64) satisfies the tnum and all eight bounds. */
export function scalarContains(s: Scalar, x: bigint): boolean {
  const u = BigInt.asUintN(64, x);
  if ((u & ~s.var.mask) !== s.var.value) return false;
  if (u < s.umin || u > s.umax) return false;
  const sv = s64(u);
  if (sv < s.smin || sv > s.smax) return false;
  const lo = Number(u & M32);
  return lo >= s.u32min && lo <= s.u32max && (lo | 0) >= s.s32min && (lo | 0) <= s.s32max;
}

/** Structural equality. */
export function scalarEqual(a: Scalar, b: Scalar): boolean {
  return (
    a === b ||
    (a.var.value === b.var.value && a.var.mask === b.var.mask && a.umin === b.umin && a.umax === b.umax && a.smin === b.smin &&
      a.smax === b.smax && a.u32min === b.u32min && a.u32max === b.u32max && a.s32min === b.s32min && a.s32max === b.s32max)
  );
}

/** `reg_bounds_sync`: every bound tightened by the others and by the tnum. */
export function syncBounds(s: Scalar): Scalar {
  const r = copy(s);
  sync(r);
  return r;
}

// ---------------------------------------------------------------------------------------------
// ALU

/** An ALU operation, named as the kernel's `BPF_*` opcodes (`sdiv`/`smod`: `off` 1). */
export type AluOp = 'add' | 'sub' | 'mul' | 'div' | 'sdiv' | 'mod' | 'smod' | 'or' | 'and' | 'xor' | 'lsh' | 'rsh' | 'arsh' | 'neg' | 'mov';

const ZERO = scalarConst(0n);

function add32(r: W, s: Scalar): void {
  const smin = r.s32min + s.s32min;
  const smax = r.s32max + s.s32max;
  if (smin < S32_MIN || smin > S32_MAX || smax < S32_MIN || smax > S32_MAX) {
    r.s32min = S32_MIN;
    r.s32max = S32_MAX;
  } else {
    r.s32min = smin;
    r.s32max = smax;
  }
  const umin = r.u32min + s.u32min;
  const umax = r.u32max + s.u32max;
  // all sums wrap or none does: the interval survives, shifted
  if (umin <= U32_MAX && umax > U32_MAX) {
    r.u32min = 0;
    r.u32max = U32_MAX;
  } else {
    r.u32min = umin >>> 0;
    r.u32max = umax >>> 0;
  }
}

function add64(r: W, s: Scalar): void {
  const smin = r.smin + s.smin;
  const smax = r.smax + s.smax;
  if (smin < S64_MIN || smin > S64_MAX || smax < S64_MIN || smax > S64_MAX) {
    r.smin = S64_MIN;
    r.smax = S64_MAX;
  } else {
    r.smin = smin;
    r.smax = smax;
  }
  const umin = r.umin + s.umin;
  const umax = r.umax + s.umax;
  if (umin <= M64 && umax > M64) {
    r.umin = 0n;
    r.umax = M64;
  } else {
    r.umin = umin & M64;
    r.umax = umax & M64;
  }
}

function sub32(r: W, s: Scalar): void {
  const smin = r.s32min - s.s32max;
  const smax = r.s32max - s.s32min;
  if (smin < S32_MIN || smin > S32_MAX || smax < S32_MIN || smax > S32_MAX) {
    r.s32min = S32_MIN;
    r.s32max = S32_MAX;
  } else {
    r.s32min = smin;
    r.s32max = smax;
  }
  const umin = r.u32min - s.u32max;
  const umax = r.u32max - s.u32min;
  if (umin < 0 && umax >= 0) {
    r.u32min = 0;
    r.u32max = U32_MAX;
  } else {
    r.u32min = umin >>> 0;
    r.u32max = umax >>> 0;
  }
}

function sub64(r: W, s: Scalar): void {
  const smin = r.smin - s.smax;
  const smax = r.smax - s.smin;
  if (smin < S64_MIN || smin > S64_MAX || smax < S64_MIN || smax > S64_MAX) {
    r.smin = S64_MIN;
    r.smax = S64_MAX;
  } else {
    r.smin = smin;
    r.smax = smax;
  }
  const umin = r.umin - s.umax;
  const umax = r.umax - s.umin;
  if (umin < 0n && umax >= 0n) {
    r.umin = 0n;
    r.umax = M64;
  } else {
    r.umin = umin & M64;
    r.umax = umax & M64;
  }
}

function mul32(r: W, s: Scalar): void {
  // doubles are exact below 2^53, and an overflowing product still compares above the limit
  const umax = r.u32max * s.u32max;
  const umin = r.u32min * s.u32min;
  if (umax > U32_MAX || umin > U32_MAX) {
    r.u32min = 0;
    r.u32max = U32_MAX;
  } else {
    r.u32min = umin;
    r.u32max = umax;
  }
  const p0 = r.s32min * s.s32min;
  const p1 = r.s32min * s.s32max;
  const p2 = r.s32max * s.s32min;
  const p3 = r.s32max * s.s32max;
  const lo = Math.min(p0, p1, p2, p3);
  const hi = Math.max(p0, p1, p2, p3);
  if (lo < S32_MIN || hi > S32_MAX) {
    r.s32min = S32_MIN;
    r.s32max = S32_MAX;
  } else {
    r.s32min = lo;
    r.s32max = hi;
  }
}

function mul64(r: W, s: Scalar): void {
  const umax = r.umax * s.umax;
  const umin = r.umin * s.umin;
  if (umax > M64 || umin > M64) {
    r.umin = 0n;
    r.umax = M64;
  } else {
    r.umin = umin;
    r.umax = umax;
  }
  const p0 = r.smin * s.smin;
  const p1 = r.smin * s.smax;
  const p2 = r.smax * s.smin;
  const p3 = r.smax * s.smax;
  const lo = bmin(bmin(p0, p1), bmin(p2, p3));
  const hi = bmax(bmax(p0, p1), bmax(p2, p3));
  if (lo < S64_MIN || hi > S64_MAX) {
    r.smin = S64_MIN;
    r.smax = S64_MAX;
  } else {
    r.smin = lo;
    r.smax = hi;
  }
}

/** `__mark_reg32_known` (the tnum's low half is already that constant). */
function markKnown32(r: W, v: number): void {
  r.s32min = r.s32max = v | 0;
  r.u32min = r.u32max = v >>> 0;
}
function markKnown64(r: W, v: bigint): void {
  r.var = { value: v, mask: 0n };
  r.smin = r.smax = s64(v);
  r.umin = r.umax = v;
  markKnown32(r, Number(v & M32));
}

/** s32 bounds from u32 bounds that do not cross the sign bit, else unbounded. */
function signed32FromUnsigned(r: W): void {
  if ((r.u32min | 0) <= (r.u32max | 0)) {
    r.s32min = r.u32min | 0;
    r.s32max = r.u32max | 0;
  } else {
    r.s32min = S32_MIN;
    r.s32max = S32_MAX;
  }
}
function signed64FromUnsigned(r: W): void {
  if (s64(r.umin) <= s64(r.umax)) {
    r.smin = s64(r.umin);
    r.smax = s64(r.umax);
  } else {
    r.smin = S64_MIN;
    r.smax = S64_MAX;
  }
}

// The bitwise ops run after `r.var` holds the result tnum, as in the kernel.
function and32(r: W, s: Scalar): void {
  const v = Number(r.var.value & M32);
  if ((s.var.mask & M32) === 0n && (r.var.mask & M32) === 0n) return markKnown32(r, v);
  r.u32min = v;
  if (s.u32max < r.u32max) r.u32max = s.u32max;
  signed32FromUnsigned(r);
}
function and64(r: W, s: Scalar): void {
  if (s.var.mask === 0n && r.var.mask === 0n) return markKnown64(r, r.var.value);
  r.umin = r.var.value;
  if (s.umax < r.umax) r.umax = s.umax;
  signed64FromUnsigned(r);
  updateBounds(r);
}
function or32(r: W, s: Scalar): void {
  const v = Number(r.var.value & M32);
  if ((s.var.mask & M32) === 0n && (r.var.mask & M32) === 0n) return markKnown32(r, v);
  if (s.u32min > r.u32min) r.u32min = s.u32min;
  r.u32max = (v | Number(r.var.mask & M32)) >>> 0;
  signed32FromUnsigned(r);
}
function or64(r: W, s: Scalar): void {
  if (s.var.mask === 0n && r.var.mask === 0n) return markKnown64(r, r.var.value);
  if (s.umin > r.umin) r.umin = s.umin;
  r.umax = r.var.value | r.var.mask;
  signed64FromUnsigned(r);
  updateBounds(r);
}
function xor32(r: W, s: Scalar): void {
  const v = Number(r.var.value & M32);
  if ((s.var.mask & M32) === 0n && (r.var.mask & M32) === 0n) return markKnown32(r, v);
  r.u32min = v;
  r.u32max = (v | Number(r.var.mask & M32)) >>> 0;
  signed32FromUnsigned(r);
}
function xor64(r: W, s: Scalar): void {
  if (s.var.mask === 0n && r.var.mask === 0n) return markKnown64(r, r.var.value);
  r.umin = r.var.value;
  r.umax = r.var.value | r.var.mask;
  signed64FromUnsigned(r);
  updateBounds(r);
}

/** `__scalar32_min_max_lsh` (shift amounts are the source's bounds, here one constant). */
function lshBounds32(r: W, k: number): void {
  r.s32min = S32_MIN;
  r.s32max = S32_MAX;
  if (k > 31 || r.u32max > 2 ** (31 - k)) {
    r.u32min = 0;
    r.u32max = U32_MAX;
  } else {
    r.u32min *= 2 ** k;
    r.u32max *= 2 ** k;
  }
}

function lsh64(r: W, k: number): void {
  const K = BigInt(k);
  // `x << 32` of a non-negative s32 keeps its sign: the usual sign-extension idiom
  r.smax = k === 32 && r.s32max >= 0 ? BigInt(r.s32max) << 32n : S64_MAX;
  r.smin = k === 32 && r.s32min >= 0 ? BigInt(r.s32min) << 32n : S64_MIN;
  if (r.umax > 1n << BigInt(63 - k)) {
    r.umin = 0n;
    r.umax = M64;
  } else {
    r.umin <<= K;
    r.umax <<= K;
  }
  lshBounds32(r, k);
  r.var = tnumLshift(r.var, k);
  updateBounds(r);
}
function lsh32(r: W, k: number): void {
  const low = subreg(r.var);
  lshBounds32(r, k);
  r.var = subreg(tnumLshift(low, k));
  markUnbounded64(r);
  update32(r);
}
function rsh64(r: W, k: number): void {
  const K = BigInt(k);
  r.smin = S64_MIN;
  r.smax = S64_MAX;
  r.var = tnumRshift(r.var, k);
  r.umin >>= K;
  r.umax >>= K;
  markUnbounded32(r);
  updateBounds(r);
}
function rsh32(r: W, k: number): void {
  r.s32min = S32_MIN;
  r.s32max = S32_MAX;
  r.var = tnumRshift(subreg(r.var), k);
  r.u32min >>>= k;
  r.u32max >>>= k;
  markUnbounded64(r);
  update32(r);
}
function arsh64(r: W, k: number): void {
  const K = BigInt(k);
  r.smin >>= K;
  r.smax >>= K;
  r.var = tnumArshift(r.var, k);
  r.umin = 0n;
  r.umax = M64;
  markUnbounded32(r);
  updateBounds(r);
}
function arsh32(r: W, k: number): void {
  r.s32min >>= k;
  r.s32max >>= k;
  r.var = arshift32(subreg(r.var), k);
  r.u32min = 0;
  r.u32max = U32_MAX;
  markUnbounded64(r);
  update32(r);
}

/** The concrete result of `op` on (the low `32`/`64` bits of) u64 `a` and `b`, zero-extended. */
function aluConcrete(op: AluOp, a: bigint, b: bigint, is64: boolean): bigint {
  const w = is64 ? 64 : 32;
  const mask = is64 ? M64 : M32;
  // tnum values are u64 already: only the 32-bit forms need their low half
  const A = is64 ? a : a & M32;
  const B = is64 ? b : b & M32;
  switch (op) {
    case 'add':
      return (A + B) & mask;
    case 'sub':
      return (A - B) & mask;
    case 'mul':
      return (A * B) & mask;
    case 'div':
      return B === 0n ? 0n : A / B;
    case 'mod':
      return B === 0n ? A : A % B;
    case 'sdiv':
      return B === 0n ? 0n : BigInt.asIntN(w, A) / BigInt.asIntN(w, B) & mask;
    case 'smod':
      return B === 0n ? A : BigInt.asIntN(w, A) % BigInt.asIntN(w, B) & mask;
    case 'or':
      return A | B;
    case 'and':
      return A & B;
    case 'xor':
      return A ^ B;
    case 'lsh':
      return (A << (B & BigInt(w - 1))) & mask;
    case 'rsh':
      return A >> (B & BigInt(w - 1));
    case 'arsh':
      return (BigInt.asIntN(w, A) >> (B & BigInt(w - 1))) & mask;
    case 'neg':
      return -A & mask;
    case 'mov':
      return B;
  }
}

/** A 32-bit move: the low half, zero-extended (`zext_32_to_64` + `reg_bounds_sync`). */
function mov32(src: Scalar): Scalar {
  if ((src.var.mask & M32) === 0n) return scalarConst(src.var.value & M32);
  const r = copy(src);
  zext(r);
  sync(r);
  return r;
}

/**
 * `adjust_scalar_min_max_vals`: `dst op= src` on scalars. For `!is64` the operation works on the
 * low 32 bits and the result is zero-extended. `neg` ignores `src`; `mov` returns `src`
 * (zero-extended when 32-bit). As in 6.18, shifts by anything but a constant below the width, and
 * div/mod (unless `opts.trackDivMod`), give an unknown 64-bit scalar even for 32-bit operations.
 *
 * @example
 * scalarString(scalarAlu('and', scalarUnknown(), scalarConst(0xffn), true));
 * // 'scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))'
 */
export function scalarAlu(op: AluOp, dst: Scalar, src: Scalar, is64: boolean, opts?: ScalarOptions): Scalar {
  if (op === 'mov') return is64 ? src : mov32(src);
  if (op === 'neg') {
    src = dst;
    dst = ZERO;
    op = 'sub';
  }
  if (op === 'div' || op === 'sdiv' || op === 'mod' || op === 'smod') return opts?.trackDivMod ? divMod(op, dst, src, is64) : UNKNOWN;
  const shift = op === 'lsh' || op === 'rsh' || op === 'arsh';
  if (shift) {
    // is_safe_to_compute_dst_reg_range: a constant amount below the width, or nothing is known
    const known = is64
      ? src.var.mask === 0n && src.smin === src.smax && src.umin === src.umax
      : (src.var.mask & M32) === 0n && src.s32min === src.s32max && src.u32min === src.u32max;
    if (!known || src.umax >= (is64 ? 64n : 32n)) return UNKNOWN;
  }
  if (is64 ? dst.var.mask === 0n && src.var.mask === 0n : (dst.var.mask & M32) === 0n && (src.var.mask & M32) === 0n) {
    // constants stay constants (what the bounds below and reg_bounds_sync arrive at)
    return constU64(aluConcrete(op, dst.var.value, src.var.value, is64));
  }
  const r = copy(dst);
  switch (op) {
    case 'add':
      add32(r, src);
      if (is64) add64(r, src);
      r.var = tnumAdd(r.var, src.var);
      break;
    case 'sub':
      sub32(r, src);
      if (is64) sub64(r, src);
      r.var = tnumSub(r.var, src.var);
      break;
    case 'mul':
      r.var = mulTnum(r.var, src.var);
      mul32(r, src);
      if (is64) mul64(r, src);
      break;
    case 'and':
      r.var = tnumAnd(r.var, src.var);
      and32(r, src);
      if (is64) and64(r, src);
      break;
    case 'or':
      r.var = tnumOr(r.var, src.var);
      or32(r, src);
      if (is64) or64(r, src);
      break;
    case 'xor':
      r.var = tnumXor(r.var, src.var);
      xor32(r, src);
      if (is64) xor64(r, src);
      break;
    case 'lsh':
      if (is64) lsh64(r, Number(src.umin));
      else lsh32(r, src.u32min);
      break;
    case 'rsh':
      if (is64) rsh64(r, Number(src.umin));
      else rsh32(r, src.u32min);
      break;
    case 'arsh':
      if (is64) arsh64(r, Number(src.umin));
      else arsh32(r, src.u32min);
      break;
  }
  if (!is64) zext(r);
  sync(r);
  return r;
}

/**
 * The variable offset of a pointer after `ptr += off` / `ptr -= off` when `off` does not fold into
 * the fixed offset (`adjust_ptr_min_max_vals`). Unlike scalar arithmetic, pointers carry no 32-bit
 * bounds (they are re-derived by `reg_bounds_sync`) and the 64-bit bounds give up on any possible
 * overflow.
 *
 * @example
 * // r0 = map_value; r0 += r1 with r1 in [0, 1008]
 * scalarPtrOffset('add', scalarConst(0n), r1); // the pointer's var_off and bounds
 */
export function scalarPtrOffset(op: 'add' | 'sub', ptrOff: Scalar, off: Scalar): Scalar {
  const r = copy(ptrOff);
  markUnbounded32(r);
  if (op === 'add') {
    const smin = ptrOff.smin + off.smin;
    const smax = ptrOff.smax + off.smax;
    const sOk = smin >= S64_MIN && smin <= S64_MAX && smax >= S64_MIN && smax <= S64_MAX;
    r.smin = sOk ? smin : S64_MIN;
    r.smax = sOk ? smax : S64_MAX;
    const umin = ptrOff.umin + off.umin;
    const umax = ptrOff.umax + off.umax;
    const uOk = umin <= M64 && umax <= M64;
    r.umin = uOk ? umin : 0n;
    r.umax = uOk ? umax : M64;
    r.var = tnumAdd(ptrOff.var, off.var);
  } else {
    const smin = ptrOff.smin - off.smax;
    const smax = ptrOff.smax - off.smin;
    const sOk = smin >= S64_MIN && smin <= S64_MAX && smax >= S64_MIN && smax <= S64_MAX;
    r.smin = sOk ? smin : S64_MIN;
    r.smax = sOk ? smax : S64_MAX;
    const uOk = ptrOff.umin >= off.umax;
    r.umin = uOk ? ptrOff.umin - off.umax : 0n;
    r.umax = uOk ? ptrOff.umax - off.umin : M64;
    r.var = tnumSub(ptrOff.var, off.var);
  }
  sync(r);
  return r;
}

/**
 * Division and modulo by a constant, as bpf-next tracks them (2026): the bounds in the operation's
 * own signedness, everything else unknown. Division by zero gives 0, modulo by zero the dividend.
 */
function divMod(op: 'div' | 'sdiv' | 'mod' | 'smod', dst: Scalar, src: Scalar, is64: boolean): Scalar {
  if (is64 ? src.var.mask !== 0n : (src.var.mask & M32) !== 0n) return UNKNOWN;
  const c = is64 ? src.var.value : src.var.value & M32;
  if (c === 0n) {
    if (op === 'div' || op === 'sdiv') return ZERO;
    return is64 ? dst : mov32(dst);
  }
  if (is64 ? dst.var.mask === 0n : (dst.var.mask & M32) === 0n) return scalarConst(aluConcrete(op, dst.var.value, c, is64));
  const r = copy(dst);
  if (is64) {
    const cs = s64(c);
    switch (op) {
      case 'div':
        r.umin /= c;
        r.umax /= c;
        r.smin = S64_MIN;
        r.smax = S64_MAX;
        break;
      case 'sdiv':
        if (cs === -1n && r.smin === S64_MIN) {
          // S64_MIN / -1 is S64_MIN; with anything else in range the result spans everything
          if (r.smax !== S64_MIN) r.smax = S64_MAX;
        } else {
          const a = r.smin / cs;
          const b = r.smax / cs;
          r.smin = bmin(a, b);
          r.smax = bmax(a, b);
        }
        r.umin = 0n;
        r.umax = M64;
        break;
      case 'mod':
        if (r.umax < c) return dst;
        r.umin = 0n;
        r.umax = bmin(r.umax, c - 1n);
        r.smin = S64_MIN;
        r.smax = S64_MAX;
        break;
      case 'smod': {
        const lim = (cs < 0n ? -cs : cs) - 1n;
        if (r.smin >= -lim && r.smax <= lim) return dst;
        if (r.smin >= 0n) {
          r.smin = 0n;
          r.smax = bmin(r.smax, lim);
        } else if (r.smax <= 0n) {
          r.smax = 0n;
          r.smin = bmax(r.smin, -lim);
        } else {
          r.smin = -lim;
          r.smax = lim;
        }
        r.umin = 0n;
        r.umax = M64;
        break;
      }
    }
    markUnbounded32(r);
  } else {
    const cu = Number(c);
    const cs = cu | 0;
    switch (op) {
      case 'div':
        r.u32min = Math.floor(r.u32min / cu);
        r.u32max = Math.floor(r.u32max / cu);
        r.s32min = S32_MIN;
        r.s32max = S32_MAX;
        break;
      case 'sdiv':
        if (cs === -1 && r.s32min === S32_MIN) {
          if (r.s32max !== S32_MIN) r.s32max = S32_MAX;
        } else {
          const a = Math.trunc(r.s32min / cs);
          const b = Math.trunc(r.s32max / cs);
          r.s32min = Math.min(a, b);
          r.s32max = Math.max(a, b);
        }
        r.u32min = 0;
        r.u32max = U32_MAX;
        break;
      case 'mod':
        if (r.u32max < cu) return mov32(dst);
        r.u32min = 0;
        r.u32max = Math.min(r.u32max, cu - 1);
        r.s32min = S32_MIN;
        r.s32max = S32_MAX;
        break;
      case 'smod': {
        const lim = Math.abs(cs) - 1;
        if (r.s32min >= -lim && r.s32max <= lim) return mov32(dst);
        if (r.s32min >= 0) {
          r.s32min = 0;
          r.s32max = Math.min(r.s32max, lim);
        } else if (r.s32max <= 0) {
          r.s32max = 0;
          r.s32min = Math.max(r.s32min, -lim);
        } else {
          r.s32min = -lim;
          r.s32max = lim;
        }
        r.u32min = 0;
        r.u32max = U32_MAX;
        break;
      }
    }
  }
  if (is64) r.var = TNUM_UNKNOWN;
  else {
    markUnbounded64(r);
    r.var = TNUM_LOW32;
    zext(r);
  }
  sync(r);
  return r;
}

// ---------------------------------------------------------------------------------------------
// truncation, sign extension, byte swaps

/**
 * `coerce_reg_to_size`: the low `size` bytes, zero-extended (a narrow load, a 32-bit subregister).
 * Note a 32-bit `mov` is `scalarAlu('mov', _, src, false)` (`zext_32_to_64`), which the kernel
 * computes differently.
 */
export function scalarTruncate(s: Scalar, size: 1 | 2 | 4 | 8): Scalar {
  if (size === 8) return s;
  const mask = (1n << BigInt(size * 8)) - 1n;
  if (s.var.mask === 0n) return scalarConst(s.var.value & mask);
  const r = copy(s);
  r.var = { value: s.var.value & mask, mask: s.var.mask & mask };
  if ((r.umin & ~mask) === (r.umax & ~mask)) {
    r.umin &= mask;
    r.umax &= mask;
  } else {
    r.umin = 0n;
    r.umax = mask;
  }
  r.smin = r.umin;
  r.smax = r.umax;
  if (size < 4) markUnbounded32(r);
  sync(r);
  return r;
}

/** `coerce_reg_to_size_sx`: sign-extend the low `size` bytes to 64 bits. */
function sext64(r: W, size: 1 | 2 | 4): void {
  const bits = size * 8;
  if (r.var.mask === 0n) {
    markKnown64(r, BigInt.asUintN(64, BigInt.asIntN(bits, r.var.value)));
    return;
  }
  const B = BigInt(bits);
  if (u64(r.smax) >> B === u64(r.smin) >> B) {
    // one run of the low bits: sign-extend the ends, if they agree in sign
    const a = BigInt.asIntN(bits, r.smax);
    const b = BigInt.asIntN(bits, r.smin);
    const hi = bmax(a, b);
    const lo = bmin(a, b);
    if (hi >= 0n === lo >= 0n) {
      r.smin = lo;
      r.smax = hi;
      r.s32min = Number(lo);
      r.s32max = Number(hi);
      r.umin = u64(lo);
      r.umax = u64(hi);
      r.u32min = Number(r.umin & M32);
      r.u32max = Number(r.umax & M32);
      r.var = range(r.umin, r.umax);
      return;
    }
  }
  const lim = 1n << (B - 1n);
  r.smin = -lim;
  r.smax = lim - 1n;
  r.s32min = Number(r.smin);
  r.s32max = Number(r.smax);
  r.umin = 0n;
  r.umax = M64;
  r.u32min = 0;
  r.u32max = U32_MAX;
  r.var = TNUM_UNKNOWN;
}

/** `coerce_subreg_to_size_sx`: sign-extend the low `size` bytes to 32 bits. */
function sext32(r: W, size: 1 | 2): void {
  const bits = size * 8;
  if (r.var.mask === 0n) {
    const v = size === 1 ? (Number(r.var.value & 0xffn) << 24) >> 24 : (Number(r.var.value & 0xffffn) << 16) >> 16;
    r.var = { value: BigInt.asUintN(64, BigInt(v)), mask: 0n };
    markKnown32(r, v);
    return;
  }
  const shift = 32 - bits;
  const top = (x: number): number => ((x >>> 0) >>> bits) << bits;
  if (top(r.s32max) === top(r.s32min)) {
    const a = (r.s32max << shift) >> shift;
    const b = (r.s32min << shift) >> shift;
    const hi = Math.max(a, b);
    const lo = Math.min(a, b);
    if (hi >= 0 === lo >= 0) {
      r.s32min = lo;
      r.s32max = hi;
      r.u32min = lo >>> 0;
      r.u32max = hi >>> 0;
      r.var = subreg(range(u64(BigInt(lo)), u64(BigInt(hi))));
      return;
    }
  }
  r.s32min = -(2 ** (bits - 1));
  r.s32max = 2 ** (bits - 1) - 1;
  r.u32min = 0;
  r.u32max = U32_MAX;
  r.var = TNUM_LOW32;
}

/**
 * Sign extension of the low `bits` (`movsx`, and `ldsx` on the loaded value): to 64 bits
 * (`coerce_reg_to_size_sx`, which the kernel does not follow with `reg_bounds_sync`), or for
 * `!is64` to 32 bits then zero-extended. A 32-bit form with `bits` 32 is a plain 32-bit move.
 *
 * @example
 * scalarString(scalarMovsx(scalarUnknown(), 8, true)); // 'scalar(smin=smin32=-128,smax=smax32=127)'
 */
export function scalarMovsx(src: Scalar, bits: 8 | 16 | 32, is64: boolean): Scalar {
  if (is64) {
    if (src.var.mask === 0n) return scalarConst(BigInt.asIntN(bits, src.var.value));
    const r = copy(src);
    sext64(r, (bits / 8) as 1 | 2 | 4);
    return r;
  }
  if (bits === 32) return mov32(src);
  if ((src.var.mask & M32) === 0n) return scalarConst(BigInt.asUintN(32, BigInt.asIntN(bits, src.var.value)));
  const r = copy(src);
  sext32(r, (bits / 8) as 1 | 2);
  zext(r);
  sync(r);
  return r;
}

/**
 * BPF_END. `toBe` is the instruction's direction on this little-endian target: `true` (to_be) and
 * `'swap'` (the ALU64 `bswap`) swap the bytes, `false` (to_le) truncates to `bits`. Kernel 6.18
 * marks the destination unknown whatever it held, and so does this unless `opts.trackEnd`.
 */
export function scalarBswap(s: Scalar, bits: 16 | 32 | 64, toBe: boolean | 'swap', opts?: ScalarOptions): Scalar {
  if (!opts?.trackEnd) return UNKNOWN;
  if (toBe === false) return scalarTruncate(s, (bits / 8) as 2 | 4 | 8);
  const bytes = bits / 8;
  const mask = (1n << BigInt(bits)) - 1n;
  const t = { value: swapBytes(s.var.value & mask, bytes), mask: swapBytes(s.var.mask & mask, bytes) };
  if (t.mask === 0n) return scalarConst(t.value);
  const r = mk(t, S64_MIN, S64_MAX, 0n, M64, S32_MIN, S32_MAX, 0, U32_MAX);
  sync(r);
  return r;
}

// ---------------------------------------------------------------------------------------------
// conditional jumps

/** A conditional jump's comparison. `jset_false` is "not (a & b)", the fall-through of `jset`. */
export type JmpOp = 'jeq' | 'jne' | 'jgt' | 'jge' | 'jlt' | 'jle' | 'jsgt' | 'jsge' | 'jslt' | 'jsle' | 'jset' | 'jset_false';

const NEGATED: Record<JmpOp, JmpOp> = {
  jeq: 'jne',
  jne: 'jeq',
  jgt: 'jle',
  jle: 'jgt',
  jge: 'jlt',
  jlt: 'jge',
  jsgt: 'jsle',
  jsle: 'jsgt',
  jsge: 'jslt',
  jslt: 'jsge',
  jset: 'jset_false',
  jset_false: 'jset',
};

/** The condition of the other branch (`rev_opcode`): `negateOp('jset')` is `'jset_false'`. */
export function negateOp(op: JmpOp): JmpOp {
  return NEGATED[op];
}

/** 1/0 for "always"/"never", -1 for "unknown", from the result of the un-negated comparison. */
const flip = (r: 1 | 0 | -1): 1 | 0 | -1 => (r < 0 ? -1 : r === 1 ? 0 : 1);

function taken64(op: JmpOp, a: Scalar, b: Scalar): 1 | 0 | -1 {
  switch (op) {
    case 'jeq':
    case 'jne': {
      let eq: 1 | 0 | -1 = -1;
      if (a.var.mask === 0n && b.var.mask === 0n) eq = a.var.value === b.var.value ? 1 : 0;
      else if (
        !overlap(a.var, b.var) ||
        a.umin > b.umax || a.umax < b.umin || a.smin > b.smax || a.smax < b.smin ||
        a.u32min > b.u32max || a.u32max < b.u32min || a.s32min > b.s32max || a.s32max < b.s32min
      ) eq = 0;
      return op === 'jeq' ? eq : flip(eq);
    }
    case 'jset':
    case 'jset_false': {
      let x = a;
      let y = b;
      if (y.var.mask !== 0n) [x, y] = [y, x];
      if (y.var.mask !== 0n) return -1;
      let r: 1 | 0 | -1 = -1;
      if (x.var.value & y.var.value) r = 1;
      else if (((x.var.mask | x.var.value) & y.var.value) === 0n) r = 0;
      return op === 'jset' ? r : flip(r);
    }
    case 'jgt':
      return a.umin > b.umax ? 1 : a.umax <= b.umin ? 0 : -1;
    case 'jge':
      return a.umin >= b.umax ? 1 : a.umax < b.umin ? 0 : -1;
    case 'jlt':
      return a.umax < b.umin ? 1 : a.umin >= b.umax ? 0 : -1;
    case 'jle':
      return a.umax <= b.umin ? 1 : a.umin > b.umax ? 0 : -1;
    case 'jsgt':
      return a.smin > b.smax ? 1 : a.smax <= b.smin ? 0 : -1;
    case 'jsge':
      return a.smin >= b.smax ? 1 : a.smax < b.smin ? 0 : -1;
    case 'jslt':
      return a.smax < b.smin ? 1 : a.smin >= b.smax ? 0 : -1;
    case 'jsle':
      return a.smax <= b.smin ? 1 : a.smin > b.smax ? 0 : -1;
  }
}

function taken32(op: JmpOp, a: Scalar, b: Scalar): 1 | 0 | -1 {
  switch (op) {
    case 'jeq':
    case 'jne': {
      const ta = subreg(a.var);
      const tb = subreg(b.var);
      let eq: 1 | 0 | -1 = -1;
      if (ta.mask === 0n && tb.mask === 0n) eq = ta.value === tb.value ? 1 : 0;
      else if (!overlap(ta, tb) || a.u32min > b.u32max || a.u32max < b.u32min || a.s32min > b.s32max || a.s32max < b.s32min) eq = 0;
      return op === 'jeq' ? eq : flip(eq);
    }
    case 'jset':
    case 'jset_false': {
      let x = a;
      let y = b;
      if ((y.var.mask & M32) !== 0n) [x, y] = [y, x];
      if ((y.var.mask & M32) !== 0n) return -1;
      const v = y.var.value & M32;
      let r: 1 | 0 | -1 = -1;
      if (x.var.value & v) r = 1;
      else if (((x.var.mask | x.var.value) & v) === 0n) r = 0;
      return op === 'jset' ? r : flip(r);
    }
    case 'jgt':
      return a.u32min > b.u32max ? 1 : a.u32max <= b.u32min ? 0 : -1;
    case 'jge':
      return a.u32min >= b.u32max ? 1 : a.u32max < b.u32min ? 0 : -1;
    case 'jlt':
      return a.u32max < b.u32min ? 1 : a.u32min >= b.u32max ? 0 : -1;
    case 'jle':
      return a.u32max <= b.u32min ? 1 : a.u32min > b.u32max ? 0 : -1;
    case 'jsgt':
      return a.s32min > b.s32max ? 1 : a.s32max <= b.s32min ? 0 : -1;
    case 'jsge':
      return a.s32min >= b.s32max ? 1 : a.s32max < b.s32min ? 0 : -1;
    case 'jslt':
      return a.s32max < b.s32min ? 1 : a.s32min >= b.s32max ? 0 : -1;
    case 'jsle':
      return a.s32max <= b.s32min ? 1 : a.s32min > b.s32max ? 0 : -1;
  }
}

/** A register compared with itself (`if r1 op r1`). */
function takenSame(op: JmpOp, a: Scalar, is32: boolean): 1 | 0 | -1 {
  switch (op) {
    case 'jge':
    case 'jle':
    case 'jsge':
    case 'jsle':
    case 'jeq':
      return 1;
    case 'jgt':
    case 'jlt':
    case 'jsgt':
    case 'jslt':
    case 'jne':
      return 0;
    case 'jset':
    case 'jset_false': {
      // r & r is r: set unless r may be 0
      let r: 1 | 0 | -1;
      if (is32 ? (a.var.mask & M32) === 0n : a.var.mask === 0n) r = (is32 ? a.var.value & M32 : a.var.value) !== 0n ? 1 : 0;
      else r = (is32 ? a.s32min <= 0 && a.s32max >= 0 : a.smin <= 0n && a.smax >= 0n) ? -1 : 1;
      return op === 'jset' ? r : flip(r);
    }
  }
}

/**
 * `is_scalar_branch_taken`: 1 if `a op b` always holds, 0 if it never does, -1 if it depends.
 * `is32` compares the low 32 bits (JMP32). `sameReg`: both operands are the same register
 * (`if r1 > r1`), which 6.18.y decides from the operator alone.
 *
 * @example
 * branchTaken('jgt', scalarTruncate(scalarUnknown(), 1), scalarConst(255n), false); // 0
 */
export function branchTaken(op: JmpOp, a: Scalar, b: Scalar, is32: boolean, sameReg = false): 1 | 0 | -1 {
  if (sameReg) return takenSame(op, a, is32);
  return is32 ? taken32(op, a, b) : taken64(op, a, b);
}

const isPow2 = (v: bigint): boolean => v !== 0n && (v & (v - 1n)) === 0n;

/** `regs_refine_cond_op`, in place: what `r1 op r2` being true says about both. */
function refine(r1: W, r2: W, op: JmpOp, is32: boolean): void {
  switch (op) {
    case 'jge':
      return refine(r2, r1, 'jle', is32);
    case 'jgt':
      return refine(r2, r1, 'jlt', is32);
    case 'jsge':
      return refine(r2, r1, 'jsle', is32);
    case 'jsgt':
      return refine(r2, r1, 'jslt', is32);
    case 'jeq':
      if (is32) {
        r1.u32min = Math.max(r1.u32min, r2.u32min);
        r1.u32max = Math.min(r1.u32max, r2.u32max);
        r1.s32min = Math.max(r1.s32min, r2.s32min);
        r1.s32max = Math.min(r1.s32max, r2.s32max);
        r2.u32min = r1.u32min;
        r2.u32max = r1.u32max;
        r2.s32min = r1.s32min;
        r2.s32max = r1.s32max;
        const t = tnumIntersect(subreg(r1.var), subreg(r2.var));
        r1.var = withSubreg(r1.var, t);
        r2.var = withSubreg(r2.var, t);
      } else {
        r1.umin = bmax(r1.umin, r2.umin);
        r1.umax = bmin(r1.umax, r2.umax);
        r1.smin = bmax(r1.smin, r2.smin);
        r1.smax = bmin(r1.smax, r2.smax);
        r2.umin = r1.umin;
        r2.umax = r1.umax;
        r2.smin = r1.smin;
        r2.smax = r1.smax;
        r1.var = tnumIntersect(r1.var, r2.var);
        r2.var = r1.var;
      }
      return;
    case 'jne':
    case 'jset':
    case 'jset_false': {
      // these learn only from a constant operand, about the other one
      let x = r1;
      let y = r2;
      const constMask = is32 ? M32 : M64;
      if ((y.var.mask & constMask) !== 0n) [x, y] = [y, x];
      if ((y.var.mask & constMask) !== 0n) return;
      const val = y.var.value & constMask;
      if (op === 'jne') {
        // a constant at the edge of a range moves the edge (wrapping as in C, which can only
        // happen to a constant, whose branches are decided before this)
        if (is32) {
          const u = Number(val);
          if (x.u32min === u) x.u32min = (u + 1) >>> 0;
          if (x.u32max === u) x.u32max = (u - 1) >>> 0;
          if (x.s32min === (u | 0)) x.s32min = (u + 1) | 0;
          if (x.s32max === (u | 0)) x.s32max = (u - 1) | 0;
        } else {
          const sv = s64(val);
          if (x.umin === val) x.umin = (val + 1n) & M64;
          if (x.umax === val) x.umax = (val - 1n) & M64;
          if (x.smin === sv) x.smin = BigInt.asIntN(64, sv + 1n);
          if (x.smax === sv) x.smax = BigInt.asIntN(64, sv - 1n);
        }
      } else if (op === 'jset') {
        // only a single-bit mask says which bit is set
        if (!isPow2(val)) return;
        x.var = is32 ? withSubreg(x.var, tnumOr(subreg(x.var), { value: val, mask: 0n })) : tnumOr(x.var, { value: val, mask: 0n });
      } else {
        // 6.18 forgets the ranges first, so a dead branch cannot leave them contradicting the tnum
        markUnbounded64(x);
        markUnbounded32(x);
        const clear = { value: ~val & M64, mask: 0n };
        x.var = is32 ? withSubreg(x.var, tnumAnd(subreg(x.var), clear)) : tnumAnd(x.var, clear);
      }
      return;
    }
    case 'jle':
      if (is32) {
        r1.u32max = Math.min(r1.u32max, r2.u32max);
        r2.u32min = Math.max(r1.u32min, r2.u32min);
      } else {
        r1.umax = bmin(r1.umax, r2.umax);
        r2.umin = bmax(r1.umin, r2.umin);
      }
      return;
    case 'jlt':
      // (u32/u64 arithmetic wraps; at the wrap the branch is decided and never refined)
      if (is32) {
        r1.u32max = Math.min(r1.u32max, (r2.u32max - 1) >>> 0);
        r2.u32min = Math.max((r1.u32min + 1) >>> 0, r2.u32min);
      } else {
        r1.umax = bmin(r1.umax, (r2.umax - 1n) & M64);
        r2.umin = bmax((r1.umin + 1n) & M64, r2.umin);
      }
      return;
    case 'jsle':
      if (is32) {
        r1.s32max = Math.min(r1.s32max, r2.s32max);
        r2.s32min = Math.max(r1.s32min, r2.s32min);
      } else {
        r1.smax = bmin(r1.smax, r2.smax);
        r2.smin = bmax(r1.smin, r2.smin);
      }
      return;
    case 'jslt':
      if (is32) {
        r1.s32max = Math.min(r1.s32max, (r2.s32max - 1) | 0);
        r2.s32min = Math.max((r1.s32min + 1) | 0, r2.s32min);
      } else {
        r1.smax = bmin(r1.smax, BigInt.asIntN(64, r2.smax - 1n));
        r2.smin = bmax(BigInt.asIntN(64, r1.smin + 1n), r2.smin);
      }
      return;
  }
}

/**
 * `regs_refine_cond_op` then `reg_bounds_sync` of both: the states of `a` and `b` where `a op b`
 * holds, exactly as the kernel computes them, contradictions included. The kernel calls this only
 * when `branchTaken` is -1, and checks the results with `reg_bounds_sanity_check` (here
 * {@link scalarInvariantViolation}); 6.18 rejects the program when that fails. With `sameReg`
 * (`if r1 op r1`) nothing is refined.
 */
export function refineCondRaw(op: JmpOp, a: Scalar, b: Scalar, is32: boolean, sameReg = false): [Scalar, Scalar] {
  if (sameReg) return [a, b];
  const r1 = copy(a);
  const r2 = copy(b);
  refine(r1, r2, op, is32);
  sync(r1);
  sync(r2);
  return [r1, r2];
}

/**
 * The states of `a` and `b` on the branch where `a op b` holds (`regs_refine_cond_op` then
 * `reg_bounds_sync` of both), or `undefined` when that branch cannot be taken: `branchTaken` says
 * 0, or the refined bounds contradict each other (where 6.18 reports a REG INVARIANTS VIOLATION;
 * see {@link refineCondRaw}). For the fall-through pass `negateOp(op)`.
 *
 * @example
 * const [r] = refineCond('jle', scalarUnknown(), scalarConst(10n), false)!; // fall-through of `if r > 10`
 * r.umax; // 10n
 */
export function refineCond(op: JmpOp, a: Scalar, b: Scalar, is32: boolean, sameReg = false): [Scalar, Scalar] | undefined {
  if (branchTaken(op, a, b, is32, sameReg) === 0) return undefined;
  if (sameReg) return [a, b];
  const r = refineCondRaw(op, a, b, is32);
  return invariantViolation(r[0]) || invariantViolation(r[1]) ? undefined : r;
}

/** What `reg_bounds_sanity_check` finds wrong with a state, if anything. */
function invariantViolation(s: Scalar): string | undefined {
  if (inverted(s)) return 'range bounds violation';
  const t = s.var;
  if (t.mask === 0n && (s.umin !== t.value || s.umax !== t.value || s.smin !== s64(t.value) || s.smax !== s64(t.value))) {
    return 'const tnum out of sync with range bounds';
  }
  if ((t.mask & M32) === 0n) {
    const v = Number(t.value & M32);
    if (s.u32min !== v || s.u32max !== v || s.s32min !== (v | 0) || s.s32max !== (v | 0)) return 'const subreg tnum out of sync with range bounds';
  }
  return undefined;
}

/**
 * `reg_bounds_sanity_check`: the kernel's message for a state whose bounds contradict each other
 * or its tnum (`ctx` names the register, e.g. `true_reg1`), or `undefined` when the state is
 * sound. 6.18 prefixes it with `verifier bug: ` and rejects the program.
 *
 * @example
 * scalarInvariantViolation({ ...scalarConst(1n), umin: 2n }, 'alu');
 * // 'REG INVARIANTS VIOLATION (alu): range bounds violation u64=[0x2, 0x1] s64=[0x1, 0x1] ...'
 */
export function scalarInvariantViolation(s: Scalar, ctx: string): string | undefined {
  const msg = invariantViolation(s);
  if (msg === undefined) return undefined;
  const x = (v: bigint) => `0x${u64(v).toString(16)}`;
  const x32 = (v: number) => `0x${(v >>> 0).toString(16)}`;
  return (
    `REG INVARIANTS VIOLATION (${ctx}): ${msg} u64=[${x(s.umin)}, ${x(s.umax)}] s64=[${x(s.smin)}, ${x(s.smax)}] ` +
    `u32=[${x32(s.u32min)}, ${x32(s.u32max)}] s32=[${x32(s.s32min)}, ${x32(s.s32max)}] var_off=(${x(s.var.value)}, ${x(s.var.mask)})`
  );
}

// ---------------------------------------------------------------------------------------------
// pruning and printing

/**
 * `range_within(old, cur) && tnum_in(old->var_off, cur->var_off)`: every value `cur` allows, `old`
 * allows too, so a state verified with `old` covers `cur`.
 */
export function scalarSubsumes(old: Scalar, cur: Scalar): boolean {
  return (
    old.umin <= cur.umin && old.umax >= cur.umax && old.smin <= cur.smin && old.smax >= cur.smax &&
    old.u32min <= cur.u32min && old.u32max >= cur.u32max && old.s32min <= cur.s32min && old.s32max >= cur.s32max &&
    tnumIn(old.var, cur.var)
  );
}

/** `verbose_snum`: decimal within s16, else hex of the 64-bit pattern. */
function snum(v: bigint): string {
  return v >= -32768n && v <= 32767n ? v.toString() : `0x${u64(v).toString(16)}`;
}
/** `verbose_unum`: decimal within u16, else hex. */
function unum(v: bigint): string {
  return v <= 65535n ? v.toString() : `0x${v.toString(16)}`;
}

const RANGE_NAMES = ['smin', 'smax', 'umin', 'umax', 'smin32', 'smax32', 'umin32', 'umax32'] as const;

/**
 * The inside of the kernel's `scalar(...)` for a non-constant value (`print_scalar_ranges` then
 * `var_off`), without `id=`: bounds that say nothing are left out and equal ones are merged
 * (`smax=umax=255`). Pointers print their variable offset the same way.
 *
 * @example
 * scalarRangesString(scalarTruncate(scalarUnknown(), 1));
 * // 'smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff)'
 */
export function scalarRangesString(s: Scalar): string {
  // The 32-bit signed bounds take part in the merging as s64 when printed in decimal and as u32
  // when printed in hex, so that smin=-2 merges with smin32=-2 but not 0xff..fe with 0xfffffffe.
  const s32v = (v: number): bigint => (v >= -32768 && v <= 32767 ? u64(BigInt(v)) : BigInt(v >>> 0));
  const vals: bigint[] = [u64(s.smin), u64(s.smax), s.umin, s.umax, s32v(s.s32min), s32v(s.s32max), BigInt(s.u32min), BigInt(s.u32max)];
  const omit = [s.smin === S64_MIN, s.smax === S64_MAX, s.umin === 0n, s.umax === M64, s.s32min === S32_MIN, s.s32max === S32_MAX, s.u32min === 0, s.u32max === U32_MAX];
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (omit[i]) continue;
    const isSigned = (i & 2) === 0;
    const neg = isSigned && vals[i] >= SIGN64;
    out += `${out ? ',' : ''}${RANGE_NAMES[i]}=`;
    for (let j = i + 2; j < 8; j += 2) {
      if (omit[j] || vals[j] !== vals[i]) continue;
      if (((j & 2) === 0 && vals[j] >= SIGN64) !== neg) continue; // never merge a negative with a positive
      omit[j] = true;
      out += `${RANGE_NAMES[j]}=`;
    }
    out += isSigned ? snum(s64(vals[i])) : unum(vals[i]);
  }
  if (s.var.mask !== M64) out += `${out ? ',' : ''}var_off=${tnumString(s.var)}`;
  return out;
}

/**
 * The kernel log's text for a scalar register (without `P` or `id=`, which belong to the register):
 * a constant prints as its number (`verbose_snum`), anything else as `scalar(...)`.
 *
 * @example
 * scalarString(scalarConst(0xdeadn)); // '0xdead'
 * scalarString(scalarUnknown()); // 'scalar()'
 */
export function scalarString(s: Scalar): string {
  if (s.var.mask === 0n) return snum(s64(s.var.value));
  return `scalar(${scalarRangesString(s)})`;
}
