import type { Insn } from '../isa/insn.js';
import type { AsmBuilder } from './common.js';
import type { Cursor } from './cursor.js';

/**
 * Reads the operand of `.quad VALUE`: one raw 8-byte slot given as the little-endian u64 of its
 * bytes. Both syntaxes use it so that any slot, even one that is not an instruction, round-trips
 * through text.
 */
export function parseRawSlot(c: Cursor, b: AsmBuilder): Insn {
  const v = c.integer('a 64-bit value');
  if (v.value < -(1n << 63n) || v.value > (1n << 64n) - 1n) {
    b.fail('E_ASM_RANGE', `.quad value ${v.value} does not fit in 64 bits`, { line: c.line, column: v.column });
  }
  return rawSlotInsn(BigInt.asUintN(64, v.value));
}

/** The instruction whose 8 bytes, read as a little-endian u64, are `word`. */
export function rawSlotInsn(word: bigint): Insn {
  const lo = Number(word & 0xffffffffn);
  const hi = Number(word >> 32n);
  return {
    op: lo & 0xff,
    dst: (lo >>> 8) & 0x0f,
    src: (lo >>> 12) & 0x0f,
    off: (lo >>> 16) << 16 >> 16,
    imm: hi | 0,
  };
}

/** The little-endian u64 of one 8-byte slot, the inverse of {@link rawSlotInsn}. */
export function rawSlotWord(insn: Pick<Insn, 'op' | 'dst' | 'src' | 'off' | 'imm'>): bigint {
  const lo = ((insn.op & 0xff) | ((insn.dst & 0xf) << 8) | ((insn.src & 0xf) << 12) | ((insn.off & 0xffff) << 16)) >>> 0;
  return (BigInt(insn.imm >>> 0) << 32n) | BigInt(lo);
}
