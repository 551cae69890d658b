/**
 * BPF CO-RE ("compile once, run everywhere") relocation resolution, with libbpf's semantics
 * (`relo_core.c`, the kernel's Documentation/bpf/llvm_reloc.rst): clang records, for each
 * instruction that touches a kernel type, the type and the access path it compiled against (the
 * program's own BTF); here we find the same type and path in the target kernel's BTF and compute
 * the value the instruction must carry there. Pure: both BTFs are parsed by the caller.
 *
 * ```ts
 * const res = resolveCoreRelo(objBtf, Btf.parse(vmlinuxBytes), relo);
 * patchCoreInsn(code, relo.insnOff / 8, relo, res); // poisons the instruction when res.ok is false
 * ```
 */
import { CoreError, type CoreErrorCode } from '../errors.js';
import { BtfKind, type Btf, type BtfType } from './btf.js';

/** `enum bpf_core_relo_kind`, UAPI numbering. */
export enum CoreReloKind {
  /** `BPF_CORE_FIELD_BYTE_OFFSET`: byte offset of a field (of the load containing it, for a bitfield). */
  FieldByteOffset = 0,
  /** `BPF_CORE_FIELD_BYTE_SIZE`: byte size of a field (of the load containing it, for a bitfield). */
  FieldByteSize = 1,
  /** `BPF_CORE_FIELD_EXISTS`: 1 if the field exists in the target, else 0. */
  FieldExists = 2,
  /** `BPF_CORE_FIELD_SIGNED`: 1 if the field is a signed integer or signed enum. */
  FieldSigned = 3,
  /** `BPF_CORE_FIELD_LSHIFT_U64`: left shift that puts a bitfield's top bit at bit 63 of the loaded u64. */
  FieldLShiftU64 = 4,
  /** `BPF_CORE_FIELD_RSHIFT_U64`: right shift (after the left one) that brings the bitfield down to bit 0. */
  FieldRShiftU64 = 5,
  /** `BPF_CORE_TYPE_ID_LOCAL`: the type's id in the program's own BTF. */
  TypeIdLocal = 6,
  /** `BPF_CORE_TYPE_ID_TARGET`: the type's id in the target BTF (0 if absent). */
  TypeIdTarget = 7,
  /** `BPF_CORE_TYPE_EXISTS`: 1 if a compatible type exists in the target. */
  TypeExists = 8,
  /** `BPF_CORE_TYPE_SIZE`: the target type's byte size (0 if absent). */
  TypeSize = 9,
  /** `BPF_CORE_ENUMVAL_EXISTS`: 1 if the enumerator exists in the target enum. */
  EnumvalExists = 10,
  /** `BPF_CORE_ENUMVAL_VALUE`: the enumerator's value in the target. */
  EnumvalValue = 11,
  /** `BPF_CORE_TYPE_MATCHES`: 1 if the target type matches the local one member for member (stricter than exists). */
  TypeMatches = 12,
}

/** One CO-RE relocation record of .BTF.ext (insnOff in BYTES, as in the file/UAPI). */
export interface CoreRelo {
  /** Byte offset of the instruction in its program section. */
  insnOff: number;
  /** The root type in the program's (local) BTF. */
  typeId: number;
  /** The access string, `"0:1:2"`: member and array indices from the root (`"0"` for type relocations). */
  accessStr: string;
  kind: CoreReloKind;
}

/**
 * A relocation resolved against a target: `local` is the value clang emitted (libbpf's `orig_val`),
 * `target` the value for the target kernel (`new_val`). Both are unsigned 64-bit.
 */
export interface CoreResolved {
  ok: true;
  kind: CoreReloKind;
  /** The value the instruction was compiled with. */
  local: bigint;
  /** The value it must have on the target. */
  target: bigint;
  /**
   * Whether the instruction must hold `local` before it is patched. libbpf skips the check where
   * the compiler's value may legitimately differ: bitfield offsets and sizes, type ids (they shift
   * when objects are linked).
   */
  validate: boolean;
  /** For `FieldByteOffset` of a non-bitfield field: the field's byte size locally (the width of the load clang emitted), else 0. */
  localSize: number;
  /** The same in the target: a load or store of the field is resized to it (1, 2, 4 or 8). */
  targetSize: number;
  /**
   * The sizes differ and resizing would change the value read (a signed integer, a struct, ...):
   * a load/store is poisoned instead (libbpf's `fail_memsz_adjust`); an ALU immediate is still patched.
   */
  sizeMismatch: boolean;
  /** The target type the value comes from (the first matching candidate); 0 when none matched. */
  targetTypeId: number;
  /** The access path in the target, in access-string form (`"0:1:2:1:0"` through anonymous members); `""` for type relocations or when none matched. */
  targetAccess: string;
  /** How many target candidates matched (all agree on the value). */
  candidates: number;
}

/**
 * A relocation that cannot be resolved. `fatal: false` is the case libbpf handles by poisoning the
 * instruction and loading anyway (the field or enumerator is missing in the target: a verifier
 * rejects the program only if the instruction is reachable, so `bpf_core_field_exists()` guards
 * work). `fatal: true` is one libbpf refuses to load (ambiguous candidates, a malformed record, a
 * bitfield no load can reach); `patchCoreInsn` still poisons, and a strict loader throws
 * `new CoreError(res.code, res.reason, slot)`.
 */
export interface CoreFailure {
  ok: false;
  kind: CoreReloKind;
  /** `E_CORE_NOT_FOUND` (not fatal), `E_CORE_AMBIGUOUS`, `E_CORE_BITFIELD`, `E_CORE_BAD_RELO`, `E_CORE_BAD_BTF`, `E_CORE_UNSUPPORTED`. */
  code: CoreErrorCode;
  /** What went wrong, naming the relocation (kind, root type, access string) and the candidates. */
  reason: string;
  /** Whether libbpf would refuse to load the object rather than poison the instruction. */
  fatal: boolean;
}

