import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConformanceData } from '../conformance.js';
import { disassembleUbpf, formatInsnUbpf } from '../disasm/ubpf.js';
import { AsmError } from '../errors.js';
import { decode, encode, type Insn } from '../isa/insn.js';
import { hasShared, sharedPath } from '../test-support/shared.js';
import { assembleUbpf } from './ubpf.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytesOf = (source: string) => hex(encode(assembleUbpf(source).insns));

const present = hasShared('conformance', 'tests');
const suite = present
  ? readdirSync(sharedPath('conformance', 'tests'))
      .filter((f) => f.endsWith('.data'))
      .sort()
      .map((f) => parseConformanceData(readFileSync(sharedPath('conformance', 'tests', f), 'utf8'), f))
  : [];

describe.runIf(present)('the 313 bpf_conformance programs', () => {
  it('all assemble', () => {
    expect(suite).toHaveLength(313);
    for (const t of suite) expect(assembleUbpf(t.asm!).insns.length, t.name).toBeGreaterThan(0);
  });

  it('come back unchanged from disassembleUbpf, with and without labels', () => {
    for (const t of suite) {
      const p = t.program();
      for (const labels of [false, true]) {
        const text = disassembleUbpf(p, { labels });
        expect(text, t.name).not.toMatch(/unknown|\.quad/);
        expect(assembleUbpf(text).insns, `${t.name} labels=${labels}`).toEqual(p);
      }
    }
  });
});

