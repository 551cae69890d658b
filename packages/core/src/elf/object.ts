import type { Backend, BackendMap, LoadedProgram, MapSpec, ProgramSpec } from '../backend.js';
import { Btf, BtfKind } from '../btf/btf.js';
import { ElfError } from '../errors.js';
import { decode, type Insn } from '../isa/insn.js';
import { PseudoLd } from '../isa/opcodes.js';
import { MapType } from '../uapi/map-types.js';
import type { AttachType } from '../uapi/attach-types.js';
import type { ProgType } from '../uapi/prog-types.js';
import { SectionFlag, SectionType, SymbolType, parseElf, type ElfFile, type ElfSection, type ElfSymbol } from './elf.js';
import { progTypeOfSection } from './sections.js';

/** `R_BPF_*` relocation types. */
export const RelocType = { NONE: 0, R_BPF_64_64: 1, R_BPF_64_ABS64: 2, R_BPF_64_ABS32: 3, R_BPF_64_NODYLD32: 4, R_BPF_64_32: 10 } as const;

/** A map of an object: BTF-defined (`.maps`), legacy (`maps`) or global data (`.rodata`, `.data`, `.bss`, ...). */
export interface ObjectMap {
  name: string;
  spec: MapSpec;
  kind: 'btf' | 'legacy' | 'data';
  /** The section it comes from. */
  section: string;
  /** Global data: the initial contents of its one value (zeroes for `.bss`). */
  initial?: Uint8Array;
}

/** A use of a map in a program: the `lddw` at `slot` loads the map (`fd`) or a pointer into its value (`value`). */
export interface MapRef {
  slot: number;
  map: number;
  kind: 'fd' | 'value';
  /** Offset into the value (`value` only). */
  offset: number;
}

/** A program of an object, linked with the subprograms it calls. */
export interface ObjectProgram {
  name: string;
  section: string;
  progType: ProgType;
  expectedAttachType?: AttachType;
  /** The attach target the section names (`syscalls/sys_enter_openat`, `tcp_v4_connect`). */
  target?: string;
  license: string;
  /** The linked code, 8 bytes per slot, little endian, map references holding the map's index. */
  code: Uint8Array;
  refs: MapRef[];
  /** `code` decoded (map references hold the map's index in {@link BpfObject.maps}). */
  insns: Insn[];
}

/** An opened object: what libbpf's `bpf_object__open` gives. */
export interface BpfObject {
  littleEndian: boolean;
  license: string;
  /** The `version` section (kernel version for old kprobe loaders), if any. */
  version?: number;
  programs: ObjectProgram[];
  maps: ObjectMap[];
  btf?: Btf;
  elf: ElfFile;
  program(name: string): ObjectProgram | undefined;
  map(name: string): ObjectMap | undefined;
}

const EXEC = SectionFlag.EXECINSTR;
/** The kernel's largest map value (`KMALLOC_MAX_SIZE` on x86-64): bounds global data sections. */
const MAX_VALUE_SIZE = 4 << 20;

/** The instruction slots of a section in little-endian layout (big-endian objects are converted). */
function sectionSlots(f: ElfFile, s: ElfSection): Uint8Array {
  if (s.size % 8 !== 0) throw new ElfError('E_ELF_SECTION', `program section ${s.name} is ${s.size} bytes, not a whole number of 8-byte instructions`, s.offset);
  const out = s.data.slice();
  if (!f.littleEndian) {
    for (let at = 0; at < out.length; at += 8) {
      const regs = out[at + 1];
      out[at + 1] = ((regs & 0xf) << 4) | (regs >> 4);
      [out[at + 2], out[at + 3]] = [out[at + 3], out[at + 2]];
      [out[at + 4], out[at + 5], out[at + 6], out[at + 7]] = [out[at + 7], out[at + 6], out[at + 5], out[at + 4]];
    }
  }
  return out;
}