/** The outcome of {@link resolveCoreRelo}. */
export type CoreResolution = CoreResolved | CoreFailure;

/** Options of {@link resolveCoreRelo}. */
export interface CoreResolveOptions {
  /**
   * libbpf's per-object candidate cache: target candidate ids by local type id. Pass the same map
   * for every relocation of one object against one target and, as libbpf does, a candidate that
   * failed to match one relocation of a type is not considered for the next ones of that type.
   * Without it every relocation considers every candidate.
   */
  candidateCache?: Map<number, number[]>;
}

/** The `imm` of a poisoned instruction: `call 0xbad2310` ("bad relo"), as libbpf writes it. */
export const CORE_POISON_IMM = 0xbad2310;

/** libbpf's `BPF_CORE_SPEC_MAX_LEN`: the deepest access path. */
const SPEC_MAX_LEN = 64;
/** Bound on the work of matching one relocation, so that hostile BTF cannot hang us. */
const STEP_BUDGET = 1_000_000;
/** libbpf's recursion level for type compatibility and type matching. */
const MATCH_LEVEL = 32;

/**
 * The "essential" name of a type, field or enumerator: without a `___flavour` suffix (the part
 * after the last triple underscore between two non-underscores), so `task_struct___old` and
 * `task_struct` are candidates for each other.
 *
 * ```ts
 * coreEssentialName('task_struct___5_10'); // 'task_struct'
 * ```
 */
export function coreEssentialName(name: string): string {
  for (let i = name.length - 5; i >= 0; i--) {
    if (name[i] !== '_' && name[i + 1] === '_' && name[i + 2] === '_' && name[i + 3] === '_' && name[i + 4] !== '_') return name.slice(0, i + 1);
  }
  return name;
}

/** Thrown inside the resolver, turned into a {@link CoreFailure} at its edge. */
class Fail {
  constructor(readonly code: CoreErrorCode, readonly reason: string, readonly fatal = true) {}
}

/** One "turning point" of an access path: a named member or an array index (libbpf's accessor). */
interface Accessor { typeId: number; idx: number; name?: string }

/** An access path resolved in one BTF (libbpf's `bpf_core_spec`). */
interface Spec {
  btf: Btf;
  rootId: number;
  /** Every index, anonymous members included (the raw access string). */
  raw: number[];
  /** Named members and array indices only. */
  acc: Accessor[];
  bitOffset: number;
}

/** What a relocation computes from one spec (libbpf's `bpf_core_calc_*_relo`). */
interface CalcValue { val: bigint; fieldSize: number; fieldTypeId: number; validate: boolean }

const essentialIndex = new WeakMap<Btf, Map<string, number[]>>();

/** Ids of the named types of `btf` by essential name, built once per Btf. */
function byEssentialName(btf: Btf): Map<string, number[]> {
  let index = essentialIndex.get(btf);
  if (!index) {
    index = new Map();
    for (const t of btf.types) {
      if (!t.name) continue;
      const key = coreEssentialName(t.name);
      const ids = index.get(key);
      if (ids) ids.push(t.id);
      else index.set(key, [t.id]);
    }
    essentialIndex.set(btf, index);
  }
  return index;
}

const isAnyEnum = (t: BtfType) => t.kind === BtfKind.Enum || t.kind === BtfKind.Enum64;
const isComposite = (t: BtfType) => t.kind === BtfKind.Struct || t.kind === BtfKind.Union;
/** libbpf's `btf_kind_core_compat`: same kind, or both enums of either width. */
const kindsCompat = (a: BtfType, b: BtfType) => a.kind === b.kind || (isAnyEnum(a) && isAnyEnum(b));
const isModOrTypedef = (k: BtfKind) =>
  k === BtfKind.Typedef || k === BtfKind.Const || k === BtfKind.Volatile || k === BtfKind.Restrict || k === BtfKind.TypeTag;
/** The BTF int encoding bits (`BTF_INT_SIGNED` 1, `BTF_INT_CHAR` 2, `BTF_INT_BOOL` 4). */
const intEncoding = (t: BtfType) => (t.int ? (t.int.signed ? 1 : 0) | (t.int.char ? 2 : 0) | (t.int.bool ? 4 : 0) : 0);
const sameEssentialName = (a: string, b: string) => coreEssentialName(a) === coreEssentialName(b);

/** The type `id`, or undefined when the id is not in the BTF. */
function typeAt(btf: Btf, id: number): BtfType | undefined {
  return Number.isInteger(id) && id >= 0 ? btf.types[id] : undefined;
}

/** libbpf's `skip_mods_and_typedefs`; undefined for a dangling id or a cycle. */
function skipMods(btf: Btf, id: number): BtfType | undefined {
  let t = typeAt(btf, id);
  for (let i = 0; t && isModOrTypedef(t.kind); i++) {
    if (i >= 64) return undefined;
    t = typeAt(btf, t.type);
  }
  return t;
}

function mustSkip(btf: Btf, id: number): BtfType {
  const t = skipMods(btf, id);
  if (!t) throw new Fail('E_CORE_BAD_BTF', `type ${id} is missing or refers to itself`);
  return t;
}

