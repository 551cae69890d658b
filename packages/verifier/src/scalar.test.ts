import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasShared, sharedPath } from '@tsbpf/testkit';
import {
  branchTaken, negateOp, refineCond, scalarAlu, scalarBswap, scalarConst, scalarConstParts, scalarContains, scalarEqual, scalarIsConst, scalarMovsx,
  refineCondRaw, scalarInvariantViolation, scalarPtrOffset, scalarString, scalarSubsumes, scalarTruncate, scalarUnknown, scalarValue, syncBounds, type AluOp, type JmpOp, type Scalar,
  type ScalarOptions,
} from './scalar.js';
import { immReg } from './state.js';

const M64 = (1n << 64n) - 1n;
const M32 = 0xffffffffn;
const S64_MIN = -(1n << 63n);
const S64_MAX = (1n << 63n) - 1n;
const u64 = (x: bigint) => BigInt.asUintN(64, x);

// ---------------------------------------------------------------------------------------------
// Concrete semantics (RFC 9669), written independently of scalar.ts: the oracle.

function alu(op: AluOp, a: bigint, b: bigint, is64: boolean): bigint {
  const w = is64 ? 64 : 32;
  const A = BigInt.asUintN(w, a);
  const B = BigInt.asUintN(w, b);
  const sA = BigInt.asIntN(w, A);
  const sB = BigInt.asIntN(w, B);
  const k = B & BigInt(w - 1); // shift amounts are masked
  const r = (x: bigint) => BigInt.asUintN(w, x);
  switch (op) {
    case 'add': return r(A + B);
    case 'sub': return r(A - B);
    case 'mul': return r(A * B);
    case 'div': return B === 0n ? 0n : A / B;
    case 'mod': return B === 0n ? A : A % B;
    case 'sdiv': return B === 0n ? 0n : r(sA / sB); // INT_MIN / -1 wraps to INT_MIN
    case 'smod': return B === 0n ? A : r(sA % sB); // sign of the dividend; INT_MIN % -1 is 0
    case 'or': return A | B;
    case 'and': return A & B;
    case 'xor': return A ^ B;
    case 'lsh': return r(A << k);
    case 'rsh': return A >> k;
    case 'arsh': return r(sA >> k);
    case 'neg': return r(-A);
    case 'mov': return B;
  }
}

function cond(op: JmpOp, a: bigint, b: bigint, is32: boolean): boolean {
  const w = is32 ? 32 : 64;
  const [ua, ub] = [BigInt.asUintN(w, a), BigInt.asUintN(w, b)];
  const [sa, sb] = [BigInt.asIntN(w, a), BigInt.asIntN(w, b)];
  switch (op) {
    case 'jeq': return ua === ub;
    case 'jne': return ua !== ub;
    case 'jgt': return ua > ub;
    case 'jge': return ua >= ub;
    case 'jlt': return ua < ub;
    case 'jle': return ua <= ub;
    case 'jsgt': return sa > sb;
    case 'jsge': return sa >= sb;
    case 'jslt': return sa < sb;
    case 'jsle': return sa <= sb;
    case 'jset': return (ua & ub) !== 0n;
    case 'jset_false': return (ua & ub) === 0n;
  }
}

const sext = (x: bigint, bits: number, is64: boolean) => BigInt.asUintN(is64 ? 64 : 32, BigInt.asIntN(bits, x));
function bswap(x: bigint, bits: number): bigint {
  let v = x & ((1n << BigInt(bits)) - 1n);
  let out = 0n;
  for (let i = 0; i < bits / 8; i++, v >>= 8n) out = (out << 8n) | (v & 0xffn);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Abstract values with a known member, built from random concrete sets and random steps.

const interesting = fc.oneof(
  fc.constantFrom(0n, 1n, 2n, 7n, 8n, 255n, 256n, 0x7fffn, 0x8000n, 0xffffn, 0x7fffffffn, 0x80000000n, M32, 1n << 32n, S64_MAX, 1n << 63n, M64, M64 - 1n),
  fc.bigInt({ min: 0n, max: 300n }),
  fc.bigInt({ min: -300n, max: -1n }).map(u64),
  fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: -1, max: 1 })).map(([n, d]) => u64((1n << BigInt(n)) + BigInt(d))),
  fc.bigInt({ min: 0n, max: M32 }),
  fc.bigInt({ min: -(1n << 31n), max: (1n << 31n) - 1n }).map(u64),
  fc.bigInt({ min: 0n, max: M64 }),
);

const mkScalar = (t: { value: bigint; mask: bigint }, smin: bigint, smax: bigint, umin: bigint, umax: bigint, s32min: number, s32max: number, u32min: number, u32max: number): Scalar =>
  ({ var: t, smin, smax, umin, umax, s32min, s32max, u32min, u32max });