function isDataSection(s: ElfSection): boolean {
  if (!(s.flags & SectionFlag.ALLOC) || (s.flags & EXEC)) return false;
  return s.name === '.rodata' || s.name === '.data' || s.name === '.bss' || s.name.startsWith('.rodata.') || s.name.startsWith('.data.');
}

/** The value a `__uint(name, N)` or `__type(name, T)` member of a BTF map definition encodes. */
function btfMapDef(btf: Btf, structId: number, mapName: string, at: number): Partial<Record<string, number>> {
  const st = btf.resolve(structId);
  if (st.kind !== BtfKind.Struct) throw new ElfError('E_ELF_SECTION', `map ${mapName}: its BTF type is not a struct`, at);
  const out: Partial<Record<string, number>> = {};
  for (const m of st.members ?? []) {
    const t = btf.resolve(m.type);
    if (t.kind !== BtfKind.Ptr) continue;
    const target = btf.resolve(t.type);
    if (m.name === 'key' || m.name === 'value') out[`${m.name}_size`] = btf.sizeOf(t.type);
    else if (target.kind === BtfKind.Array && target.array) out[m.name] = target.array.nelems;
  }
  return out;
}

/**
 * Opens a BPF ELF object as libbpf does (`bpf_object__open_mem`): finds the programs by their
 * sections (libbpf's section names give the program and attach types), links each with the
 * `.text` subprograms it calls, reads BTF-defined and legacy maps and global data sections, and
 * records every map reference of the code. Pure: nothing is created on a backend yet (see
 * {@link loadObjectInto}).
 *
 * Not yet: CO-RE relocations, `.kconfig` and `__ksym` externs, callbacks (`BPF_PSEUDO_FUNC`),
 * map-in-map inner maps, line_info and func_info.
 *
 * @throws ElfError for a malformed object or one this loader cannot link.
 */
