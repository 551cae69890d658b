import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BtfError } from '../errors.js';
import { parseElf, type ElfFile } from '../elf/elf.js';
import { Btf, BtfKind } from './btf.js';
import { fixupObjectBtf } from './fixup.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'elf');
const open = (name: string) => parseElf(new Uint8Array(readFileSync(join(fixtures, name))));

// From `llvm-readelf -S -s minimal.bpfel.o` (LLVM 14, an independent reader); minimal.bpfeb.o has
// the same sizes and values. Section sizes, then each global's section and st_value.
const SECTION_SIZES: Record<string, number> = { '.bss': 0x8, '.data': 0x8, '.maps': 0x40, '.rodata': 0x4, license: 0x4 };
const SYMBOLS: Record<string, { section: string; value: number }> = {
  counts: { section: '.maps', value: 0x0 },
  totals: { section: '.maps', value: 0x20 },
  packets: { section: '.bss', value: 0x0 },
  seed: { section: '.data', value: 0x0 },
  factor: { section: '.rodata', value: 0x0 },
  LICENSE: { section: 'license', value: 0x0 },
};

/** Each DATASEC as `{ size, vars: [name, offset, size][] }`, by section name. */
function datasecs(btf: Btf): Record<string, { size: number; vars: [string, number, number][] }> {
  const out: Record<string, { size: number; vars: [string, number, number][] }> = {};
  for (const t of btf.types) {
    if (t.kind !== BtfKind.Datasec) continue;
    out[t.name] = { size: t.size, vars: t.secinfo!.map((s) => [btf.type(s.type).name, s.offset, s.size]) };
  }
  return out;
}

/** The byte offset of `words` (u32s in the blob's order) in `bytes`. */
function findWords(bytes: Uint8Array, words: number[], le = true): number {
  const pattern = new Uint8Array(words.length * 4);
  words.forEach((w, i) => new DataView(pattern.buffer).setUint32(i * 4, w, le));
  for (let at = 0; at + pattern.length <= bytes.length; at += 4) {
    if (pattern.every((b, i) => bytes[at + i] === b)) return at;
  }
  throw new Error(`pattern ${words} not found`);
}

/** The ELF with one symbol changed (or removed, with `null`). */
function withSymbol(elf: ElfFile, name: string, change: Partial<ElfFile['symbols'][number]> | null): ElfFile {
  const symbols = elf.symbols.flatMap((s) => (s.name !== name ? [s] : change === null ? [] : [{ ...s, ...change }]));
  return { ...elf, symbols };
}

describe('fixupObjectBtf (libbpf\'s btf_fixup_datasec)', () => {
  for (const file of ['minimal.bpfel.o', 'minimal.bpfeb.o']) {
    it(`${file}: DATASEC sizes are the ELF section sizes, VAR offsets the symbol values`, () => {
      const elf = open(file);
      const raw = elf.section('.BTF')!.data;
      const before = raw.slice();
      const rawSecs = datasecs(Btf.parse(raw));
      // What clang leaves: every DATASEC of size 0, every VAR at offset 0.
      for (const s of Object.values(rawSecs)) {
        expect(s.size).toBe(0);
        for (const [, offset] of s.vars) expect(offset).toBe(0);
      }
      const fixed = fixupObjectBtf(raw, elf);
      expect(raw).toEqual(before); // pure
      expect(fixed.length).toBe(raw.length);
      const secs = datasecs(Btf.parse(fixed));
      expect(Object.keys(secs).sort()).toEqual(Object.keys(SECTION_SIZES).sort());
      for (const [name, size] of Object.entries(SECTION_SIZES)) expect(secs[name].size, name).toBe(size);
      const seen = new Set<string>();
      for (const [section, s] of Object.entries(secs)) {
        for (const [v, offset, size] of s.vars) {
          expect(SYMBOLS[v], v).toBeDefined();
          expect(SYMBOLS[v].section).toBe(section);
          expect(offset, v).toBe(SYMBOLS[v].value);
          // VAR sizes are clang's and stay.
          expect(size).toBe(rawSecs[section].vars.find(([n]) => n === v)![2]);
          seen.add(v);
        }
      }
      expect([...seen].sort()).toEqual(Object.keys(SYMBOLS).sort());
      // Nothing but DATASEC records changed: every other type parses the same.
      const a = Btf.parse(raw).types.filter((t) => t.kind !== BtfKind.Datasec);
      const b = Btf.parse(fixed).types.filter((t) => t.kind !== BtfKind.Datasec);
      expect(b).toEqual(a);
    });
  }

  it('sorts each DATASEC\'s variables by offset, as the kernel requires', () => {
    const elf = open('minimal.bpfel.o');
    const raw = elf.section('.BTF')!.data.slice();
    const btf = Btf.parse(raw);
    const counts = btf.find('counts', BtfKind.Var)!.id;
    const totals = btf.find('totals', BtfKind.Var)!.id;
    // Swap the two entries of .maps: totals (0x20) first.
    const at = findWords(raw, [counts, 0, 32, totals, 0, 32]);
    const first = raw.slice(at, at + 12);
    raw.copyWithin(at, at + 12, at + 24);
    raw.set(first, at + 12);
    expect(datasecs(Btf.parse(raw))['.maps'].vars.map(([n]) => n)).toEqual(['totals', 'counts']);
    expect(datasecs(Btf.parse(fixupObjectBtf(raw, elf)))['.maps'].vars).toEqual([['counts', 0, 32], ['totals', 0x20, 32]]);
  });

  it('leaves a DATASEC that already has a size as it is (a static linker\'s output), and is idempotent', () => {
    const elf = open('minimal.bpfel.o');
    const once = fixupObjectBtf(elf.section('.BTF')!.data, elf);
    expect(fixupObjectBtf(once, elf)).toEqual(once);
    // Sized DATASEC: its offsets are trusted, even where the ELF symbol says otherwise.
    const moved = withSymbol(elf, 'totals', { value: 0x10 });
    expect(datasecs(Btf.parse(fixupObjectBtf(once, moved)))['.maps'].vars[1]).toEqual(['totals', 0x20, 32]);
  });

  it('marks a hidden global static, as libbpf does', () => {
    const elf = open('minimal.bpfel.o');
    const fixed = fixupObjectBtf(elf.section('.BTF')!.data, withSymbol(elf, 'seed', { visibility: 2 /* STV_HIDDEN */ }));
    const btf = Btf.parse(fixed);
    expect(btf.find('seed', BtfKind.Var)!.linkage).toBe(0);
    expect(btf.find('packets', BtfKind.Var)!.linkage).toBe(1);
  });

  it('says what is missing: the section to size a DATASEC, the symbol of a global', () => {
    const elf = open('minimal.bpfel.o');
    const raw = elf.section('.BTF')!.data;
    const noData: ElfFile = { ...elf, section: (n) => (n === '.data' ? undefined : elf.section(n)) };
    expect(() => fixupObjectBtf(raw, noData)).toThrow(expect.objectContaining({ code: 'E_BTF_DATASEC', message: expect.stringMatching(/\.data.*no ELF section/) }));
    expect(() => fixupObjectBtf(raw, withSymbol(elf, 'seed', null))).toThrow(expect.objectContaining({ code: 'E_BTF_VAR_SYMBOL', message: expect.stringMatching(/VAR seed/) }));
    expect(() => fixupObjectBtf(raw.subarray(0, 30), elf)).toThrow(BtfError);
  });
});