/** The tightest state holding every value of `xs`, with the components `loosen` selects forgotten. */
function fromSet(xs: bigint[], loosen: number, synced: boolean): Scalar {
  let and = M64;
  let or = 0n;
  for (const x of xs) {
    and &= x;
    or |= x;
  }
  const big = (f: (a: bigint, b: bigint) => bigint, v: bigint[]) => v.reduce((a, b) => f(a, b));
  const lo = xs.map((x) => x & M32);
  const s = xs.map((x) => BigInt.asIntN(64, x));
  const s32 = xs.map((x) => BigInt.asIntN(32, x));
  const min = (a: bigint, b: bigint) => (a < b ? a : b);
  const max = (a: bigint, b: bigint) => (a > b ? a : b);
  const bit = (i: number) => (loosen >> i) & 1;
  const st = mkScalar(
    bit(0) ? { value: 0n, mask: M64 } : { value: and, mask: and ^ or },
    bit(1) ? S64_MIN : big(min, s), bit(2) ? S64_MAX : big(max, s),
    bit(3) ? 0n : big(min, xs), bit(4) ? M64 : big(max, xs),
    bit(5) ? -0x80000000 : Number(big(min, s32)), bit(6) ? 0x7fffffff : Number(big(max, s32)),
    bit(7) ? 0 : Number(big(min, lo)), bit(8) ? 0xffffffff : Number(big(max, lo)),
  );
  return synced ? syncBounds(st) : st;
}

interface Member {
  s: Scalar;
  x: bigint;
  /** Every intermediate step kept its member. */
  ok: boolean;
}

const setMember = fc
  .tuple(fc.array(interesting, { minLength: 1, maxLength: 4 }), fc.nat(), fc.integer({ min: 0, max: 3 }), fc.boolean(), fc.nat())
  .map(([xs, pick, mode, synced, loosen]): Member => {
    const x = xs[pick % xs.length];
    if (mode === 0) return { s: scalarConst(x), x, ok: true };
    if (mode === 1) return { s: scalarUnknown(), x, ok: true };
    // mode 2 keeps every component, mode 3 forgets a random subset
    return { s: fromSet(xs, mode === 2 ? 0 : loosen & 0x1ff, synced), x, ok: true };
  });

const ALU_OPS: AluOp[] = ['add', 'sub', 'mul', 'div', 'sdiv', 'mod', 'smod', 'or', 'and', 'xor', 'lsh', 'rsh', 'arsh', 'neg', 'mov'];
const JMP_OPS: JmpOp[] = ['jeq', 'jne', 'jgt', 'jge', 'jlt', 'jle', 'jsgt', 'jsge', 'jslt', 'jsle', 'jset', 'jset_false'];

/** A step: an ALU op, a truncation/extension, or the branch of a comparison that the member takes. */
const step = fc.tuple(fc.nat(), fc.boolean(), setMember, fc.nat());
function applyStep(m: Member, [kind, wide, o, n]: [number, boolean, Member, number]): Member {
  let s: Scalar | undefined;
  let x: bigint;
  switch (kind % 4) {
    case 0: {
      const op = ALU_OPS[n % ALU_OPS.length];
      s = scalarAlu(op, m.s, o.s, wide);
      x = alu(op, m.x, o.x, wide);
      break;
    }
    case 1: {
      const bits = ([8, 16, 32] as const)[n % 3];
      s = scalarMovsx(m.s, bits, wide);
      x = bits === 32 && !wide ? m.x & M32 : sext(m.x, bits, wide);
      break;
    }
    case 2: {
      const size = ([1, 2, 4] as const)[n % 3];
      s = scalarTruncate(m.s, size);
      x = m.x & ((1n << BigInt(size * 8)) - 1n);
      break;
    }
    default: {
      const op0 = JMP_OPS[n % JMP_OPS.length];
      const op = cond(op0, m.x, o.x, !wide) ? op0 : negateOp(op0);
      s = refineCond(op, m.s, o.s, !wide)?.[0];
      x = m.x;
    }
  }
  return { s: s ?? scalarUnknown(), x, ok: m.ok && o.ok && s !== undefined && scalarContains(s, x) };
}

const member = fc.tuple(setMember, fc.array(step, { maxLength: 2 })).map(([m, steps]) => steps.reduce(applyStep, m));

/** Shift amounts: mostly in range and known, sometimes anything. */
const shiftMember = fc.oneof(
  fc.integer({ min: 0, max: 70 }).map((k): Member => ({ s: scalarConst(BigInt(k)), x: BigInt(k), ok: true })),
  member,
);
/** A second operand: independent, or a constant near the first one (so comparisons go both ways). */
const near = fc.tuple(member, member, fc.integer({ min: 0, max: 5 })).map(([a, b, mode]): [Member, Member] => {
  if (mode > 2) return [a, b];
  const y = u64(a.x + BigInt(mode - 1));
  return [a, { s: scalarConst(y), x: y, ok: true }];
});

const RUNS = 2_000;