/** libbpf's `btf__resolve_size` (pointers are 8 bytes); throws a Fail for unsized types. */
function resolveSize(btf: Btf, id: number): number {
  let nelems = 1;
  let t = typeAt(btf, id);
  for (let i = 0; i < 32 && t && t.kind !== BtfKind.Unknown; i++) {
    switch (t.kind) {
      case BtfKind.Int: case BtfKind.Struct: case BtfKind.Union: case BtfKind.Enum: case BtfKind.Enum64:
      case BtfKind.Datasec: case BtfKind.Float:
        return checkedSize(nelems, t.size, id);
      case BtfKind.Ptr:
        return checkedSize(nelems, 8, id);
      case BtfKind.Typedef: case BtfKind.Volatile: case BtfKind.Const: case BtfKind.Restrict: case BtfKind.Var:
      case BtfKind.DeclTag: case BtfKind.TypeTag:
        t = typeAt(btf, t.type);
        break;
      case BtfKind.Array:
        nelems *= t.array!.nelems;
        if (nelems > 0xffffffff) throw new Fail('E_CORE_BAD_BTF', `type ${id} is larger than 4 GiB`);
        t = typeAt(btf, t.array!.type);
        break;
      default:
        throw new Fail('E_CORE_BAD_BTF', `type ${id} (${BtfKind[t.kind]}) has no size`);
    }
  }
  throw new Fail('E_CORE_BAD_BTF', `type ${id} has no size (void, a dangling id or a chain too long)`);
}

function checkedSize(nelems: number, size: number, id: number): number {
  const total = nelems * size;
  if (total > 0xffffffff) throw new Fail('E_CORE_BAD_BTF', `type ${id} is larger than 4 GiB`);
  return total;
}

/** Counts matching work; past the budget the relocation fails instead of running on. */
class Budget {
  private steps = 0;
  tick(): void {
    if (++this.steps > STEP_BUDGET) throw new Fail('E_CORE_BAD_BTF', `matching took more than ${STEP_BUDGET} steps (pathological BTF)`);
  }
}

const isFieldKind = (k: CoreReloKind) => k >= CoreReloKind.FieldByteOffset && k <= CoreReloKind.FieldRShiftU64;
const isTypeKind = (k: CoreReloKind) => (k >= CoreReloKind.TypeIdLocal && k <= CoreReloKind.TypeSize) || k === CoreReloKind.TypeMatches;
const isEnumvalKind = (k: CoreReloKind) => k === CoreReloKind.EnumvalExists || k === CoreReloKind.EnumvalValue;

function addBits(spec: Spec, bits: number): void {
  spec.bitOffset += bits;
  if (spec.bitOffset > 0xffffffff) throw new Fail('E_CORE_BAD_RELO', 'the field offset overflows 32 bits');
}

/** libbpf's `is_flex_arr`: a zero-length array that is the last member of the struct around it. */
function isFlexArray(btf: Btf, outer: Accessor | undefined, nelems: number): boolean {
  if (!outer?.name || nelems > 0) return false;
  return outer.idx === (typeAt(btf, outer.typeId)?.members?.length ?? 0) - 1;
}

/** Parses the access string against the local BTF (libbpf's `bpf_core_parse_spec`). */
function parseSpec(btf: Btf, relo: CoreRelo): Spec {
  const spec: Spec = { btf, rootId: relo.typeId, raw: [], acc: [], bitOffset: 0 };
  const str = relo.accessStr;
  if (isTypeKind(relo.kind)) {
    if (str !== '0') throw new Fail('E_CORE_BAD_RELO', `a type relocation's access string must be "0", not ${JSON.stringify(str)}`);
    return spec;
  }
  // Stricter than libbpf's sscanf loop (no signs or spaces): clang emits only digits and colons.
  if (!/^\d+(:\d+)*$/.test(str)) throw new Fail('E_CORE_BAD_RELO', `malformed access string ${JSON.stringify(str)}`);
  const raw = str.split(':').map(Number);
  if (raw.length > SPEC_MAX_LEN) throw new Fail('E_CORE_BAD_RELO', `access string has ${raw.length} levels, more than ${SPEC_MAX_LEN}`);
  if (raw.some((n) => n > 0x7fffffff)) throw new Fail('E_CORE_BAD_RELO', `access string ${JSON.stringify(str)} has an index beyond 2^31`);
  spec.raw = raw;

  let t = mustSkip(btf, relo.typeId);
  let id = t.id;
  spec.acc.push({ typeId: id, idx: raw[0] });

  if (isEnumvalKind(relo.kind)) {
    if (!isAnyEnum(t)) throw new Fail('E_CORE_BAD_RELO', `enumerator relocation on type ${relo.typeId} (${BtfKind[t.kind]}), not an enum`);
    if (raw.length > 1 || raw[0] >= t.enumValues!.length) throw new Fail('E_CORE_BAD_RELO', `access string ${JSON.stringify(str)} is not an enumerator of ${t.name || '(anon)'} (${t.enumValues!.length} values)`);
    spec.acc[0].name = t.enumValues![raw[0]].name;
    return spec;
  }

  addBits(spec, raw[0] * resolveSize(btf, id) * 8);
  for (let i = 1; i < raw.length; i++) {
    t = mustSkip(btf, id);
    id = t.id;
    const idx = raw[i];
    if (isComposite(t)) {
      const m = t.members![idx];
      if (!m) throw new Fail('E_CORE_BAD_RELO', `member ${idx} of ${t.name || '(anon)'} [${id}] does not exist (it has ${t.members!.length})`);
      addBits(spec, m.bitOffset);
      if (m.name) spec.acc.push({ typeId: id, idx, name: m.name });
      id = m.type;
    } else if (t.kind === BtfKind.Array) {
      const a = t.array!;
      const elem = mustSkip(btf, a.type);
      id = elem.id;
      if (!isFlexArray(btf, spec.acc[spec.acc.length - 1], a.nelems) && idx >= a.nelems) {
        throw new Fail('E_CORE_BAD_RELO', `index ${idx} is out of bounds of array [${t.id}] of ${a.nelems}`);
      }
      spec.acc.push({ typeId: id, idx });
      addBits(spec, idx * resolveSize(btf, id) * 8);
    } else {
      throw new Fail('E_CORE_BAD_RELO', `access string ${JSON.stringify(str)} goes into type [${id}] (${BtfKind[t.kind]}) at level ${i}, not a struct, union or array`);
    }
  }
  return spec;
}

/**
 * libbpf's `bpf_core_fields_are_compat`: structs and unions mix freely, pointers always match,
 * ints of any size and sign match, enums match by essential name, arrays by element type.
 */
