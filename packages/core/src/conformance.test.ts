import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assembleUbpf } from './asm/ubpf.js';
import { parseConformanceData } from './conformance.js';
import { AsmError, ConformanceError } from './errors.js';
import { decode, encode, programSlots } from './isa/insn.js';
import { hasShared, sharedPath } from './test-support/shared.js';

const present = hasShared('conformance', 'tests');
const read = (f: string) => readFileSync(sharedPath('conformance', 'tests', f), 'utf8');

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('parseConformanceData', () => {
  it('reads the sections of a small file', () => {
    const t = parseConformanceData('# a comment\n-- asm\nmov %r0, 3 # three\nexit\n-- result\n0x3\n', 'three.data');
    expect(t.name).toBe('three.data');
    expect(t.asm).toBe('mov %r0, 3 # three\nexit');
    expect(t.asmLine).toBe(2);
    expect(t.result).toBe(3n);
    expect(t.mem).toEqual(new Uint8Array());
    expect(t.raw).toBeUndefined();
    expect(t.error).toBeUndefined();
    expect(t.program()).toEqual(assembleUbpf('mov %r0, 3\nexit').insns);
  });

  it('reads -- result as hex when it has 0x, else unsigned decimal; the last line wins', () => {
    const result = (body: string) => parseConformanceData(`-- asm\nexit\n-- result\n${body}`).result;
    expect(result('0xFFFFFFFFFFFFFFF6')).toBe(0xfffffffffffffff6n);
    expect(result('0x10000000A')).toBe(0x10000000an);
    expect(result('  42  ')).toBe(42n);
    expect(result('010')).toBe(10n);
    expect(result('18446744073709551615')).toBe(2n ** 64n - 1n);
    expect(result('-1')).toBe(2n ** 64n - 1n); // stoull wraps a minus sign
    expect(result('1\n2\n\n0x3 # the last one\n')).toBe(3n);
    expect(parseConformanceData('-- asm\nexit\n').result).toBeUndefined();
  });

  it('reads -- mem as hex bytes over several lines', () => {
    const t = parseConformanceData('-- asm\nexit\n-- mem\n00 01 ff\r\n  0x0a   b\n\n# c0\n7F\n-- result\n0\n');
    expect([...t.mem]).toEqual([0x00, 0x01, 0xff, 0x0a, 0x0b, 0x7f]);
  });

  it('uses -- raw words instead of -- asm when there are any', () => {
    const t = parseConformanceData('-- asm\nmov %r0, 1\nexit\n-- raw\n0x00000002000000b7 # mov %r0, 2\n149\n-- result\n2\n');
    expect(t.raw).toEqual([0x2000000b7n, 149n]);
    expect(t.program()).toEqual(assembleUbpf('mov %r0, 2\nexit').insns);
    // An empty -- raw section leaves the program to -- asm, as the runner does.
    expect(parseConformanceData('-- asm\nexit\n-- raw\n\n-- result\n0\n').raw).toBeUndefined();
  });

  it('handles comments, \\r, ignored sections and -- error as the runner does', () => {
    const text = [
      'intro text before any header is ignored',
      '# SPDX -- not a header inside a comment',
      '-- asm\r',
      'mov %r0, 1\r',
      'exit\r',
      '-- c\r',
      'int main() { return 1; }\r',
      '-- no register offset\r',
      'anything\r',
      '-- error\r',
      'first\r',
      'Invalid instruction at 0   # trailing comment\r',
      '-- result\r',
      '0x1\r',
    ].join('\n');
    const t = parseConformanceData(text);
    expect(t.asm).toBe('mov %r0, 1\nexit');
    expect(t.error).toBe('Invalid instruction at 0');
    expect(t.result).toBe(1n);
    expect(t.program()).toHaveLength(2);
  });

  it('joins several -- asm sections, as the runner does', () => {
    const t = parseConformanceData('-- asm\nmov %r0, 1\n-- result\n1\n-- asm\nexit\n');
    expect(t.asm).toBe('mov %r0, 1\nexit');
    expect(t.program()).toHaveLength(2);
  });

  it('keeps program() pure: each call returns a fresh array', () => {
    const t = parseConformanceData('-- asm\nexit\n');
    const a = t.program();
    a.pop();
    expect(t.program()).toHaveLength(1);
  });

  // text, code, line, column, a fragment of the message
  const cases: Array<[string, string, number, number, string]> = [
    ['-- asm\nexit\n-- result\nfive\n', 'E_CONFORMANCE_BAD_RESULT', 4, 1, "-- result 'five' is not a number"],
    ['-- asm\nexit\n  -- bogus\n', 'E_CONFORMANCE_UNKNOWN_SECTION', 3, 3, "unknown section header '-- bogus'"],
    ['-- asm\nexit\n-- mem\n00 01\n02 zz 03\n', 'E_CONFORMANCE_BAD_MEM', 5, 4, "'zz' in -- mem is not a hex byte"],
    ['-- asm\nexit\n-- mem\n100\n', 'E_CONFORMANCE_BAD_MEM', 4, 1, "'100'"],
    ['-- asm\nexit\n-- result\n  0x12g\n', 'E_CONFORMANCE_BAD_RESULT', 4, 3, "'0x12g' is not a number"],
    ['-- asm\nexit\n-- result\n0X10\n', 'E_CONFORMANCE_BAD_RESULT', 4, 1, 'is not a number'],
    ['-- asm\nexit\n-- result\n0x10000000000000000\n', 'E_CONFORMANCE_BAD_RESULT', 4, 1, 'does not fit in 64 bits'],
    ['-- raw\n0x95 ninety\n', 'E_CONFORMANCE_BAD_RAW', 2, 6, "'ninety' in -- raw"],
    ['-- raw\n0x10000000000000000\n', 'E_CONFORMANCE_BAD_RAW', 2, 1, 'is not a 64-bit word'],
  ];

  it.each(cases)('rejects %j with %s at %i:%i', (text, code, line, column, fragment) => {
    const e = thrown(() => parseConformanceData(text, 'bad.data'));
    expect(e).toBeInstanceOf(ConformanceError);
    const err = e as ConformanceError;
    expect({ code: err.code, line: err.line, column: err.column, file: err.file }).toEqual({ code, line, column, file: 'bad.data' });
    expect(err.message).toContain(fragment);
    expect(err.sourceLine).toBe(text.split('\n')[line - 1]);
  });

  it('reports a bad -- asm line at its line in the file', () => {
    const t = parseConformanceData('# header\n-- asm\nmov %r0, 1\n\nbogus %r0\nexit\n-- result\n1\n', 'x.data');
    const err = thrown(() => t.program()) as AsmError;
    expect(err).toBeInstanceOf(AsmError);
    expect({ code: err.code, line: err.line, column: err.column }).toEqual({ code: 'E_ASM_UNKNOWN_MNEMONIC', line: 5, column: 1 });
    expect(err.message).toMatch(/^5:1: unknown mnemonic 'bogus'/);
    expect(err.sourceLine).toBe('bogus %r0');
  });

  it('says so when there is no program', () => {
    for (const text of ['-- result\n1\n', '-- asm\n# nothing\n-- result\n1\n']) {
      const err = thrown(() => parseConformanceData(text, 'empty.data').program()) as ConformanceError;
      expect(err).toBeInstanceOf(ConformanceError);
      expect(err.code).toBe('E_CONFORMANCE_NO_PROGRAM');
    }
  });
});

