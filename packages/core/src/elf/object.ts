import type { Backend, BackendMap, LoadedProgram, MapSpec, ProgramSpec } from '../backend.js';
import { Btf, BtfKind } from '../btf/btf.js';
import { parseBtfExt, sourceLocation, type BtfExt, type BtfExtCoreRelo, type BtfExtLineInfo } from '../btf/ext.js';
import { BtfError, CoreError, ElfError, ObjectError } from '../errors.js';
import { fixupObjectBtf } from '../btf/fixup.js';
import { patchCoreInsn, resolveCoreRelo, type CoreReloKind } from '../btf/core.js';
import { decode, type Insn } from '../isa/insn.js';
import { PseudoCall, PseudoLd } from '../isa/opcodes.js';
import { MapType } from '../uapi/map-types.js';
import { MapFlags } from '../uapi/flags.js';
import type { AttachType } from '../uapi/attach-types.js';
import type { ProgType } from '../uapi/prog-types.js';
import { SectionFlag, SectionType, SymbolBind, SymbolType, parseElf, type ElfFile, type ElfSection, type ElfSymbol } from './elf.js';
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
  /** `__uint(pinning, LIBBPF_PIN_BY_NAME)`: 1; recorded, not acted on by user-space backends. */
  pinning?: number;
  /**
   * Slots filled when the object loads (`.values = { [0] = &prog }` of a prog array, `&inner_map`
   * of a map-in-map): key `index` gets the descriptor of the program or map named `target`.
   */
  initialSlots?: { index: number; kind: 'prog' | 'map'; target: string }[];
  /** `.kconfig`: where each extern variable lives in the one value. */
  kconfig?: KconfigVar[];
}

/** An extern variable of `.kconfig` (`extern int LINUX_KERNEL_VERSION __kconfig;`). */
export interface KconfigVar {
  name: string;
  offset: number;
  size: number;
  /** `__weak`: may stay unresolved (zero) where the configuration does not name it. */
  weak: boolean;
  /** How the value is encoded: a bool/tristate char, an integer, or a char array (string). */
  type: 'bool' | 'tristate' | 'int' | 'string';
  signed?: boolean;
}

/** An extern the code uses that only the kernel can resolve: a `__ksym` variable or a kfunc. */
export interface ExternRef {
  slot: number;
  name: string;
  kind: 'ksym' | 'kfunc';
  /** A `__ksym` variable with a BTF type (resolved to its vmlinux BTF id) rather than `const void` (an address). */
  typed: boolean;
  /** `__weak`: may stay unresolved (0). */
  weak: boolean;
}

/** What a kernel symbol resolves to: a vmlinux BTF id (typed variables, kfuncs) or an address (typeless variables). */
export type KsymResolution = { btfId: number } | { address: bigint };

/**
 * Resolves `__ksym` externs and kfuncs for a backend that has a kernel (libbpf: vmlinux BTF for typed
 * variables and kfuncs, `/proc/kallsyms` for typeless ones); `undefined` when the kernel has no such symbol.
 * `@tsbpf/kernel`'s `kernelSymbols()` is one.
 */
export type KsymResolver = (ref: { name: string; kind: 'ksym' | 'kfunc'; typed: boolean }) => KsymResolution | undefined;

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
  /** `BPF_PROG_LOAD` flags the section implies (`BPF_F_SLEEPABLE` for `SEC("syscall")`, ...). */
  flags?: number;
  license: string;
  /** The linked code, 8 bytes per slot, little endian, map references holding the map's index. */
  code: Uint8Array;
  refs: MapRef[];
  /** `code` decoded (map references hold the map's index in {@link BpfObject.maps}). */
  insns: Insn[];
  /** `.BTF.ext` func_info of the linked code: each function's first slot and BTF FUNC id. */
  funcInfo: { slot: number; typeId: number }[];
  /** `.BTF.ext` line_info of the linked code, by slot. */
  lineInfo: (BtfExtLineInfo & { slot: number })[];
  /** CO-RE relocations of the linked code, by slot (unresolved: the code holds clang's local values). */
  coreRelos: (BtfExtCoreRelo & { slot: number })[];
  /** `__ksym` variables and kfunc calls, left for the kernel. */
  externs: ExternRef[];
  /** The C source line of a slot (the nearest line_info at or before it), for messages. */
  sourceLine(slot: number): BtfExtLineInfo | undefined;
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
  /** `.BTF.ext`, when the object was built with `-g`. */
  ext?: BtfExt;
  elf: ElfFile;
  program(name: string): ObjectProgram | undefined;
  map(name: string): ObjectMap | undefined;
  /**
   * Creates the maps and loads every program on `backend` (libbpf's `bpf_object__load`); see
   * {@link loadObjectInto}.
   */
  load(backend: Backend, opts?: LoadObjectOptions): LoadedObject;
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

/** What a BTF map definition (`struct { __uint(type, ...); ... } name SEC(".maps")`) says. */
interface BtfMapDef {
  /** `__uint(name, N)` members, and `key_size`/`value_size` from `__type(key/value, T)`. */
  nums: Partial<Record<string, number>>;
  /** `__array(values, struct inner)`: the inner map of a map-in-map. */
  inner?: MapSpec;
  /** `__array(values, ...)`: what its slots hold, and the member's byte offset in the definition. */
  values?: { kind: 'prog' | 'map'; offset: number };
}