export function openObject(bytes: Uint8Array): BpfObject {
  const f = parseElf(bytes);
  const licenseSec = f.section('license');
  const license = licenseSec ? new TextDecoder().decode(licenseSec.data).replace(/\0.*$/s, '') : '';
  const versionSec = f.section('version');
  const version = versionSec && versionSec.data.length >= 4 ? new DataView(versionSec.data.buffer, versionSec.data.byteOffset).getUint32(0, f.littleEndian) : undefined;
  const btfSec = f.section('.BTF');
  let btf: Btf | undefined;
  if (btfSec) btf = Btf.parse(btfSec.data);

  // ---- maps ----
  const maps: ObjectMap[] = [];
  const mapBySymbol = new Map<string, number>();
  const mapsSec = f.section('.maps');
  if (mapsSec) {
    if (!btf) throw new ElfError('E_ELF_SECTION', 'the object has a .maps section but no .BTF to describe its maps', mapsSec.offset);
    const datasec = btf.types.find((t) => t.kind === BtfKind.Datasec && t.name === '.maps');
    for (const info of datasec?.secinfo ?? []) {
      const v = btf.type(info.type);
      const d = btfMapDef(btf, v.type, v.name, mapsSec.offset);
      const spec: MapSpec = {
        type: (d.type ?? 0) as MapType, keySize: d.key_size ?? 0, valueSize: d.value_size ?? 0, maxEntries: d.max_entries ?? 0,
        ...(d.map_flags ? { flags: d.map_flags } : {}), name: v.name.slice(0, 15),
      };
      mapBySymbol.set(v.name, maps.length);
      maps.push({ name: v.name, spec, kind: 'btf', section: '.maps' });
    }
  }
  const legacy = f.section('maps');
  if (legacy) {
    for (const sym of f.symbols) {
      if (sym.shndx !== legacy.index || !sym.name || sym.type === SymbolType.SECTION) continue;
      if (sym.value + 20 > legacy.data.length) throw new ElfError('E_ELF_SYMBOL', `legacy map ${sym.name} runs past the end of the maps section`, legacy.offset + sym.value);
      const dv = new DataView(legacy.data.buffer, legacy.data.byteOffset + sym.value);
      const u = (i: number) => dv.getUint32(4 * i, f.littleEndian);
      mapBySymbol.set(sym.name, maps.length);
      maps.push({ name: sym.name, kind: 'legacy', section: 'maps', spec: { type: u(0) as MapType, keySize: u(1), valueSize: u(2), maxEntries: u(3), ...(u(4) ? { flags: u(4) } : {}), name: sym.name.slice(0, 15) } });
    }
  }
  const mapBySection = new Map<number, number>();
  for (const s of f.sections) {
    if (!isDataSection(s) || s.size === 0) continue;
    // Bounded before allocating: a NOBITS size is not backed by the file.
    if (s.size > MAX_VALUE_SIZE) throw new ElfError('E_ELF_SECTION', `${s.name} is ${s.size} bytes, more than a map value can hold (${MAX_VALUE_SIZE})`, s.offset);
    mapBySection.set(s.index, maps.length);
    maps.push({
      name: s.name, kind: 'data', section: s.name,
      spec: { type: MapType.Array, keySize: 4, valueSize: s.size, maxEntries: 1, name: s.name.slice(0, 15) },
      initial: s.type === SectionType.NOBITS ? new Uint8Array(s.size) : s.data.slice(),
    });
  }

  // ---- programs ----
  const slotsOf = new Map<number, Uint8Array>();
  const slots = (s: ElfSection) => {
    let b = slotsOf.get(s.index);
    if (!b) slotsOf.set(s.index, (b = sectionSlots(f, s)));
    return b;
  };
  const funcsIn = (shndx: number) => f.symbols.filter((s) => s.shndx === shndx && s.type === SymbolType.FUNC).sort((a, b) => a.value - b.value);
  const programs: ObjectProgram[] = [];
  for (const s of f.sections) {
    if (s.type !== SectionType.PROGBITS || !(s.flags & EXEC) || s.name === '.text' || s.size === 0) continue;
    const kind = progTypeOfSection(s.name);
    if (!kind) throw new ElfError('E_ELF_SECTION', `program section "${s.name}" is not one libbpf knows (SEC("xdp"), SEC("kprobe/..."), SEC("tracepoint/..."), ...)`, s.offset);
    for (const fn of funcsIn(s.index)) {
      const { code, refs } = link(f, fn, slots, funcsIn, (sym, at) => mapRef(f, sym, at, mapBySymbol, mapBySection));
      programs.push({
        name: fn.name, section: s.name, progType: kind.progType, ...(kind.expectedAttachType !== undefined ? { expectedAttachType: kind.expectedAttachType } : {}),
        ...(kind.target !== undefined ? { target: kind.target } : {}), license, code, refs, insns: decode(code),
      });
    }
  }
  return {
    littleEndian: f.littleEndian, license, ...(version !== undefined ? { version } : {}), programs, maps, ...(btf ? { btf } : {}), elf: f,
    program: (name) => programs.find((p) => p.name === name),
    map: (name) => maps.find((m) => m.name === name),
  };
}

/** What an `R_BPF_64_64` against `sym` on an `lddw` refers to. */
function mapRef(f: ElfFile, sym: ElfSymbol, at: number, bySymbol: Map<string, number>, bySection: Map<number, number>): { map: number; kind: 'fd' | 'value'; offset: number } {
  const sec = f.sections[sym.shndx];
  if (sec && (sec.name === '.maps' || sec.name === 'maps')) {
    const map = bySymbol.get(sym.name);
    if (map === undefined) throw new ElfError('E_ELF_RELOCATION', `relocation against ${sym.name}, which is not a map of ${sec.name}`, at);
    return { map, kind: 'fd', offset: 0 };
  }
  const data = bySection.get(sym.shndx);
  if (data !== undefined) return { map: data, kind: 'value', offset: sym.type === SymbolType.SECTION ? 0 : sym.value };
  if (sym.shndx === 0) throw new ElfError('E_ELF_RELOCATION', `relocation against the undefined symbol ${sym.name} (an extern: .kconfig and __ksym are not resolved yet)`, at);
  throw new ElfError('E_ELF_RELOCATION', `relocation against ${sym.name || 'a symbol'} in ${sec?.name ?? `section ${sym.shndx}`}, which is neither a map nor global data`, at);
}

