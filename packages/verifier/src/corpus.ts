/**
 * The kernel's verifier test corpus (`../shared/verifier-corpus`, one JSON object per program, from
 * the BPF selftests, each loaded into a real kernel): reading it, turning an entry into `verify()`
 * inputs, and measuring how often our verdict is the kernel's.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Btf, BtfKind, TsbpfError, attachTypeFromName, mapTypeFromName, progTypeFromName } from '@tsbpf/core';
import { funcsFromBtf } from './func-info.js';
import { verify } from './verify.js';
import type { VerifierMap, VerifyOptions, VerifyResult } from './types.js';

// ---------------------------------------------------------------------------------------------
// Schema

/** A reloc: an imm placeholder (0) to patch before loading. */
export type CorpusReloc =
  | { insn: number; kind: 'map_fd'; map: string }
  | { insn: number; kind: 'map_value'; map: string; offset?: number }
  | { insn: number; kind: 'imm_fd'; map: string }
  | { insn: number; kind: 'kfunc'; name: string };

/** A map the program refers to, as the corpus describes it (kernel names, snake_case fields). */
export interface CorpusMap {
  name: string;
  kind?: 'btf_map' | 'global_data' | 'test_verifier_fixup';
  /** `BPF_MAP_TYPE_*`. */
  type: string;
  key_size: number;
  value_size: number;
  max_entries: number;
  map_flags?: number;
  used_at_insn?: number[];
  key_type?: string;
  value_type?: string;
  btf_key_type_id?: number;
  btf_value_type_id?: number;
  /** Kinds of special fields in the value (`bpf_spin_lock`, `bpf_timer`, `kptr`, ...). */
  btf_special_fields?: string[];
  inner_map?: Omit<CorpusMap, 'inner_map' | 'used_at_insn'> | null;
  map_extra?: number;
  /** Written at key 0 before loading. */
  initial_value_hex?: string;
  /** Frozen before loading (`.rodata`). */
  freeze?: boolean;
  max_entries_declared?: number;
  tail_call_targets?: unknown;
}

/** What the test's annotations expect (privileged run). */
export interface CorpusExpect {
  result: 'accept' | 'reject';
  /** Must appear in this order in the log; `{{re}}` parts are POSIX extended regular expressions. */
  msg?: string[];
  retval?: number;
  retval_any?: boolean;
  [field: string]: unknown;
}

/** What the live kernel did with the entry. */
export interface CorpusKernel {
  result: 'accept' | 'reject' | 'env_refused' | 'setup_error';
  errno?: number;
  first_error_line?: string;
  error_lines?: string[];
  msg_match?: boolean;
  agreement?: string;
  [field: string]: unknown;
}

/** One corpus entry: one test program (see the corpus README for every field). */
export interface CorpusEntry {
  id: string;
  suite?: 'test_progs' | 'test_verifier';
  name?: string;
  /** `BPF_PROG_TYPE_*`. */
  prog_type: string;
  /** `BPF_*` attach type, or null. */
  expected_attach_type?: string | null;
  attach_btf?: CorpusAttachBtf | null;
  prog_flags?: number;
  log_level?: number;
  license?: string | null;
  insn_cnt?: number;
  /** 8 bytes per instruction slot, little-endian. */
  insns_hex: string;
  relocs: CorpusReloc[];
  subprogs?: { name: string; insn_off: number; global: boolean }[];
  maps: CorpusMap[];
  btf?: { blob: string; func_info?: [number, number][]; func_info_complete?: boolean } | null;
  expect: CorpusExpect;
  kernel: CorpusKernel;
  [field: string]: unknown;
}

/** The function or typedef of vmlinux the program attaches to (`fentry`, `lsm`, `tp_btf`, iterators). */
export interface CorpusAttachBtf {
  btf_kind: 'FUNC' | 'TYPEDEF';
  name: string;
}

/** BTF blobs by object stem (`btf_blobs.json`): hex text or bytes. */
export type CorpusBtfBlobs = Readonly<Record<string, string | Uint8Array>>;

/** Codes of {@link CorpusError}. */
export type CorpusErrorCode =
  | 'E_CORPUS_JSON'
  | 'E_CORPUS_FIELD'
  | 'E_CORPUS_INSNS'
  | 'E_CORPUS_RELOC'
  | 'E_CORPUS_PROG_TYPE'
  | 'E_CORPUS_ATTACH_TYPE'
  | 'E_CORPUS_MAP'
  | 'E_CORPUS_BTF'
  | 'E_CORPUS_REGEX';

/**
 * A corpus file or entry that does not follow the schema: bad JSON, a missing or ill-typed field,
 * a reloc pointing at the wrong instruction, a name the uapi tables do not know. `field` is the
 * JSON path of the problem (`relocs[2].insn`), `line` the 1-based line in the file when known.
 */
export class CorpusError extends TsbpfError {
  declare readonly code: CorpusErrorCode;
  /** The entry's `id`, when it has one. */
  readonly entryId?: string;
  /** JSON path of the offending field. */
  readonly field?: string;
  /** 1-based line of the entry in its JSONL file. */
  readonly line?: number;

