import { BtfError } from '../errors.js';
import { SymbolBind, SymbolType, type ElfFile, type ElfSymbol } from '../elf/elf.js';
import { Btf, BtfKind } from './btf.js';

/** `BTF_VAR_*` linkage of a VAR. */
const VarLinkage = { Static: 0, GlobalAllocated: 1, GlobalExtern: 2 } as const;
/** `STV_INTERNAL` and `STV_HIDDEN`: a global the object keeps to itself. */
const STV_INTERNAL = 1;
const STV_HIDDEN = 2;

/** Bytes a type record takes after its 12-byte `struct btf_type`. */
function extraBytes(kind: BtfKind, vlen: number): number {
  switch (kind) {
    case BtfKind.Int: case BtfKind.Var: case BtfKind.DeclTag: return 4;
    case BtfKind.Array: return 12;
    case BtfKind.Struct: case BtfKind.Union: case BtfKind.Enum64: case BtfKind.Datasec: return 12 * vlen;
    case BtfKind.Enum: case BtfKind.FuncProto: return 8 * vlen;
    default: return 0;
  }
}

/** The global (or weak) object symbol `name` stands for, as libbpf's `find_elf_var_sym` finds it. */
function varSymbol(elf: ElfFile, name: string, shndx: number | undefined): ElfSymbol | undefined {
  const candidates = elf.symbols.filter((s) => s.type === SymbolType.OBJECT && (s.bind === SymbolBind.GLOBAL || s.bind === SymbolBind.WEAK) && s.name === name);
  // libbpf takes the first match by name; preferring the DATASEC's own section costs nothing.
  return candidates.find((s) => s.shndx === shndx) ?? candidates[0];
}

/**
 * The object's `.BTF` made loadable by `BPF_BTF_LOAD`, as libbpf makes it in `bpf_object_fixup_btf`
 * (`btf_fixup_datasec`) before loading:
 *
 * - clang writes every `DATASEC` with size 0 and leaves the offsets of global variables to a
 *   relocation (`.rel.BTF`) it never applies in a `.o`, so every global `VAR` sits at offset 0. The
 *   kernel rejects both (`size == 0`, then `Invalid offset` for the overlapping variables). The size
 *   becomes the ELF section's size and each global's offset its symbol's value. Static variables
 *   keep theirs: clang relocates them against the section symbol, so their offset is already in place.
 * - the kernel wants each DATASEC's variables in increasing offset order: they are sorted.
 * - a global with hidden or internal visibility becomes a static VAR, as libbpf marks it.
 *
 * A DATASEC that already has a size (the output of a static linker such as `bpftool gen object`) keeps
 * its offsets, as in libbpf. Nothing else of this kernel's era needs sanitizing: libbpf rewrites
 * newer kinds (FLOAT, DECL_TAG, TYPE_TAG, ENUM64, `?`-prefixed DATASEC names) only for kernels that
 * predate them. The blob keeps its byte order.
 *
 * Pure: returns a new blob and never changes `btfData`.
 *
 * ```ts
 * const elf = parseElf(bytes);
 * const btf = fixupObjectBtf(elf.section('.BTF')!.data, elf);   // then BPF_BTF_LOAD it
 * ```
 *
 * @throws BtfError for malformed BTF (`E_BTF_*` of {@link Btf.parse}), a DATASEC with no ELF section
 *   to size it (`E_BTF_DATASEC`), one whose variables are externs (`.kconfig`, `.ksyms`: not resolved
 *   yet, `E_BTF_EXTERN`), or a global VAR without its ELF symbol (`E_BTF_VAR_SYMBOL`).
 */
export function fixupObjectBtf(btfData: Uint8Array, elf: ElfFile, externs: FixupExterns = {}): Uint8Array {
  const btf = Btf.parse(btfData);
  const out = new Uint8Array(btfData);
  const le = btf.littleEndian;
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  // Where each type's record starts (Btf.parse has checked that they all fit).
  const recordAt: number[] = [0];
  let at = v.getUint32(4, le) + v.getUint32(8, le);
  for (let id = 1; id < btf.types.length; id++) {
    recordAt.push(at);
    at += 12 + extraBytes(btf.types[id].kind, btf.types[id].vlen);
  }
  for (const t of btf.types) if (t.kind === BtfKind.Datasec) fixupDatasec(btf, elf, v, recordAt, t.id, externs);
  return out;
}