/** Reads a BTF map definition; `depth` bounds inner-map nesting (the kernel allows one level). */
function btfMapDef(btf: Btf, structId: number, mapName: string, at: number, depth = 0): BtfMapDef {
  const st = btf.resolve(structId);
  if (st.kind !== BtfKind.Struct) throw new ElfError('E_ELF_SECTION', `map ${mapName}: its BTF type is not a struct`, at);
  const def: BtfMapDef = { nums: {} };
  for (const m of st.members ?? []) {
    const t = btf.resolve(m.type);
    if (m.name === 'values' && t.kind === BtfKind.Array && t.array) {
      // __array(values, T): T *values[] -- an inner map definition or a program prototype.
      const elem = btf.resolve(t.array.type);
      const pointee = elem.kind === BtfKind.Ptr ? btf.resolve(elem.type) : undefined;
      if (pointee?.kind === BtfKind.Struct) {
        if (depth > 0) throw new ElfError('E_ELF_SECTION', `map ${mapName}: an inner map may not itself hold maps`, at);
        def.inner = mapSpecOf(btfMapDef(btf, pointee.id, `${mapName}.inner`, at, depth + 1), `${mapName}.inner`);
        def.values = { kind: 'map', offset: m.bitOffset / 8 };
      } else if (pointee?.kind === BtfKind.FuncProto) {
        def.values = { kind: 'prog', offset: m.bitOffset / 8 };
      } else throw new ElfError('E_ELF_SECTION', `map ${mapName}: __array(values, ...) holds neither map definitions nor programs`, at);
      continue;
    }
    if (t.kind !== BtfKind.Ptr) continue;
    const target = btf.resolve(t.type);
    if (m.name === 'key' || m.name === 'value') def.nums[`${m.name}_size`] = btf.sizeOf(t.type);
    else if (target.kind === BtfKind.Array && target.array) def.nums[m.name] = target.array.nelems;
  }
  return def;
}

/** The map a definition creates; a map of maps or programs holds 4-byte descriptors. */
function mapSpecOf(d: BtfMapDef, name: string): MapSpec {
  const n = d.nums;
  const holdsFds = d.values !== undefined;
  return {
    type: (n.type ?? 0) as MapType, keySize: n.key_size ?? (holdsFds ? 4 : 0), valueSize: n.value_size ?? (holdsFds ? 4 : 0), maxEntries: n.max_entries ?? 0,
    ...(n.map_flags ? { flags: n.map_flags } : {}), name: name.slice(0, 15), ...(d.inner ? { innerMap: d.inner } : {}),
    ...(n.map_extra ? { mapExtra: n.map_extra } : {}),
  };
}

