// Test-only arbitraries.
import fc from 'fast-check';
import type { Insn } from '../isa/insn.js';

/** An arbitrary raw instruction; `lddw` (0x18) always gets its second slot, as decode produces. */
export const arbInsn: fc.Arbitrary<Insn> = fc
  .record({
    op: fc.integer({ min: 0, max: 255 }),
    dst: fc.integer({ min: 0, max: 15 }),
    src: fc.integer({ min: 0, max: 15 }),
    off: fc.integer({ min: -32768, max: 32767 }),
    imm: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
    hiImm: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
    head: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff })),
  })
  .map(({ hiImm, head, ...f }) => (f.op === 0x18 ? { ...f, wide: { imm: hiImm, head } } : f));