  constructor(code: CorpusErrorCode, message: string, where: { entryId?: string; field?: string; line?: number } = {}) {
    const at = [where.line !== undefined ? `line ${where.line}` : '', where.entryId ?? '', where.field ?? ''].filter(Boolean).join(', ');
    super(code, at ? `${at}: ${message}` : message);
    this.entryId = where.entryId;
    this.field = where.field;
    this.line = where.line;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * Parses a corpus file: JSONL text, or its gzip (recognised by the gzip magic, whatever the file
 * is called). Blank lines are skipped; every entry is checked for the fields `prepareEntry` and
 * `runCorpus` need, so a malformed line fails here with its line number.
 *
 * @example
 * ```ts
 * const entries = parseCorpus(readFileSync('corpus.jsonl.gz'));
 * ```
 */
export function parseCorpus(data: string | Uint8Array): CorpusEntry[] {
  let text: string;
  if (typeof data === 'string') text = data;
  else {
    let bytes = data;
    if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
      try {
        bytes = gunzipSync(bytes);
      } catch (e) {
        throw new CorpusError('E_CORPUS_JSON', `not a valid gzip file: ${(e as Error).message}`);
      }
    }
    text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  }
  const entries: CorpusEntry[] = [];
  let start = 0;
  for (let line = 1; start <= text.length; line++) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const raw = text.slice(start, end).trim();
    start = end + 1;
    if (!raw) continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw new CorpusError('E_CORPUS_JSON', `not JSON: ${(e as Error).message}`, { line });
    }
    entries.push(checkEntry(value, line));
  }
  return entries;
}

/** Reads and parses a corpus file (`.jsonl` or `.jsonl.gz`). */
export function readCorpus(path: string): CorpusEntry[] {
  return parseCorpus(new Uint8Array(readFileSync(path)));
}

/** Parses `btf_blobs.json` (`{ object stem: hex }`). */
export function parseBtfBlobs(text: string): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CorpusError('E_CORPUS_JSON', `btf_blobs.json is not JSON: ${(e as Error).message}`);
  }
  if (!isObject(value)) throw new CorpusError('E_CORPUS_BTF', 'btf_blobs.json must be an object of hex strings');
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new CorpusError('E_CORPUS_BTF', `blob ${k} is not a hex string`);
  }
  return value as Record<string, string>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** Validates the shape of one entry (everything `prepareEntry` and `runCorpus` read). */
function checkEntry(value: unknown, line?: number): CorpusEntry {
  if (!isObject(value)) throw new CorpusError('E_CORPUS_FIELD', 'an entry must be a JSON object', { line });
  const entryId = typeof value.id === 'string' ? value.id : undefined;
  const fail = (field: string, what: string): never => {
    throw new CorpusError('E_CORPUS_FIELD', what, { entryId, field, line });
  };
  if (entryId === undefined || entryId === '') fail('id', 'must be a non-empty string');
  if (typeof value.prog_type !== 'string') fail('prog_type', 'must be a BPF_PROG_TYPE_* name');
  if (value.expected_attach_type != null && typeof value.expected_attach_type !== 'string') fail('expected_attach_type', 'must be a BPF_* name or null');
  if (typeof value.insns_hex !== 'string') fail('insns_hex', 'must be a hex string');
  for (const f of ['prog_flags', 'log_level', 'insn_cnt'] as const) {
    if (value[f] != null && !isInt(value[f])) fail(f, 'must be an integer');
  }
  if (value.license != null && typeof value.license !== 'string') fail('license', 'must be a string or null');
  if (!Array.isArray(value.relocs)) fail('relocs', 'must be an array');
  (value.relocs as unknown[]).forEach((r, i) => {
    const f = `relocs[${i}]`;
    if (!isObject(r)) return fail(f, 'must be an object');
    if (!isInt(r.insn) || r.insn < 0) fail(`${f}.insn`, 'must be a non-negative integer');
    if (r.kind === 'kfunc') {
      if (typeof r.name !== 'string') fail(`${f}.name`, 'must be the kfunc name');
    } else if (r.kind === 'map_fd' || r.kind === 'map_value' || r.kind === 'imm_fd') {
      if (typeof r.map !== 'string') fail(`${f}.map`, 'must be a map name');
      if (r.offset !== undefined && !isInt(r.offset)) fail(`${f}.offset`, 'must be an integer');
    } else fail(`${f}.kind`, `must be map_fd, map_value, imm_fd or kfunc, not ${JSON.stringify(r.kind)}`);
  });
  if (!Array.isArray(value.maps)) fail('maps', 'must be an array');
  (value.maps as unknown[]).forEach((m, i) => checkMap(m, `maps[${i}]`, fail));
  if (value.attach_btf != null) {
    const a = value.attach_btf;
    if (!isObject(a) || typeof a.name !== 'string' || typeof a.btf_kind !== 'string') fail('attach_btf', 'must be {btf_kind, name} or null');
  }
  if (value.btf != null && (!isObject(value.btf) || typeof value.btf.blob !== 'string')) fail('btf', 'must be {blob, func_info} or null');
  if (!isObject(value.expect)) fail('expect', 'must be an object');
  const expect = value.expect as Record<string, unknown>;
  if (expect.result !== 'accept' && expect.result !== 'reject') fail('expect.result', 'must be accept or reject');
  if (expect.msg != null && (!Array.isArray(expect.msg) || !expect.msg.every((s) => typeof s === 'string'))) fail('expect.msg', 'must be an array of strings');
  if (!isObject(value.kernel)) fail('kernel', 'must be an object');
  const kr = (value.kernel as Record<string, unknown>).result;
  if (typeof kr !== 'string' || !KERNEL_RESULTS.includes(kr)) fail('kernel.result', `must be one of ${KERNEL_RESULTS.join(', ')}`);
  return value as unknown as CorpusEntry;
}

const KERNEL_RESULTS: readonly string[] = ['accept', 'reject', 'env_refused', 'setup_error'];

