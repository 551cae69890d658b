import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BtfError } from '../errors.js';
import { SymbolType, parseElf } from '../elf/elf.js';
import { Btf, BtfKind } from './btf.js';
import { parseBtfExt } from './ext.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'elf');
const elf = parseElf(new Uint8Array(readFileSync(join(fixtures, 'minimal.bpfel.o'))));
const btf = Btf.parse(elf.section('.BTF')!.data);
const extBytes = elf.section('.BTF.ext')!.data;
const source = readFileSync(join(fixtures, 'minimal.bpf.c'), 'utf8').split('\n');

describe('parseBtfExt', () => {
  const ext = parseBtfExt(extBytes, btf);

  it('gives one func_info per function, naming the FUNC the ELF symbol table has at that offset', () => {
    const expected = elf.symbols
      .filter((s) => s.type === SymbolType.FUNC)
      .map((s) => `${elf.sections[s.shndx].name}+${s.value}:${s.name}`)
      .sort();
    const got = ext.funcInfo
      .flatMap((s) => s.records.map((r) => `${s.section}+${r.insnOff}:${btf.type(r.typeId).kind === BtfKind.Func ? btf.type(r.typeId).name : '?'}`))
      .sort();
    expect(got).toEqual(expected);
  });

  it('gives line_info whose text is the line of minimal.bpf.c it names', () => {
    const all = ext.lineInfo.flatMap((s) => s.records);
    expect(all.length).toBeGreaterThan(10);
    for (const r of all) {
      expect(r.fileName).toMatch(/minimal\.bpf\.c$/);
      expect(r.line).toBe(source[r.lineNum - 1]);
      expect(r.col).toBeLessThanOrEqual(r.line.length + 1); // 0: no column (a function's first line)
    }
    // Sections are the program sections and .text; offsets are instructions within them.
    for (const s of ext.lineInfo) {
      const sec = elf.section(s.section)!;
      for (const r of s.records) expect(r.insnOff).toBeLessThan(sec.size);
    }
  });

  it('refuses malformed sections with a typed error and the byte offset, never anything else', () => {
    const bad = (mutate: (b: Uint8Array, v: DataView) => void) => {
      const b = extBytes.slice();
      mutate(b, new DataView(b.buffer));
      try {
        parseBtfExt(b, btf);
        return 'parsed';
      } catch (e) {
        expect(e).toBeInstanceOf(BtfError);
        return (e as BtfError).code;
      }
    };
    expect(bad((b) => (b[0] = 0))).toBe('E_BTF_EXT_MAGIC');
    expect(bad((b) => (b[2] = 9))).toBe('E_BTF_EXT_VERSION');
    expect(bad((_, v) => v.setUint32(4, 1 << 30, true))).toBe('E_BTF_EXT_HEADER');
    expect(bad((_, v) => v.setUint32(12, 1 << 30, true))).toBe('E_BTF_EXT_BOUNDS'); // func_info_len
    const funcStart = new DataView(extBytes.buffer, extBytes.byteOffset).getUint32(4, true) + new DataView(extBytes.buffer, extBytes.byteOffset).getUint32(8, true);
    expect(bad((_, v) => v.setUint32(funcStart, 3, true))).toBe('E_BTF_EXT_RECORD'); // rec_size 3
    expect(bad((_, v) => v.setUint32(funcStart + 8, 0x7fffffff, true))).toBe('E_BTF_EXT_BOUNDS'); // num_info
    expect(bad((_, v) => v.setUint32(funcStart + 4, 0x7fffffff, true))).toBe('E_BTF_EXT_STRING'); // sec_name_off
    expect(bad((_, v) => v.setUint32(funcStart + 12, 3, true))).toBe('E_BTF_EXT_RECORD'); // insn_off not at an insn
    for (let n = 0; n < extBytes.length; n += 7) {
      expect(() => {
        try {
          parseBtfExt(extBytes.subarray(0, n), btf);
        } catch (e) {
          if (!(e instanceof BtfError)) throw e;
        }
      }).not.toThrow();
    }
  });
});