describe.runIf(present)('the bpf_conformance files', () => {
  it('mem-len.data: 8 bytes of memory, result 8', () => {
    const t = parseConformanceData(read('mem-len.data'), 'mem-len.data');
    expect([...t.mem]).toEqual([0, 0, 0, 1, 0, 0, 0, 2]);
    expect(t.result).toBe(8n);
    expect(t.program()).toEqual(assembleUbpf('mov %r0, %r2\nexit').insns);
  });

  it('lddw.data: the -- raw words are the program, and say what its -- asm says', () => {
    const t = parseConformanceData(read('lddw.data'), 'lddw.data');
    expect(t.raw).toEqual([0x5566778800000018n, 0x1122334400000000n, 0x95n]);
    const expected = Uint8Array.of(0x18, 0, 0, 0, 0x88, 0x77, 0x66, 0x55, 0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11, 0x95, 0, 0, 0, 0, 0, 0, 0);
    expect(t.program()).toEqual(decode(expected));
    expect(encode(t.program())).toEqual(expected);
    expect(assembleUbpf(t.asm!).insns).toEqual(t.program());
    expect(t.result).toBe(0x1122334455667788n);
  });

  // index.tsv was made by other tools (bpf_conformance's own parser and assembler): it is an
  // independent check of the slot count and memory size of every file.
  it.runIf(hasShared('conformance', 'index.tsv'))('agree with index.tsv on slots and memory bytes for all 313 files', () => {
    const rows = readFileSync(sharedPath('conformance', 'index.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
    const files = readdirSync(sharedPath('conformance', 'tests')).filter((f) => f.endsWith('.data')).sort();
    expect(rows.map((r) => r[0]).sort()).toEqual(files);
    let withMem = 0;
    for (const [file, , slots, memBytes] of rows) {
      const t = parseConformanceData(read(file), file);
      expect({ file, slots: programSlots(t.program()), mem: t.mem.length }).toEqual({ file, slots: Number(slots), mem: Number(memBytes) });
      expect(t.result, file).toBeTypeOf('bigint');
      if (t.mem.length) withMem++;
    }
    expect(rows).toHaveLength(313);
    expect(withMem).toBe(40);
  });
});