function fieldsCompat(local: Btf, localId: number, targ: Btf, targId: number): boolean {
  for (let depth = 0; depth < 32; depth++) {
    const lt = mustSkip(local, localId);
    const tt = mustSkip(targ, targId);
    if (isComposite(lt) && isComposite(tt)) return true;
    if (!kindsCompat(lt, tt)) return false;
    switch (lt.kind) {
      case BtfKind.Ptr: case BtfKind.Float:
        return true;
      case BtfKind.Fwd: case BtfKind.Enum: case BtfKind.Enum64: {
        const ln = coreEssentialName(lt.name), tn = coreEssentialName(tt.name);
        return ln === '' || tn === '' || ln === tn;
      }
      case BtfKind.Int:
        return lt.int!.offset === 0 && tt.int!.offset === 0;
      case BtfKind.Array:
        localId = lt.array!.type;
        targId = tt.array!.type;
        continue;
      default:
        return false;
    }
  }
  throw new Fail('E_CORE_BAD_BTF', 'array element types nest more than 32 deep');
}

/**
 * Finds the named member of `accLocal` in target composite `targId`, looking through anonymous
 * structs and unions (libbpf's `bpf_core_match_member`); extends `spec` on success.
 */
function matchMember(local: Btf, accLocal: Accessor, spec: Spec, targId: number, budget: Budget): number | undefined {
  const tt = mustSkip(spec.btf, targId);
  if (!isComposite(tt)) return undefined;
  const localMember = typeAt(local, accLocal.typeId)!.members![accLocal.idx];
  const members = tt.members!;
  for (let i = 0; i < members.length; i++) {
    budget.tick();
    const m = members[i];
    if (spec.raw.length >= SPEC_MAX_LEN) throw new Fail('E_CORE_BAD_RELO', `the target access path is deeper than ${SPEC_MAX_LEN}`);
    const rawLen = spec.raw.length, accLen = spec.acc.length, bits = spec.bitOffset;
    spec.raw.push(i);
    addBits(spec, m.bitOffset);
    if (!m.name) {
      const next = matchMember(local, accLocal, spec, m.type, budget);
      if (next !== undefined) return next;
    } else if (m.name === localMember.name) {
      // The first member with the name decides, as in libbpf: C allows one per struct.
      if (fieldsCompat(local, localMember.type, spec.btf, m.type)) {
        spec.acc.push({ typeId: tt.id, idx: i, name: m.name });
        return m.type;
      }
      spec.raw.length = rawLen;
      spec.acc.length = accLen;
      spec.bitOffset = bits;
      return undefined;
    }
    spec.raw.length = rawLen;
    spec.acc.length = accLen;
    spec.bitOffset = bits;
  }
  return undefined;
}

/**
 * libbpf's `__bpf_core_types_are_compat`, the test of TYPE_EXISTS/TYPE_SIZE/TYPE_ID_TARGET:
 * compatible kinds all the way down pointers, arrays and function prototypes.
 */
function typesCompat(local: Btf, localId: number, targ: Btf, targId: number, level: number, budget: Budget): boolean {
  const l0 = typeAt(local, localId), t0 = typeAt(targ, targId);
  if (!l0 || !t0) throw new Fail('E_CORE_BAD_BTF', `type ${localId} or target type ${targId} is missing`);
  if (!kindsCompat(l0, t0)) return false;
  for (let depth = 0; ; depth++) {
    budget.tick();
    if (depth >= 32) throw new Fail('E_CORE_BAD_BTF', `types [${localId}] and [${targId}] nest more than 32 deep`);
    const lt = mustSkip(local, localId), tt = mustSkip(targ, targId);
    if (!kindsCompat(lt, tt)) return false;
    switch (lt.kind) {
      case BtfKind.Unknown: case BtfKind.Struct: case BtfKind.Union: case BtfKind.Enum: case BtfKind.Fwd: case BtfKind.Enum64:
        return true;
      case BtfKind.Int:
        return lt.int!.offset === 0 && tt.int!.offset === 0;
      case BtfKind.Ptr:
        localId = lt.type;
        targId = tt.type;
        continue;
      case BtfKind.Array:
        localId = lt.array!.type;
        targId = tt.array!.type;
        continue;
      case BtfKind.FuncProto: {
        const lp = lt.params!, tp = tt.params!;
        if (lp.length !== tp.length) return false;
        for (let i = 0; i < lp.length; i++) {
          if (level <= 0) throw new Fail('E_CORE_BAD_BTF', 'function prototypes nest too deep');
          if (!typesCompat(local, mustSkip(local, lp[i].type).id, targ, mustSkip(targ, tp[i].type).id, level - 1, budget)) return false;
        }
        localId = mustSkip(local, lt.type).id;
        targId = mustSkip(targ, tt.type).id;
        continue;
      }
      default:
        return false;
    }
  }
}

/** libbpf's `bpf_core_names_match`: an anonymous target matches only an anonymous local. */
function namesMatch(localName: string, targName: string): boolean {
  if (!targName) return !localName;
  return sameEssentialName(localName, targName);
}

/**
 * libbpf's `__bpf_core_types_match`, the test of TYPE_MATCHES: same kinds, ints of the same size
 * and sign, every local member and enumerator present in the target (recursively, by name only
 * once behind a pointer), arrays of the same length.
 */