// Expected bytes worked out by hand from RFC 9669: opcode = class | operation | source (or
// mode | size), then dst in the low nibble and src in the high nibble of byte 1, off as a
// little-endian i16, imm as a little-endian i32. Classes: LD 0, LDX 1, ST 2, STX 3, ALU 4,
// JMP 5, JMP32 6, ALU64 7; source K 0, X 8; sizes W 0, H 8, B 0x10, DW 0x18; modes ABS 0x20,
// IND 0x40, MEM 0x60, MEMSX 0x80, ATOMIC 0xc0.
const encodings: Array<[string, string]> = [
  // ALU64 / ALU, immediate and register forms
  ['mov %r0, 1', 'b7 00 0000 01000000'], // 0x07 | 0xb0
  ['mov32 %r1, -1', 'b4 01 0000 ffffffff'], // 0x04 | 0xb0
  ['mov r0, r1', 'bf 10 0000 00000000'], // registers without %
  ['add %r1, %r2', '0f 21 0000 00000000'], // 0x07 | 0x00 | 0x08
  ['sub32 %r3, 0x10', '14 03 0000 10000000'],
  ['mul %r4, %r5', '2f 54 0000 00000000'],
  ['div32 %r0, 3', '34 00 0000 03000000'],
  ['sdiv %r0, %r1', '3f 10 0100 00000000'], // off = 1 selects the signed form
  ['smod32 %r2, -3', '94 02 0100 fdffffff'],
  ['mod %r1, 7', '97 01 0000 07000000'],
  ['or %r1, 0x7fffffff', '47 01 0000 ffffff7f'],
  ['and32 %r1, %r2', '5c 21 0000 00000000'],
  ['lsh %r1, 63', '67 01 0000 3f000000'],
  ['rsh32 %r1, %r9', '7c 91 0000 00000000'],
  ['arsh %r1, 1', 'c7 01 0000 01000000'],
  ['xor %r10, %r0', 'af 0a 0000 00000000'],
  ['mov32 %r0, 0xffffffff', 'b4 00 0000 ffffffff'], // unsigned spelling of -1
  ['mov %r0, 010', 'b7 00 0000 0a000000'], // decimal, as bpf_conformance reads it (not octal)
  ['neg %r1', '87 01 0000 00000000'],
  ['neg32 %r2', '84 02 0000 00000000'],
  // sign-extending moves: off is the source width
  ['movsx864 %r0, %r1', 'bf 10 0800 00000000'],
  ['movsx832 %r2, %r1', 'bc 12 0800 00000000'],
  ['movsx1632 %r4, %r3', 'bc 34 1000 00000000'],
  ['movsx1664 %r8, %r7', 'bf 78 1000 00000000'],
  ['movsx3264 %r0, %r9', 'bf 90 2000 00000000'],
  // byte swaps: imm is the width
  ['be16 %r0', 'dc 00 0000 10000000'], // ALU | END | X (to big endian)
  ['le32 %r1', 'd4 01 0000 20000000'], // ALU | END | K
  ['bswap64 %r2', 'd7 02 0000 40000000'], // ALU64 | END | K
  ['swap16 %r3', 'd7 03 0000 10000000'],
  // 64-bit immediate: two slots, the upper half in the second slot's imm
  ['lddw %r0, 0x1122334455667788', '18 00 0000 88776655 00 00 0000 44332211'],
  ['lddw %r1, -1', '18 01 0000 ffffffff 00 00 0000 ffffffff'],
  // loads and stores
  ['ldxw %r0, [%r1+4]', '61 10 0400 00000000'],
  ['ldxb %r2, [%r10-1]', '71 a2 ffff 00000000'],
  ['ldxh %r0, [%r1]', '69 10 0000 00000000'],
  ['ldxdw %r0, [%r1+0x10]', '79 10 1000 00000000'],
  ['ldxsb %r0, [%r10-1]', '91 a0 ffff 00000000'],
  ['ldxsh %r0, [%r10-2]', '89 a0 feff 00000000'],
  ['ldxsw %r0, [%r10-4]', '81 a0 fcff 00000000'],
  ['stb [%r10-8], 0x7f', '72 0a f8ff 7f000000'],
  ['sth [%r1+2], -2', '6a 01 0200 feffffff'],
  ['stw [%r1], 1', '62 01 0000 01000000'],
  ['stdw [%r1+8], 0x11223344', '7a 01 0800 44332211'],
  ['stxb [%r1+1], %r2', '73 21 0100 00000000'],
  ['stxh [%r1+2], %r3', '6b 31 0200 00000000'],
  ['stxw [%r10-4], %r0', '63 0a fcff 00000000'],
  ['stxdw [%r10-8], %r1', '7b 1a f8ff 00000000'],
  ['ldabsw 0x10', '20 00 0000 10000000'],
  ['ldabsh 2', '28 00 0000 02000000'],
  ['ldabsb 3', '30 00 0000 03000000'],
  ['ldindh %r1, 4', '48 10 0000 04000000'],
  ['ldindw %r2, -4', '40 20 0000 fcffffff'],
  // jumps
  ['ja +2', '05 00 0200 00000000'],
  ['ja -1', '05 00 ffff 00000000'],
  ['ja32 +3', '06 00 0000 03000000'], // JMP32 | JA: the offset is in imm
  ['jeq %r1, 0x20, +1', '15 01 0100 20000000'],
  ['jgt32 %r1, %r2, +1', '2e 21 0100 00000000'],
  ['jge %r1, 1, +1', '35 01 0100 01000000'],
  ['jset32 %r3, 8, +4', '46 03 0400 08000000'],
  ['jne32 %r1, %r2, -3', '5e 21 fdff 00000000'],
  ['jsgt %r1, -1, +0', '65 01 0000 ffffffff'],
  ['jsge %r1, 2, +1', '75 01 0100 02000000'],
  ['jlt %r1, %r2, +1', 'ad 21 0100 00000000'],
  ['jle32 %r1, 5, +1', 'b6 01 0100 05000000'],
  ['jslt %r1, %r2, +1', 'cd 21 0100 00000000'],
  ['jsle32 %r1, 0, +1', 'd6 01 0100 00000000'],
  // calls and exit
  ['call 5', '85 00 0000 05000000'],
  ['call helper 1', '85 00 0000 01000000'],
  ['call bpf_map_lookup_elem', '85 00 0000 01000000'],
  ['call runtime 7', '85 20 0000 07000000'], // src 2: kfunc
  ['call local +1', '85 10 0000 01000000'], // src 1: bpf-to-bpf
  ['call %r2', '8d 02 0000 00000000'], // callx: JMP | CALL | X, register in dst
  ['call helper %r3', '8d 03 0000 00000000'],
  ['exit', '95 00 0000 00000000'],
  // atomics: STX | ATOMIC | W or DW, operation in imm (FETCH = 1)
  ['lock add [%r10-8], %r1', 'db 1a f8ff 00000000'],
  ['lock fetch add32 [%r10-4], %r1', 'c3 1a fcff 01000000'],
  ['lock or [%r1], %r2', 'db 21 0000 40000000'],
  ['lock fetch and [%r1], %r2', 'db 21 0000 51000000'],
  ['lock xor32 [%r1+2], %r2', 'c3 21 0200 a0000000'],
  ['lock xchg [%r10-8], %r1', 'db 1a f8ff e1000000'],
  ['lock cmpxchg32 [%r10-8], %r1', 'c3 1a f8ff f1000000'],
  // raw slots: the little-endian u64 of the 8 bytes
  ['.quad 0x95', '95 00 0000 00000000'],
  ['.quad 0x1122334455667788', '88 77 6655 44332211'],
  // labels count slots (an lddw is two)
  ['jeq %r1, 0, l\nmov %r0, 1\nl:\nexit', '15 01 0100 00000000  b7 00 0000 01000000  95 00 0000 00000000'],
  ['ja l\nlddw %r0, 1\nl: exit', '05 00 0200 00000000  18 00 0000 01000000 00 00 0000 00000000  95 00 0000 00000000'],
  ['ja32 l\nexit\nl: exit', '06 00 0000 01000000  95 00 0000 00000000  95 00 0000 00000000'],
  ['f: exit\ncall local f', '95 00 0000 00000000  85 10 0000 feffffff'],
  // the implicit `exit` label, at the first exit, usable before it
  ['jne %r1, 0, exit\nmov %r0, 1\nexit\nmov %r0, 2\nexit', '55 01 0100 00000000  b7 00 0000 01000000  95 00 0000 00000000  b7 00 0000 02000000  95 00 0000 00000000'],
  // ... unless the program defines `exit` itself, even after the first exit
  ['ja exit\nexit\nexit:\nexit', '05 00 0100 00000000  95 00 0000 00000000  95 00 0000 00000000'],
  // `;` separates statements, `#` and `//` start comments, mnemonics ignore case
  ['mov %r0, 1; exit # done', 'b7 00 0000 01000000  95 00 0000 00000000'],
  ['MOV %r0, 2 // two\nEXIT', 'b7 00 0000 02000000  95 00 0000 00000000'],
];

