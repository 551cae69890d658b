import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BtfError, CoreError, ElfError } from '../errors.js';
import { openObject, programBtf, resolveProgram } from './object.js';
import { EM_BPF, SectionType, parseElf, type ElfFile } from './elf.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'elf');
const fixture = (name: string) => new Uint8Array(readFileSync(join(fixtures, name)));
const readelf = ['/usr/lib/llvm-19/bin/llvm-readelf', '/usr/lib/llvm-14/bin/llvm-readelf'].find((p) => existsSync(p));
if (!readelf) console.log('ELF cross-check with llvm-readelf skipped: no llvm-readelf (apt-get install llvm-19)');

/** Section headers as llvm-readelf prints them: [name, type, offset, size, entsize, link, info]. */
function readelfSections(file: string): [string, string, number, number, number, number, number][] {
  const out = execFileSync(readelf!, ['-S', '--wide', join(fixtures, file)]).toString();
  const rows: [string, string, number, number, number, number, number][] = [];
  for (const line of out.split('\n')) {
    const m = /^\s*\[\s*(\d+)\]\s+(\S*)\s+(\S+)\s+([0-9a-f]{16})\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+(\S*)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    if (m) rows.push([m[2], m[3], parseInt(m[5], 16), parseInt(m[6], 16), parseInt(m[7], 16), Number(m[9]), Number(m[10])]);
    else {
      // The null section has an empty name: one field fewer.
      const z = /^\s*\[\s*0\]\s+NULL\s+/.exec(line);
      if (z) rows.push(['', 'NULL', 0, 0, 0, 0, 0]);
    }
  }
  return rows;
}

const TYPE_NAMES: Record<number, string> = { 0: 'NULL', 1: 'PROGBITS', 2: 'SYMTAB', 3: 'STRTAB', 4: 'RELA', 8: 'NOBITS', 9: 'REL', 0x6fff4c03: 'LLVM_ADDRSIG' };

function relocationsByName(f: ElfFile): string[] {
  const out: string[] = [];
  for (const [target, list] of f.relocations) {
    for (const r of list) out.push(`${f.sections[target].name}+${r.offset} ${r.type} ${f.symbols[r.symbol].name || f.sections[f.symbols[r.symbol].shndx]?.name}`);
  }
  return out.sort();
}