/** Where the loader placed extern variables, for the DATASECs that describe them. */
export interface FixupExterns {
  /** The `.kconfig` map: its value size and each variable's offset in it. */
  kconfig?: { size: number; offsets: ReadonlyMap<string, number> };
}

/** Fixes DATASEC `id` in the blob `v` views. */
function fixupDatasec(btf: Btf, elf: ElfFile, v: DataView, recordAt: readonly number[], id: number, externs: FixupExterns): void {
  const le = btf.littleEndian;
  const at = recordAt[id];
  const t = btf.types[id];
  const secinfo = t.secinfo!.map((s) => ({ ...s }));
  const name = t.name;
  if (name === '.kconfig' && externs.kconfig) {
    // As libbpf: the section is the .kconfig map's value, each variable where the loader put it,
    // now allocated in that map rather than extern.
    const { size, offsets } = externs.kconfig;
    v.setUint32(at + 8, size, le);
    for (let i = 0; i < secinfo.length; i++) {
      const vt = btf.types[secinfo[i].type];
      const off = vt?.kind === BtfKind.Var ? offsets.get(vt.name) : undefined;
      if (off === undefined) throw new BtfError('E_BTF_EXTERN', `DATASEC .kconfig entry ${i} is not one of the .kconfig externs the loader placed`, at + 12 + 12 * i);
      secinfo[i].offset = off;
      v.setUint32(recordAt[vt.id] + 12, VarLinkage.GlobalAllocated, le);
    }
  } else if (name === '.kconfig' || name === '.ksyms') {
    // libbpf lays these out from the externs they describe before this step; externs are not resolved here.
    throw new BtfError('E_BTF_EXTERN', `DATASEC ${name} (type ${id}) describes extern variables (${name === '.kconfig' ? 'CONFIG_* values' : '__ksym symbols'}), which are not resolved yet: remove them from the object or load it without its BTF`, at);
  }
  if (!(name === '.kconfig' && externs.kconfig)) {
    const section = elf.section(name);
    let fixupOffsets = false;
    if (t.size === 0) {
      if (!section || section.size === 0) {
        throw new BtfError('E_BTF_DATASEC', `DATASEC ${name} (type ${id}) has size 0 and the object has ${section ? 'an empty' : 'no'} ELF section ${name} to take its size from`, at);
      }
      if (section.size > 0xffffffff) throw new BtfError('E_BTF_DATASEC', `ELF section ${name} is ${section.size} bytes, more than a DATASEC size can hold`, at);
      v.setUint32(at + 8, section.size, le);
      fixupOffsets = true;
    }
    for (let i = 0; i < secinfo.length; i++) {
      const info = secinfo[i];
      const vt = btf.types[info.type];
      if (!vt || vt.kind !== BtfKind.Var) {
        throw new BtfError('E_BTF_DATASEC', `DATASEC ${name} (type ${id}) entry ${i} is type ${info.type}, ${vt ? BtfKind[vt.kind] : 'which does not exist'}, not a VAR`, at + 12 + 12 * i);
      }
      if (vt.linkage === VarLinkage.Static || vt.linkage === VarLinkage.GlobalExtern) continue;
      const sym = varSymbol(elf, vt.name, section?.index);
      if (!sym) throw new BtfError('E_BTF_VAR_SYMBOL', `DATASEC ${name}: VAR ${vt.name} (type ${vt.id}) is global but the ELF symbol table has no global object ${vt.name}`, at + 12 + 12 * i);
      if (fixupOffsets) info.offset = sym.value;
      if (sym.visibility === STV_HIDDEN || sym.visibility === STV_INTERNAL) v.setUint32(recordAt[vt.id] + 12, VarLinkage.Static, le);
    }
  }
  // Stable, so variables at one offset (zero-sized ones) keep clang's order.
  secinfo.sort((a, b) => a.offset - b.offset);
  secinfo.forEach((s, i) => {
    const e = at + 12 + 12 * i;
    v.setUint32(e, s.type, le);
    v.setUint32(e + 4, s.offset, le);
    v.setUint32(e + 8, s.size, le);
  });
}