/**
 * The code of function `fn` followed by the subprograms it calls (transitively), each appended
 * once, with calls retargeted and map references collected.
 */
function link(
  f: ElfFile,
  fn: ElfSymbol,
  slots: (s: ElfSection) => Uint8Array,
  funcsIn: (shndx: number) => ElfSymbol[],
  resolveMap: (sym: ElfSymbol, at: number) => { map: number; kind: 'fd' | 'value'; offset: number },
): { code: Uint8Array; refs: MapRef[] } {
  const parts: Uint8Array[] = [];
  const refs: MapRef[] = [];
  /** Appended functions: "section:firstSlot" -> position (slot) in the linked code. */
  const placed = new Map<string, number>();
  let total = 0;
  const queue: ElfSymbol[] = [];
  const place = (sym: ElfSymbol): number => {
    const key = `${sym.shndx}:${sym.value}`;
    let at = placed.get(key);
    if (at === undefined) {
      at = total;
      placed.set(key, at);
      if (sym.size % 8 !== 0 || sym.value % 8 !== 0) throw new ElfError('E_ELF_SYMBOL', `function ${sym.name} is not a whole number of instructions`, 0);
      total += sym.size / 8;
      queue.push(sym);
    }
    return at;
  };
  place(fn);
  while (queue.length) {
    const sym = queue.shift()!;
    const sec = f.sections[sym.shndx];
    if (!sec || sec.type !== SectionType.PROGBITS || !(sec.flags & EXEC)) {
      throw new ElfError('E_ELF_SYMBOL', `function ${sym.name} is not in a program section`, 0);
    }
    const all = slots(sec);
    const first = sym.value / 8;
    const n = sym.size / 8;
    if ((first + n) * 8 > all.length) throw new ElfError('E_ELF_SYMBOL', `function ${sym.name} runs past the end of ${sec.name}`, sec.offset + sym.value);
    const code = all.slice(first * 8, (first + n) * 8);
    const base = placed.get(`${sym.shndx}:${sym.value}`)!;
    const view = new DataView(code.buffer, code.byteOffset, code.byteLength);
    const relocs = new Map<number, { type: number; symbol: number }>();
    for (const r of f.relocations.get(sym.shndx) ?? []) {
      const slot = r.offset / 8;
      if (slot >= first && slot < first + n) relocs.set(slot - first, r);
    }
    for (let k = 0; k < n; k++) {
      const op = code[k * 8];
      const src = code[k * 8 + 1] >> 4;
      const r = relocs.get(k);
      const at = sec.offset + (first + k) * 8;
      if (op === 0x18 && r) {
        if (r.type !== RelocType.R_BPF_64_64) throw new ElfError('E_ELF_RELOCATION', `lddw in ${sec.name} has relocation type ${r.type}, not R_BPF_64_64`, at);
        const target = f.symbols[r.symbol];
        if (target.type === SymbolType.FUNC || (f.sections[target.shndx]?.flags ?? 0) & EXEC) {
          throw new ElfError('E_ELF_RELOCATION', `lddw of the function ${target.name} (a callback): BPF_PSEUDO_FUNC is not linked yet`, at);
        }
        const ref = resolveMap(target, at);
        const offset = ref.kind === 'value' ? ref.offset + view.getInt32(k * 8 + 4, true) : 0;
        code[k * 8 + 1] = (code[k * 8 + 1] & 0x0f) | ((ref.kind === 'fd' ? PseudoLd.MAP_FD : PseudoLd.MAP_VALUE) << 4);
        view.setInt32(k * 8 + 4, ref.map, true);
        view.setInt32(k * 8 + 12, offset, true);
        refs.push({ slot: base + k, map: ref.map, kind: ref.kind, offset });
      } else if (op === 0x85 && src === 1) {
        // bpf-to-bpf call: the callee's slot in its section, then where it lands in the linked code.
        let calleeSec = sym.shndx;
        let targetSlot: number;
        if (r) {
          if (r.type !== RelocType.R_BPF_64_32) throw new ElfError('E_ELF_RELOCATION', `call in ${sec.name} has relocation type ${r.type}, not R_BPF_64_32`, at);
          const t = f.symbols[r.symbol];
          calleeSec = t.shndx;
          targetSlot = t.value / 8 + view.getInt32(k * 8 + 4, true) + 1;
        } else targetSlot = first + k + 1 + view.getInt32(k * 8 + 4, true);
        const callee = funcsIn(calleeSec).find((s) => targetSlot * 8 >= s.value && targetSlot * 8 < s.value + s.size);
        if (!callee) throw new ElfError('E_ELF_RELOCATION', `call in ${sec.name} to slot ${targetSlot} of ${f.sections[calleeSec]?.name}, where no function is`, at);
        const calleeAt = place(callee) + targetSlot - callee.value / 8;
        view.setInt32(k * 8 + 4, calleeAt - (base + k) - 1, true);
      } else if (r && r.type !== RelocType.NONE) {
        throw new ElfError('E_ELF_RELOCATION', `relocation type ${r.type} on an instruction (opcode 0x${op.toString(16)}) in ${sec.name}`, at);
      }
      if (op === 0x18) k++;
    }
    parts.push(code);
  }
  const out = new Uint8Array(total * 8);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return { code: out, refs };
}

