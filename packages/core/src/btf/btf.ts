import { BtfError } from '../errors.js';

/** BTF kinds (`BTF_KIND_*`), kernel numbering. */
export enum BtfKind {
  Unknown = 0, Int = 1, Ptr = 2, Array = 3, Struct = 4, Union = 5, Enum = 6, Fwd = 7, Typedef = 8,
  Volatile = 9, Const = 10, Restrict = 11, Func = 12, FuncProto = 13, Var = 14, Datasec = 15,
  Float = 16, DeclTag = 17, TypeTag = 18, Enum64 = 19,
}

/** A struct/union member: `bitOffset` from the start, `bitfieldSize` 0 for a plain member. */
export interface BtfMember { name: string; type: number; bitOffset: number; bitfieldSize: number }
/** An enum value. */
export interface BtfEnumValue { name: string; value: bigint }
/** A function prototype parameter. */
export interface BtfParam { name: string; type: number }
/** A variable of a data section. */
export interface BtfVarSecInfo { type: number; offset: number; size: number }

/** One BTF type; fields beyond `id/kind/name` depend on the kind. */
export interface BtfType {
  id: number;
  kind: BtfKind;
  name: string;
  /** `size` for Int/Struct/Union/Enum/Datasec/Float, else 0. */
  size: number;
  /** Referenced type for Ptr/Typedef/Volatile/Const/Restrict/Func/FuncProto(return)/Var/DeclTag/TypeTag. */
  type: number;
  kindFlag: boolean;
  /** `vlen` field (Func: linkage). */
  vlen: number;
  /** Int encoding: bit offset, bits, and `signed`/`char`/`bool` flags. */
  int?: { offset: number; bits: number; signed: boolean; char: boolean; bool: boolean };
  array?: { type: number; indexType: number; nelems: number };
  members?: BtfMember[];
  enumValues?: BtfEnumValue[];
  params?: BtfParam[];
  /** Var: linkage. */
  linkage?: number;
  secinfo?: BtfVarSecInfo[];
  /** DeclTag: component index (-1 for the whole type). */
  componentIdx?: number;
}

const MAGIC = 0xeb9f;

/**
 * A parsed BTF blob (the kernel's `/sys/kernel/btf/vmlinux`, the `.BTF` section of an object).
 * Pure parsing: the caller reads the bytes. Every size and offset is bounds-checked before use.
 */
export class Btf {
  /** Types by id; index 0 is `void`. */
  readonly types: BtfType[];
  private byName?: Map<string, number[]>;

  private constructor(types: BtfType[], readonly littleEndian: boolean) {
    this.types = types;
  }