describe('assembleUbpf', () => {
  it.each(encodings)('%j', (source, expected) => {
    expect(bytesOf(source)).toBe(expected.replace(/\s+/g, ''));
  });

  it('records the labels and the source line of each instruction', () => {
    const p = assembleUbpf('# header\nstart: mov %r0, 0\n\nlddw %r1, 5\nend:\nexit');
    expect(p.lines).toEqual([2, 4, 6]);
    expect([...p.labels]).toEqual([['start', 0], ['end', 3], ['exit', 3]]);
  });

  it('joins a raw lddw slot with the next one, as decode does', () => {
    const p = assembleUbpf('.quad 0x0000000500000118\n.quad 0x0000000700000000\nexit');
    expect(p.insns).toEqual(decode(encode(p.insns)));
    expect(p.insns).toHaveLength(2);
    expect(p.insns[0]).toEqual({ op: 0x18, dst: 1, src: 0, off: 0, imm: 5, wide: { imm: 7, head: 0 } });
    expect(p.lines).toEqual([1, 3]);
  });
});

describe('disassembleUbpf', () => {
  it('prints the syntax of the conformance suite', () => {
    const p = assembleUbpf('lddw %r0, 0x1122334455667788\nldxsh %r1, [%r10-2]\nlock fetch or32 [%r1+4], %r2\nja32 +1\ncall %r3\ncall runtime 9\nexit');
    expect(disassembleUbpf(p.insns)).toBe(
      [
        '  lddw %r0, 0x1122334455667788',
        '  ldxsh %r1, [%r10-2]',
        '  lock fetch or32 [%r1+4], %r2',
        '  ja32 +1',
        '  call %r3',
        '  call runtime 9',
        '  exit',
        '',
      ].join('\n'),
    );
  });

  it('names jump targets with labels when asked, and prints the same program', () => {
    const insns = assembleUbpf('mov %r0, 0\nloop: add %r0, 1\njlt %r0, 10, loop\nja +0\nexit').insns;
    const text = disassembleUbpf(insns, { labels: true });
    expect(text).toBe('  mov %r0, 0\nL1:\n  add %r0, 1\n  jlt %r0, 10, L1\n  ja L4\nL4:\n  exit\n');
    expect(assembleUbpf(text).insns).toEqual(insns);
  });

  it('prints what it cannot spell as .quad with the reason, never as "unknown"', () => {
    const weird: Insn[] = [
      { op: 0xff, dst: 0, src: 0, off: 0, imm: 0 }, // not an opcode
      { op: 0xb7, dst: 11, src: 0, off: 0, imm: 1 }, // r11
      { op: 0x07, dst: 1, src: 2, off: 0, imm: 1 }, // reserved src set
      { op: 0xe5, dst: 0, src: 0, off: 3, imm: 0 }, // may_goto: no uBPF spelling
      { op: 0x18, dst: 0, src: 1, off: 0, imm: 3, wide: { imm: 0, head: 0 } }, // pseudo map-fd lddw
    ];
    const text = disassembleUbpf(weird);
    expect(text).not.toMatch(/unknown/i);
    expect(text.match(/\.quad/g)).toHaveLength(6);
    expect(text.split('\n')[0]).toBe('  .quad 0x00000000000000ff # opcode 0xff is not an eBPF instruction');
    expect(assembleUbpf(text).insns).toEqual(weird);
    for (const insn of weird) expect(formatInsnUbpf(insn)).toBeUndefined();
  });

  // One 8-byte slot: half the time an opcode that exists (lddw often, to pair and truncate it).
  const slot = fc
    .tuple(
      fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x18, 0x18, 0x95, 0xb7, 0xbf, 0x85, 0x8d, 0x05, 0x06, 0x15, 0x61, 0x7b, 0xdb, 0xd7, 0xdc, 0x3f, 0x91)),
      fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x00, 0x01, 0x10, 0x1a)),
      fc.oneof(fc.uint8Array({ minLength: 6, maxLength: 6 }), fc.constant(new Uint8Array(6))),
    )
    .map(([op, regs, rest]) => [op, regs, ...rest]);

  it('round-trips any decoded bytes: assembleUbpf(disassembleUbpf(p)).insns equals p (property)', () => {
    let slots = 0;
    fc.assert(
      fc.property(fc.array(slot, { minLength: 1, maxLength: 64, size: 'max' }).map((s) => Uint8Array.from(s.flat())), (bytes) => {
        const p = decode(bytes);
        slots += bytes.length / 8;
        expect(assembleUbpf(disassembleUbpf(p)).insns).toEqual(p);
        expect(assembleUbpf(disassembleUbpf(p, { labels: true })).insns).toEqual(p);
      }),
      { numRuns: 2000 },
    );
    expect(slots).toBeGreaterThan(10_000);
  });
});