function typesMatch(local: Btf, localId: number, targ: Btf, targId: number, behindPtr: boolean, level: number, budget: Budget): boolean {
  if (level <= 0) throw new Fail('E_CORE_BAD_BTF', 'types nest too deep to match');
  for (let depth = 0; ; depth++) {
    budget.tick();
    if (depth >= 32) throw new Fail('E_CORE_BAD_BTF', `types [${localId}] and [${targId}] nest more than 32 deep`);
    const lt = mustSkip(local, localId), tt = mustSkip(targ, targId);
    if (!namesMatch(lt.name, tt.name)) return false;
    const lk = lt.kind, tk = tt.kind;
    switch (lk) {
      case BtfKind.Unknown:
        return lk === tk;
      case BtfKind.Fwd:
        if (behindPtr) {
          if (lk === tk) return lt.kindFlag === tt.kindFlag;
          return (tk === BtfKind.Struct && !lt.kindFlag) || (tk === BtfKind.Union && lt.kindFlag);
        }
        return lk === tk && lt.kindFlag === tt.kindFlag;
      case BtfKind.Enum: case BtfKind.Enum64:
        return isAnyEnum(tt) && enumsMatch(lt, tt, budget);
      case BtfKind.Struct: case BtfKind.Union:
        if (behindPtr) {
          if (lk === tk) return true;
          return tk === BtfKind.Fwd && (lk === BtfKind.Union) === tt.kindFlag;
        }
        return lk === tk && compositesMatch(local, lt, targ, tt, behindPtr, level, budget);
      case BtfKind.Int:
        return lk === tk && lt.size === tt.size && lt.int!.signed === tt.int!.signed;
      case BtfKind.Ptr:
        if (lk !== tk) return false;
        behindPtr = true;
        localId = lt.type;
        targId = tt.type;
        continue;
      case BtfKind.Array:
        if (lk !== tk || lt.array!.nelems !== tt.array!.nelems) return false;
        localId = lt.array!.type;
        targId = tt.array!.type;
        continue;
      case BtfKind.FuncProto: {
        if (lk !== tk || lt.params!.length !== tt.params!.length) return false;
        for (let i = 0; i < lt.params!.length; i++) {
          if (!typesMatch(local, lt.params![i].type, targ, tt.params![i].type, behindPtr, level - 1, budget)) return false;
        }
        localId = lt.type;
        targId = tt.type;
        continue;
      }
      default:
        return false;
    }
  }
}

function enumsMatch(lt: BtfType, tt: BtfType, budget: Budget): boolean {
  if (lt.size !== tt.size) return false;
  const lv = lt.enumValues!, tv = tt.enumValues!;
  if (lv.length > tv.length) return false;
  return lv.every((l) => tv.some((t) => (budget.tick(), namesMatch(l.name, t.name))));
}

function compositesMatch(local: Btf, lt: BtfType, targ: Btf, tt: BtfType, behindPtr: boolean, level: number, budget: Budget): boolean {
  const lm = lt.members!, tm = tt.members!;
  if (lm.length > tm.length) return false;
  return lm.every((l) => tm.some((t) => (budget.tick(), namesMatch(l.name, t.name)) && typesMatch(local, l.type, targ, t.type, behindPtr, level - 1, budget)));
}

/**
 * Matches the local spec against one target candidate (libbpf's `bpf_core_spec_match`): the
 * target spec, or undefined when the candidate does not have the path.
 */
function matchSpec(localSpec: Spec, kind: CoreReloKind, targ: Btf, candId: number, budget: Budget): Spec | undefined {
  const spec: Spec = { btf: targ, rootId: candId, raw: [], acc: [], bitOffset: 0 };
  if (isTypeKind(kind)) {
    const ok = kind === CoreReloKind.TypeMatches
      ? typesMatch(localSpec.btf, localSpec.rootId, targ, candId, false, MATCH_LEVEL, budget)
      : typesCompat(localSpec.btf, localSpec.rootId, targ, candId, MATCH_LEVEL, budget);
    return ok ? spec : undefined;
  }
  if (isEnumvalKind(kind)) {
    const tt = mustSkip(targ, candId);
    if (!isAnyEnum(tt)) return undefined;
    const want = coreEssentialName(localSpec.acc[0].name!);
    const i = tt.enumValues!.findIndex((e) => coreEssentialName(e.name) === want);
    if (i < 0) return undefined;
    spec.acc.push({ typeId: tt.id, idx: i, name: tt.enumValues![i].name });
    spec.raw.push(i);
    return spec;
  }
  let targId = candId;
  for (let i = 0; i < localSpec.acc.length; i++) {
    const la = localSpec.acc[i];
    let tt = mustSkip(targ, targId);
    targId = tt.id;
    if (la.name) {
      const next = matchMember(localSpec.btf, la, spec, targId, budget);
      if (next === undefined) return undefined;
      targId = next;
      continue;
    }
    // An array index; the root accessor indexes the candidate itself (`&p[0]`).
    if (i > 0) {
      if (tt.kind !== BtfKind.Array) return undefined;
      const a = tt.array!;
      if (!isFlexArray(targ, spec.acc[spec.acc.length - 1], a.nelems) && la.idx >= a.nelems) return undefined;
      tt = mustSkip(targ, a.type);
      targId = tt.id;
    }
    if (spec.raw.length >= SPEC_MAX_LEN) throw new Fail('E_CORE_BAD_RELO', `the target access path is deeper than ${SPEC_MAX_LEN}`);
    spec.acc.push({ typeId: targId, idx: la.idx });
    spec.raw.push(la.idx);
    addBits(spec, la.idx * resolveSize(targ, targId) * 8);
  }
  return spec;
}

