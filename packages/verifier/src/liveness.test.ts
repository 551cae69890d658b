// Liveness solved over straight-line segments against a slot-by-slot fixpoint written here from the
// textbook equations (live-in = use | (live-out & ~def)), on random programs with branches, loops
// and stack traffic.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { liveness, type Slot } from './liveness.js';
import { Code, checkCode, subprogStarts } from './structure.js';

/** Registers a slot reads and writes, for the instruction kinds the generator makes. */
function useDefRef(s: Slot): [number, number] {
  const cls = s.op & 7;
  if (cls === 7 && (s.op & 0xf0) === 0xb0) return [s.op & 8 ? 1 << s.src : 0, 1 << s.dst]; // mov
  if (cls === 7) return [(1 << s.dst) | (s.op & 8 ? 1 << s.src : 0), 1 << s.dst]; // alu
  if (cls === 1) return [1 << s.src, 1 << s.dst]; // ldx
  if (cls === 3) return [(1 << s.dst) | (1 << s.src), 0]; // stx
  if (s.op === 0x95) return [1, 0]; // exit reads r0
  if (cls === 5 && (s.op & 0xf0) !== 0) return [(1 << s.dst) | (s.op & 8 ? 1 << s.src : 0), 0]; // conditional jump
  return [0, 0];
}

function referenceRegs(slots: Slot[]): Uint16Array {
  const n = slots.length;
  const live = new Uint16Array(n);
  const succ = (pc: number): number[] => {
    const s = slots[pc]!;
    if (s.op === 0x95) return [];
    if (s.op === 0x05) return [pc + 1 + s.off];
    if ((s.op & 7) === 5) return [pc + 1, pc + 1 + s.off];
    return [pc + 1];
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let pc = n - 1; pc >= 0; pc--) {
      const [use, def] = useDefRef(slots[pc]!);
      let out = 0;
      for (const t of succ(pc)) out |= live[t]!;
      const inn = (use | (out & ~def)) & 0x7ff;
      if (inn !== live[pc]) {
        live[pc] = inn;
        changed = true;
      }
    }
  }
  return live;
}

const reg = fc.integer({ min: 0, max: 9 });
/** One slot at position `pc` of `n`: moves, ALU, stack loads and stores, jumps forward and back. */
const slotAt = (pc: number, n: number): fc.Arbitrary<Slot> =>
  fc.oneof(
    fc.record({ op: fc.constantFrom(0xb7, 0xbf, 0x07, 0x0f, 0xaf), dst: reg, src: reg, off: fc.constant(0), imm: fc.integer({ min: -64, max: 64 }), imm2: fc.constant(0) }),
    fc.record({ op: fc.constant(0x79), dst: reg, src: fc.constant(10), off: fc.constantFrom(-8, -16, -24), imm: fc.constant(0), imm2: fc.constant(0) }),
    fc.record({ op: fc.constant(0x7b), dst: fc.constant(10), src: reg, off: fc.constantFrom(-8, -16, -24), imm: fc.constant(0), imm2: fc.constant(0) }),
    fc.record({ op: fc.constantFrom(0x15, 0x5d, 0x2d), dst: reg, src: reg, off: fc.integer({ min: -pc - 1, max: n - pc - 2 }), imm: fc.constant(1), imm2: fc.constant(0) }),
  );

describe('liveness over segments', () => {
  it('equals the slot-by-slot fixpoint for registers (2000 random programs)', () => {
    const program = fc.integer({ min: 2, max: 40 }).chain((n) =>
      fc.tuple(...Array.from({ length: n - 1 }, (_, pc) => slotAt(pc, n))).map((body) => [...body, { op: 0x95, dst: 0, src: 0, off: 0, imm: 0, imm2: 0 }] as Slot[]),
    );
    fc.assert(
      fc.property(program, (slots) => {
        const code = Code.fromSlots(slots);
        if (checkCode(code)) return; // unreachable code or a bad jump: the verifier stops earlier
        const ours = liveness(code, subprogStarts(code), () => 5).regs;
        expect(Array.from(ours)).toEqual(Array.from(referenceRegs(slots)));
      }),
      { numRuns: 2000 },
    );
  });

  it('a stack slot written before every read is dead before the write; one read on some path is live', () => {
    // r1 = *(u64 *)(r10 - 8) on one branch only: fp-8 (slot 63) is live at the start
    const slots: Slot[] = [
      { op: 0xb7, dst: 0, src: 0, off: 0, imm: 0, imm2: 0 },
      { op: 0x15, dst: 0, src: 0, off: 1, imm: 0, imm2: 0 },
      { op: 0x79, dst: 1, src: 10, off: -8, imm: 0, imm2: 0 },
      { op: 0x7b, dst: 10, src: 0, off: -8, imm: 0, imm2: 0 },
      { op: 0x79, dst: 0, src: 10, off: -8, imm: 0, imm2: 0 },
      { op: 0x95, dst: 0, src: 0, off: 0, imm: 0, imm2: 0 },
    ];
    const lv = liveness(Code.fromSlots(slots), [0], () => 5);
    expect((lv.hi[0]! >>> 31) & 1).toBe(1);
    expect((lv.hi[3]! >>> 31) & 1).toBe(0); // the store at 3 overwrites fp-8 before 4 reads it
    expect((lv.hi[4]! >>> 31) & 1).toBe(1);
    expect(lv.hi[5]).toBe(0);
  });
});