describe('assembleUbpf errors', () => {
  // source, code, line, column, a fragment of the message
  const cases: Array<[string, string, number, number, string]> = [
    ['mov %r0, 1\nfoo %r1, 2', 'E_ASM_UNKNOWN_MNEMONIC', 2, 1, "unknown mnemonic 'foo'"],
    ['  add64 %r0, 1', 'E_ASM_UNKNOWN_MNEMONIC', 1, 3, 'expected an instruction such as'],
    ['ldxsdw %r0, [%r1]', 'E_ASM_UNKNOWN_MNEMONIC', 1, 1, 'use ldxdw'],
    ['movsx3232 %r0, %r1', 'E_ASM_UNKNOWN_MNEMONIC', 1, 1, 'cannot sign-extend 32 bits'],
    ['lock fetch nand [%r10-8], %r1', 'E_ASM_UNKNOWN_MNEMONIC', 1, 12, 'unknown atomic operation'],
    ['1: exit', 'E_ASM_SYNTAX', 1, 1, 'expected an instruction mnemonic or a label'],
    ['mov32 %r12, 1', 'E_ASM_BAD_REGISTER', 1, 7, "expected a register such as %r1 (%r0..%r10), got '%r12'"],
    ['mov %r0, %x', 'E_ASM_BAD_REGISTER', 1, 10, 'expected a register'],
    ['add w1, 2', 'E_ASM_BAD_REGISTER', 1, 5, 'expected a register'],
    ['mov %r0', 'E_ASM_SYNTAX', 1, 8, "expected ',' then a register or an immediate, got the end of the line"],
    ['mov %r0 1', 'E_ASM_SYNTAX', 1, 9, "expected ','"],
    ['mov %r0, 1, 2', 'E_ASM_SYNTAX', 1, 11, "unexpected ',' after the instruction"],
    ['exit %r0', 'E_ASM_SYNTAX', 1, 6, 'after the instruction'],
    ['mov %r0, 1 exit', 'E_ASM_SYNTAX', 1, 12, "unexpected 'exit'"],
    ['mov %r0, foo', 'E_ASM_BAD_OPERAND', 1, 10, 'expected a register or an immediate'],
    ['mov %r0, 0b101', 'E_ASM_BAD_OPERAND', 1, 10, 'numbers are decimal or 0x hex'],
    ['mov %r0, 0x', 'E_ASM_BAD_OPERAND', 1, 10, "got '0x'"],
    ['mov %r0, 4294967296', 'E_ASM_RANGE', 1, 10, 'does not fit in 32 bits'],
    ['mov %r0, -2147483649', 'E_ASM_RANGE', 1, 10, 'does not fit in 32 bits'],
    ['lddw %r0, 0x10000000000000000', 'E_ASM_RANGE', 1, 11, 'does not fit in 64 bits'],
    ['ldxw %r0, %r1+4', 'E_ASM_SYNTAX', 1, 11, "expected '[' starting a memory operand"],
    ['ldxw %r0, [%r1+4', 'E_ASM_SYNTAX', 1, 17, "expected ']' closing the memory operand"],
    ['ldxw %r0, [%r1*4]', 'E_ASM_SYNTAX', 1, 15, "expected ']'"],
    ['stxw [%r1+70000], %r2', 'E_ASM_RANGE', 1, 10, 'does not fit in 16 bits'],
    ['ldxw %r0, [%r1+32768]', 'E_ASM_RANGE', 1, 15, 'expected -32768..32767'],
    ['stw [%r1-8], %r2', 'E_ASM_BAD_OPERAND', 1, 14, 'expected an immediate'],
    ['stxw [%r1-8], 5', 'E_ASM_BAD_REGISTER', 1, 15, 'expected a register'],
    ['jeq %r1, 0, nowhere', 'E_ASM_UNKNOWN_LABEL', 1, 13, "unknown label 'nowhere'"],
    ['jeq %r1, 0', 'E_ASM_SYNTAX', 1, 11, "expected ',' then a label or an offset"],
    ['jeq %r1, 0, ,', 'E_ASM_BAD_OPERAND', 1, 13, 'expected a label or an offset such as +2'],
    ['ja +40000', 'E_ASM_RANGE', 1, 4, 'does not fit in 16 bits'],
    ['ja exit', 'E_ASM_UNKNOWN_LABEL', 1, 4, "unknown label 'exit'"], // no exit instruction, so no implicit label
    ['a: exit\nb: exit\na: exit', 'E_ASM_DUPLICATE_LABEL', 3, 1, 'already defined at line 1'],
    ['exit\nexit:\nexit:', 'E_ASM_DUPLICATE_LABEL', 3, 1, "label 'exit' is already defined at line 2"],
    ['call no_such_helper', 'E_ASM_UNKNOWN_HELPER', 1, 6, "write 'call local no_such_helper'"],
    ['call local', 'E_ASM_BAD_OPERAND', 1, 11, 'expected a label or an offset'],
    ['call runtime x', 'E_ASM_BAD_OPERAND', 1, 14, 'expected a kernel function BTF id'],
    ['lock', 'E_ASM_SYNTAX', 1, 5, 'expected an atomic operation'],
    ['lock add %r1, %r2', 'E_ASM_SYNTAX', 1, 10, "expected '['"],
    ['.quad', 'E_ASM_BAD_OPERAND', 1, 6, 'expected a 64-bit value'],
    ['.quad 0x10000000000000000', 'E_ASM_RANGE', 1, 7, 'does not fit in 64 bits'],
    ['mov %r0, 1;; foo', 'E_ASM_UNKNOWN_MNEMONIC', 1, 14, "unknown mnemonic 'foo'"],
    ['mov %r0; exit', 'E_ASM_SYNTAX', 1, 8, 'got the end of the line'],
  ];

  it.each(cases)('%j -> %s at %i:%i', (source, code, line, column, fragment) => {
    let error: unknown;
    try {
      assembleUbpf(source);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AsmError);
    const err = error as AsmError;
    expect({ code: err.code, line: err.line, column: err.column }).toEqual({ code, line, column });
    expect(err.message).toContain(fragment);
    expect(err.message.startsWith(`${line}:${column}: `)).toBe(true);
    expect(err.sourceLine).toBe(source.split('\n')[line - 1]);
  });
});