/** libbpf's `bpf_core_calc_field_relo`; `spec` undefined means the field is missing. */
function calcField(kind: CoreReloKind, spec: Spec | undefined): CalcValue | 'poison' {
  if (kind === CoreReloKind.FieldExists) return { val: spec ? 1n : 0n, fieldSize: 0, fieldTypeId: 0, validate: true };
  if (!spec) return 'poison';
  const acc = spec.acc[spec.acc.length - 1];
  if (!acc.name) {
    // The path ends in an array element (or is just the root): only offset and size make sense.
    const size = resolveSize(spec.btf, acc.typeId);
    if (kind === CoreReloKind.FieldByteOffset) return { val: BigInt(Math.floor(spec.bitOffset / 8)), fieldSize: size, fieldTypeId: acc.typeId, validate: true };
    if (kind === CoreReloKind.FieldByteSize) return { val: BigInt(size), fieldSize: 0, fieldTypeId: 0, validate: true };
    throw new Fail('E_CORE_UNSUPPORTED', `${CoreReloKind[kind]} cannot be applied to an array element access`);
  }
  const m = typeAt(spec.btf, acc.typeId)!.members![acc.idx];
  const mt = mustSkip(spec.btf, m.type);
  const bitOff = spec.bitOffset;
  let bitSize = m.bitfieldSize;
  const bitfield = bitSize > 0;
  let byteSize: number, byteOff: number;
  if (bitfield) {
    // The narrowest load of the field's own type or wider, aligned to its size, that holds every bit.
    byteSize = mt.size;
    if (byteSize === 0) throw new Fail('E_CORE_BAD_BTF', `bitfield ${m.name} has a type of size 0`);
    byteOff = Math.floor(bitOff / 8 / byteSize) * byteSize;
    while (bitOff + bitSize - byteOff * 8 > byteSize * 8) {
      if (byteSize >= 8) throw new Fail('E_CORE_BITFIELD', `bitfield ${m.name} (${bitSize} bits at bit ${bitOff}) cannot be read with one 64-bit load`);
      byteSize *= 2;
      byteOff = Math.floor(bitOff / 8 / byteSize) * byteSize;
    }
  } else {
    byteSize = resolveSize(spec.btf, mt.id);
    byteOff = Math.floor(bitOff / 8);
    bitSize = byteSize * 8;
  }
  // The compiler may lay bitfield loads out differently from us, so only the sign and the right
  // shift (never ambiguous) are checked against the instruction.
  let validate = !bitfield;
  let val: number;
  let fieldSize = 0, fieldTypeId = 0;
  switch (kind) {
    case CoreReloKind.FieldByteOffset:
      val = byteOff;
      if (!bitfield) {
        fieldSize = byteSize;
        fieldTypeId = mt.id;
      }
      break;
    case CoreReloKind.FieldByteSize:
      val = byteSize;
      break;
    case CoreReloKind.FieldSigned:
      val = (isAnyEnum(mt) && mt.kindFlag) || (mt.kind === BtfKind.Int && mt.int!.signed) ? 1 : 0;
      validate = true;
      break;
    case CoreReloKind.FieldLShiftU64:
      // u32 arithmetic, as in libbpf; the formula depends on the byte order the field is loaded in.
      val = spec.btf.littleEndian ? (64 - (bitOff + bitSize - byteOff * 8)) >>> 0 : ((8 - byteSize) * 8 + (bitOff - byteOff * 8)) >>> 0;
      break;
    case CoreReloKind.FieldRShiftU64:
      val = (64 - bitSize) >>> 0;
      validate = true;
      break;
    default:
      throw new Fail('E_CORE_BAD_RELO', `unknown relocation kind ${kind}`);
  }
  return { val: BigInt(val), fieldSize, fieldTypeId, validate };
}

/** libbpf's `bpf_core_calc_type_relo`; `spec` undefined means no compatible target type. */
function calcType(kind: CoreReloKind, spec: Spec | undefined): CalcValue {
  if (!spec) return { val: 0n, fieldSize: 0, fieldTypeId: 0, validate: true };
  switch (kind) {
    case CoreReloKind.TypeIdTarget:
      // Type ids in instructions change when objects are linked: never checked.
      return { val: BigInt(spec.rootId), fieldSize: 0, fieldTypeId: 0, validate: false };
    case CoreReloKind.TypeExists: case CoreReloKind.TypeMatches:
      return { val: 1n, fieldSize: 0, fieldTypeId: 0, validate: true };
    case CoreReloKind.TypeSize:
      return { val: BigInt(resolveSize(spec.btf, spec.rootId)), fieldSize: 0, fieldTypeId: 0, validate: true };
    default:
      throw new Fail('E_CORE_BAD_RELO', `unknown relocation kind ${kind}`);
  }
}

/** libbpf's `bpf_core_calc_enumval_relo`: values are unsigned 64-bit, a 32-bit enum's sign-extended. */
function calcEnumval(kind: CoreReloKind, spec: Spec | undefined): CalcValue | 'poison' {
  if (kind === CoreReloKind.EnumvalExists) return { val: spec ? 1n : 0n, fieldSize: 0, fieldTypeId: 0, validate: true };
  if (!spec) return 'poison';
  const t = typeAt(spec.btf, spec.acc[0].typeId)!;
  const v = t.enumValues![spec.acc[0].idx].value;
  const val = t.kind === BtfKind.Enum ? BigInt.asUintN(64, BigInt.asIntN(32, v)) : BigInt.asUintN(64, v);
  return { val, fieldSize: 0, fieldTypeId: 0, validate: true };
}

/** The local and target values of one relocation for one candidate (libbpf's `bpf_core_calc_relo`). */
interface CalcResult { local: CalcValue; target: CalcValue | 'poison'; sizeMismatch: boolean }

function calc(kind: CoreReloKind, localSpec: Spec, targSpec: Spec | undefined): CalcResult {
  if (isFieldKind(kind)) {
    const local = calcField(kind, localSpec);
    if (local === 'poison') throw new Fail('E_CORE_BAD_RELO', 'the local access path does not resolve');
    const target = calcField(kind, targSpec);
    let sizeMismatch = false;
    if (target !== 'poison' && local.fieldSize !== target.fieldSize) {
      // Resizing a load keeps the value only for pointers and unsigned integers (zero extension).
      const lt = typeAt(localSpec.btf, local.fieldTypeId)!, tt = typeAt(targSpec!.btf, target.fieldTypeId)!;
      const bothPtr = lt.kind === BtfKind.Ptr && tt.kind === BtfKind.Ptr;
      const bothUnsigned = lt.kind === BtfKind.Int && tt.kind === BtfKind.Int && intEncoding(lt) !== 1 && intEncoding(tt) !== 1;
      sizeMismatch = !bothPtr && !bothUnsigned;
    }
    return { local, target, sizeMismatch };
  }
  if (isTypeKind(kind)) return { local: calcType(kind, localSpec), target: calcType(kind, targSpec), sizeMismatch: false };
  const local = calcEnumval(kind, localSpec);
  if (local === 'poison') throw new Fail('E_CORE_BAD_RELO', 'the local enumerator does not resolve');
  return { local, target: calcEnumval(kind, targSpec), sizeMismatch: false };
}