describe('parseElf', () => {
  it('reads clang\'s BPF object: sections, symbols and relocations, the same in both byte orders', () => {
    const le = parseElf(fixture('minimal.bpfel.o'));
    const be = parseElf(fixture('minimal.bpfeb.o'));
    expect(le.littleEndian).toBe(true);
    expect(be.littleEndian).toBe(false);
    expect(le.machine).toBe(EM_BPF);
    for (const f of [le, be]) {
      expect(f.sections.map((s) => s.name)).toContain('xdp');
      expect(f.section('tracepoint/syscalls/sys_enter_openat')?.type).toBe(SectionType.PROGBITS);
      expect(f.section('.bss')?.type).toBe(SectionType.NOBITS);
      expect(f.section('.bss')?.data.length).toBe(0);
      expect(new TextDecoder().decode(f.section('license')!.data)).toBe('GPL\0');
      const names = f.symbols.map((s) => s.name);
      for (const n of ['count_first_byte', 'on_openat', 'scale', 'counts', 'totals', 'factor', 'packets', 'seed', 'LICENSE']) expect(names).toContain(n);
    }
    // What llvm-readelf -r prints for the object (an independent reading of the same bytes):
    // .text loads factor and seed, xdp references counts twice and packets, the tracepoint
    // program totals, packets and calls .text (R_BPF_64_32 = 10).
    for (const f of [le, be]) {
      const rel = relocationsByName(f).filter((r) => !r.startsWith('.debug') && !r.startsWith('.BTF'));
      expect(rel).toEqual([
        '.text+0 1 factor', '.text+32 1 seed',
        'tracepoint/syscalls/sys_enter_openat+32 1 totals', 'tracepoint/syscalls/sys_enter_openat+72 1 packets', 'tracepoint/syscalls/sys_enter_openat+96 10 .text',
        'xdp+168 1 counts', 'xdp+200 1 packets', 'xdp+88 1 counts',
      ]);
    }
    expect(be.sections.map((s) => [s.name, s.size])).toEqual(le.sections.map((s) => [s.name, s.size]));
  });

  it.runIf(readelf)('agrees with llvm-readelf on every section header of both objects', () => {
    for (const file of ['minimal.bpfel.o', 'minimal.bpfeb.o']) {
      const ours = parseElf(fixture(file)).sections.map((s) => [s.name, TYPE_NAMES[s.type] ?? String(s.type), s.type === SectionType.NULL ? 0 : s.offset, s.size, s.entsize, s.link, s.info]);
      expect(ours).toEqual(readelfSections(file));
    }
  });

  it('refuses what is not a BPF relocatable ELF64 object, with a code and an offset', () => {
    const good = fixture('minimal.bpfel.o');
    const cases: [Uint8Array, string][] = [
      [new Uint8Array(0), 'E_ELF_MAGIC'],
      [Uint8Array.from(good.subarray(0, 40)), 'E_ELF_TRUNCATED'],
      [patch(good, 4, [1]), 'E_ELF_CLASS'],
      [patch(good, 5, [3]), 'E_ELF_ENCODING'],
      [patch(good, 16, [2, 0]), 'E_ELF_TYPE'],
      [patch(good, 18, [62, 0]), 'E_ELF_MACHINE'],
      [patch(good, 60, [0xff, 0x7f]), 'E_ELF_TRUNCATED'],
      [Uint8Array.from(good.subarray(0, good.length - 100)), 'E_ELF_TRUNCATED'],
    ];
    for (const [bytes, code] of cases) {
      let err: unknown;
      try {
        parseElf(bytes);
      } catch (e) {
        err = e;
      }
      expect(err, code).toBeInstanceOf(ElfError);
      expect((err as ElfError).code).toBe(code);
      expect((err as ElfError).offset).toBeGreaterThanOrEqual(0);
    }
  });

  it('100,000 mutated objects (every fixture, both byte orders) open or give an ElfError or BtfError (CoreError when CO-RE relocates them), nothing else, in bounded time', () => {
    const names = readdirSync(fixtures).filter((n) => n.endsWith('.o')).sort();
    const bases = names.map((n) => fixture(n));
    const parsed = bases.map((b) => parseElf(b));
    let seed = 0x5eed;
    const rand = () => {
      seed ^= seed << 13; seed >>>= 0;
      seed ^= seed >>> 17;
      seed ^= seed << 5; seed >>>= 0;
      return seed / 4294967296;
    };
    let ok = 0;
    let refused = 0;
    let relocated = 0;
    const codes = new Map<string, number>();
    const t0 = Date.now();
    for (let n = 0; n < 100_000; n++) {
      const i = n % bases.length;
      const base = bases[i];
      const f = parsed[i];
      const le = f.littleEndian;
      const shoff = Number(new DataView(base.buffer, base.byteOffset).getBigUint64(40, le));
      let bytes = base.slice();
      const inSection = (name: string) => {
        const sec = f.section(name) ?? f.sections[1];
        writeU32(bytes, Math.min(sec.offset + 4 * Math.floor(rand() * Math.max(1, sec.size / 4)), bytes.length - 4), [0xffffffff, 0x7fffffff, 0, Math.floor(rand() * 0x3000), 1, 8][Math.floor(rand() * 6)], le);
      };
      switch (Math.floor(rand() * 8)) {
        case 0: // flip random bytes anywhere
          for (let k = 0; k < 1 + rand() * 8; k++) bytes[Math.floor(rand() * bytes.length)] ^= 1 << Math.floor(rand() * 8);
          break;
        case 1: { // a field of a section header set to something large or small
          const sh = shoff + 64 * Math.floor(rand() * f.sections.length) + [4, 24, 32, 40, 44, 56, 0][Math.floor(rand() * 7)];
          writeU32(bytes, sh, [0xffffffff, 0x7fffffff, 0, Math.floor(rand() * 0x3000), 1, 63][Math.floor(rand() * 6)], le);
          break;
        }
        case 2: // the ELF header's counts and offsets
          writeU32(bytes, [40, 44, 58, 60, 62][Math.floor(rand() * 5)], Math.floor(rand() * 0x10000), le);
          break;
        case 3: { // a symbol or relocation entry
          const sec = f.sections.filter((s) => s.type === SectionType.SYMTAB || s.type === SectionType.REL)[Math.floor(rand() * 8)] ?? f.sections[1];
          const at = sec.offset + Math.floor(rand() * Math.max(1, sec.size));
          writeU32(bytes, Math.min(at, bytes.length - 4), Math.floor(rand() * 0xffffffff), le);
          break;
        }
        case 4: // truncated
          bytes = bytes.subarray(0, Math.floor(rand() * bytes.length));
          break;
        case 5: // a word of .BTF.ext (record sizes, counts, insn offsets, CO-RE records)
          inSection('.BTF.ext');
          break;
        case 6: // a word of .BTF (types, map definitions, DATASECs)
          inSection('.BTF');
          break;
        default: // garbage appended and e_shoff pointed at it
          bytes = new Uint8Array(base.length + 256);
          bytes.set(base);
          for (let k = base.length; k < bytes.length; k++) bytes[k] = Math.floor(rand() * 256);
          writeU32(bytes, 40, base.length, le);
          writeU32(bytes, 44, 0, le);
      }
      try {
        // The whole open: ELF, BTF, BTF.ext, maps, relocations and linking; then, for what opens,
        // the BTF fix-up for the kernel and CO-RE against the object's own BTF as the target.
        const o = openObject(bytes);
        programBtf(o);
        if (o.btf) {
          for (const p of o.programs) {
            if (!p.coreRelos.length) continue;
            resolveProgram(p, o.maps.map((_, k) => k + 3), { local: o.btf, target: o.btf });
            relocated++;
          }
        }
        ok++;
      } catch (e) {
        if (e instanceof BtfError || e instanceof ElfError || e instanceof CoreError) {
          refused++;
          codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
          continue;
        }
        throw new Error(`mutation ${n} of ${names[i]} threw ${(e as Error).name}: ${(e as Error).message}\n${(e as Error).stack}`);
      }
    }
    console.log(`ELF fuzz: 100000 mutated objects of ${names.length} fixtures, ${ok} parsed (${relocated} programs CO-RE relocated), ${refused} refused (${[...codes].map(([c, k]) => `${c} ${k}`).join(', ')}) in ${Date.now() - t0} ms`);
    expect(refused).toBeGreaterThan(10_000);
  });
});

function patch(bytes: Uint8Array, at: number, values: number[]): Uint8Array {
  const b = bytes.slice();
  values.forEach((v, i) => (b[at + i] = v));
  return b;
}

function writeU32(bytes: Uint8Array, at: number, v: number, le: boolean): void {
  if (at < 0 || at + 4 > bytes.length) return;
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, v >>> 0, le);
}