function checkMap(m: unknown, f: string, fail: (field: string, what: string) => never): void {
  if (!isObject(m)) return fail(f, 'must be an object');
  if (typeof m.name !== 'string') fail(`${f}.name`, 'must be a string');
  if (typeof m.type !== 'string') fail(`${f}.type`, 'must be a BPF_MAP_TYPE_* name');
  for (const k of ['key_size', 'value_size', 'max_entries'] as const) {
    if (!isInt(m[k]) || (m[k] as number) < 0) fail(`${f}.${k}`, 'must be a non-negative integer');
  }
  if (m.map_flags != null && !isInt(m.map_flags)) fail(`${f}.map_flags`, 'must be an integer');
  if (m.initial_value_hex != null && (typeof m.initial_value_hex !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(m.initial_value_hex))) {
    fail(`${f}.initial_value_hex`, 'must be hex bytes');
  }
  if (m.btf_special_fields != null && (!Array.isArray(m.btf_special_fields) || !m.btf_special_fields.every((s) => typeof s === 'string'))) {
    fail(`${f}.btf_special_fields`, 'must be an array of names');
  }
  if (m.inner_map != null) checkMap(m.inner_map, `${f}.inner_map`, fail);
}

// ---------------------------------------------------------------------------------------------
// Preparing one entry

/** The options of {@link prepareEntry}. */
export interface PrepareOptions {
  /** BTF blobs by object stem (`btf_blobs.json`); needed to place special fields (spin locks, timers). */
  btfBlobs?: CorpusBtfBlobs;
  /** The first fd given to the entry's maps (3: after stdin, stdout and stderr, as in a fresh process). */
  firstFd?: number;
}

/** `verify()` inputs for one corpus entry. */
export interface PreparedEntry {
  /** The program with every map reloc applied (kfunc calls left as they are). */
  insns: Uint8Array;
  options: VerifyOptions & { progType: number; maps: VerifierMap[] };
  /** kfunc calls (`call src_reg=2`) by slot index, with the vmlinux function each one names. */
  kfuncs: { insn: number; name: string }[];
  /** What to resolve in vmlinux BTF for `attach_btf_id`, or null. */
  attachBtf: CorpusAttachBtf | null;
  /** The entry's program BTF, when its blob was given. */
  btf?: Btf;
  /** `func_info` records, `[insn_off, type_id]` in `btf`. */
  funcInfo?: [number, number][];
}

type SpecialKind = NonNullable<VerifierMap['specialFields']>[number]['kind'];
type SpecialField = NonNullable<VerifierMap['specialFields']>[number];

/** Struct names of the special fields the kernel finds in map values (btf_parse_fields). */
const SPECIAL_STRUCTS: Readonly<Record<string, SpecialKind>> = {
  bpf_spin_lock: 'bpf_spin_lock',
  bpf_timer: 'bpf_timer',
  bpf_wq: 'bpf_wq',
  bpf_list_head: 'other',
  bpf_list_node: 'other',
  bpf_rb_root: 'other',
  bpf_rb_node: 'other',
  bpf_refcount: 'other',
  bpf_res_spin_lock: 'other',
  bpf_task_work: 'other',
};
/** Type tags that make a pointer member a kptr. */
const KPTR_TAGS: ReadonlySet<string> = new Set(['kptr', 'kptr_untrusted', 'kptr_ref', 'percpu_kptr', 'uptr']);
const SPECIAL_SIZE: Readonly<Partial<Record<SpecialKind, number>>> = { bpf_spin_lock: 4, bpf_timer: 16, bpf_wq: 16, kptr: 8 };

const specialKindOf = (name: string): SpecialKind =>
  KPTR_TAGS.has(name) ? 'kptr' : SPECIAL_STRUCTS[name] ?? 'other';

/**
 * Turns one corpus entry into `verify()` inputs, the way the live run loaded it: each map gets a
 * fake fd (3, 4, ... in `maps` order); `map_fd` relocs put it in the `lddw` imm with src_reg 1,
 * `map_value` relocs with src_reg 2 (the value offset stays in the second imm), `imm_fd` relocs in
 * the raw imm; kfunc calls are left as they are and listed. Program and attach types become
 * kernel numbers through the uapi tables. Throws {@link CorpusError} for a malformed entry.
 *
 * @example
 * ```ts
 * const { insns, options } = prepareEntry(entry, { btfBlobs });
 * const result = verify(insns, options);
 * ```
 */