function candidatesOf(localType: BtfType, target: Btf, cache: Map<number, number[]> | undefined): number[] {
  const cached = cache?.get(localType.id);
  if (cached) return cached;
  const ids = (byEssentialName(target).get(coreEssentialName(localType.name)) ?? []).filter((id) => kindsCompat(target.types[id], localType));
  cache?.set(localType.id, ids);
  return ids;
}

/**
 * Resolves one CO-RE relocation of a program compiled against `local` (the object's `.BTF`) for
 * the kernel described by `target` (`/sys/kernel/btf/vmlinux`, or a module's split BTF), as
 * libbpf's `bpf_core_calc_relo_insn` does: every target type with the same essential name and a
 * compatible kind is a candidate, each is matched structurally (members by name, through anonymous
 * structs and unions; arrays in bounds; compatible field types), and all matching candidates must
 * agree on the value. Never throws: problems are a {@link CoreFailure}.
 *
 * ```ts
 * const res = resolveCoreRelo(local, vmlinux, { insnOff: 8, typeId: 12, accessStr: '0:1', kind: CoreReloKind.FieldByteOffset });
 * if (res.ok) console.log(`tgid moved from ${res.local} to ${res.target}`);
 * ```
 */
export function resolveCoreRelo(local: Btf, target: Btf, relo: CoreRelo, opts: CoreResolveOptions = {}): CoreResolution {
  const kind = relo.kind;
  const failure = (code: CoreErrorCode, reason: string, fatal = true): CoreFailure => ({ ok: false, kind, code, reason, fatal });
  try {
    if (!isFieldKind(kind) && !isTypeKind(kind) && !isEnumvalKind(kind)) return failure('E_CORE_BAD_RELO', `unknown relocation kind ${kind}`);
    const localType = typeAt(local, relo.typeId);
    if (!localType) return failure('E_CORE_BAD_RELO', `relocation root type ${relo.typeId} is not in the local BTF (${local.types.length - 1} types)`);
    const localSpec = parseSpec(local, relo);
    const what = `${CoreReloKind[kind]} of ${localType.name || '(anon)'} [${relo.typeId}] + "${relo.accessStr}"`;

    if (kind === CoreReloKind.TypeIdLocal) {
      const id = BigInt(relo.typeId);
      return { ok: true, kind, local: id, target: id, validate: false, localSize: 0, targetSize: 0, sizeMismatch: false, targetTypeId: 0, targetAccess: '', candidates: 0 };
    }
    if (!localType.name) return failure('E_CORE_UNSUPPORTED', `${what}: CO-RE cannot look up an anonymous type in the target`);

    const budget = new Budget();
    const cands = candidatesOf(localType, target, opts.candidateCache);
    let best: { spec: Spec; res: CalcResult } | undefined;
    const matched: number[] = [];
    for (const candId of cands) {
      const spec = matchSpec(localSpec, kind, target, candId, budget);
      if (!spec) continue;
      const res = calc(kind, localSpec, spec);
      if (!best) {
        best = { spec, res };
      } else if (spec.bitOffset !== best.spec.bitOffset) {
        return failure('E_CORE_AMBIGUOUS', `${what}: candidates [${best.spec.rootId}] and [${candId}] put the field at different bit offsets (${best.spec.bitOffset} and ${spec.bitOffset})`);
      } else if ((res.target === 'poison') !== (best.res.target === 'poison') || (res.target !== 'poison' && best.res.target !== 'poison' && res.target.val !== best.res.target.val)) {
        const show = (r: CalcResult) => (r.target === 'poison' ? 'failure' : String(r.target.val));
        return failure('E_CORE_AMBIGUOUS', `${what}: candidates [${best.spec.rootId}] and [${candId}] disagree (${show(best.res)} vs ${show(res)})`);
      }
      matched.push(candId);
    }
    // As libbpf prunes its candidate cache: a type that did not match is skipped from now on.
    if (matched.length > 0) opts.candidateCache?.set(localType.id, matched);

    const res = best?.res ?? calc(kind, localSpec, undefined);
    if (res.target === 'poison') {
      const why = cands.length === 0 ? `no type named ${coreEssentialName(localType.name)} of a compatible kind in the target` : `none of the ${cands.length} target candidates has it`;
      return failure('E_CORE_NOT_FOUND', `${what}: ${why}`, false);
    }
    return {
      ok: true, kind,
      local: res.local.val, target: res.target.val, validate: res.local.validate,
      localSize: res.local.fieldSize, targetSize: res.target.fieldSize, sizeMismatch: res.sizeMismatch,
      targetTypeId: best?.spec.rootId ?? 0,
      targetAccess: best && !isTypeKind(kind) ? best.spec.raw.join(':') : '',
      candidates: matched.length,
    };
  } catch (e) {
    if (e instanceof Fail) return failure(e.code, e.reason, e.fatal);
    throw e;
  }
}

const BPF_LD = 0x00, BPF_LDX = 0x01, BPF_ST = 0x02, BPF_STX = 0x03, BPF_ALU = 0x04, BPF_ALU64 = 0x07;
const BPF_X = 0x08;
const LD_IMM64 = 0x18;
const SIZE_BYTES: Record<number, number> = { 0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8 };
const BYTES_SIZE: Record<number, number> = { 4: 0x00, 2: 0x08, 1: 0x10, 8: 0x18 };