/** A map {@link loadObjectInto} created, as a verifier needs it. */
export interface LoadedMapInfo {
  fd: number;
  name: string;
  spec: MapSpec;
  /** `.rodata`: read-only for programs (libbpf freezes it). */
  frozen: boolean;
}

/** The maps and programs {@link loadObjectInto} created. */
export interface LoadedObject {
  maps: Map<string, BackendMap>;
  programs: Map<string, LoadedProgram>;
}

/** The program's instructions with the map references of `refs` filled in with descriptors. */
export function resolveProgram(p: ObjectProgram, fds: readonly number[]): Insn[] {
  const code = new Uint8Array(p.code);
  const view = new DataView(code.buffer);
  for (const r of p.refs) view.setInt32(r.slot * 8 + 4, fds[r.map], true);
  return decode(code);
}

/**
 * Loads an opened object on a backend, in libbpf's order: creates every map (global data maps
 * filled with their initial contents), then for each program fills in the map descriptors, runs
 * `verify` (e.g. `@tsbpf/verifier`) when given, and loads it.
 *
 * @throws ElfError for a big-endian object (the backends are little endian, as the host is).
 */
export function loadObjectInto(obj: BpfObject, backend: Backend, opts: { verify?: (spec: ProgramSpec, maps: LoadedMapInfo[]) => void } = {}): LoadedObject {
  if (!obj.littleEndian) throw new ElfError('E_ELF_ENCODING', 'the object is big endian (clang -target bpfeb); this host and its backends are little endian', 5);
  const maps = new Map<string, BackendMap>();
  const fds: number[] = [];
  const infos: LoadedMapInfo[] = [];
  for (const m of obj.maps) {
    const bm = backend.createMap(m.spec);
    if (m.initial) bm.update(new Uint8Array(4), m.initial);
    maps.set(m.name, bm);
    fds.push(bm.fd);
    infos.push({ fd: bm.fd, name: m.name, spec: m.spec, frozen: m.section === '.rodata' || m.section.startsWith('.rodata.') });
  }
  const programs = new Map<string, LoadedProgram>();
  for (const p of obj.programs) {
    const spec: ProgramSpec = {
      insns: resolveProgram(p, fds), progType: p.progType, license: p.license || undefined, name: p.name.slice(0, 15),
      ...(p.expectedAttachType !== undefined ? { expectedAttachType: p.expectedAttachType } : {}),
    };
    opts.verify?.(spec, infos);
    programs.set(p.name, backend.load(spec));
  }
  return { maps, programs };
}
