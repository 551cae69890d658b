import { describe, expect, it } from 'vitest';
import { TsbpfError } from '../errors.js';
import { encode } from '../isa/insn.js';
import {
  Add, Add32, Atomic, BSwap, Call, Exit, Ja, JaL, JEq, JSGT32, Ld, LdImm64, LdMapFd, LdMapValue, MayGoto, Mov,
  Mov32, MovSX, Neg32, SDiv, St, ToBE, label, program, R0, R1, R2, R10,
} from './index.js';

const hex = (insns: Parameters<typeof encode>[0]) => Buffer.from(encode(insns)).toString('hex');

describe('builder', () => {
  // Expected bytes worked out by hand from RFC 9669 (opcode, dst | src << 4, off LE, imm LE).
  it.each([
    ['Mov.imm(R0, 1)', Mov.imm(R0, 1), 'b700000001000000'], // ALU64|MOV|K = 0x07|0xb0
    ['Mov32.reg(R1, R2)', Mov32.reg(R1, R2), 'bc21000000000000'], // ALU|MOV|X = 0x04|0xb0|0x08
    ['Add.imm(R1, -1)', Add.imm(R1, -1), '07010000ffffffff'],
    ['Add32.reg(R1, R2)', Add32.reg(R1, R2), '0c21000000000000'],
    ['SDiv.reg(R1, R2)', SDiv.reg(R1, R2), '3f21010000000000'], // DIV|X with off 1
    ['MovSX(R1, R2, 16)', MovSX(R1, R2, 16), 'bf21100000000000'], // MOV|X with off 16
    ['Neg32(R1)', Neg32(R1), '8401000000000000'],
    ['ToBE(R1, 16)', ToBE(R1, 16), 'dc01000010000000'], // ALU|END|X(=TO_BE), imm 16
    ['BSwap(R1, 64)', BSwap(R1, 64), 'd701000040000000'], // ALU64|END
    ['Ld.mem(R0, R1, 4, u32)', Ld.mem(R0, R1, 4, 'u32'), '6110040000000000'], // LDX|MEM|W
    ['Ld.memSX(R0, R1, -2, u16)', Ld.memSX(R0, R1, -2, 'u16'), '8910feff00000000'], // LDX|MEMSX|H
    ['Ld.abs(12, u16)', Ld.abs(12, 'u16'), '280000000c000000'], // LD|ABS|H
    ['St.memImm(R10, -8, 7, u64)', St.memImm(R10, -8, 7, 'u64'), '7a0af8ff07000000'], // ST|MEM|DW
    ['St.mem(R10, -4, R1, u32)', St.mem(R10, -4, R1, 'u32'), '631afcff00000000'], // STX|MEM|W
    ['Atomic.add fetch u64', Atomic.add(R10, -8, R1, 'u64', { fetch: true }), 'db1af8ff01000000'], // STX|ATOMIC|DW, ADD|FETCH
    ['Atomic.cmpxchg u32', Atomic.cmpxchg(R10, -8, R1, 'u32'), 'c31af8fff1000000'],
    ['Call.helper(bpf_map_lookup_elem)', Call.helper('bpf_map_lookup_elem'), '8500000001000000'],
    ['Call.reg(R2)', Call.reg(R2), '8d02000000000000'],
    ['LdImm64(R1, 0x1122334455667788)', LdImm64(R1, 0x1122334455667788n), '1801000088776655' + '0000000044332211'],
    ['LdMapFd(R1, 3)', LdMapFd(R1, 3), '1811000003000000' + '0000000000000000'],
    ['LdMapValue(R1, 3, 16)', LdMapValue(R1, 3, 16), '1821000003000000' + '0000000010000000'],
    ['Exit()', Exit(), '9500000000000000'],
  ])('%s', (_name, item, expected) => {
    expect(hex(program(item))).toBe(expected);
  });

  it('resolves labels forward and backward, counting lddw as two slots', () => {
    const insns = program(
      label('top'),
      JEq.imm(R1, 0, 'out'), // slot 0 -> out at slot 5: off 4
      LdImm64(R2, 1n), // slots 1-2
      JSGT32.reg(R1, R2, 'top'), // slot 3 -> 0: off -4
      Ja('out'), // slot 4 -> 5: off 0
      label('out'),
      JaL('top'), // slot 5 -> 0: imm -6
      MayGoto('top'), // slot 6 -> 0: off -7
      Call.local('fn'), // slot 7 -> 9: imm 1
      Exit(),
      label('fn'),
      Exit(),
    );
    expect(insns.map((i) => [i.off, i.imm])).toEqual([[4, 0], [0, 1], [-4, 0], [0, 0], [0, -6], [-7, 0], [0, 1], [0, 0], [0, 0]]);
  });

  it('reports unknown labels and helpers with typed errors', () => {
    expect(() => program(Ja('nowhere'))).toThrow(expect.objectContaining({ code: 'E_BUILDER_UNKNOWN_LABEL' }));
    expect(() => program(label('a'), label('a'))).toThrow(TsbpfError);
    expect(() => Call.helper('bpf_no_such')).toThrow(expect.objectContaining({ code: 'E_BUILDER_UNKNOWN_HELPER' }));
  });
});