describe('soundness: every concrete result lies in the abstract one', () => {
  it('the generated states hold their members (incl. syncBounds), 20k samples', () => {
    fc.assert(
      fc.property(member, (m) => {
        expect(m.ok).toBe(true);
        expect(scalarContains(m.s, m.x)).toBe(true);
        expect(scalarContains(syncBounds(m.s), m.x)).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });

  it('syncBounds keeps the members of sparse tnums cut by ranges (20k samples)', () => {
    // where a range meets a tnum in few values (the single-value deduction of 6.18.y)
    const arb = fc.tuple(
      fc.bigInt({ min: 0n, max: 0xfffn }), fc.bigInt({ min: 0n, max: 0xfffn }), fc.bigInt({ min: 0n, max: 0xfffn }),
      fc.bigInt({ min: 0n, max: 0xfffn }), fc.bigInt({ min: 0n, max: 0xfffn }), fc.constantFrom(0n, 1n << 40n, 1n << 63n, 0xffff_ffff_0000_0000n),
    );
    let checked = 0;
    fc.assert(
      fc.property(arb, ([value0, mask, pick, a, b, base]) => {
        const value = value0 & ~mask;
        const x = value | (pick & mask);
        const [lo, hi] = a < b ? [a, b] : [b, a];
        if (x < lo || x > hi) return;
        checked++;
        const s = mkScalar({ value: value | base, mask }, S64_MIN, S64_MAX, lo | base, hi | base, -0x80000000, 0x7fffffff, 0, 0xffffffff);
        expect(scalarContains(syncBounds(s), x | base)).toBe(true);
      }),
      { numRuns: 20_000 },
    );
    expect(checked).toBeGreaterThan(1_000);
  });

  const cases = ALU_OPS.flatMap((op) => [64, 32].map((w) => [op, w] as const));
  it.each(cases)(`scalarAlu %s %i-bit (${RUNS} samples)`, (op, w) => {
    const src = op === 'lsh' || op === 'rsh' || op === 'arsh' ? shiftMember : member;
    fc.assert(
      fc.property(member, src, (a, b) => {
        const r = scalarAlu(op, a.s, b.s, w === 64);
        expect(scalarContains(r, alu(op, a.x, b.x, w === 64))).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it.each(['div', 'sdiv', 'mod', 'smod'] as const)(`scalarAlu %s with trackDivMod, 64 and 32-bit (2x${RUNS} samples)`, (op) => {
    const opts: ScalarOptions = { trackDivMod: true };
    // divisors: mostly constants, including 0, -1 and INT_MIN
    const divisor = fc.oneof(
      fc.constantFrom(0n, 1n, 2n, 3n, 6n, 10n, M64, M32, 1n << 63n, 1n << 31n, u64(-7n)).map((c): Member => ({ s: scalarConst(c), x: c, ok: true })),
      interesting.map((c): Member => ({ s: scalarConst(c), x: c, ok: true })),
      member,
    );
    // dividends: independent, or ranges around multiples of the divisor and around INT_MIN (where the edges are)
    const pair = fc.tuple(divisor, member, fc.array(fc.integer({ min: -2, max: 2 }), { minLength: 1, maxLength: 3 }), fc.integer({ min: -2, max: 2 }), fc.nat(), fc.integer({ min: 0, max: 3 }));
    for (const is64 of [true, false]) {
      fc.assert(
        fc.property(pair, ([b, a0, ds, k, pick, mode]) => {
          let a = a0;
          if (mode > 0) {
            const anchor = mode === 1 ? b.x * BigInt(k) : mode === 2 ? 1n << 63n : 0xffffffff80000000n;
            const xs = ds.map((d) => u64(anchor + BigInt(d)));
            a = { s: fromSet(xs, 0, true), x: xs[pick % xs.length], ok: true };
          }
          expect(scalarContains(scalarAlu(op, a.s, b.s, is64, opts), alu(op, a.x, b.x, is64))).toBe(true);
        }),
        { numRuns: RUNS },
      );
    }
  });

  it('shifts and divisions at the edges of their ranges (exhaustive over edge sets)', () => {
    const edges = (n: bigint) => [[n - 1n, n], [n, n + 1n], [n - 1n, n, n + 1n], [0n, n], [u64(-n), n]].map((xs) => xs.map(u64));
    let checked = 0;
    const check = (op: AluOp, xs: bigint[], b: bigint, is64: boolean, opts?: ScalarOptions) => {
      for (const synced of [true, false]) {
        const r = scalarAlu(op, fromSet(xs, 0, synced), scalarConst(b), is64, opts);
        for (const x of xs) {
          expect(scalarContains(r, alu(op, x, b, is64)), `${op} [${xs}] ${b} ${is64}`).toBe(true);
          checked++;
        }
      }
    };
    for (const is64 of [true, false]) {
      const w = is64 ? 64 : 32;
      for (let k = 0; k < w; k++) {
        for (const n of [w - k - 1, w - k, w - k + 1, w - 1, 31, 32].filter((v) => v >= 0 && v < 64)) {
          for (const xs of edges(1n << BigInt(n))) for (const op of ['lsh', 'rsh', 'arsh'] as const) check(op, xs, BigInt(k), is64);
        }
      }
      const mins = [1n << 63n, 0xffffffff80000000n, 1n << 31n];
      const divisors = [1n, 2n, 3n, 7n, M64, M64 - 1n, M32, 1n << 63n, 1n << 31n, u64(-(1n << 31n)), S64_MAX, 0x7fffffffn];
      for (const c of divisors) {
        for (const n of [c, c * 2n, 0n, ...mins]) {
          for (const xs of edges(n)) for (const op of ['div', 'sdiv', 'mod', 'smod'] as const) check(op, xs, c, is64, { trackDivMod: true });
        }
      }
    }
    expect(checked).toBeGreaterThan(50_000);
  });

  it(`scalarMovsx, scalarTruncate, scalarBswap (${RUNS * 4} samples)`, () => {
    fc.assert(
      fc.property(member, fc.constantFrom(8, 16, 32), fc.boolean(), fc.constantFrom(1, 2, 4, 8), fc.constantFrom(16, 32, 64), fc.constantFrom(true, false, 'swap' as const), (m, bits, is64, size, bb, dir) => {
        const want = !is64 && bits === 32 ? m.x & M32 : sext(m.x, bits, is64);
        expect(scalarContains(scalarMovsx(m.s, bits as 8 | 16 | 32, is64), want)).toBe(true);
        expect(scalarContains(scalarTruncate(m.s, size as 1 | 2 | 4 | 8), m.x & ((1n << BigInt(size * 8)) - 1n))).toBe(true);
        // on a little-endian target to_le truncates, to_be and bswap swap
        const end = dir === false ? m.x & ((1n << BigInt(bb)) - 1n) : bswap(m.x, bb);
        for (const opts of [undefined, { trackEnd: true }]) {
          expect(scalarContains(scalarBswap(m.s, bb as 16 | 32 | 64, dir, opts), end)).toBe(true);
        }
      }),
      { numRuns: RUNS * 4 },
    );
  });

  it(`scalarPtrOffset add and sub (${RUNS * 2} samples)`, () => {
    fc.assert(
      fc.property(member, member, (p, o) => {
        expect(scalarContains(scalarPtrOffset('add', p.s, o.s), u64(p.x + o.x))).toBe(true);
        expect(scalarContains(scalarPtrOffset('sub', p.s, o.s), u64(p.x - o.x))).toBe(true);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  const jcases = JMP_OPS.flatMap((op) => [64, 32].map((w) => [op, w] as const));
  it.each(jcases)(`branchTaken and refineCond %s %i-bit (${RUNS} samples)`, (op, w) => {
    const is32 = w === 32;
    fc.assert(
      fc.property(near, ([a, b]) => {
        const holds = cond(op, a.x, b.x, is32);
        const taken = branchTaken(op, a.s, b.s, is32);
        expect(taken).not.toBe(holds ? 0 : 1);
        const r = refineCond(op, a.s, b.s, is32);
        if (holds) {
          expect(r).toBeDefined();
          expect(scalarContains(r![0], a.x)).toBe(true);
          expect(scalarContains(r![1], b.x)).toBe(true);
        }
        // the other branch, as the engine computes it
        const f = refineCond(negateOp(op), a.s, b.s, is32);
        if (!holds) {
          expect(f).toBeDefined();
          expect(scalarContains(f![0], a.x)).toBe(true);
          expect(scalarContains(f![1], b.x)).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it.each(JMP_OPS)(`branchTaken and refineCond %s of a register with itself, 64 and 32-bit (2x${RUNS} samples)`, (op) => {
    for (const is32 of [false, true]) {
      fc.assert(
        fc.property(member, (a) => {
          const holds = cond(op, a.x, a.x, is32);
          expect(branchTaken(op, a.s, a.s, is32, true)).not.toBe(holds ? 0 : 1);
          const r = refineCond(op, a.s, a.s, is32, true);
          if (holds) expect(r !== undefined && scalarContains(r[0], a.x)).toBe(true);
        }),
        { numRuns: RUNS },
      );
    }
  });

  it('scalarSubsumes(old, cur) only when every member of cur is one of old (20k samples)', () => {
    const curOf = fc.tuple(member, member, fc.nat(), fc.integer({ min: 0, max: 2 })).map(([old, other, n, mode]): [Member, Member] => {
      if (mode === 0) return [old, other];
      if (mode === 1) return [old, { s: scalarConst(old.x), x: old.x, ok: true }];
      // a refinement of old: usually subsumed
      const op0 = JMP_OPS[n % JMP_OPS.length];
      const op = cond(op0, old.x, other.x, false) ? op0 : negateOp(op0);
      return [old, { s: refineCond(op, old.s, other.s, false)?.[0] ?? old.s, x: old.x, ok: true }];
    });
    let subsumed = 0;
    fc.assert(
      fc.property(curOf, ([old, cur]) => {
        if (!scalarSubsumes(old.s, cur.s)) return;
        subsumed++;
        expect(scalarContains(old.s, cur.x)).toBe(true);
        // and a constant member of old is always covered
        expect(scalarSubsumes(old.s, scalarConst(old.x))).toBe(true);
      }),
      { numRuns: 20_000 },
    );
    expect(subsumed).toBeGreaterThan(5_000);
  });
});

// ---------------------------------------------------------------------------------------------
// Precision: results worked out by hand from the kernel's algorithms.

const U = scalarUnknown();
const c = (v: bigint | number) => scalarConst(BigInt(v));
const u8 = scalarTruncate(U, 1); // r = *(u8 *)(...)

describe('constants', () => {
  it('an lddw constant built from its halves is the constant of the whole value (20k samples and the cached edges)', () => {
    const edges = fc.constantFrom(0, 1, 1023, 1024, 0x7fffffff, 0x80000000, 0xffffff00, 0xfffffeff, 0xffffffff);
    const hi = fc.oneof(fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.constantFrom(0, -1, 1, -0x80000000, 0x7fffffff));
    const lo = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), edges);
    fc.assert(
      fc.property(hi, lo, (h, l) => {
        expect(scalarConstParts(h, l)).toEqual(scalarConst(BigInt.asUintN(64, (BigInt(h) << 32n) | BigInt(l))));
      }),
      { numRuns: 20000 },
    );
  });
});

describe('immediates', () => {
  it('an immediate is its sign-extended (64-bit) or zero-extended (32-bit) constant (20k samples)', () => {
    const imm = fc.oneof(fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.constantFrom(0, 1, 1023, 1024, -1, -256, -257, -0x80000000, 0x7fffffff));
    fc.assert(
      fc.property(imm, fc.boolean(), (i, is64) => {
        const want = is64 ? BigInt.asUintN(64, BigInt(i)) : BigInt(i >>> 0);
        expect(immReg(i, is64).s).toEqual(scalarConst(want));
      }),
      { numRuns: 20000 },
    );
  });
});

describe('precision against the kernel algorithms', () => {
  it('keeps constants constant', () => {
    expect(scalarAlu('add', c(2), c(3), true)).toBe(c(5)); // small constants are shared
    expect(scalarValue(scalarAlu('mul', c(7), c(-6), true))).toBe(u64(-42n));
    expect(scalarValue(scalarAlu('sub', c(0), c(1), false))).toBe(M32); // 32-bit: zero-extended
    expect(scalarValue(scalarAlu('arsh', c(-16), c(2), true))).toBe(u64(-4n));
    expect(scalarValue(scalarAlu('neg', c(5), c(0), true))).toBe(u64(-5n));
    expect(scalarValue(scalarMovsx(c(0x80), 8, true))).toBe(u64(-128n));
    expect(scalarValue(scalarMovsx(c(0x80), 8, false))).toBe(0xffffff80n);
    expect(scalarValue(scalarTruncate(c(-1), 2))).toBe(0xffffn);
  });

  it('narrows with and, shifts, truncation', () => {
    const a = scalarAlu('and', U, c(0xff), true);
    expect([a.umin, a.umax, a.smin, a.smax, a.u32max, a.var.mask]).toEqual([0n, 255n, 0n, 255n, 255, 0xffn]);
    const l = scalarAlu('lsh', scalarAlu('and', u8, c(-4), true), c(2), true);
    expect([l.umax, l.var.value, l.var.mask]).toEqual([1008n, 0n, 0x3f0n]);
    const r = scalarAlu('rsh', U, c(60), true);
    expect([r.umin, r.umax, r.var.mask]).toEqual([0n, 15n, 0xfn]);
    // x << 32 s>> 32 of a non-negative s32 (the sign-extension idiom) keeps the bounds
    const sx = scalarAlu('arsh', scalarAlu('lsh', u8, c(32), true), c(32), true);
    expect([sx.smin, sx.smax, sx.umax]).toEqual([0n, 255n, 255n]);
    // 32-bit ops zero-extend
    expect(scalarAlu('mov', U, U, false).umax).toBe(M32);
    expect(scalarAlu('add', U, c(1), false).umax).toBe(M32);
  });

  it('keeps unsigned ranges that wrap as a whole', () => {
    const hi = refineCond('jge', U, c(M64 - 1n), false)![0]; // [2^64-2, 2^64-1]
    const sum = scalarAlu('add', hi, refineCond('jle', refineCond('jge', U, c(2), false)![0], c(3), false)![0], true);
    expect([sum.umin, sum.umax]).toEqual([0n, 2n]);
  });

  it('refines both branches of a comparison', () => {
    const [fall] = refineCond(negateOp('jgt'), U, c(10), false)!; // `if r > 10 goto`: fall-through
    expect([fall.umin, fall.umax, fall.smin, fall.smax, fall.var.mask]).toEqual([0n, 10n, 0n, 10n, 0xfn]);
    const [taken] = refineCond('jgt', U, c(10), false)!;
    expect(taken.umin).toBe(11n);
    const [s] = refineCond('jslt', U, c(-5), false)!;
    expect([s.smin, s.smax]).toEqual([S64_MIN, -6n]);
    const [w] = refineCond('jlt', U, c(100), true)!; // JMP32 says nothing of the upper half
    expect([w.u32max, w.umax]).toEqual([99, M64 - (M32 - 99n)]);
    const [e] = refineCond('jeq', u8, c(7), false)!;
    expect(scalarEqual(e, c(7))).toBe(true);
    // r != 0 with r in [0, 255]: the edge moves
    expect(refineCond('jne', u8, c(0), false)![0].umin).toBe(1n);
  });

  it('decides branches from bounds and tnums', () => {
    expect(branchTaken('jgt', u8, c(255), false)).toBe(0);
    expect(branchTaken('jle', u8, c(255), false)).toBe(1);
    expect(branchTaken('jsge', u8, c(0), false)).toBe(1);
    expect(branchTaken('jgt', u8, c(10), false)).toBe(-1);
    const even = scalarAlu('and', u8, c(0xfe), true);
    expect(branchTaken('jeq', even, c(1), false)).toBe(0); // the known bits disagree (tnum_overlap)
    expect(branchTaken('jset', even, c(1), false)).toBe(0);
    expect(branchTaken('jset_false', even, c(1), false)).toBe(1);
    expect(branchTaken('jset', scalarAlu('or', U, c(4), true), c(6), false)).toBe(1);
    expect(branchTaken('jeq', c(0x100000005n), c(5), true)).toBe(1);
    expect(refineCond('jeq', even, c(1), false)).toBeUndefined();
    expect(refineCond('jgt', u8, c(255), false)).toBeUndefined();
  });

  it('makes a constant of a range that meets the tnum in one value (6.18.y)', () => {
    // the example of the stable patch: r0 |= 3584; r0 &= 3840; if r0 == 0xe00 goto ...
    const r = scalarAlu('and', scalarAlu('or', U, c(3584), true), c(3840), true);
    expect(scalarString(scalarAlu('or', U, c(3584), true))).toBe('scalar(smin=0x8000000000000e00,umin=umin32=3584,smin32=0x80000e00,var_off=(0xe00; 0xfffffffffffff1ff))');
    expect(scalarString(r)).toBe('scalar(smin=umin=smin32=umin32=3584,smax=umax=smax32=umax32=3840,var_off=(0xe00; 0x100))');
    expect(scalarString(refineCond('jne', r, c(0xe00), false)![0])).toBe('3840');
  });

  it('compares a register with itself by the operator alone', () => {
    expect(branchTaken('jge', u8, u8, false, true)).toBe(1);
    expect(branchTaken('jslt', U, U, true, true)).toBe(0);
    expect(branchTaken('jset', u8, u8, false, true)).toBe(-1);
    expect(branchTaken('jset', scalarAlu('or', u8, c(1), true), u8, false, true)).toBe(1);
    expect(branchTaken('jgt', u8, u8, false)).toBe(-1); // two registers that happen to hold the same range
    expect(refineCond('jset', u8, u8, false, true)).toEqual([u8, u8]);
  });

  it('reports contradictions as the kernel words them', () => {
    expect(scalarInvariantViolation(u8, 'alu')).toBeUndefined();
    expect(scalarInvariantViolation({ ...c(1), umin: 2n }, 'alu')).toBe(
      'REG INVARIANTS VIOLATION (alu): range bounds violation u64=[0x2, 0x1] s64=[0x1, 0x1] u32=[0x1, 0x1] s32=[0x1, 0x1] var_off=(0x1, 0x0)',
    );
    expect(scalarInvariantViolation({ ...c(1), smin: 0n }, 'true_reg1')).toMatch(/^REG INVARIANTS VIOLATION \(true_reg1\): const tnum out of sync with range bounds /);
    expect(scalarInvariantViolation({ ...u8, var: { value: 5n, mask: 0xff00000000n } }, 'x')).toMatch(/const subreg tnum out of sync/);
    // what the kernel computes for a branch, before its sanity check
    const [t] = refineCondRaw('jgt', u8, c(10), false);
    expect(t.umin).toBe(11n);
  });

  it('learns a single bit from jset, and forgets the ranges on its fall-through (as 6.18)', () => {
    const [t] = refineCond('jset', u8, c(4), false)!;
    expect([t.var.value, t.var.mask, t.umin]).toEqual([4n, 0xfbn, 4n]);
    const [f] = refineCond('jset_false', u8, c(1), false)!;
    expect([f.var.value, f.var.mask, f.umax]).toEqual([0n, 0xfen, 254n]);
  });

  it('sign-extends like coerce_reg_to_size_sx', () => {
    const s = scalarMovsx(U, 16, true);
    expect([s.smin, s.smax, s.umin, s.umax]).toEqual([-32768n, 32767n, 0n, M64]);
    const small = scalarMovsx(scalarAlu('and', U, c(0x7f), true), 8, true); // no sign bit: unchanged
    expect([small.smin, small.smax, small.umax]).toEqual([0n, 127n, 127n]);
    const neg = scalarMovsx(scalarAlu('or', u8, c(0x80), true), 8, true); // [0x80, 0xff] -> [-128, -1]
    expect([neg.smin, neg.smax, neg.umin]).toEqual([-128n, -1n, u64(-128n)]);
  });

  it('gives up where 6.18 does, and tracks more on request', () => {
    expect(scalarAlu('div', u8, c(3), true)).toBe(U);
    expect(scalarAlu('mod', u8, c(3), false)).toBe(U);
    expect(scalarAlu('lsh', u8, u8, true)).toBe(U); // shift amount not a constant
    expect(scalarAlu('lsh', u8, c(40), false)).toBe(U); // out of range for 32 bits
    expect(scalarBswap(c(0x1234), 16, true)).toBe(U);
    const opts = { trackDivMod: true, trackEnd: true };
    expect(scalarAlu('mod', U, c(6), true, opts).umax).toBe(5n);
    expect(scalarAlu('div', u8, c(3), true, opts).umax).toBe(85n);
    expect(scalarAlu('div', u8, c(0), true, opts)).toBe(c(0));
    expect(scalarAlu('mod', u8, c(1000), true, opts)).toBe(u8);
    const sd = scalarAlu('sdiv', scalarMovsx(U, 8, true), c(-2), true, opts);
    expect([sd.smin, sd.smax]).toEqual([-63n, 64n]);
    expect(scalarValue(scalarBswap(c(0x1234), 16, true, opts))).toBe(0x3412n);
    expect(scalarValue(scalarBswap(c(0x1234_5678_9abc), 16, false, opts))).toBe(0x9abcn);
    expect(scalarIsConst(scalarBswap(c(0x1234_5678_9abc), 64, 'swap', opts))).toBe(true);
    expect(scalarBswap(u8, 32, 'swap', opts).umax).toBe(0xff000000n);
  });

  it('offsets pointers without 32-bit bounds or wrapping', () => {
    const off = scalarAlu('lsh', scalarAlu('and', u8, c(-4), true), c(2), true); // [0, 1008]
    expect(scalarString(scalarPtrOffset('add', c(0), off))).toBe(scalarString(off));
    // [2^64-2, 2^64-1] + [2^63, 2^63+1] overflows both ways: a scalar keeps the wrapped interval,
    // a pointer only what the tnum says
    const hi = refineCond('jge', U, c(M64 - 1n), false)![0];
    const mid = refineCond('jle', refineCond('jge', U, c(1n << 63n), false)![0], c((1n << 63n) + 1n), false)![0];
    const s = scalarAlu('add', hi, mid, true);
    expect([s.umin, s.umax]).toEqual([(1n << 63n) - 2n, 1n << 63n]);
    expect(scalarPtrOffset('add', hi, mid).umax).toBeGreaterThan(1n << 63n);
  });

  it('subsumes like range_within + tnum_in', () => {
    expect(scalarSubsumes(U, u8)).toBe(true);
    expect(scalarSubsumes(u8, U)).toBe(false);
    expect(scalarSubsumes(u8, c(200))).toBe(true);
    expect(scalarSubsumes(u8, c(256))).toBe(false);
    const even = scalarAlu('and', u8, c(0xfe), true);
    expect(scalarSubsumes(even, c(3))).toBe(false);
    expect(scalarSubsumes(u8, even)).toBe(true);
  });

  it('shares constants and compares structurally', () => {
    expect(scalarConst(5n)).toBe(scalarConst(5n));
    expect(scalarConst(-1n)).toBe(scalarConst(M64));
    expect(scalarEqual(scalarConst(1n << 40n), scalarConst(1n << 40n))).toBe(true);
    expect(scalarIsConst(scalarConst(-1n))).toBe(true);
    expect(scalarEqual(syncBounds(u8), u8)).toBe(true);
    expect(scalarEqual(u8, U)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// The log text.

describe('scalarString prints what the kernel log prints', () => {
  it.each<[string, Scalar, string]>([
    ['unknown', U, 'scalar()'],
    ['a small constant', c(1), '1'],
    ['a negative constant', c(-8), '-8'],
    ['a constant past s16, in hex', c(0xdead), '0xdead'],
    ['a negative constant past s16, as its 64-bit pattern', c(-100000), '0xfffffffffffe7960'],
    ['a u8 load', u8, 'scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))'],
    ['r &= -4 of a u8', scalarAlu('and', u8, c(-4), true), 'scalar(smin=smin32=0,smax=umax=smax32=umax32=252,var_off=(0x0; 0xfc))'],
    ['then r <<= 2', scalarAlu('lsh', scalarAlu('and', u8, c(-4), true), c(2), true), 'scalar(smin=smin32=0,smax=umax=smax32=umax32=1008,var_off=(0x0; 0x3f0))'],
    ['w = w of an unknown', scalarAlu('mov', U, U, false), 'scalar(smin=0,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff))'],
    ['r = (s8)r of an unknown', scalarMovsx(U, 8, true), 'scalar(smin=smin32=-128,smax=smax32=127)'],
    ['w = (s8)w of a u8', scalarMovsx(u8, 8, false), 'scalar(smin=0,smax=umax=0xffffffff,smin32=-128,smax32=127,var_off=(0x0; 0xffffffff))'],
    ['the taken branch of r > 10', refineCond('jgt', U, c(10), false)![0], 'scalar(umin=11)'],
    ['r s< -5', refineCond('jslt', U, c(-5), false)![0], 'scalar(smax=-6,umin=0x8000000000000000,umax=0xfffffffffffffffa,var_off=(0x8000000000000000; 0x7fffffffffffffff))'],
    ['negatives merge with 32-bit negatives in decimal', refineCond('jsge', scalarMovsx(U, 8, true), c(-5), false)![0], 'scalar(smin=smin32=-5,smax=smax32=127)'],
    [
      'but not in hex (a state from a 6.17 log)',
      {
        var: { value: 0x20n, mask: 0xffffffffffffffc0n }, smin: BigInt.asIntN(64, 0xffffffffefffff60n), smax: 0n, umin: 32n, umax: 0xffffffffffffffe0n,
        s32min: 0xf7ffffe0 | 0, s32max: 0, u32min: 32, u32max: 0xffffffe0,
      },
      'scalar(smin=0xffffffffefffff60,smax=smax32=0,umin=umin32=32,umax=0xffffffffffffffe0,smin32=0xf7ffffe0,umax32=0xffffffe0,var_off=(0x20; 0xffffffffffffffc0))',
    ],
  ])('%s', (_name, s, want) => {
    expect(scalarString(s)).toBe(want);
  });
});

// ---------------------------------------------------------------------------------------------
// Against the kernel's own logs (../shared/verifier-corpus, read at run time).

/** A scalar from its log text (`id=` dropped; omitted bounds are unbounded). */
function parseScalar(text: string): Scalar | undefined {
  const v = text.replace(/^P/, '');
  if (/^-?\d+$/.test(v) || /^0x[0-9a-f]+$/.test(v)) return scalarConst(BigInt(v));
  const m = /^scalar\((.*)\)$/.exec(v);
  if (!m) return undefined;
  const r = { var: { value: 0n, mask: M64 }, smin: S64_MIN, smax: S64_MAX, umin: 0n, umax: M64, s32min: -0x80000000, s32max: 0x7fffffff, u32min: 0, u32max: 0xffffffff };
  for (const item of m[1] ? m[1].split(',') : []) {
    if (item.startsWith('id=')) continue;
    const vo = /^var_off=\((0x[0-9a-f]+); (0x[0-9a-f]+)\)$/.exec(item);
    if (vo) {
      r.var = { value: BigInt(vo[1]), mask: BigInt(vo[2]) };
      continue;
    }
    const names = item.split('=');
    const val = BigInt(names.pop()!);
    for (const n of names) {
      if (n === 'smin') r.smin = BigInt.asIntN(64, val);
      else if (n === 'smax') r.smax = BigInt.asIntN(64, val);
      else if (n === 'umin') r.umin = val;
      else if (n === 'umax') r.umax = val;
      else if (n === 'smin32') r.s32min = Number(BigInt.asIntN(32, val));
      else if (n === 'smax32') r.s32max = Number(BigInt.asIntN(32, val));
      else if (n === 'umin32') r.u32min = Number(val);
      else if (n === 'umax32') r.u32max = Number(val);
      else return undefined;
    }
  }
  return r;
}
const withoutId = (text: string) => text.replace(/^P/, '').replace(/id=\d+(?:[+-]\d+)?,?/, '').replace(/,\)$/, ')');
/** `R1=...` entries of a state line; values may hold spaces inside parentheses. */
const REG_STATE = /R(\d+)(?:_[a-zA-Z]+)?=((?:[^ ()]|\([^()]*(?:\([^()]*\)[^()]*)*\))+)/g;

const corpusPresent = hasShared('verifier-corpus', 'corpus.jsonl');
const logTails = (): string[] =>
  corpusPresent
    ? readFileSync(sharedPath('verifier-corpus', 'corpus.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l).kernel?.log_tail as string) ?? '')
    : [];

describe('the kernel verifier corpus (../shared/verifier-corpus)', () => {
  it.runIf(corpusPresent)('prints every scalar of the kernel logs the same way', () => {
    let n = 0;
    for (const tail of logTails()) {
      for (const m of tail.matchAll(REG_STATE)) {
        const s = parseScalar(m[2]);
        if (!s) continue;
        expect(scalarString(s), m[2]).toBe(withoutId(m[2]));
        n++;
      }
    }
    expect(n).toBeGreaterThan(200);
  });

  it.runIf(corpusPresent)('computes the states the kernel logs after ALU instructions and branches', () => {
    const ALU: Record<string, AluOp> = { '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '%': 'mod', '&': 'and', '|': 'or', '^': 'xor', '<<': 'lsh', '>>': 'rsh', 's>>': 'arsh', 's/': 'sdiv', 's%': 'smod' };
    const JMP: Record<string, JmpOp> = { '==': 'jeq', '!=': 'jne', '>': 'jgt', '>=': 'jge', '<': 'jlt', '<=': 'jle', 's>': 'jsgt', 's>=': 'jsge', 's<': 'jslt', 's<=': 'jsle', '&': 'jset' };
    const checked: string[] = [];
    const wrong: string[] = [];
    for (const tail of logTails()) {
      // the last printed state of each register on the path being logged
      let regs = new Map<number, string>();
      for (const line of tail.split('\n')) {
        const m = /^(\d+): \([0-9a-f]{2}\) (.*?)\s+; (.*)$/.exec(line);
        if (!m || /frame\d/.test(line)) {
          regs = new Map();
          continue;
        }
        const [, , insn, state] = m;
        const after = new Map<number, string>();
        for (const r of state.matchAll(REG_STATE)) after.set(+r[1], r[2]);
        const prior = (n: number) => (regs.has(n) ? parseScalar(regs.get(n)!) : undefined);
        let got: Scalar | undefined;
        let dst = -1;
        const a = /^([rw])(\d+) (\+|-|\*|\/|%|&|\||\^|<<|>>|s>>|s\/|s%)= ([rw]\d+|-?\d+)$/.exec(insn);
        const mv = /^([rw])(\d+) = (?:\((s8|s16|s32)\))?[rw](\d+)$/.exec(insn);
        const ng = /^([rw])(\d+) = -[rw](\d+)$/.exec(insn);
        const j = /^if ([rw])(\d+) (==|!=|>|>=|<|<=|s>|s>=|s<|s<=|&) ([rw]\d+|0x[0-9a-f]+) goto pc[+-]\d+$/.exec(insn);
        if (a) {
          dst = +a[2];
          const srcText = /^[rw]/.test(a[4]) ? (after.get(+a[4].slice(1)) ?? regs.get(+a[4].slice(1))) : a[4];
          const d = prior(dst);
          const s = srcText === undefined ? undefined : parseScalar(srcText);
          if (d && s) got = scalarAlu(ALU[a[3]], d, s, a[1] === 'r');
        } else if (mv && +mv[2] !== +mv[4]) {
          dst = +mv[2];
          const srcText = after.get(+mv[4]) ?? regs.get(+mv[4]);
          const s = srcText === undefined ? undefined : parseScalar(srcText);
          if (s) got = mv[3] ? scalarMovsx(s, +mv[3].slice(1) as 8 | 16 | 32, mv[1] === 'r') : scalarAlu('mov', s, s, mv[1] === 'r');
        } else if (ng) {
          dst = +ng[2];
          const d = prior(dst);
          if (d) got = scalarAlu('neg', d, d, ng[1] === 'r');
        } else if (j) {
          dst = +j[2];
          const d = prior(dst);
          const s = /^[rw]/.test(j[4]) ? prior(+j[4].slice(1)) : scalarConst(BigInt.asIntN(32, BigInt(j[4])));
          const is32 = j[1] === 'w';
          // the logged state is the fall-through's; a decided branch refines nothing
          if (d && s && branchTaken(JMP[j[3]], d, s, is32) === -1) got = refineCond(negateOp(JMP[j[3]]), d, s, is32)?.[0];
        }
        const want = after.get(dst);
        if (got && want && !/id=/.test(want)) {
          checked.push(insn);
          if (scalarString(got) !== withoutId(want)) wrong.push(`${insn}: kernel ${want}, here ${scalarString(got)}`);
        }
        if (/\(85\) call/.test(line)) for (let i = 0; i <= 5; i++) regs.delete(i);
        for (const [k, v] of after) {
          if (/id=/.test(v)) regs.delete(k); // linked registers change silently
          else regs.set(k, v);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(checked.length).toBeGreaterThan(50);
  });
});