/**
 * Patches the instruction at `slot` of `code` (8-byte little-endian slots) with a resolution, as
 * libbpf's `bpf_core_patch_insn` does: the `imm` of an ALU/ALU64 instruction with an immediate
 * operand, the `off` of a load or store (resized when the field's size changed and the value
 * survives it), or both halves of an `ld_imm64`. Where libbpf checks it, the instruction must hold
 * the value clang emitted. A failed resolution (`res.ok === false`) or an unsafe resize turns the
 * instruction into `call 0xbad2310` (both slots of an `ld_imm64`): the verifier rejects it only if
 * it is reachable. Throws a {@link CoreError} for a patch that cannot be made.
 *
 * ```ts
 * patchCoreInsn(code, relo.insnOff / 8, relo, resolveCoreRelo(local, vmlinux, relo));
 * ```
 */
export function patchCoreInsn(code: Uint8Array, slot: number, relo: CoreRelo, res: CoreResolution): void {
  const count = Math.floor(code.length / 8);
  const what = CoreReloKind[relo.kind] ?? `relocation kind ${relo.kind}`;
  if (!Number.isInteger(slot) || slot < 0 || slot >= count) throw new CoreError('E_CORE_INSN_RANGE', `${what} points at slot ${slot}, outside the ${count} instructions`, slot);
  const v = new DataView(code.buffer, code.byteOffset, code.byteLength);
  const at = slot * 8;
  const op = code[at];
  const cls = op & 0x07;

  const poison = (): void => {
    if (op === LD_IMM64) {
      if (slot + 1 >= count) throw new CoreError('E_CORE_INSN_RANGE', 'ld_imm64 is the last slot: its second half is missing', slot);
      poisonSlot(v, at + 8);
    }
    poisonSlot(v, at);
  };
  if (!res.ok) return poison();

  const { local, target } = res;
  switch (cls) {
    case BPF_ALU: case BPF_ALU64: {
      if ((op & BPF_X) !== 0) throw new CoreError('E_CORE_INSN_FORM', `${what} on an ALU instruction with a register operand (opcode 0x${hex(op)})`, slot);
      const imm = v.getInt32(at + 4, true);
      const got = BigInt.asUintN(64, BigInt(imm));
      if (res.validate && got !== local) throw new CoreError('E_CORE_INSN_VALUE', `${what}: the ALU immediate is ${got}, the relocation expects ${local} (-> ${target})`, slot, { expected: local, got });
      v.setInt32(at + 4, Number(BigInt.asIntN(32, target)), true);
      return;
    }
    case BPF_LDX: case BPF_ST: case BPF_STX: {
      const off = v.getInt16(at + 2, true);
      const got = BigInt.asUintN(64, BigInt(off));
      if (res.validate && got !== local) throw new CoreError('E_CORE_INSN_VALUE', `${what}: the load/store offset is ${off}, the relocation expects ${local} (-> ${target})`, slot, { expected: local, got });
      if (target > 0x7fffn) throw new CoreError('E_CORE_OFFSET_RANGE', `${what}: the new offset ${target} does not fit the 16-bit offset of a load/store`, slot, { got: target });
      if (res.sizeMismatch) return poison();
      v.setInt16(at + 2, Number(target), true);
      if (res.targetSize !== res.localSize) {
        const insnBytes = SIZE_BYTES[op & 0x18];
        if (insnBytes !== res.localSize) throw new CoreError('E_CORE_MEM_SIZE', `${what}: the instruction accesses ${insnBytes} bytes, the field is ${res.localSize}`, slot, { expected: BigInt(res.localSize), got: BigInt(insnBytes) });
        const size = BYTES_SIZE[res.targetSize];
        if (size === undefined) throw new CoreError('E_CORE_MEM_SIZE', `${what}: the field is ${res.targetSize} bytes in the target, which no load or store can access`, slot, { got: BigInt(res.targetSize) });
        code[at] = (op & 0xe0) | size | cls;
      }
      return;
    }
    case BPF_LD: {
      if (op !== LD_IMM64 || slot + 1 >= count) throw new CoreError('E_CORE_INSN_FORM', `${what} on an LD instruction that is not a whole ld_imm64 (opcode 0x${hex(op)})`, slot);
      const next = at + 8;
      if ((code[at + 1] & 0xf0) !== 0 || v.getInt16(at + 2, true) !== 0 || code[next] !== 0 || code[next + 1] !== 0 || v.getInt16(next + 2, true) !== 0) {
        throw new CoreError('E_CORE_INSN_FORM', `${what}: ld_imm64 has an unexpected form (a pseudo source or a nonzero field)`, slot);
      }
      const got = BigInt(v.getUint32(at + 4, true)) | (BigInt(v.getUint32(next + 4, true)) << 32n);
      if (res.validate && got !== local) throw new CoreError('E_CORE_INSN_VALUE', `${what}: the ld_imm64 value is ${got}, the relocation expects ${local} (-> ${target})`, slot, { expected: local, got });
      v.setUint32(at + 4, Number(target & 0xffffffffn), true);
      v.setUint32(next + 4, Number((target >> 32n) & 0xffffffffn), true);
      return;
    }
    default:
      throw new CoreError('E_CORE_INSN_FORM', `${what} on an instruction CO-RE cannot patch (opcode 0x${hex(op)})`, slot);
  }
}

/** `call 0xbad2310` with every other field zero. */
function poisonSlot(v: DataView, at: number): void {
  v.setUint8(at, 0x85);
  v.setUint8(at + 1, 0);
  v.setInt16(at + 2, 0, true);
  v.setUint32(at + 4, CORE_POISON_IMM, true);
}

const hex = (n: number) => n.toString(16).padStart(2, '0');
