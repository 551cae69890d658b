import { ElfError } from '../errors.js';

/** `e_machine` of eBPF objects. */
export const EM_BPF = 247;

/** Section types (`SHT_*`) BPF objects use. */
export const SectionType = {
  NULL: 0, PROGBITS: 1, SYMTAB: 2, STRTAB: 3, RELA: 4, NOBITS: 8, REL: 9,
} as const;

/** Section flags (`SHF_*`). */
export const SectionFlag = { WRITE: 0x1, ALLOC: 0x2, EXECINSTR: 0x4 } as const;

/** Symbol binding and type (`STB_*`, `STT_*`). */
export const SymbolBind = { LOCAL: 0, GLOBAL: 1, WEAK: 2 } as const;
export const SymbolType = { NOTYPE: 0, OBJECT: 1, FUNC: 2, SECTION: 3, FILE: 4 } as const;

/** Special section indexes (`SHN_*`). */
export const SHN_UNDEF = 0;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
const SHN_LORESERVE = 0xff00;
const SHN_XINDEX = 0xffff;

/** One section. */
export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  /** File offset and size of its contents (`size` is the memory size for NOBITS, which has no contents). */
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
  /** The contents (a view of the file); empty for NOBITS. */
  data: Uint8Array;
}

/** One symbol of `.symtab`. */
export interface ElfSymbol {
  index: number;
  name: string;
  bind: number;
  type: number;
  /** `STV_*` visibility (the low bits of `st_other`). */
  visibility: number;
  /** Section index, or `SHN_UNDEF` / `SHN_ABS` / `SHN_COMMON`. */
  shndx: number;
  value: number;
  size: number;
}

/** One relocation of a REL or RELA section. */
export interface ElfRelocation {
  /** Offset in the section the relocation applies to. */
  offset: number;
  /** Index into the symbol table. */
  symbol: number;
  /** `R_BPF_*` for BPF objects. */
  type: number;
  /** RELA only. */
  addend?: bigint;
}

/** A parsed relocatable ELF64 object. */
export interface ElfFile {
  littleEndian: boolean;
  /** `e_type` (1: relocatable). */
  type: number;
  machine: number;
  flags: number;
  sections: ElfSection[];
  /** The symbols of `.symtab` (index 0 is the null symbol), empty without one. */
  symbols: ElfSymbol[];
  /** Relocations by the index of the section they apply to. */
  relocations: Map<number, ElfRelocation[]>;
  /** The first section with this name. */
  section(name: string): ElfSection | undefined;
}

/** Options of {@link parseElf}. */
export interface ParseElfOptions {
  /** Accept any `e_machine` (default: only `EM_BPF`). */
  anyMachine?: boolean;
}

/**
 * A bounds-checked reader: every offset and count from a header is checked against the file
 * before it is used, so a malformed object gives an {@link ElfError}, never an exception of
 * another kind, a huge allocation or a read outside the buffer.
 */
class Reader {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array, readonly le: boolean) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(at: number, len: number, what: string): void {
    if (at < 0 || len < 0 || at + len > this.bytes.length) {
      throw new ElfError('E_ELF_TRUNCATED', `${what} (${len} bytes at ${at}) runs past the end of the ${this.bytes.length}-byte file`, Math.max(0, Math.min(at, this.bytes.length)));
    }
  }
  u8(at: number): number {
    return this.bytes[at];
  }
  u16(at: number): number {
    return this.view.getUint16(at, this.le);
  }
  u32(at: number): number {
    return this.view.getUint32(at, this.le);
  }
  /** A u64 that must be a usable size or offset (below 2^53). */
  u64(at: number, what: string): number {
    const v = this.view.getBigUint64(at, this.le);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError('E_ELF_SECTION', `${what} 0x${v.toString(16)} is out of range`, at);
    return Number(v);
  }
  i64(at: number): bigint {
    return this.view.getBigInt64(at, this.le);
  }
}