export function prepareEntry(entry: CorpusEntry, options: PrepareOptions = {}): PreparedEntry {
  const e = checkEntry(entry);
  const entryId = e.id;
  const err = (code: CorpusErrorCode, field: string, message: string) => new CorpusError(code, message, { entryId, field });

  const hex = e.insns_hex;
  if (hex.length % 16 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw err('E_CORPUS_INSNS', 'insns_hex', `must be hex text of 8-byte slots (got ${hex.length} characters)`);
  }
  const insns = Uint8Array.from(Buffer.from(hex, 'hex'));
  const slots = insns.length / 8;
  if (e.insn_cnt != null && e.insn_cnt !== slots) throw err('E_CORPUS_INSNS', 'insn_cnt', `is ${e.insn_cnt} but insns_hex has ${slots} slots`);

  const progType = progTypeFromName(e.prog_type);
  if (progType === undefined) throw err('E_CORPUS_PROG_TYPE', 'prog_type', `unknown program type ${e.prog_type}`);
  let expectedAttachType: number | undefined;
  if (e.expected_attach_type != null) {
    expectedAttachType = attachTypeFromName(e.expected_attach_type);
    if (expectedAttachType === undefined) throw err('E_CORPUS_ATTACH_TYPE', 'expected_attach_type', `unknown attach type ${e.expected_attach_type}`);
  }

  const blobName = e.btf?.blob;
  let btf: Btf | undefined;
  const btfFor = (field: string): Btf | undefined => {
    if (btf || !blobName || !options.btfBlobs) return btf;
    const blob = options.btfBlobs[blobName];
    if (blob === undefined) return undefined;
    btf = parseBlob(options.btfBlobs, blobName, blob, (m) => err('E_CORPUS_BTF', field, m));
    return btf;
  };

  const firstFd = options.firstFd ?? 3;
  const fds = new Map<string, number>();
  const maps: VerifierMap[] = e.maps.map((m, i) => {
    const field = `maps[${i}]`;
    if (fds.has(m.name)) throw err('E_CORPUS_MAP', `${field}.name`, `map ${m.name} is listed twice`);
    const fd = firstFd + i;
    fds.set(m.name, fd);
    const vm: VerifierMap = { fd, ...mapTemplate(m, field, err) };
    if (m.btf_special_fields?.length) vm.specialFields = specialFields(m, field, btfFor(`${field}.btf_special_fields`), err);
    return vm;
  });

  const kfuncs: { insn: number; name: string }[] = [];
  const view = new DataView(insns.buffer, insns.byteOffset, insns.byteLength);
  e.relocs.forEach((r, i) => {
    const field = `relocs[${i}]`;
    if (r.insn >= slots) throw err('E_CORPUS_RELOC', `${field}.insn`, `slot ${r.insn} is past the end of the program (${slots} slots)`);
    const at = r.insn * 8;
    const op = insns[at];
    if (r.kind === 'kfunc') {
      if (op !== 0x85 || insns[at + 1] >> 4 !== 2) throw err('E_CORPUS_RELOC', `${field}.insn`, `slot ${r.insn} is not a kfunc call (call src_reg=2)`);
      kfuncs.push({ insn: r.insn, name: r.name });
      return;
    }
    const fd = fds.get(r.map);
    if (fd === undefined) throw err('E_CORPUS_RELOC', `${field}.map`, `names map ${r.map}, which is not in maps`);
    if (r.kind === 'imm_fd') {
      view.setInt32(at + 4, fd, true);
      return;
    }
    if (op !== 0x18 || r.insn + 1 >= slots) throw err('E_CORPUS_RELOC', `${field}.insn`, `slot ${r.insn} is not an lddw (ld_imm64) instruction`);
    const src = r.kind === 'map_fd' ? 1 : 2;
    if (r.kind === 'map_value') {
      const second = view.getUint32(at + 12, true);
      if (r.offset !== undefined && r.offset >>> 0 !== second) {
        throw err('E_CORPUS_RELOC', `${field}.offset`, `is ${r.offset} but the lddw's second imm holds ${second}`);
      }
    }
    insns[at + 1] = (src << 4) | (insns[at + 1] & 0x0f);
    view.setInt32(at + 4, fd, true);
  });

  const verifyOptions: PreparedEntry['options'] = {
    progType,
    maps,
    // The live run logged at max(1, log_level); bit 1 (BPF_LOG_LEVEL2) asks for every instruction.
    logLevel: (e.log_level ?? 0) & 2 ? 2 : 1,
    privileged: true,
    progFlags: e.prog_flags ?? 0,
    license: e.license ?? '',
  };
  if (expectedAttachType !== undefined) verifyOptions.expectedAttachType = expectedAttachType;
  if (kfuncs.length) verifyOptions.kfuncs = kfuncs;
  const prepared: PreparedEntry = { insns, options: verifyOptions, kfuncs, attachBtf: e.attach_btf ?? null };
  const progBtf = btfFor('btf.blob');
  if (progBtf) prepared.btf = progBtf;
  if (e.btf?.func_info) prepared.funcInfo = e.btf.func_info;
  if (progBtf && e.btf?.func_info) {
    const funcs = funcsFromBtf(progBtf, e.btf.func_info, verifyOptions.progType);
    verifyOptions.funcs = funcs;
  }
  return prepared;
}

function mapTemplate(m: CorpusMap, field: string, err: (code: CorpusErrorCode, field: string, message: string) => CorpusError): Omit<VerifierMap, 'fd'> {
  const type = mapTypeFromName(m.type);
  if (type === undefined) throw err('E_CORPUS_MAP', `${field}.type`, `unknown map type ${m.type}`);
  const t: Omit<VerifierMap, 'fd'> = { type, keySize: m.key_size, valueSize: m.value_size, maxEntries: m.max_entries, flags: m.map_flags ?? 0, name: m.name };
  if (m.inner_map) t.inner = mapTemplate(m.inner_map as CorpusMap, `${field}.inner_map`, err);
  if (m.freeze) t.frozen = true;
  if (m.initial_value_hex) t.initialValue = Uint8Array.from(Buffer.from(m.initial_value_hex, 'hex'));
  return t;
}

const parsedBlobs = new WeakMap<object, Map<string, Btf>>();

function parseBlob(blobs: CorpusBtfBlobs, name: string, blob: string | Uint8Array, err: (m: string) => CorpusError): Btf {
  let cache = parsedBlobs.get(blobs);
  if (!cache) parsedBlobs.set(blobs, (cache = new Map()));
  const hit = cache.get(name);
  if (hit) return hit;
  if (typeof blob === 'string' && !/^([0-9a-fA-F]{2})*$/.test(blob)) throw err(`BTF blob ${name} is not hex`);
  const bytes = typeof blob === 'string' ? Uint8Array.from(Buffer.from(blob, 'hex')) : blob;
  let btf: Btf;
  try {
    btf = Btf.parse(bytes);
  } catch (e) {
    throw err(`BTF blob ${name} does not parse: ${(e as Error).message}`);
  }
  cache.set(name, btf);
  return btf;
}

