import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  tnumAdd, tnumAnd, tnumArshift, tnumCast32, tnumConst, tnumContains, tnumIn, tnumIntersect, tnumLshift,
  tnumMul, tnumOr, tnumRange, tnumRshift, tnumSub, tnumXor, type Tnum,
} from './tnum.js';

const M64 = (1n << 64n) - 1n;
const u64 = fc.bigInt({ min: 0n, max: M64 });
/** A tnum and a member of it. */
const member = fc.tuple(u64, fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 255n }), u64), u64).map(([v, mask, pick]): [Tnum, bigint] => {
  const t = { value: v & ~mask & M64, mask };
  return [t, t.value | (pick & mask)];
});

const ops: Array<[string, (a: Tnum, b: Tnum) => Tnum, (x: bigint, y: bigint) => bigint]> = [
  ['add', tnumAdd, (x, y) => (x + y) & M64],
  ['sub', tnumSub, (x, y) => (x - y) & M64],
  ['mul', tnumMul, (x, y) => (x * y) & M64],
  ['and', tnumAnd, (x, y) => x & y],
  ['or', tnumOr, (x, y) => x | y],
  ['xor', tnumXor, (x, y) => x ^ y],
];

describe('tnums are sound: the concrete result is always in the abstract one', () => {
  it.each(ops)('%s (20k samples)', (_n, abs, conc) => {
    fc.assert(
      fc.property(member, member, ([a, x], [b, y]) => {
        expect(tnumContains(abs(a, b), conc(x, y))).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });

  it('shifts, casts, intersections, ranges, inclusion (20k samples)', () => {
    fc.assert(
      fc.property(member, member, fc.nat(63), fc.tuple(u64, u64), ([a, x], [b, y], k, [lo, hi]) => {
        expect(tnumContains(tnumLshift(a, k), (x << BigInt(k)) & M64)).toBe(true);
        expect(tnumContains(tnumRshift(a, k), x >> BigInt(k))).toBe(true);
        expect(tnumContains(tnumArshift(a, k), BigInt.asUintN(64, BigInt.asIntN(64, x) >> BigInt(k)))).toBe(true);
        expect(tnumContains(tnumCast32(a), x & 0xffffffffn)).toBe(true);
        if (tnumContains(b, x)) expect(tnumContains(tnumIntersect(a, b), x)).toBe(true);
        if (tnumIn(a, b)) expect(tnumContains(a, y)).toBe(true);
        const [min, max] = lo <= hi ? [lo, hi] : [hi, lo];
        const r = tnumRange(min, max);
        expect(tnumContains(r, min) && tnumContains(r, max)).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });

  it('is exact on constants', () => {
    expect(tnumAdd(tnumConst(2n), tnumConst(3n))).toEqual(tnumConst(5n));
    expect(tnumMul(tnumConst(7n), tnumConst(6n))).toEqual(tnumConst(42n));
    expect(tnumRange(0n, 255n)).toEqual({ value: 0n, mask: 255n });
  });
});