/** A NUL-terminated name in a string table. */
function stringAt(strtab: ElfSection | undefined, off: number, what: string): string {
  if (off === 0) return '';
  if (!strtab) throw new ElfError('E_ELF_STRING', `${what} names string ${off} but there is no string table`, 0);
  const d = strtab.data;
  if (off >= d.length) throw new ElfError('E_ELF_STRING', `${what}: string offset ${off} is past the end of ${strtab.name || 'the string table'} (${d.length} bytes)`, strtab.offset + Math.min(off, d.length));
  const end = d.indexOf(0, off);
  if (end < 0) throw new ElfError('E_ELF_STRING', `${what}: the string at ${off} in ${strtab.name || 'the string table'} has no terminating NUL`, strtab.offset + off);
  let s = '';
  for (let i = off; i < end; i++) s += String.fromCharCode(d[i]);
  return s;
}

/**
 * Parses a relocatable ELF64 object (what `clang -target bpf -c` writes), little or big endian:
 * the section headers with their names and contents, `.symtab`, and every REL/RELA section.
 *
 * @throws ElfError with a stable code and the file offset of the problem.
 */
export function parseElf(input: Uint8Array, opts: ParseElfOptions = {}): ElfFile {
  // Our own copy: a Node Buffer's slice() is a view (writes through it would reach the caller's
  // bytes or the Buffer pool), and the caller may reuse its buffer after the object is open.
  const bytes = new Uint8Array(input);
  if (bytes.length < 16 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new ElfError('E_ELF_MAGIC', 'not an ELF file (no \\x7fELF magic)', 0);
  }
  if (bytes[4] !== 2) throw new ElfError('E_ELF_CLASS', `ELF class ${bytes[4]} is not ELF64 (2)`, 4);
  if (bytes[5] !== 1 && bytes[5] !== 2) throw new ElfError('E_ELF_ENCODING', `data encoding ${bytes[5]} is neither little (1) nor big (2) endian`, 5);
  if (bytes[6] !== 1) throw new ElfError('E_ELF_VERSION', `ELF version ${bytes[6]} is not 1`, 6);
  const r = new Reader(bytes, bytes[5] === 1);
  r.need(0, 64, 'the ELF header');
  const type = r.u16(16);
  const machine = r.u16(18);
  if (type !== 1) throw new ElfError('E_ELF_TYPE', `e_type ${type} is not a relocatable object (1): BPF objects are what clang -c writes`, 16);
  if (!opts.anyMachine && machine !== EM_BPF) throw new ElfError('E_ELF_MACHINE', `e_machine ${machine} is not EM_BPF (247)`, 18);
  const flags = r.u32(48);
  const shoff = r.u64(40, 'e_shoff');
  const shentsize = r.u16(58);
  let shnum = r.u16(60);
  let shstrndx = r.u16(62);
  if (shoff === 0) {
    return { littleEndian: r.le, type, machine, flags, sections: [], symbols: [], relocations: new Map(), section: () => undefined };
  }
  if (shentsize !== 64) throw new ElfError('E_ELF_SECTION', `e_shentsize ${shentsize} is not 64`, 58);
  r.need(shoff, 64, 'section header 0');
  // Extended numbering: the real counts live in section 0.
  if (shnum === 0) shnum = r.u64(shoff + 32, 'the section count');
  if (shstrndx === SHN_XINDEX) shstrndx = r.u32(shoff + 40);
  // Bounded before any allocation: the headers must fit in the file.
  if (shnum > Math.floor((bytes.length - shoff) / 64)) {
    throw new ElfError('E_ELF_TRUNCATED', `${shnum} section headers at ${shoff} do not fit in the ${bytes.length}-byte file`, 60);
  }
  const sections: ElfSection[] = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + 64 * i;
    const stype = r.u32(h + 4);
    const offset = r.u64(h + 24, `section ${i} offset`);
    const size = r.u64(h + 32, `section ${i} size`);
    if (stype !== SectionType.NOBITS && stype !== SectionType.NULL) r.need(offset, size, `section ${i}'s contents`);
    sections.push({
      index: i,
      name: '',
      type: stype,
      flags: Number(r.view.getBigUint64(h + 8, r.le) & 0xffffffffn),
      offset,
      size,
      link: r.u32(h + 40),
      info: r.u32(h + 44),
      addralign: r.u64(h + 48, `section ${i} alignment`),
      entsize: r.u64(h + 56, `section ${i} entry size`),
      data: stype === SectionType.NOBITS || stype === SectionType.NULL ? new Uint8Array(0) : bytes.subarray(offset, offset + size),
    });
  }
  if (shstrndx >= sections.length && shstrndx !== SHN_UNDEF) {
    throw new ElfError('E_ELF_SECTION', `e_shstrndx ${shstrndx} is not a section (${sections.length} sections)`, 62);
  }
  const shstrtab = shstrndx === SHN_UNDEF ? undefined : sections[shstrndx];
  for (const s of sections) s.name = stringAt(shstrtab, r.u32(shoff + 64 * s.index), `section ${s.index}'s name`);

  const symbols = parseSymbols(r, sections);
  const relocations = new Map<number, ElfRelocation[]>();
  for (const s of sections) {
    if (s.type !== SectionType.REL && s.type !== SectionType.RELA) continue;
    const rela = s.type === SectionType.RELA;
    const entsize = rela ? 24 : 16;
    if (s.entsize !== entsize || s.size % entsize !== 0) {
      throw new ElfError('E_ELF_RELOCATION', `${s.name}: entry size ${s.entsize} and size ${s.size} do not make ${rela ? 'RELA' : 'REL'} entries of ${entsize} bytes`, shoff + 64 * s.index + 56);
    }
    if (s.info === 0 || s.info >= sections.length) {
      throw new ElfError('E_ELF_RELOCATION', `${s.name} applies to section ${s.info}, which does not exist`, shoff + 64 * s.index + 44);
    }
    const list: ElfRelocation[] = [];
    for (let at = s.offset; at < s.offset + s.size; at += entsize) {
      const info = r.view.getBigUint64(at + 8, r.le);
      const symbol = Number(info >> 32n);
      const offset = r.u64(at, 'relocation offset');
      if (symbol >= symbols.length) throw new ElfError('E_ELF_RELOCATION', `${s.name}: relocation at ${offset} names symbol ${symbol} of ${symbols.length}`, at + 8);
      const target = sections[s.info];
      if (target.type !== SectionType.NOBITS && offset >= target.size) {
        throw new ElfError('E_ELF_RELOCATION', `${s.name}: relocation offset ${offset} is past the end of ${target.name} (${target.size} bytes)`, at);
      }
      list.push({ offset, symbol, type: Number(info & 0xffffffffn), ...(rela ? { addend: r.i64(at + 16) } : {}) });
    }
    const prev = relocations.get(s.info);
    relocations.set(s.info, prev ? prev.concat(list) : list);
  }
  return {
    littleEndian: r.le, type, machine, flags, sections, symbols, relocations,
    section: (name) => sections.find((s) => s.name === name),
  };
}