/**
 * Places the map value's special fields: from its BTF when the blob is there (as the kernel's
 * btf_parse_fields does, through nested structs, arrays and data sections), else only when the
 * value is exactly one field.
 */
function specialFields(m: CorpusMap, field: string, btf: Btf | undefined, err: (code: CorpusErrorCode, field: string, message: string) => CorpusError): SpecialField[] {
  const wanted = new Set(m.btf_special_fields!.map(specialKindOf));
  if (btf && m.btf_value_type_id) {
    let found: SpecialField[];
    try {
      found = scanSpecialFields(btf, m.btf_value_type_id).filter((f) => wanted.has(f.kind));
    } catch (e) {
      throw err('E_CORPUS_BTF', `${field}.btf_value_type_id`, `BTF type ${m.btf_value_type_id}: ${(e as Error).message}`);
    }
    for (const k of wanted) {
      if (!found.some((f) => f.kind === k)) throw err('E_CORPUS_BTF', `${field}.btf_special_fields`, `no ${k} in BTF type ${m.btf_value_type_id}`);
    }
    return found;
  }
  const [only, ...rest] = wanted;
  const size = SPECIAL_SIZE[only!];
  if (rest.length === 0 && m.btf_special_fields!.length === 1 && size === m.value_size) return [{ kind: only!, offset: 0, size }];
  throw err('E_CORPUS_BTF', `${field}.btf_special_fields`, `placing ${[...m.btf_special_fields!].join(', ')} in ${m.name}'s value needs the entry's BTF blob (btfBlobs)`);
}