  /** Parses a BTF blob (either byte order), or a split BTF on top of `base`. */
  static parse(bytes: Uint8Array, opts: { base?: Btf } = {}): Btf {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 24) throw new BtfError('E_BTF_HEADER', `BTF is ${bytes.length} bytes, shorter than its 24-byte header`, 0);
    let le = true;
    if (v.getUint16(0, true) !== MAGIC) {
      if (v.getUint16(0, false) !== MAGIC) throw new BtfError('E_BTF_MAGIC', `bad BTF magic 0x${v.getUint16(0, true).toString(16)}`, 0);
      le = false;
    }
    const u32 = (off: number) => {
      if (off < 0 || off + 4 > bytes.length) throw new BtfError('E_BTF_TRUNCATED', 'BTF ends in the middle of a field', off);
      return v.getUint32(off, le);
    };
    const version = bytes[2];
    if (version !== 1) throw new BtfError('E_BTF_VERSION', `unsupported BTF version ${version}`, 2);
    const hdrLen = u32(4);
    const typeOff = u32(8), typeLen = u32(12), strOff = u32(16), strLen = u32(20);
    const typesStart = hdrLen + typeOff;
    const strStart = hdrLen + strOff;
    if (hdrLen < 24 || typesStart + typeLen > bytes.length || strStart + strLen > bytes.length) {
      throw new BtfError('E_BTF_BOUNDS', `BTF sections (types ${typeOff}+${typeLen}, strings ${strOff}+${strLen}) exceed the ${bytes.length}-byte blob`, 4);
    }
    const baseStrLen = opts.base ? opts.base.stringsLength : 0;
    const strBytes = bytes.subarray(strStart, strStart + strLen);
    const str = (off: number): string => {
      if (opts.base && off < baseStrLen) return opts.base.string(off);
      const local = off - baseStrLen;
      if (local < 0 || local >= strBytes.length) throw new BtfError('E_BTF_STRING', `string offset ${off} is outside the string section`, strStart);
      const end = strBytes.indexOf(0, local);
      return new TextDecoder().decode(strBytes.subarray(local, end < 0 ? strBytes.length : end));
    };
    const types: BtfType[] = opts.base ? [...opts.base.types] : [{ id: 0, kind: BtfKind.Unknown, name: 'void', size: 0, type: 0, kindFlag: false, vlen: 0 }];
    let at = typesStart;
    const end = typesStart + typeLen;
    while (at < end) {
      if (at + 12 > end) throw new BtfError('E_BTF_TRUNCATED', 'type record runs past the type section', at);
      const nameOff = u32(at), info = u32(at + 4), sizeOrType = u32(at + 8);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      const kindFlag = (info >>> 31) === 1;
      const t: BtfType = { id: types.length, kind, name: str(nameOff), size: 0, type: 0, kindFlag, vlen };
      at += 12;
      const need = (n: number) => {
        if (at + n > end) throw new BtfError('E_BTF_TRUNCATED', `type ${t.id} (${BtfKind[kind]}) runs past the type section`, at);
      };
      switch (kind) {
        case BtfKind.Int: {
          need(4);
          const e = u32(at);
          t.size = sizeOrType;
          const enc = (e >>> 24) & 0xf;
          t.int = { offset: (e >>> 16) & 0xff, bits: e & 0xff, signed: (enc & 1) !== 0, char: (enc & 2) !== 0, bool: (enc & 4) !== 0 };
          at += 4;
          break;
        }
        case BtfKind.Ptr: case BtfKind.Fwd: case BtfKind.Typedef: case BtfKind.Volatile: case BtfKind.Const:
        case BtfKind.Restrict: case BtfKind.Func: case BtfKind.TypeTag:
          t.type = sizeOrType;
          break;
        case BtfKind.Float:
          t.size = sizeOrType;
          break;
        case BtfKind.Array:
          need(12);
          t.array = { type: u32(at), indexType: u32(at + 4), nelems: u32(at + 8) };
          at += 12;
          break;
        case BtfKind.Struct: case BtfKind.Union:
          need(12 * vlen);
          t.size = sizeOrType;
          t.members = [];
          for (let i = 0; i < vlen; i++, at += 12) {
            const off = u32(at + 8);
            t.members.push({ name: str(u32(at)), type: u32(at + 4), bitOffset: kindFlag ? off & 0xffffff : off, bitfieldSize: kindFlag ? off >>> 24 : 0 });
          }
          break;
        case BtfKind.Enum:
          need(8 * vlen);
          t.size = sizeOrType;
          t.enumValues = [];
          for (let i = 0; i < vlen; i++, at += 8) {
            const raw = v.getInt32(at + 4, le);
            t.enumValues.push({ name: str(u32(at)), value: kindFlag ? BigInt(raw) : BigInt(raw >>> 0) });
          }
          break;
        case BtfKind.Enum64:
          need(12 * vlen);
          t.size = sizeOrType;
          t.enumValues = [];
          for (let i = 0; i < vlen; i++, at += 12) {
            const value = (BigInt(u32(at + 8)) << 32n) | BigInt(u32(at + 4));
            t.enumValues.push({ name: str(u32(at)), value: kindFlag ? BigInt.asIntN(64, value) : value });
          }
          break;
        case BtfKind.FuncProto:
          need(8 * vlen);
          t.type = sizeOrType;
          t.params = [];
          for (let i = 0; i < vlen; i++, at += 8) t.params.push({ name: str(u32(at)), type: u32(at + 4) });
          break;
        case BtfKind.Var:
          need(4);
          t.type = sizeOrType;
          t.linkage = u32(at);
          at += 4;
          break;
        case BtfKind.Datasec:
          need(12 * vlen);
          t.size = sizeOrType;
          t.secinfo = [];
          for (let i = 0; i < vlen; i++, at += 12) t.secinfo.push({ type: u32(at), offset: u32(at + 4), size: u32(at + 8) });
          break;
        case BtfKind.DeclTag:
          need(4);
          t.type = sizeOrType;
          t.componentIdx = v.getInt32(at, le);
          at += 4;
          break;
        default:
          throw new BtfError('E_BTF_KIND', `type ${t.id} has unknown kind ${kind}`, at - 12);
      }
      types.push(t);
    }
    const btf = new Btf(types, le);
    btf.strSection = strBytes;
    btf.baseStrLen = baseStrLen;
    btf.base = opts.base;
    return btf;
  }

  private strSection: Uint8Array = new Uint8Array();
  private baseStrLen = 0;
  private base?: Btf;

  /** Length of the string section, including a base's (split BTF numbering). */
  get stringsLength(): number {
    return this.baseStrLen + this.strSection.length;
  }

  /** The string at `off` of the string section. */
  string(off: number): string {
    if (this.base && off < this.baseStrLen) return this.base.string(off);
    const local = off - this.baseStrLen;
    const end = this.strSection.indexOf(0, local);
    return new TextDecoder().decode(this.strSection.subarray(local, end < 0 ? undefined : end));
  }

  /** The type with id `id`. */
  type(id: number): BtfType {
    const t = this.types[id];
    if (!t) throw new BtfError('E_BTF_TYPE_ID', `no BTF type ${id} (there are ${this.types.length - 1})`, 0);
    return t;
  }

  /** Ids of the types named `name` (optionally of one kind). */
  findAll(name: string, kind?: BtfKind): number[] {
    if (!this.byName) {
      this.byName = new Map();
      for (const t of this.types) {
        if (!t.name) continue;
        const list = this.byName.get(t.name);
        if (list) list.push(t.id);
        else this.byName.set(t.name, [t.id]);
      }
    }
    const ids = this.byName.get(name) ?? [];
    return kind === undefined ? ids : ids.filter((id) => this.types[id].kind === kind);
  }

  /** The first type named `name` of `kind`, or `undefined`. */
  find(name: string, kind?: BtfKind): BtfType | undefined {
    const id = this.findAll(name, kind)[0];
    return id === undefined ? undefined : this.types[id];
  }

  /** Follows typedefs and qualifiers (const, volatile, restrict, type tags) to the underlying type. */
  resolve(id: number): BtfType {
    let t = this.type(id);
    for (let i = 0; i < 64 && [BtfKind.Typedef, BtfKind.Const, BtfKind.Volatile, BtfKind.Restrict, BtfKind.TypeTag].includes(t.kind); i++) t = this.type(t.type);
    return t;
  }

  /** Size in bytes of a type (pointers are 8). */
  sizeOf(id: number, depth = 0): number {
    if (depth > 32) throw new BtfError('E_BTF_CYCLE', `type ${id} refers to itself`, 0);
    const t = this.resolve(id);
    switch (t.kind) {
      case BtfKind.Ptr: return 8;
      case BtfKind.Array: return this.sizeOf(t.array!.type, depth + 1) * t.array!.nelems;
      case BtfKind.Int: case BtfKind.Struct: case BtfKind.Union: case BtfKind.Enum: case BtfKind.Enum64:
      case BtfKind.Float: case BtfKind.Datasec:
        return t.size;
      default: return 0;
    }
  }

  /**
   * Byte offset and size of a member path in a struct (`memberOffset('task_struct', 'pid')`,
   * nested: `'se.vruntime'`), looking through anonymous members as C does.
   */
  memberOffset(structName: string, path: string): { offset: number; size: number; type: number } | undefined {
    const root = this.find(structName, BtfKind.Struct) ?? this.find(structName, BtfKind.Union);
    if (!root) return undefined;
    let typeId = root.id;
    let bits = 0;
    for (const part of path.split('.')) {
      const found = this.findMember(typeId, part);
      if (!found) return undefined;
      bits += found.bitOffset;
      typeId = found.type;
    }
    return { offset: bits / 8, size: this.sizeOf(typeId), type: typeId };
  }

  private findMember(typeId: number, name: string, depth = 0): { bitOffset: number; type: number } | undefined {
    if (depth > 32) return undefined; // malformed (cyclic) BTF
    const t = this.resolve(typeId);
    for (const m of t.members ?? []) {
      if (m.name === name) return { bitOffset: m.bitOffset, type: m.type };
      if (m.name === '') {
        const inner = this.findMember(m.type, name, depth + 1);
        if (inner) return { bitOffset: m.bitOffset + inner.bitOffset, type: inner.type };
      }
    }
    return undefined;
  }
}