/** The `.kconfig` layout: each extern variable of the DATASEC, its size and how to encode it. */
function kconfigVars(btf: Btf, at: number): KconfigVar[] {
  const datasec = btf.types.find((t) => t.kind === BtfKind.Datasec && t.name === '.kconfig');
  const out: KconfigVar[] = [];
  let offset = 0;
  for (const info of datasec?.secinfo ?? []) {
    const v = btf.type(info.type);
    const t = btf.resolve(v.type);
    const size = btf.sizeOf(v.type);
    if (size <= 0 || size > 4096) throw new ElfError('E_ELF_EXTERN', `.kconfig extern ${v.name} has size ${size}`, at);
    let type: KconfigVar['type'];
    let signed = false;
    if (t.kind === BtfKind.Int && t.int?.bool) type = 'bool';
    else if (t.kind === BtfKind.Enum && t.name === 'libbpf_tristate') type = 'tristate';
    else if (t.kind === BtfKind.Int && t.int?.char && size === 1) type = 'bool';
    else if (t.kind === BtfKind.Int || t.kind === BtfKind.Enum) { type = 'int'; signed = !!t.int?.signed; }
    else if (t.kind === BtfKind.Array && t.array && btf.sizeOf(t.array.type) === 1) type = 'string';
    else throw new ElfError('E_ELF_EXTERN', `.kconfig extern ${v.name} has a type libbpf cannot fill (neither bool, tristate, integer nor char array)`, at);
    const align = type === 'string' ? 1 : size;
    offset = Math.ceil(offset / align) * align;
    // Linkage 2 is BTF_VAR_GLOBAL_EXTERN; a weak extern is only visible in the ELF symbol (bound below).
    out.push({ name: v.name, offset, size, weak: false, type, ...(type === 'int' ? { signed } : {}) });
    offset += size;
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
  const extSec = f.section('.BTF.ext');
  const ext = extSec && btf ? parseBtfExt(extSec.data, btf, f.littleEndian) : undefined;

  // ---- maps ----
  const maps: ObjectMap[] = [];
  const mapBySymbol = new Map<string, number>();
  const mapsSec = f.section('.maps');
  if (mapsSec) {
    if (!btf) throw new ElfError('E_ELF_SECTION', 'the object has a .maps section but no .BTF to describe its maps', mapsSec.offset);
    const datasec = btf.types.find((t) => t.kind === BtfKind.Datasec && t.name === '.maps');
    const symbolOf = new Map(f.symbols.filter((y) => y.shndx === mapsSec.index && y.type !== SymbolType.SECTION).map((y) => [y.name, y]));
    const relocs = f.relocations.get(mapsSec.index) ?? [];
    for (const info of datasec?.secinfo ?? []) {
      const v = btf.type(info.type);
      const d = btfMapDef(btf, v.type, v.name, mapsSec.offset);
      const m: ObjectMap = { name: v.name, spec: mapSpecOf(d, v.name), kind: 'btf', section: '.maps' };
      if (d.nums.pinning) m.pinning = d.nums.pinning;
      const sym = symbolOf.get(v.name);
      if (d.values && sym) {
        // `.values = { [i] = &x }`: an R_BPF_64_ABS64 per filled slot, at values + 8 * i.
        const start = sym.value + d.values.offset;
        for (const r of relocs) {
          if (r.offset < start || r.offset >= sym.value + sym.size) continue;
          const target = f.symbols[r.symbol];
          if ((r.offset - start) % 8 !== 0 || !target?.name) throw new ElfError('E_ELF_RELOCATION', `map ${v.name}: a relocation of its initial values is not at a slot`, mapsSec.offset + r.offset);
          (m.initialSlots ??= []).push({ index: (r.offset - start) / 8, kind: d.values.kind, target: target.name });
        }
      }
      mapBySymbol.set(v.name, maps.length);
      maps.push(m);
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
    // As libbpf: mmapable (a skeleton maps it), and read-only for programs when it is .rodata.
    const readOnly = s.name === '.rodata' || s.name.startsWith('.rodata.');
    maps.push({
      name: s.name, kind: 'data', section: s.name,
      spec: { type: MapType.Array, keySize: 4, valueSize: s.size, maxEntries: 1, flags: MapFlags.BPF_F_MMAPABLE | (readOnly ? MapFlags.BPF_F_RDONLY_PROG : 0), name: s.name.slice(0, 15) },
      initial: s.type === SectionType.NOBITS ? new Uint8Array(s.size) : s.data.slice(),
    });
  }
  // `.kconfig` externs: one array map laid out as libbpf lays it out, filled when the object loads.
  const externs = new Map<string, { kind: 'kconfig'; map: number; offset: number } | { kind: 'ksym' }>();
  const kconfig = btf ? kconfigVars(btf, 0) : [];
  if (kconfig.length) {
    for (const k of kconfig) k.weak = f.symbols.some((y) => y.name === k.name && y.bind === SymbolBind.WEAK);
    const size = kconfig.reduce((n, k) => Math.max(n, k.offset + k.size), 0);
    for (const k of kconfig) externs.set(k.name, { kind: 'kconfig', map: maps.length, offset: k.offset });
    maps.push({ name: '.kconfig', kind: 'data', section: '.kconfig', spec: { type: MapType.Array, keySize: 4, valueSize: Math.ceil(size / 8) * 8, maxEntries: 1, flags: MapFlags.BPF_F_MMAPABLE | MapFlags.BPF_F_RDONLY_PROG, name: '.kconfig' }, initial: new Uint8Array(Math.ceil(size / 8) * 8), kconfig });
  }
  for (const y of f.symbols) if (y.shndx === 0 && y.name && !externs.has(y.name)) externs.set(y.name, { kind: 'ksym' });
  // `extern const void x __ksym` is typeless (an address); any other type makes a typed ksym (a BTF id).
  const ksymsSec = btf?.types.find((t) => t.kind === BtfKind.Datasec && t.name === '.ksyms');
  const typedKsyms = new Set((ksymsSec?.secinfo ?? []).map((i) => btf!.type(i.type)).filter((v) => v.kind === BtfKind.Var && v.type !== 0 && btf!.resolve(v.type).id !== 0).map((v) => v.name));
  // clang describes an extern function (`extern void f(void) __ksym`) as a BTF FUNC of extern linkage.
  const externFuncs = new Set((btf?.types ?? []).filter((t) => t.kind === BtfKind.Func && t.vlen === 2).map((t) => t.name));
  const weakSyms = new Set(f.symbols.filter((y) => y.shndx === 0 && y.bind === SymbolBind.WEAK).map((y) => y.name));

  // ---- programs ----
  const slotsOf = new Map<number, Uint8Array>();
  const slots = (s: ElfSection) => {
    let b = slotsOf.get(s.index);
    if (!b) slotsOf.set(s.index, (b = sectionSlots(f, s)));
    return b;
  };
  const funcsIn = (shndx: number) => f.symbols.filter((s) => s.shndx === shndx && s.type === SymbolType.FUNC).sort((a, b) => a.value - b.value);
  const programs: ObjectProgram[] = [];
  const resolve: Resolver = (sym, at) => {
    const e = sym.shndx === 0 ? externs.get(sym.name) : undefined;
    if (e?.kind === 'kconfig') return { map: e.map, kind: 'value', offset: e.offset };
    if (e?.kind === 'ksym') return { extern: sym.name, kind: sym.type === SymbolType.FUNC || externFuncs.has(sym.name) ? 'kfunc' : 'ksym' };
    return mapRef(f, sym, at, mapBySymbol, mapBySection);
  };
  for (const s of f.sections) {
    if (s.type !== SectionType.PROGBITS || !(s.flags & EXEC) || s.name === '.text' || s.size === 0) continue;
    const kind = progTypeOfSection(s.name);
    if (!kind) throw new ElfError('E_ELF_SECTION', `program section "${s.name}" is not one libbpf knows (SEC("xdp"), SEC("kprobe/..."), SEC("tracepoint/..."), ...)`, s.offset);
    for (const fn of funcsIn(s.index)) {
      const l = link(f, fn, slots, funcsIn, resolve, ext);
      for (const e of l.externs) {
        e.typed = e.kind === 'kfunc' || typedKsyms.has(e.name);
        e.weak = weakSyms.has(e.name);
      }
      const lineInfo = l.lineInfo;
      programs.push({
        name: fn.name, section: s.name, progType: kind.progType, ...(kind.expectedAttachType !== undefined ? { expectedAttachType: kind.expectedAttachType } : {}),
        ...(kind.target !== undefined ? { target: kind.target } : {}), ...(kind.flags ? { flags: kind.flags } : {}), license, code: l.code, refs: l.refs, insns: decode(l.code),
        funcInfo: l.funcInfo, lineInfo, coreRelos: l.coreRelos, externs: l.externs,
        // lineInfo is sorted by slot: the last record at or before it
        sourceLine: (slot) => {
          let i = lineInfo.length - 1;
          while (i >= 0 && lineInfo[i].slot > slot) i--;
          return lineInfo[i];
        },
      });
    }
  }
  const obj: BpfObject = {
    littleEndian: f.littleEndian, license, ...(version !== undefined ? { version } : {}), programs, maps, ...(btf ? { btf } : {}), ...(ext ? { ext } : {}), elf: f,
    program: (name) => programs.find((p) => p.name === name),
    map: (name) => maps.find((m) => m.name === name),
    load: (backend, opts) => loadObjectInto(obj, backend, opts),
  };
  return obj;
}

/**
 * Opens an object (as {@link openObject}) whose `.load(backend)` uses `opts` unless told otherwise:
 * libbpf's `bpf_object__open_mem(bytes, opts)` then `bpf_object__load`.
 */
export function loadObject(bytes: Uint8Array, opts: LoadObjectOptions = {}): BpfObject {
  const obj = openObject(bytes);
  obj.load = (backend, more) => loadObjectInto(obj, backend, { ...opts, ...more });
  return obj;
}

/** Resolves the symbol of an `R_BPF_64_64`: a map, global data, a `.kconfig` variable or a `__ksym` extern. */
type Resolver = (sym: ElfSymbol, at: number) => { map: number; kind: 'fd' | 'value'; offset: number } | { extern: string; kind: 'ksym' | 'kfunc' };

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

/** The records of `section` in one `.BTF.ext` area. */
function recordsOf<T>(area: { section: string; records: T[] }[] | undefined, section: string): T[] {
  return area?.find((a) => a.section === section)?.records ?? [];
}

/**
 * The code of function `fn` followed by the subprograms it calls or passes as callbacks
 * (transitively), each appended once, with calls and `BPF_PSEUDO_FUNC` loads retargeted, map
 * references collected, and the `.BTF.ext` records of each piece moved to its linked slots.
 */
function link(
  f: ElfFile,
  fn: ElfSymbol,
  slots: (s: ElfSection) => Uint8Array,
  funcsIn: (shndx: number) => ElfSymbol[],
  resolve: Resolver,
  ext: BtfExt | undefined,
): Pick<ObjectProgram, 'code' | 'refs' | 'funcInfo' | 'lineInfo' | 'coreRelos' | 'externs'> {
  const parts: Uint8Array[] = [];
  const refs: MapRef[] = [];
  const funcInfo: ObjectProgram['funcInfo'] = [];
  const lineInfo: ObjectProgram['lineInfo'] = [];
  const coreRelos: ObjectProgram['coreRelos'] = [];
  const externs: ExternRef[] = [];
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
  /** The linked slot of `targetSlot` of section `shndx` (a function there is appended if new). */
  const placeSlot = (shndx: number, targetSlot: number, what: string, at: number): number => {
    const callee = funcsIn(shndx).find((s) => targetSlot * 8 >= s.value && targetSlot * 8 < s.value + s.size);
    if (!callee) throw new ElfError('E_ELF_RELOCATION', `${what} slot ${targetSlot} of ${f.sections[shndx]?.name}, where no function is`, at);
    return place(callee) + targetSlot - callee.value / 8;
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
    const inPiece = (insnOff: number) => insnOff / 8 >= first && insnOff / 8 < first + n;
    const slotOf = (insnOff: number) => base + insnOff / 8 - first;
    for (const r of recordsOf(ext?.funcInfo, sec.name)) if (inPiece(r.insnOff)) funcInfo.push({ slot: slotOf(r.insnOff), typeId: r.typeId });
    for (const r of recordsOf(ext?.lineInfo, sec.name)) if (inPiece(r.insnOff)) lineInfo.push({ ...r, slot: slotOf(r.insnOff) });
    for (const r of recordsOf(ext?.coreRelos, sec.name)) if (inPiece(r.insnOff)) coreRelos.push({ ...r, slot: slotOf(r.insnOff) });
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
        if (!target) throw new ElfError('E_ELF_RELOCATION', `relocation against symbol ${r.symbol}, which does not exist`, at);
        if (target.shndx !== 0 && (target.type === SymbolType.FUNC || (f.sections[target.shndx]?.flags ?? 0) & EXEC)) {
          // A callback (bpf_loop, bpf_for_each_map_elem, timers): BPF_PSEUDO_FUNC, imm relative like a call.
          const targetSlot = (target.value + view.getInt32(k * 8 + 4, true)) / 8;
          if (!Number.isInteger(targetSlot)) throw new ElfError('E_ELF_RELOCATION', `callback address in ${sec.name} is not at an instruction`, at);
          const calleeAt = placeSlot(target.shndx, targetSlot, 'callback at', at);
          code[k * 8 + 1] = (code[k * 8 + 1] & 0x0f) | (PseudoLd.FUNC << 4);
          view.setInt32(k * 8 + 4, calleeAt - (base + k) - 1, true);
          view.setInt32(k * 8 + 12, 0, true);
        } else {
          const ref = resolve(target, at);
          // An extern variable, or the address of an extern function (bpf_ksym_exists(kfunc)).
          if ('extern' in ref) externs.push({ slot: base + k, name: ref.extern, kind: ref.kind, typed: false, weak: false });
          else {
            const offset = ref.kind === 'value' ? ref.offset + view.getInt32(k * 8 + 4, true) : 0;
            code[k * 8 + 1] = (code[k * 8 + 1] & 0x0f) | ((ref.kind === 'fd' ? PseudoLd.MAP_FD : PseudoLd.MAP_VALUE) << 4);
            view.setInt32(k * 8 + 4, ref.map, true);
            view.setInt32(k * 8 + 12, offset, true);
            refs.push({ slot: base + k, map: ref.map, kind: ref.kind, offset });
          }
        }
      } else if (op === 0x85 && r && f.symbols[r.symbol]?.shndx === 0) {
        // A call to an extern function: a kfunc (`extern ... __ksym`), resolved by the kernel's BTF.
        externs.push({ slot: base + k, name: f.symbols[r.symbol].name, kind: 'kfunc', typed: true, weak: false });
      } else if (op === 0x85 && src === 1) {
        // bpf-to-bpf call: the callee's slot in its section, then where it lands in the linked code.
        let calleeSec = sym.shndx;
        let targetSlot: number;
        if (r) {
          if (r.type !== RelocType.R_BPF_64_32) throw new ElfError('E_ELF_RELOCATION', `call in ${sec.name} has relocation type ${r.type}, not R_BPF_64_32`, at);
          const t = f.symbols[r.symbol];
          if (!t) throw new ElfError('E_ELF_RELOCATION', `relocation against symbol ${r.symbol}, which does not exist`, at);
          calleeSec = t.shndx;
          targetSlot = t.value / 8 + view.getInt32(k * 8 + 4, true) + 1;
        } else targetSlot = first + k + 1 + view.getInt32(k * 8 + 4, true);
        const calleeAt = placeSlot(calleeSec, targetSlot, `call in ${sec.name} to`, at);
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
  const bySlot = <T extends { slot: number }>(a: T[]) => a.sort((x, y) => x.slot - y.slot);
  return { code: out, refs, funcInfo: bySlot(funcInfo), lineInfo: bySlot(lineInfo), coreRelos: bySlot(coreRelos), externs };
}

/** A map {@link loadObjectInto} created, as a verifier needs it. */
export interface LoadedMapInfo {
  fd: number;
  name: string;
  spec: MapSpec;
  /** `.rodata`: read-only for programs (libbpf freezes it). */
  frozen: boolean;
  /** What the loader wrote at key 0 (global data, `.kconfig`): a frozen map's constants. */
  initial?: Uint8Array;
}

/** The maps and programs {@link loadObjectInto} created. */
export interface LoadedObject {
  maps: Map<string, BackendMap>;
  programs: Map<string, LoadedProgram>;
  /** The map named `name` (a skeleton's `skel->maps.name`); throws ObjectError when there is none. */
  map(name: string): BackendMap;
  /** The program named `name` (`skel->progs.name`); throws ObjectError when there is none. */
  program(name: string): LoadedProgram;
}

/** Options of {@link loadObjectInto} (and `BpfObject.load`). */
export interface LoadObjectOptions {
  /** Runs before each program loads, e.g. `@tsbpf/verifier`; throw to refuse it. */
  verify?: (spec: ProgramSpec, maps: LoadedMapInfo[]) => void;
  /**
   * The BTF CO-RE relocations resolve against: the running kernel's (`/sys/kernel/btf/vmlinux`,
   * which `@tsbpf/kernel`'s `vmlinuxBtf()` reads) or a BTF file of the kernel the program targets.
   */
  targetBtf?: Btf;
  /**
   * Leave CO-RE relocations to the backend (the kernel applies `core_relos` itself at
   * `BPF_PROG_LOAD`); the instructions keep clang's local values. Only the kernel backend can.
   */
  coreByBackend?: boolean;
  /**
   * Values of `.kconfig` externs (`CONFIG_*` as in a kernel `.config`: `'y'`, `'m'`, `'n'`, numbers,
   * strings; `LINUX_KERNEL_VERSION` as a number). A non-`__weak` extern missing here fails the load.
   */
  kconfig?: Record<string, string | number | bigint | boolean>;
  /**
   * The object's BTF as handed to the backend with each program's func_info and line_info
   * (`ProgramSpec.btf`). Default: {@link programBtf}, the `.BTF` section fixed up for the kernel.
   */
  programBtf?: Uint8Array;
  /**
   * The programs to load (libbpf's `bpf_program__set_autoload`); default all. Prog-array slots that
   * name a program left out stay empty.
   */
  autoload?: readonly string[];
  /**
   * Where `LIBBPF_PIN_BY_NAME` maps are pinned, as libbpf's `pin_root_path` (default `/sys/fs/bpf`):
   * a map already pinned at `<pinRoot>/<name>` is reused (it must match the definition), otherwise
   * the new map is pinned there. Only backends with a persistent store (the kernel) pin.
   */
  pinRoot?: string;
  /**
   * Resolves `__ksym` variables and kfunc calls (a backend with a kernel: `kernelSymbols()` of
   * `@tsbpf/kernel`). Without it, a program that uses one does not load (`E_OBJ_EXTERN`).
   */
  ksyms?: KsymResolver;
}

/** libbpf's `LIBBPF_PIN_BY_NAME`. */
const PIN_BY_NAME = 1;

/** Why a pinned map cannot stand in for a definition (libbpf's `map_is_reuse_compat`), or `undefined`. */
function pinMismatch(pinned: MapSpec, want: MapSpec): string | undefined {
  const fields: [string, number, number][] = [
    ['type', pinned.type, want.type], ['key_size', pinned.keySize, want.keySize], ['value_size', pinned.valueSize, want.valueSize],
    ['max_entries', pinned.maxEntries, want.maxEntries], ['map_flags', pinned.flags ?? 0, want.flags ?? 0],
  ];
  const bad = fields.filter(([, a, b]) => a !== b).map(([n, a, b]) => `${n} ${a} (the object wants ${b})`);
  return bad.length ? bad.join(', ') : undefined;
}

/** The program's instructions with the map references of `refs` filled in with descriptors and, given a target BTF, its CO-RE relocations resolved. */
export function resolveProgram(
  p: ObjectProgram,
  fds: readonly number[],
  core?: { local: Btf; target: Btf },
  ksyms?: ReadonlyMap<string, KsymResolution | undefined>,
): Insn[] {
  const code = new Uint8Array(p.code);
  const view = new DataView(code.buffer);
  for (const r of p.refs) view.setInt32(r.slot * 8 + 4, fds[r.map], true);
  for (const e of ksyms ? p.externs : []) {
    // As libbpf: a typed variable is BPF_PSEUDO_BTF_ID of its vmlinux VAR, a typeless one its
    // address, a kfunc BPF_PSEUDO_KFUNC_CALL of its FUNC; an unresolved __weak one is 0.
    const r = ksyms!.get(e.name);
    const at = e.slot * 8;
    if (code[at] === 0x85) {
      code[at + 1] = (code[at + 1] & 0x0f) | (PseudoCall.KFUNC << 4);
      view.setInt16(at + 2, 0, true);
      view.setInt32(at + 4, r && 'btfId' in r ? r.btfId : 0, true);
    } else if (r && 'btfId' in r) {
      code[at + 1] = (code[at + 1] & 0x0f) | (PseudoLd.BTF_ID << 4);
      view.setInt32(at + 4, r.btfId, true);
      view.setInt32(at + 12, 0, true); // btf_obj_fd 0: vmlinux
    } else {
      const address = r && 'address' in r ? BigInt.asUintN(64, r.address) : 0n;
      code[at + 1] &= 0x0f;
      view.setUint32(at + 4, Number(address & 0xffffffffn), true);
      view.setUint32(at + 12, Number(address >> 32n), true);
    }
  }
  if (core) {
    // As libbpf: candidates that failed one relocation of a type are dropped for the next ones.
    const candidateCache = new Map<number, number[]>();
    for (const r of p.coreRelos) {
      const relo = { insnOff: r.slot * 8, typeId: r.typeId, accessStr: r.accessStr, kind: r.kind as CoreReloKind };
      const res = resolveCoreRelo(core.local, core.target, relo, { candidateCache });
      // A missing field or enumerator poisons the instruction (the verifier rejects it only if it
      // is reached); an ambiguous or malformed relocation fails the load, as in libbpf.
      if (!res.ok && res.fatal) throw new CoreError(res.code, `${where(p, r.slot)}: CO-RE relocation ${r.accessStr}: ${res.reason}`, r.slot);
      patchCoreInsn(code, r.slot, relo, res);
    }
  }
  return decode(code);
}

/**
 * The object's `.BTF` fixed up for `BPF_BTF_LOAD` (DATASEC sizes and offsets, `.kconfig` laid out
 * as this loader placed it), or `undefined` when it cannot be (the programs then load without BTF,
 * as libbpf falls back).
 */
export function programBtf(obj: BpfObject): Uint8Array | undefined {
  const raw = obj.elf.section('.BTF')?.data;
  if (!raw) return undefined;
  const kc = obj.maps.find((m) => m.kconfig);
  try {
    return fixupObjectBtf(raw, obj.elf, kc ? { kconfig: { size: kc.spec.valueSize, offsets: new Map(kc.kconfig!.map((k) => [k.name, k.offset])) } } : {});
  } catch (e) {
    if (e instanceof BtfError) return undefined;
    throw e;
  }
}

/** Where a slot of a program is, for messages: `prog, insn N (file.c:12: the source line)`. */
function where(p: ObjectProgram, slot: number): string {
  const li = p.sourceLine(slot);
  return `${p.name}, insn ${slot}${li ? ` (${sourceLocation(li)})` : ''}`;
}

/** Fills the `.kconfig` value from the configuration given; missing non-weak externs are an error. */
function kconfigValue(m: ObjectMap, config: LoadObjectOptions['kconfig'] = {}): Uint8Array {
  const out = new Uint8Array(m.spec.valueSize);
  const view = new DataView(out.buffer);
  for (const k of m.kconfig ?? []) {
    const given = config[k.name];
    if (given === undefined) {
      if (k.weak) continue;
      throw new ObjectError('E_OBJ_KCONFIG', `.kconfig extern ${k.name} is not __weak and the configuration does not set it (pass kconfig: { ${k.name}: ... })`);
    }
    if (k.type === 'string') {
      const text = new TextEncoder().encode(String(given).replace(/^"(.*)"$/, '$1'));
      if (text.length >= k.size) throw new ObjectError('E_OBJ_KCONFIG', `.kconfig extern ${k.name}: "${given}" does not fit in ${k.size} bytes`);
      out.set(text, k.offset);
      continue;
    }
    let n: bigint;
    if (given === true || given === 'y') n = 1n;
    else if (given === false || given === 'n') n = 0n;
    else if (given === 'm') {
      if (k.type !== 'tristate') throw new ObjectError('E_OBJ_KCONFIG', `.kconfig extern ${k.name} is a bool; 'm' needs an enum libbpf_tristate`);
      n = 2n;
    } else {
      try {
        n = BigInt(given);
      } catch {
        throw new ObjectError('E_OBJ_KCONFIG', `.kconfig extern ${k.name}: ${JSON.stringify(given)} is not a number, 'y', 'n' or 'm'`);
      }
    }
    if (k.type === 'bool' && n > 1n) throw new ObjectError('E_OBJ_KCONFIG', `.kconfig extern ${k.name} is a bool; ${given} is not y or n`);
    const bits = BigInt(k.size * 8);
    if (n >= 1n << bits || n < -(1n << (bits - 1n))) throw new ObjectError('E_OBJ_KCONFIG', `.kconfig extern ${k.name}: ${given} does not fit in ${k.size} bytes`);
    for (let i = 0; i < k.size; i++) out[k.offset + i] = Number((BigInt.asUintN(Number(bits), n) >> BigInt(8 * i)) & 0xffn);
  }
  return out;
}

/**
 * Loads an opened object on a backend, in libbpf's order: creates every map (global data maps
 * filled with their initial contents, `.kconfig` from `opts.kconfig`), then for each program fills
 * in the map descriptors, resolves its CO-RE relocations against `opts.targetBtf`, runs `verify`
 * when given, and loads it; last, fills the prog arrays and maps of maps the object initialises.
 *
 * @throws ElfError for a big-endian object (the backends are little endian, as the host is);
 *   ObjectError for an extern or CO-RE relocation that cannot be resolved here; CoreError for an
 *   ambiguous or malformed CO-RE relocation (patchCoreInsn's for an instruction it cannot patch).
 */
export function loadObjectInto(obj: BpfObject, backend: Backend, opts: LoadObjectOptions = {}): LoadedObject {
  if (!obj.littleEndian) throw new ElfError('E_ELF_ENCODING', 'the object is big endian (clang -target bpfeb); this host and its backends are little endian', 5);
  for (const name of opts.autoload ?? []) {
    if (!obj.program(name)) throw new ObjectError('E_OBJ_MISSING', `the object has no program ${name} (programs: ${obj.programs.map((p) => p.name).join(', ')})`, name);
  }
  const chosen = obj.programs.filter((p) => !opts.autoload || opts.autoload.includes(p.name));
  const ksyms = new Map<string, KsymResolution | undefined>();
  for (const p of chosen) {
    for (const e of p.externs) {
      const what = `${e.kind === 'kfunc' ? 'calls the kfunc' : `uses the ${e.typed ? '' : 'typeless '}__ksym extern`} ${e.name}`;
      if (!opts.ksyms) throw new ObjectError('E_OBJ_EXTERN', `${where(p, e.slot)}: ${what}, which only a backend with a kernel can resolve (pass ksyms: kernelSymbols() of @tsbpf/kernel)`, p.name, e.slot);
      if (!ksyms.has(e.name)) ksyms.set(e.name, opts.ksyms({ name: e.name, kind: e.kind, typed: e.typed }));
      if (!ksyms.get(e.name) && !e.weak) throw new ObjectError('E_OBJ_EXTERN', `${where(p, e.slot)}: ${what}, which this kernel does not have (declare it __weak to load without it)`, p.name, e.slot);
    }
    const c = p.coreRelos[0];
    if (c && !opts.targetBtf && !opts.coreByBackend) {
      throw new ObjectError('E_OBJ_CORE', `${where(p, c.slot)}: has ${p.coreRelos.length} CO-RE relocation(s) and no target BTF was given (targetBtf: the running kernel's /sys/kernel/btf/vmlinux, or a BTF file)`, p.name, c.slot);
    }
  }
  const maps = new Map<string, BackendMap>();
  const fds: number[] = [];
  const infos: LoadedMapInfo[] = [];
  for (const m of obj.maps) {
    const pinPath = m.pinning === PIN_BY_NAME && backend.openPinnedMap ? `${(opts.pinRoot ?? '/sys/fs/bpf').replace(/\/+$/, '')}/${m.name}` : undefined;
    const pinned = pinPath ? backend.openPinnedMap!(pinPath) : undefined;
    if (pinned) {
      const why = pinMismatch(pinned.spec, m.spec);
      if (why) throw new ObjectError('E_OBJ_PIN', `map ${m.name}: the map pinned at ${pinPath} cannot be reused: ${why}`);
    }
    const bm = pinned ?? backend.createMap(m.spec);
    const initial = m.kconfig ? kconfigValue(m, opts.kconfig) : m.initial;
    // A reused pinned map keeps its contents, as with libbpf.
    if (initial && !pinned) bm.update(new Uint8Array(4), initial);
    if (pinPath && !pinned) bm.pin?.(pinPath);
    // libbpf freezes what programs only read, so the kernel's verifier knows its values.
    if (!pinned && (m.spec.flags ?? 0) & MapFlags.BPF_F_RDONLY_PROG) bm.freeze?.();
    maps.set(m.name, bm);
    fds.push(bm.fd);
    infos.push({
      fd: bm.fd, name: m.name, spec: m.spec, frozen: m.section === '.rodata' || m.section.startsWith('.rodata.') || m.section === '.kconfig',
      ...(initial && !pinned ? { initial } : {}),
    });
  }
  const core = opts.targetBtf && obj.btf && !opts.coreByBackend ? { local: obj.btf, target: opts.targetBtf } : undefined;
  const btfData = opts.programBtf ?? programBtf(obj);
  const programs = new Map<string, LoadedProgram>();
  for (const p of chosen) {
    const spec: ProgramSpec = {
      insns: resolveProgram(p, fds, core, opts.ksyms ? ksyms : undefined), progType: p.progType, license: p.license || undefined, name: p.name.slice(0, 15),
      ...(p.expectedAttachType !== undefined ? { expectedAttachType: p.expectedAttachType } : {}),
      ...(p.flags ? { flags: p.flags } : {}),
    };
    if (btfData && (p.funcInfo.length || p.lineInfo.length)) {
      spec.btf = {
        data: btfData,
        funcInfo: p.funcInfo.map((r) => ({ insnOff: r.slot, typeId: r.typeId })),
        lineInfo: p.lineInfo.map((r) => ({ insnOff: r.slot, fileNameOff: r.fileNameOff, lineOff: r.lineOff, lineNum: r.lineNum, lineCol: r.lineCol })),
        ...(opts.coreByBackend && p.coreRelos.length ? { coreRelos: p.coreRelos.map((r) => ({ insnOff: r.slot * 8, typeId: r.typeId, accessStrOff: r.accessStrOff, kind: r.kind })) } : {}),
      };
    }
    opts.verify?.(spec, infos);
    let prog: LoadedProgram;
    try {
      prog = backend.load(spec);
    } catch (e) {
      // As libbpf: BTF the kernel refuses is optional, unless the kernel is to apply CO-RE with it.
      if (!spec.btf || spec.btf.coreRelos || (e as { code?: string }).code !== 'E_BTF_LOAD') throw e;
      const { btf: _, ...bare } = spec;
      prog = backend.load(bare);
    }
    programs.set(p.name, prog);
  }
  // Prog arrays and maps of maps the object fills (libbpf: after the programs are loaded).
  for (const m of obj.maps) {
    for (const slot of m.initialSlots ?? []) {
      if (slot.kind === 'prog' && opts.autoload && !opts.autoload.includes(slot.target) && obj.program(slot.target)) continue;
      const fd = slot.kind === 'prog' ? programs.get(slot.target)?.fd : maps.get(slot.target)?.fd;
      if (fd === undefined) throw new ObjectError('E_OBJ_MISSING', `map ${m.name}: slot ${slot.index} names ${slot.kind === 'prog' ? 'program' : 'map'} ${slot.target}, which the object does not have`);
      const key = new Uint8Array(4);
      new DataView(key.buffer).setUint32(0, slot.index, true);
      const value = new Uint8Array(4);
      new DataView(value.buffer).setUint32(0, fd, true);
      maps.get(m.name)!.update(key, value);
    }
  }
  const loaded: LoadedObject = {
    maps, programs,
    map: (name) => {
      const m = maps.get(name);
      if (!m) throw new ObjectError('E_OBJ_MISSING', `the object has no map ${name} (maps: ${[...maps.keys()].join(', ')})`);
      return m;
    },
    program: (name) => {
      const p = programs.get(name);
      if (!p) throw new ObjectError('E_OBJ_MISSING', `the object has no program ${name} (programs: ${[...programs.keys()].join(', ')})`, name);
      return p;
    },
  };
  return loaded;
}