/** Every special field inside BTF type `typeId`, with byte offsets from its start. */
export function scanSpecialFields(btf: Btf, typeId: number): SpecialField[] {
  const out: SpecialField[] = [];
  const walk = (id: number, base: number, depth: number): void => {
    if (depth > 32) return;
    const t = btf.resolve(id);
    switch (t.kind) {
      case BtfKind.Struct:
      case BtfKind.Union: {
        const special = Object.hasOwn(SPECIAL_STRUCTS, t.name) ? SPECIAL_STRUCTS[t.name] : undefined;
        if (special) {
          out.push({ kind: special, offset: base, size: t.size });
          return;
        }
        for (const mem of t.members ?? []) if (mem.bitfieldSize === 0 && mem.bitOffset % 8 === 0) walk(mem.type, base + mem.bitOffset / 8, depth + 1);
        return;
      }
      case BtfKind.Array: {
        const { type, nelems } = t.array!;
        const size = btf.sizeOf(type);
        const before = out.length;
        walk(type, base, depth + 1);
        if (out.length === before) return;
        const first = out.splice(before);
        for (let k = 0; k < nelems; k++) for (const f of first) out.push({ ...f, offset: f.offset + k * size });
        return;
      }
      case BtfKind.Datasec:
        for (const s of t.secinfo ?? []) walk(s.type, base + s.offset, depth + 1);
        return;
      case BtfKind.Var:
        walk(t.type, base, depth + 1);
        return;
      case BtfKind.Ptr: {
        // A kptr is `PTR -> TYPE_TAG("kptr") -> STRUCT`: the tag sits between the pointer and its target.
        let p = btf.type(t.type);
        for (let i = 0; i < 8 && p.kind !== BtfKind.Struct; i++) {
          if (p.kind === BtfKind.TypeTag && KPTR_TAGS.has(p.name)) {
            out.push({ kind: 'kptr', offset: base, size: 8 });
            return;
          }
          if (![BtfKind.TypeTag, BtfKind.Const, BtfKind.Volatile, BtfKind.Restrict, BtfKind.Typedef].includes(p.kind)) return;
          p = btf.type(p.type);
        }
        return;
      }
      default:
        return;
    }
  };
  walk(typeId, 0, 0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Expected messages

/** One expected message, compiled as test_loader compiles it. */
export interface MessageMatcher {
  /** The pattern as written (`R{{[0-9]}} min value is negative`). */
  pattern: string;
  /** Finds the first match in `text`: start and end offsets, or undefined. */
  find(text: string): { start: number; end: number } | undefined;
}

/**
 * Compiles an expected message as test_loader does: without `{{` it is a plain substring; with
 * `{{...}}` parts, those are POSIX extended regular expressions and the rest is literal, the whole
 * matched with REG_NEWLINE (`.` and `[^...]` never cross a line). Throws {@link CorpusError}
 * (`E_CORPUS_REGEX`) for an unclosed `{{` or an expression that does not compile.
 *
 * Matching differs from POSIX in one respect: the match end is JavaScript's (leftmost, first
 * alternative that fits) rather than leftmost-longest. Only where the next message's search starts
 * depends on it, and it can only start earlier.
 */
export function compileMessage(pattern: string): MessageMatcher {
  if (!pattern.includes('{{')) {
    return {
      pattern,
      find: (text) => {
        const start = text.indexOf(pattern);
        return start < 0 ? undefined : { start, end: start + pattern.length };
      },
    };
  }
  let src = '';
  let i = 0;
  while (i < pattern.length) {
    const open = pattern.indexOf('{{', i);
    if (open < 0) {
      src += escapeRegExp(pattern.slice(i));
      break;
    }
    src += escapeRegExp(pattern.slice(i, open));
    const close = pattern.indexOf('}}', open + 2);
    if (close < 0) throw new CorpusError('E_CORPUS_REGEX', `'{{' without a closing '}}' in message ${JSON.stringify(pattern)}`);
    src += ereToRegExp(pattern.slice(open + 2, close), pattern);
    i = close + 2;
  }
  let re: RegExp;
  try {
    re = new RegExp(src, 'm');
  } catch (e) {
    throw new CorpusError('E_CORPUS_REGEX', `message ${JSON.stringify(pattern)} does not compile: ${(e as Error).message}`);
  }
  return {
    pattern,
    find: (text) => {
      const m = re.exec(text);
      return m ? { start: m.index, end: m.index + m[0].length } : undefined;
    },
  };
}

/** Whether every expected message appears in the log, in order, each after the previous match. */
export function matchMessages(log: string, patterns: readonly (string | MessageMatcher)[]): { ok: boolean; missing?: string; index?: number } {
  let rest = log;
  for (let i = 0; i < patterns.length; i++) {
    const p = patterns[i]!;
    const m = (typeof p === 'string' ? compileMessage(p) : p).find(rest);
    // test_loader runs regexec on the log from the previous match's end, so `^` matches there too.
    if (!m) return { ok: false, missing: typeof p === 'string' ? p : p.pattern, index: i };
    rest = rest.slice(m.end);
  }
  return { ok: true };
}

const escapeRegExp = (s: string) => s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

/** POSIX character classes as JavaScript class contents. */
const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alpha: 'a-zA-Z', digit: '0-9', alnum: 'a-zA-Z0-9', upper: 'A-Z', lower: 'a-z', xdigit: '0-9A-Fa-f',
  space: ' \\t\\n\\r\\f\\v', blank: ' \\t', punct: '!-\\/:-@\\[-`{-~', print: ' -~', graph: '!-~',
  cntrl: '\\x00-\\x1f\\x7f', word: 'a-zA-Z0-9_',
};

/**
 * Translates a POSIX extended regular expression (glibc's, as regcomp with REG_EXTENDED |
 * REG_NEWLINE reads it) into JavaScript regular expression source.
 */
export function ereToRegExp(ere: string, context = ere): string {
  const fail = (why: string): never => {
    throw new CorpusError('E_CORPUS_REGEX', `${why} in ${JSON.stringify(context)}`);
  };
  let out = '';
  /** Start in `out` of the last atom (what a quantifier applies to), or -1 where none may follow. */
  let atom = -1;
  let quantified = false;
  const groups: number[] = [];
  const quantify = (q: string) => {
    if (atom < 0) {
      out += escapeRegExp(q); // glibc takes a leading repetition operator literally
      atom = out.length - escapeRegExp(q).length;
      return;
    }
    // `a**` is legal in ERE, not in JavaScript: repeat the repeated atom as a group.
    if (quantified) out = `${out.slice(0, atom)}(?:${out.slice(atom)})`;
    out += q;
    quantified = true;
  };
  const literal = (s: string) => {
    atom = out.length;
    quantified = false;
    out += s;
  };
  for (let i = 0; i < ere.length; ) {
    const c = ere[i]!;
    if (c === '\\') {
      const n = ere[i + 1];
      if (n === undefined) fail('trailing backslash');
      if (/[1-9]/.test(n!)) literal(`\\${n}`);
      else if ('wWsS'.includes(n!)) literal(`\\${n}`);
      else if (n === 'b' || n === 'B' || n === '<' || n === '>') {
        out += n === 'B' ? '\\B' : '\\b';
        atom = -1;
      } else literal(escapeRegExp(n!));
      i += 2;
    } else if (c === '[') {
      const { text, next } = bracket(ere, i, fail);
      literal(text);
      i = next;
    } else if (c === '.') {
      literal('[^\\n]');
      i++;
    } else if (c === '^' || c === '$') {
      out += c;
      atom = -1;
      i++;
    } else if (c === '(') {
      groups.push(out.length);
      out += '(';
      atom = -1;
      i++;
    } else if (c === ')') {
      const start = groups.pop();
      if (start === undefined) {
        literal('\\)'); // an unmatched ')' is an ordinary character in glibc's ERE
      } else {
        out += ')';
        atom = start;
        quantified = false;
      }
      i++;
    } else if (c === '|') {
      out += '|';
      atom = -1;
      i++;
    } else if (c === '*' || c === '+' || c === '?') {
      quantify(c);
      i++;
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(ere.slice(i));
      if (m && atom >= 0) {
        if (m[3] && Number(m[3]) < Number(m[1])) fail(`invalid interval ${m[0]}`);
        quantify(m[0]);
        i += m[0].length;
      } else {
        literal('\\{');
        i++;
      }
    } else {
      literal(escapeRegExp(c));
      i++;
    }
  }
  if (groups.length) fail("unmatched '('");
  return out;
}

/** A POSIX bracket expression starting at `ere[i] === '['`, as a JavaScript class. */
function bracket(ere: string, i: number, fail: (why: string) => never): { text: string; next: number } {
  let j = i + 1;
  const negate = ere[j] === '^';
  if (negate) j++;
  const esc = (ch: string) => (/[\\\]\[^-]/.test(ch) ? `\\${ch}` : ch);
  let body = '';
  let first = true;
  for (;;) {
    if (j >= ere.length) return fail("unmatched '['");
    const c = ere[j]!;
    if (c === ']' && !first) break;
    first = false;
    let item: string;
    let itemText: string;
    if (c === '[' && (ere[j + 1] === ':' || ere[j + 1] === '=' || ere[j + 1] === '.')) {
      const kind = ere[j + 1]!;
      const end = ere.indexOf(`${kind}]`, j + 2);
      if (end < 0) return fail(`unterminated [${kind}`);
      const name = ere.slice(j + 2, end);
      j = end + 2;
      if (kind === ':') {
        const cls = POSIX_CLASSES[name];
        if (cls === undefined) return fail(`unknown character class [:${name}:]`);
        body += cls;
        continue;
      }
      if (name.length !== 1) return fail(`unsupported collating element [${kind}${name}${kind}]`);
      item = name;
      itemText = esc(name);
    } else {
      item = c;
      itemText = esc(c); // a backslash is an ordinary character inside brackets
      j++;
    }
    if (ere[j] === '-' && ere[j + 1] !== undefined && ere[j + 1] !== ']') {
      const hi = ere[j + 1]!;
      if (hi.charCodeAt(0) < item.charCodeAt(0)) return fail(`invalid range ${item}-${hi}`);
      body += `${itemText}-${esc(hi)}`;
      j += 2;
    } else body += itemText;
  }
  // REG_NEWLINE: a non-matching list never matches a newline.
  return { text: negate ? `[^${body}\\n]` : `[${body}]`, next: j + 1 };
}

// ---------------------------------------------------------------------------------------------
// Running the corpus

/** Our verdict on an entry: `error` when verify() threw or the entry could not be prepared. */
export type CorpusVerdict = 'accept' | 'reject' | 'error';

/** How one entry came out. */
export type CorpusOutcome = 'accept-agree' | 'reject-agree' | 'false-accept' | 'false-reject' | 'exception' | 'bad-entry' | 'no-kernel-verdict';

/** One entry's result. */
export interface CorpusRow {
  id: string;
  /** `BPF_PROG_TYPE_*`. */
  progType: string;
  verdict: CorpusVerdict;
  /** The kernel's result (`accept`, `reject`, or `env_refused` / `setup_error`: no verdict). */
  kernel: string;
  /** Whether our verdict is the kernel's; null when the kernel gave none. */
  agree: boolean | null;
  outcome: CorpusOutcome;
  /** Why there is no verdict of ours: verify() threw, or prepareEntry refused the entry. */
  cause?: 'exception' | 'bad-entry';
  /** Our rejection message, or what verify() / prepareEntry threw. */
  error?: string;
  /** When both reject and the entry expects messages: whether our log has them, in order. */
  messages?: { expected: string[]; ok: boolean; missing?: string; kernelOk?: boolean };
  /** verify()'s time, in microseconds. */
  micros?: number;
}

/** Counts over a set of rows (the whole corpus, or one program type). */
export interface CorpusCounts {
  /** Entries. */
  total: number;
  /** Entries with a kernel verdict (N). */
  compared: number;
  /** accept-agree + reject-agree (A). */
  agree: number;
  acceptAgree: number;
  rejectAgree: number;
  falseAccept: number;
  falseReject: number;
  /** verify() threw (counted as disagreements where the kernel has a verdict). */
  exceptions: number;
  /** prepareEntry refused the entry (counted as disagreements where the kernel has a verdict). */
  badEntries: number;
  /** No kernel verdict (env_refused / setup_error): not compared. */
  noKernelVerdict: number;
}

/** The corpus summary. */
export interface CorpusSummary extends CorpusCounts {
  /** Entries without a kernel verdict, by kernel result. */
  noKernelVerdictBy: Record<string, number>;
  /** Per `BPF_PROG_TYPE_*`, most entries first. */
  byProgType: { progType: string; counts: CorpusCounts }[];
  /** Agreed rejects with expected messages (K) and how many of them our log matches (M). */
  messages: { withExpected: number; agreed: number; kernelAgreed: number };
}

/** {@link runCorpus}'s result. */
export interface CorpusReport {
  rows: CorpusRow[];
  summary: CorpusSummary;
}

/** The options of {@link runCorpus}. */
export interface RunCorpusOptions extends PrepareOptions {
  /** Called after each entry (to print rows as they come). */
  onRow?: (row: CorpusRow) => void;
}

/** A verifier to measure: `verify` or a stand-in with its signature. */
export type VerifyFn = (program: Uint8Array, options: VerifyOptions) => VerifyResult;

/**
 * Runs every entry through `verifyFn` (default {@link verify}) and compares the verdict with the
 * kernel's. Never throws for an entry: a verify() that throws is a disagreement with outcome
 * `exception`, an entry prepareEntry refuses one with outcome `bad-entry`.
 *
 * @example
 * ```ts
 * const { summary } = runCorpus(readCorpus('corpus.jsonl'), verify, { btfBlobs });
 * console.log(formatSummary(summary).join('\n'));
 * ```
 */
export function runCorpus(entries: Iterable<CorpusEntry>, verifyFn: VerifyFn = verify, options: RunCorpusOptions = {}): CorpusReport {
  const rows: CorpusRow[] = [];
  for (const entry of entries) {
    const row = runEntry(entry, verifyFn, options);
    rows.push(row);
    options.onRow?.(row);
  }
  return { rows, summary: summarize(rows) };
}

function runEntry(entry: CorpusEntry, verifyFn: VerifyFn, options: PrepareOptions): CorpusRow {
  const raw = (entry ?? {}) as Partial<CorpusEntry>;
  const kernel = isObject(raw.kernel) && typeof raw.kernel.result === 'string' ? raw.kernel.result : '(none)';
  const hasVerdict = kernel === 'accept' || kernel === 'reject';
  const row: CorpusRow = {
    id: typeof raw.id === 'string' ? raw.id : '(no id)',
    progType: typeof raw.prog_type === 'string' ? raw.prog_type : '(none)',
    verdict: 'error',
    kernel,
    agree: hasVerdict ? false : null,
    outcome: hasVerdict ? 'bad-entry' : 'no-kernel-verdict',
  };
  let prepared: PreparedEntry;
  try {
    prepared = prepareEntry(entry, options);
  } catch (e) {
    row.cause = 'bad-entry';
    row.error = e instanceof Error ? e.message : String(e);
    return row;
  }
  let result: VerifyResult;
  const t0 = performance.now();
  try {
    result = verifyFn(prepared.insns, prepared.options);
    if (!result || typeof result.ok !== 'boolean') throw new TypeError('verify() returned no result');
  } catch (e) {
    row.cause = 'exception';
    row.error = e instanceof Error ? e.message : String(e);
    if (hasVerdict) row.outcome = 'exception';
    return row;
  } finally {
    row.micros = Math.round((performance.now() - t0) * 1000);
  }
  row.verdict = result.ok ? 'accept' : 'reject';
  if (!result.ok) row.error = result.error?.message;
  if (!hasVerdict) return row;
  row.agree = row.verdict === kernel;
  row.outcome = row.agree ? (kernel === 'accept' ? 'accept-agree' : 'reject-agree') : kernel === 'accept' ? 'false-reject' : 'false-accept';
  const expected = entry.expect.msg ?? [];
  if (row.outcome === 'reject-agree' && expected.length) {
    let m: ReturnType<typeof matchMessages>;
    try {
      m = matchMessages(String(result.log ?? ''), expected);
    } catch (e) {
      m = { ok: false, missing: `${(e as Error).message}` };
    }
    row.messages = { expected, ok: m.ok };
    if (m.missing !== undefined) row.messages.missing = m.missing;
    if (typeof entry.kernel.msg_match === 'boolean') row.messages.kernelOk = entry.kernel.msg_match;
  }
  return row;
}

const zeroCounts = (): CorpusCounts => ({
  total: 0, compared: 0, agree: 0, acceptAgree: 0, rejectAgree: 0, falseAccept: 0, falseReject: 0, exceptions: 0, badEntries: 0, noKernelVerdict: 0,
});

function count(c: CorpusCounts, row: CorpusRow): void {
  c.total++;
  if (row.agree === null) c.noKernelVerdict++;
  else c.compared++;
  if (row.agree) c.agree++;
  if (row.cause === 'exception') c.exceptions++;
  if (row.cause === 'bad-entry') c.badEntries++;
  switch (row.outcome) {
    case 'accept-agree': c.acceptAgree++; break;
    case 'reject-agree': c.rejectAgree++; break;
    case 'false-accept': c.falseAccept++; break;
    case 'false-reject': c.falseReject++; break;
    default: break;
  }
}

/** Counts a set of rows (what {@link runCorpus} returns as `summary`). */
export function summarize(rows: readonly CorpusRow[]): CorpusSummary {
  const all = zeroCounts();
  const byType = new Map<string, CorpusCounts>();
  const noKernelVerdictBy: Record<string, number> = {};
  const messages = { withExpected: 0, agreed: 0, kernelAgreed: 0 };
  for (const row of rows) {
    count(all, row);
    let t = byType.get(row.progType);
    if (!t) byType.set(row.progType, (t = zeroCounts()));
    count(t, row);
    if (row.agree === null) noKernelVerdictBy[row.kernel] = (noKernelVerdictBy[row.kernel] ?? 0) + 1;
    if (row.messages) {
      messages.withExpected++;
      if (row.messages.ok) messages.agreed++;
      if (row.messages.kernelOk) messages.kernelAgreed++;
    }
  }
  const byProgType = [...byType].map(([progType, counts]) => ({ progType, counts })).sort((a, b) => b.counts.total - a.counts.total || a.progType.localeCompare(b.progType));
  return { ...all, noKernelVerdictBy, byProgType, messages };
}

/** `agree A of N (accept-agree X, reject-agree Y, false-accept F, false-reject R)`. */
export function formatCounts(c: CorpusCounts): string {
  return `agree ${c.agree} of ${c.compared} (accept-agree ${c.acceptAgree}, reject-agree ${c.rejectAgree}, false-accept ${c.falseAccept}, false-reject ${c.falseReject})`;
}

/** One row as `id verdict kernel` (our verdict, then the kernel's), with a note where needed. */
export function formatRow(row: CorpusRow): string {
  if (row.agree === null) return `${row.id} ${row.verdict} (no kernel verdict: ${row.kernel}${row.cause ? `; ${row.cause}: ${row.error}` : ''})`;
  let line = `${row.id} ${row.verdict} ${row.kernel}`;
  if (row.cause) line += ` (${row.cause}: ${row.error})`;
  return line;
}

/**
 * The summary as text: the agreement line, exceptions and entries without a kernel verdict, the
 * table by program type, and the message-agreement line.
 */
export function formatSummary(s: CorpusSummary): string[] {
  const lines = [formatCounts(s)];
  if (s.exceptions) lines.push(`exceptions: ${s.exceptions} (verify() threw; counted as disagreements where the kernel has a verdict)`);
  if (s.badEntries) lines.push(`bad entries: ${s.badEntries} (prepareEntry refused them; counted as disagreements where the kernel has a verdict)`);
  if (s.noKernelVerdict) {
    const by = Object.entries(s.noKernelVerdictBy).map(([k, n]) => `${k} ${n}`).join(', ');
    lines.push(`no kernel verdict: ${s.noKernelVerdict} (${by}; not compared)`);
  }
  const head = ['program type', 'N', 'agree', 'accept-agree', 'reject-agree', 'false-accept', 'false-reject', 'no verdict'];
  const body = s.byProgType.map(({ progType, counts: c }) => [
    progType.replace(/^BPF_PROG_TYPE_/, ''), c.compared, c.agree, c.acceptAgree, c.rejectAgree, c.falseAccept, c.falseReject, c.noKernelVerdict,
  ].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => '  ' + r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  lines.push('by program type:', fmt(head), ...body.map(fmt));
  lines.push(`messages: ${s.messages.agreed} of ${s.messages.withExpected} agreed rejects with expected messages`);
  return lines;
}