describe.runIf(present)('assembleUbpf on damaged conformance programs (fuzz)', () => {
  // (describe.runIf still runs this body without ../shared: keep the arbitrary constructible)
  const sourceLines = suite.flatMap((t) => t.asm!.split('\n')).filter((l) => l.trim() !== '');
  if (!sourceLines.length) sourceLines.push('exit');
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom('%', 'r', '[', ']', '+', '-', ',', ':', '0x', '99999999999', ' ', '\t', ';', '#', 'exit', 'lock', 'local', '.quad') }),
    fc.record({ kind: fc.constant('char' as const), at: fc.nat(), text: fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }) }),
  );
  const damaged = fc
    .tuple(fc.array(fc.constantFrom(...sourceLines), { minLength: 1, maxLength: 6 }), fc.array(edit, { maxLength: 4 }))
    .map(([lines, edits]) => {
      let text = lines.join('\n');
      for (const e of edits) {
        const at = text.length === 0 ? 0 : e.at % (text.length + 1);
        text = e.kind === 'delete' ? text.slice(0, at) + text.slice(at + e.len) : text.slice(0, at) + e.text + text.slice(at);
      }
      return text;
    });

  it('gives a program or an AsmError at a real position for 20k edited programs', () => {
    let failures = 0;
    fc.assert(
      fc.property(damaged, (text) => {
        try {
          assembleUbpf(text);
        } catch (e) {
          failures++;
          if (!(e instanceof AsmError)) throw e;
          const lines = text.split('\n');
          expect(e.line).toBeGreaterThanOrEqual(1);
          expect(e.line).toBeLessThanOrEqual(lines.length);
          expect(e.column).toBeGreaterThanOrEqual(1);
          expect(e.column).toBeLessThanOrEqual(lines[e.line - 1].length + 1);
        }
      }),
      { numRuns: 20_000 },
    );
    expect(failures).toBeGreaterThan(1000);
  });
});