function parseSymbols(r: Reader, sections: ElfSection[]): ElfSymbol[] {
  const symtab = sections.find((s) => s.type === SectionType.SYMTAB);
  if (!symtab) return [];
  if (symtab.entsize !== 24 || symtab.size % 24 !== 0) {
    throw new ElfError('E_ELF_SYMBOL', `${symtab.name}: entry size ${symtab.entsize} and size ${symtab.size} do not make symbols of 24 bytes`, symtab.offset);
  }
  if (symtab.link >= sections.length) throw new ElfError('E_ELF_SYMBOL', `${symtab.name} names string table ${symtab.link}, which does not exist`, symtab.offset);
  const strtab = sections[symtab.link];
  const out: ElfSymbol[] = [];
  for (let i = 0; i < symtab.size / 24; i++) {
    const at = symtab.offset + 24 * i;
    const info = r.u8(at + 4);
    const shndx = r.u16(at + 6);
    if (shndx !== SHN_UNDEF && shndx < SHN_LORESERVE && shndx >= sections.length) {
      throw new ElfError('E_ELF_SYMBOL', `symbol ${i} is in section ${shndx}, which does not exist`, at + 6);
    }
    out.push({
      index: i,
      name: stringAt(strtab, r.u32(at), `symbol ${i}'s name`),
      bind: info >> 4,
      type: info & 0xf,
      visibility: r.u8(at + 5) & 3,
      shndx,
      value: r.u64(at + 8, `symbol ${i} value`),
      size: r.u64(at + 16, `symbol ${i} size`),
    });
  }
  return out;
}
