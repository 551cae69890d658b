/**
 * Tracked numbers ("tnums", kernel/bpf/tnum.c): what the verifier knows about the bits of a
 * 64-bit scalar. A bit set in `mask` is unknown; the others equal the bit of `value` (and `value`
 * has 0 where `mask` has 1). The set a tnum stands for is every x with
 * `(x & ~mask) === value`.
 *
 * Written from the definitions (Vishwanathan et al., "Sound, Precise, and Fast Abstract
 * Interpretation with Tristate Numbers", CGO 2022) and checked for soundness by property tests.
 */

const M64 = (1n << 64n) - 1n;

/** A tnum: `value` bits known, `mask` bits unknown. */
export interface Tnum {
  readonly value: bigint;
  readonly mask: bigint;
}

/** The tnum of a known constant. */
export function tnumConst(v: bigint): Tnum {
  return { value: BigInt.asUintN(64, v), mask: 0n };
}

/** Nothing known. */
export const TNUM_UNKNOWN: Tnum = { value: 0n, mask: M64 };

/** The tnum of every value in [min, max] (unsigned). */
export function tnumRange(min: bigint, max: bigint): Tnum {
  const chi = min ^ max;
  if (chi === 0n) return tnumConst(min);
  const bits = BigInt(chi.toString(2).length);
  if (bits > 63n) return TNUM_UNKNOWN;
  const delta = (1n << bits) - 1n;
  return { value: min & ~delta, mask: delta };
}

/** Whether `x` is one of the values `t` stands for. */
export function tnumContains(t: Tnum, x: bigint): boolean {
  return (BigInt.asUintN(64, x) & ~t.mask & M64) === t.value;
}

export function tnumIsConst(t: Tnum): boolean {
  return t.mask === 0n;
}

export function tnumAdd(a: Tnum, b: Tnum): Tnum {
  const sm = (a.mask + b.mask) & M64;
  const sv = (a.value + b.value) & M64;
  const sigma = (sm + sv) & M64;
  const chi = sigma ^ sv;
  const mu = (chi | a.mask | b.mask) & M64;
  return { value: sv & ~mu & M64, mask: mu };
}

export function tnumSub(a: Tnum, b: Tnum): Tnum {
  const dv = (a.value - b.value) & M64;
  const alpha = (dv + a.mask) & M64;
  const beta = (dv - b.mask) & M64;
  const chi = alpha ^ beta;
  const mu = (chi | a.mask | b.mask) & M64;
  return { value: dv & ~mu & M64, mask: mu };
}

export function tnumAnd(a: Tnum, b: Tnum): Tnum {
  const alpha = a.value | a.mask;
  const beta = b.value | b.mask;
  const v = a.value & b.value;
  return { value: v, mask: alpha & beta & ~v & M64 };
}

export function tnumOr(a: Tnum, b: Tnum): Tnum {
  const v = a.value | b.value;
  const mu = a.mask | b.mask;
  return { value: v, mask: mu & ~v & M64 };
}

export function tnumXor(a: Tnum, b: Tnum): Tnum {
  const v = a.value ^ b.value;
  const mu = a.mask | b.mask;
  return { value: v & ~mu & M64, mask: mu };
}

/** Multiplication by shifted partial products, as the kernel's `tnum_mul`. */
export function tnumMul(a: Tnum, b: Tnum): Tnum {
  let acc: Tnum = tnumConst(0n);
  let x = a;
  let y = b;
  for (let i = 0; i < 64 && (y.value !== 0n || y.mask !== 0n); i++) {
    if (y.value & 1n) acc = tnumAdd(acc, { value: 0n, mask: x.mask });
    else if (y.mask & 1n) acc = tnumAdd(acc, { value: 0n, mask: (x.value | x.mask) & M64 });
    x = tnumLshift(x, 1);
    y = tnumRshift(y, 1);
  }
  return tnumAdd(acc, tnumConst((a.value * b.value) & M64));
}

export function tnumLshift(a: Tnum, k: number): Tnum {
  const s = BigInt(k & 63);
  return { value: (a.value << s) & M64, mask: (a.mask << s) & M64 };
}

export function tnumRshift(a: Tnum, k: number): Tnum {
  const s = BigInt(k & 63);
  return { value: a.value >> s, mask: a.mask >> s };
}

/** Arithmetic shift right of the 64-bit value (`insn_bitness` 64). */
export function tnumArshift(a: Tnum, k: number): Tnum {
  const s = BigInt(k & 63);
  return {
    value: BigInt.asUintN(64, BigInt.asIntN(64, a.value) >> s),
    mask: BigInt.asUintN(64, BigInt.asIntN(64, a.mask) >> s),
  };
}

/** The values both tnums allow (`tnum_intersect`). */
export function tnumIntersect(a: Tnum, b: Tnum): Tnum {
  const v = a.value | b.value;
  const mu = a.mask & b.mask;
  return { value: v & ~mu & M64, mask: mu };
}

/** The low 32 bits, zero-extended (`tnum_cast(t, 4)`). */
export function tnumCast32(a: Tnum): Tnum {
  return { value: a.value & 0xffffffffn, mask: a.mask & 0xffffffffn };
}

/** Whether every value of `b` is a value of `a` (`tnum_in`). */
export function tnumIn(a: Tnum, b: Tnum): boolean {
  if (b.mask & ~a.mask & M64) return false;
  return a.value === (b.value & ~a.mask & M64);
}

/** Kernel-log form: `(0x0; 0xff)` style is the kernel's `tnum_strn`: `(value; mask)`. */
export function tnumString(t: Tnum): string {
  return `(0x${t.value.toString(16)}; 0x${t.mask.toString(16)})`;
}
