import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AttachType, MapType, ProgType, TsbpfError } from '@tsbpf/core';
import {
  CorpusError,
  compileMessage,
  ereToRegExp,
  formatRow,
  formatSummary,
  matchMessages,
  parseCorpus,
  prepareEntry,
  runCorpus,
  type CorpusEntry,
  type VerifyFn,
} from './corpus.js';

// ---------------------------------------------------------------------------------------------
// Synthetic entries: written here, in the corpus schema, not taken from the corpus.

/** One 8-byte slot. */
function slot(op: number, dst = 0, src = 0, off = 0, imm = 0): string {
  const b = Buffer.alloc(8);
  b[0] = op;
  b[1] = (src << 4) | dst;
  b.writeInt16LE(off, 2);
  b.writeInt32LE(imm, 4);
  return b.toString('hex');
}
const LDDW = (dst: number, imm = 0, imm2 = 0, src = 0) => slot(0x18, dst, src, 0, imm) + slot(0, 0, 0, 0, imm2);
const MOV_IMM = (dst: number, imm: number) => slot(0xb7, dst, 0, 0, imm);
const CALL = (imm: number, src = 0) => slot(0x85, 0, src, 0, imm);
const EXIT = slot(0x95);

function entry(over: Partial<CorpusEntry> = {}): CorpusEntry {
  const insns_hex = over.insns_hex ?? MOV_IMM(0, 0) + EXIT;
  return {
    id: 'synthetic/prog',
    suite: 'test_progs',
    prog_type: 'BPF_PROG_TYPE_SOCKET_FILTER',
    expected_attach_type: null,
    attach_btf: null,
    prog_flags: 0,
    log_level: 0,
    license: 'GPL',
    insn_cnt: insns_hex.length % 16 ? undefined : insns_hex.length / 16,
    relocs: [],
    maps: [],
    expect: { result: 'accept', msg: [] },
    kernel: { result: 'accept' },
    ...over,
    insns_hex,
  };
}

const hashMap = { name: 'map_hash_8b', kind: 'btf_map' as const, type: 'BPF_MAP_TYPE_HASH', key_size: 8, value_size: 8, max_entries: 1, map_flags: 0 };
const dataMap = { name: '.data', kind: 'global_data' as const, type: 'BPF_MAP_TYPE_ARRAY', key_size: 4, value_size: 16, max_entries: 1, map_flags: 0, initial_value_hex: '2a000000000000000000000000000000' };

/** Slot `i` of a prepared program as {op, dst, src, imm, imm2}. */
function slotAt(insns: Uint8Array, i: number) {
  const v = new DataView(insns.buffer, insns.byteOffset);
  return { op: insns[i * 8], dst: insns[i * 8 + 1] & 15, src: insns[i * 8 + 1] >> 4, imm: v.getInt32(i * 8 + 4, true), imm2: v.getInt32(i * 8 + 12, true) };
}

// A tiny BTF encoder, enough for a map value with special fields.
function btfBlob(types: { name: string; info: number; sizeOrType: number; extra?: number[] }[]): string {
  const strings = ['']; // offset 0 is ""
  const strOff = (s: string) => {
    let off = 0;
    for (const x of strings) {
      if (x === s) return off;
      off += Buffer.byteLength(x) + 1;
    }
    strings.push(s);
    return off;
  };
  const words: number[] = [];
  for (const t of types) words.push(strOff(t.name), t.info, t.sizeOrType, ...(t.extra ?? []));
  const typeBytes = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => typeBytes.writeUInt32LE(w >>> 0, i * 4));
  const strBytes = Buffer.from(strings.map((s) => s + '\0').join(''), 'utf8');
  const hdr = Buffer.alloc(24);
  hdr.writeUInt16LE(0xeb9f, 0);
  hdr[2] = 1;
  hdr.writeUInt32LE(24, 4);
  hdr.writeUInt32LE(0, 8);
  hdr.writeUInt32LE(typeBytes.length, 12);
  hdr.writeUInt32LE(typeBytes.length, 16);
  hdr.writeUInt32LE(strBytes.length, 20);
  return Buffer.concat([hdr, typeBytes, strBytes]).toString('hex');
}
const KIND = { INT: 1, PTR: 2, STRUCT: 4, TYPE_TAG: 18 };
const info = (kind: number, vlen = 0) => (kind << 24) | vlen;
/** [1] int; [2] struct bpf_spin_lock { int val; }; [3] struct foo; [4] type_tag kptr -> 3; [5] ptr -> 4;
 *  [6] struct val { int cnt; struct bpf_spin_lock l; struct foo __kptr *p; } (16 bytes). */
const SPIN_KPTR_BTF = btfBlob([
  { name: 'int', info: info(KIND.INT), sizeOrType: 4, extra: [(1 << 24) | 32] },
  { name: 'bpf_spin_lock', info: info(KIND.STRUCT, 1), sizeOrType: 4, extra: [0, 1, 0] },
  { name: 'foo', info: info(KIND.STRUCT, 0), sizeOrType: 0 },
  { name: 'kptr', info: info(KIND.TYPE_TAG), sizeOrType: 3 },
  { name: '', info: info(KIND.PTR), sizeOrType: 4 },
  { name: 'val', info: info(KIND.STRUCT, 3), sizeOrType: 16, extra: [0, 1, 0, 0, 2, 32, 0, 5, 64] },
]);

describe('prepareEntry: relocs', () => {
  it('map_fd: the map fd (3, 4, ... in maps order) in the lddw imm with src_reg 1', () => {
    const e = entry({
      insns_hex: LDDW(1) + LDDW(2) + MOV_IMM(0, 0) + EXIT,
      maps: [dataMap, hashMap],
      relocs: [{ insn: 0, kind: 'map_fd', map: 'map_hash_8b' }, { insn: 2, kind: 'map_fd', map: '.data' }],
    });
    const { insns } = prepareEntry(e);
    expect(slotAt(insns, 0)).toEqual({ op: 0x18, dst: 1, src: 1, imm: 4, imm2: 0 });
    expect(slotAt(insns, 2)).toEqual({ op: 0x18, dst: 2, src: 1, imm: 3, imm2: 0 });
    // The entry itself is not changed.
    expect(e.insns_hex.slice(0, 16)).toBe(LDDW(1).slice(0, 16));
  });

  it('map_value: fd with src_reg 2, the value offset kept in the second imm', () => {
    const e = entry({
      insns_hex: LDDW(1, 0, 8, 2) + MOV_IMM(0, 0) + EXIT,
      maps: [dataMap],
      relocs: [{ insn: 0, kind: 'map_value', map: '.data', offset: 8 }],
    });
    expect(slotAt(prepareEntry(e).insns, 0)).toEqual({ op: 0x18, dst: 1, src: 2, imm: 3, imm2: 8 });
  });

  it('imm_fd: the fd in the raw imm of an ordinary instruction', () => {
    const e = entry({ insns_hex: MOV_IMM(2, 0) + MOV_IMM(0, 0) + EXIT, maps: [hashMap], relocs: [{ insn: 0, kind: 'imm_fd', map: 'map_hash_8b' }] });
    expect(slotAt(prepareEntry(e).insns, 0)).toMatchObject({ op: 0xb7, dst: 2, src: 0, imm: 3 });
  });

  it('kfunc: the call left as it is, its name recorded', () => {
    const e = entry({ insns_hex: CALL(0, 2) + MOV_IMM(0, 0) + EXIT, relocs: [{ insn: 0, kind: 'kfunc', name: 'bpf_iter_num_new' }] });
    const p = prepareEntry(e);
    expect(Buffer.from(p.insns).toString('hex')).toBe(e.insns_hex);
    expect(p.kfuncs).toEqual([{ insn: 0, name: 'bpf_iter_num_new' }]);
  });

  it('an explicit first fd', () => {
    const e = entry({ insns_hex: LDDW(1) + EXIT, maps: [hashMap], relocs: [{ insn: 0, kind: 'map_fd', map: 'map_hash_8b' }] });
    expect(slotAt(prepareEntry(e, { firstFd: 100 }).insns, 0).imm).toBe(100);
  });
});

describe('prepareEntry: options', () => {
  it('program and attach types by kernel number, log level, flags, licence, attach BTF', () => {
    const p = prepareEntry(entry({
      prog_type: 'BPF_PROG_TYPE_CGROUP_SOCK_ADDR',
      expected_attach_type: 'BPF_CGROUP_INET4_CONNECT',
      attach_btf: { btf_kind: 'FUNC', name: 'bpf_lsm_file_open' },
      log_level: 2,
      prog_flags: 134,
      license: null,
    }));
    expect(p.options).toMatchObject({ progType: ProgType.CgroupSockAddr, expectedAttachType: AttachType.CgroupInet4Connect, logLevel: 2, progFlags: 134, license: '', privileged: true, maps: [] });
    expect(p.attachBtf).toEqual({ btf_kind: 'FUNC', name: 'bpf_lsm_file_open' });
    // The live run logged at level max(1, log_level); level 4 (stats only) is level 1 here.
    expect(prepareEntry(entry({ log_level: 0 })).options.logLevel).toBe(1);
    expect(prepareEntry(entry({ log_level: 4 })).options.logLevel).toBe(1);
    expect(prepareEntry(entry()).options.expectedAttachType).toBeUndefined();
  });

  it('maps: fd, type, sizes, flags, name, inner map, frozen, initial value', () => {
    const p = prepareEntry(entry({
      maps: [
        { ...dataMap, name: '.rodata', freeze: true },
        {
          name: 'outer', kind: 'btf_map', type: 'BPF_MAP_TYPE_ARRAY_OF_MAPS', key_size: 4, value_size: 4, max_entries: 1, map_flags: 0,
          inner_map: { name: 'outer.inner', type: 'BPF_MAP_TYPE_ARRAY', key_size: 4, value_size: 4, max_entries: 1, map_flags: 0 },
        },
        { ...hashMap, map_flags: 1, initial_value_hex: '' },
      ],
    }));
    expect(p.options.maps).toEqual([
      { fd: 3, type: MapType.Array, keySize: 4, valueSize: 16, maxEntries: 1, flags: 0, name: '.rodata', frozen: true, initialValue: Uint8Array.from([42, ...new Array(15).fill(0)]) },
      { fd: 4, type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 1, flags: 0, name: 'outer', inner: { type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 1, flags: 0, name: 'outer.inner' } },
      { fd: 5, type: MapType.Hash, keySize: 8, valueSize: 8, maxEntries: 1, flags: 1, name: 'map_hash_8b' },
    ]);
  });

  it('special fields: placed from the BTF blob (nested struct, kptr behind a type tag)', () => {
    const map = { ...hashMap, name: 'm', value_size: 16, btf_key_type_id: 1, btf_value_type_id: 6, btf_special_fields: ['bpf_spin_lock', 'kptr'] };
    const p = prepareEntry(entry({ maps: [map], btf: { blob: 'obj', func_info: [[0, 7]] } }), { btfBlobs: { obj: SPIN_KPTR_BTF } });
    expect(p.options.maps[0]!.specialFields).toEqual([
      { kind: 'bpf_spin_lock', offset: 4, size: 4 },
      { kind: 'kptr', offset: 8, size: 8 },
    ]);
    expect(p.btf?.find('val')?.size).toBe(16);
    expect(p.funcInfo).toEqual([[0, 7]]);
    // Only the kinds the entry lists.
    const onlyLock = prepareEntry(entry({ maps: [{ ...map, btf_special_fields: ['bpf_spin_lock'] }], btf: { blob: 'obj' } }), { btfBlobs: { obj: SPIN_KPTR_BTF } });
    expect(onlyLock.options.maps[0]!.specialFields).toEqual([{ kind: 'bpf_spin_lock', offset: 4, size: 4 }]);
  });

  it('special fields without BTF: only a value that is exactly the field', () => {
    const timer = { ...hashMap, name: 'map_timer', value_size: 16, btf_special_fields: ['bpf_timer'] };
    expect(prepareEntry(entry({ maps: [timer] })).options.maps[0]!.specialFields).toEqual([{ kind: 'bpf_timer', offset: 0, size: 16 }]);
  });
});

describe('prepareEntry / parseCorpus: malformed entries are CorpusErrors', () => {
  const twoSlots = LDDW(1) + EXIT;
  const cases: [string, Partial<CorpusEntry> | ((e: CorpusEntry) => unknown), CorpusError['code'], string | undefined][] = [
    ['missing id', (e) => ({ ...e, id: undefined }), 'E_CORPUS_FIELD', 'id'],
    ['insns_hex not 8-byte slots', { insns_hex: 'b70000' }, 'E_CORPUS_INSNS', 'insns_hex'],
    ['insns_hex not hex', { insns_hex: 'zz'.repeat(8) }, 'E_CORPUS_INSNS', 'insns_hex'],
    ['insn_cnt disagrees', (e) => ({ ...e, insn_cnt: 7 }), 'E_CORPUS_INSNS', 'insn_cnt'],
    ['unknown program type', { prog_type: 'BPF_PROG_TYPE_NOPE' }, 'E_CORPUS_PROG_TYPE', 'prog_type'],
    ['unknown attach type', { expected_attach_type: 'BPF_NOPE' }, 'E_CORPUS_ATTACH_TYPE', 'expected_attach_type'],
    ['unknown map type', { maps: [{ ...hashMap, type: 'BPF_MAP_TYPE_NOPE' }] }, 'E_CORPUS_MAP', 'maps[0].type'],
    ['negative map size', { maps: [{ ...hashMap, key_size: -1 }] }, 'E_CORPUS_FIELD', 'maps[0].key_size'],
    ['map listed twice', { maps: [hashMap, hashMap] }, 'E_CORPUS_MAP', 'maps[1].name'],
    ['unknown reloc kind', (e) => ({ ...e, relocs: [{ insn: 0, kind: 'btf_id', map: 'x' }] }), 'E_CORPUS_FIELD', 'relocs[0].kind'],
    ['reloc past the end', { insns_hex: twoSlots, maps: [hashMap], relocs: [{ insn: 9, kind: 'map_fd', map: 'map_hash_8b' }] }, 'E_CORPUS_RELOC', 'relocs[0].insn'],
    ['map_fd on a non-lddw', { maps: [hashMap], relocs: [{ insn: 0, kind: 'map_fd', map: 'map_hash_8b' }] }, 'E_CORPUS_RELOC', 'relocs[0].insn'],
    ['map_fd on the last slot', { insns_hex: EXIT + slot(0x18), maps: [hashMap], relocs: [{ insn: 1, kind: 'map_fd', map: 'map_hash_8b' }] }, 'E_CORPUS_RELOC', 'relocs[0].insn'],
    ['reloc to an unknown map', { insns_hex: twoSlots, relocs: [{ insn: 0, kind: 'map_fd', map: 'nope' }] }, 'E_CORPUS_RELOC', 'relocs[0].map'],
    ['map_value offset not in the second imm', { insns_hex: LDDW(1, 0, 4, 2) + EXIT, maps: [dataMap], relocs: [{ insn: 0, kind: 'map_value', map: '.data', offset: 8 }] }, 'E_CORPUS_RELOC', 'relocs[0].offset'],
    ['kfunc on a helper call', { insns_hex: CALL(1) + EXIT, relocs: [{ insn: 0, kind: 'kfunc', name: 'bpf_obj_new' }] }, 'E_CORPUS_RELOC', 'relocs[0].insn'],
    ['bad initial value', { maps: [{ ...dataMap, initial_value_hex: 'xyz' }] }, 'E_CORPUS_FIELD', 'maps[0].initial_value_hex'],
    ['expect.result missing', (e) => ({ ...e, expect: {} }), 'E_CORPUS_FIELD', 'expect.result'],
    ['unknown kernel result', (e) => ({ ...e, kernel: { result: 'maybe' } }), 'E_CORPUS_FIELD', 'kernel.result'],
    ['spin lock placed without BTF', { maps: [{ ...hashMap, value_size: 8, btf_special_fields: ['bpf_spin_lock'] }] }, 'E_CORPUS_BTF', 'maps[0].btf_special_fields'],
  ];

  it.each(cases)('%s', (_, change, code, field) => {
    const bad = typeof change === 'function' ? (change(entry()) as CorpusEntry) : entry(change);
    let thrown: unknown;
    try {
      prepareEntry(bad);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(CorpusError);
    expect(thrown).toBeInstanceOf(TsbpfError);
    expect((thrown as CorpusError).code).toBe(code);
    expect((thrown as CorpusError).field).toBe(field);
  });

  it('a BTF blob that does not parse', () => {
    const map = { ...hashMap, btf_value_type_id: 6, btf_special_fields: ['bpf_spin_lock'] };
    expect(() => prepareEntry(entry({ maps: [map], btf: { blob: 'obj' } }), { btfBlobs: { obj: '00112233' } })).toThrow(expect.objectContaining({ code: 'E_CORPUS_BTF' }));
  });

  it('parseCorpus: JSONL and gzip, blank lines skipped; bad lines named by line number', () => {
    const a = entry({ id: 'a/1' });
    const b = entry({ id: 'b/2', kernel: { result: 'env_refused' } });
    const text = `${JSON.stringify(a)}\n\n${JSON.stringify(b)}\n`;
    expect(parseCorpus(text).map((e) => e.id)).toEqual(['a/1', 'b/2']);
    expect(parseCorpus(new Uint8Array(gzipSync(text))).map((e) => e.id)).toEqual(['a/1', 'b/2']);
    expect(parseCorpus(JSON.stringify(a))).toHaveLength(1); // no trailing newline
    expect(() => parseCorpus(`${JSON.stringify(a)}\n\n{"id": "x", `)).toThrow(expect.objectContaining({ code: 'E_CORPUS_JSON', line: 3 }));
    expect(() => parseCorpus(`${JSON.stringify(a)}\n[1, 2]\n`)).toThrow(expect.objectContaining({ code: 'E_CORPUS_FIELD', line: 2 }));
    expect(() => parseCorpus(`${JSON.stringify({ ...a, relocs: 'none' })}\n`)).toThrow(expect.objectContaining({ code: 'E_CORPUS_FIELD', line: 1, field: 'relocs', entryId: 'a/1' }));
  });
});

describe('expected messages, as test_loader matches them', () => {
  const log = [
    '0: R1=ctx() R10=fp0',
    '0: (b7) r0 = -1                       ; R0_w=-1',
    '1: (95) exit',
    'R0 min value is negative, either use unsigned or \'var &= const\'',
    'processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
  ].join('\n');
  const cases: [string, string[], boolean][] = [
    ['plain substrings in order', ['r0 = -1', 'R0 min value is negative'], true],
    ['plain substrings out of order', ['R0 min value is negative', 'r0 = -1'], false],
    ['regex parts are POSIX ERE, the rest literal', ['{{[0-9]+}}: (95) exit', 'R{{[[:digit:]]}} min value is negative, either use unsigned or \'var &= const\''], true],
    ['literal parts escape ERE specials: ( ) = *', ['1: (95) {{e.it}}', 'processed {{[0-9]+}} insns (limit 1000000)'], true],
    ['"." does not cross a line (REG_NEWLINE)', ['exit{{.*}}R0 min'], false],
    ['a non-matching list does not cross a line either', ['exit{{[^x]*}}R0 min'], false],
    ['each search starts where the previous match ended', ['R0_w=-1', 'R0_w=-1'], false],
    ['^ matches where the search starts, as regexec on the rest of the log does', ['R0_w=-1', '{{^}}\n1: (95)'], true],
    ['^ matches at line starts', ['{{^}}R0 min value'], true],
    ['alternation and intervals', ['{{(exit|call)}}', 'R0 min value is {{(neg|pos)a?tive}}', 'processed {{[0-9]{1,3} insns}}'], true],
    ['an interval that does not fit', ['processed {{[0-9]{3} insns}}'], false],
    ['a backslash escapes a special character in ERE', ['(b7) r0 = {{\\-1}}'], true],
    ['an empty pattern list matches any log', [], true],
  ];
  it.each(cases)('%s', (_, patterns, ok) => {
    expect(matchMessages(log, patterns).ok).toBe(ok);
  });

  it('reports the first missing message', () => {
    expect(matchMessages(log, ['exit', 'nothing like this', 'processed'])).toEqual({ ok: false, missing: 'nothing like this', index: 1 });
  });

  it('translates ERE to JavaScript', () => {
    expect(ereToRegExp('a**')).toBe('(?:a*)*');
    expect(ereToRegExp('[]a-c]')).toBe('[\\]a-c]');
    expect(ereToRegExp('[^a\\]')).toBe('[^a\\\\\\n]');
    expect(ereToRegExp('*x')).toBe('\\*x');
    expect(ereToRegExp('x{')).toBe('x\\{');
    expect(new RegExp(ereToRegExp('\\<ab\\>')).test('x ab y')).toBe(true);
    expect(compileMessage('{{(a|b)c}}').find('xxbc')).toEqual({ start: 2, end: 4 });
  });

  it('an unclosed {{ or a bad expression is a CorpusError', () => {
    expect(() => compileMessage('R0 {{[0-9]')).toThrow(expect.objectContaining({ code: 'E_CORPUS_REGEX' }));
    expect(() => compileMessage('R0 {{[[:nope:]]}}')).toThrow(expect.objectContaining({ code: 'E_CORPUS_REGEX' }));
    expect(() => compileMessage('R0 {{(a}}')).toThrow(expect.objectContaining({ code: 'E_CORPUS_REGEX' }));
  });
});

describe('runCorpus: the summary arithmetic', () => {
  // Each program is `r0 = N; exit`; the fake verifier decides by N.
  type Plan = { n: number; type: string; kernel: CorpusEntry['kernel']['result']; ours: 'accept' | 'reject' | 'throw'; msg?: string[]; log?: string; badType?: boolean };
  const plans: Plan[] = [
    { n: 1, type: 'SOCKET_FILTER', kernel: 'accept', ours: 'accept' },
    { n: 2, type: 'SOCKET_FILTER', kernel: 'accept', ours: 'accept' },
    { n: 3, type: 'XDP', kernel: 'accept', ours: 'accept' },
    { n: 4, type: 'SOCKET_FILTER', kernel: 'reject', ours: 'reject', msg: ['R0 !read_ok'], log: '0: (95) exit\nR0 !read_ok\n' },
    { n: 5, type: 'XDP', kernel: 'reject', ours: 'reject', msg: ['invalid access to packet'], log: 'R1 invalid mem access \'scalar\'\n' },
    { n: 6, type: 'XDP', kernel: 'reject', ours: 'accept' },
    { n: 7, type: 'SOCKET_FILTER', kernel: 'accept', ours: 'reject', msg: ['never checked: we did not agree'] },
    { n: 8, type: 'XDP', kernel: 'accept', ours: 'reject' },
    { n: 9, type: 'LSM', kernel: 'env_refused', ours: 'accept' },
    { n: 10, type: 'TRACING', kernel: 'setup_error', ours: 'reject' },
    { n: 11, type: 'SOCKET_FILTER', kernel: 'reject', ours: 'throw' },
    { n: 12, type: 'XDP', kernel: 'accept', ours: 'accept', badType: true },
    { n: 13, type: 'LSM', kernel: 'env_refused', ours: 'throw' },
  ];
  const entries = plans.map((p) => entry({
    id: `synthetic/${p.n}`,
    prog_type: p.badType ? 'BPF_PROG_TYPE_NOPE' : `BPF_PROG_TYPE_${p.type}`,
    insns_hex: MOV_IMM(0, p.n) + EXIT,
    expect: { result: p.kernel === 'reject' ? 'reject' : 'accept', msg: p.msg ?? [] },
    kernel: { result: p.kernel, ...(p.msg ? { msg_match: true } : {}) },
  }));
  const fake: VerifyFn = (program) => {
    const p = plans.find((x) => x.n === new DataView(program.buffer, program.byteOffset).getInt32(4, true))!;
    if (p.ours === 'throw') throw new Error(`engine bug ${p.n}`);
    const stats = { processed: 2, totalStates: 0, peakStates: 0, stackDepths: [0], micros: 1 };
    return p.ours === 'accept' ? { ok: true, log: '', stats } : { ok: false, log: p.log ?? 'nope\n', stats, error: { code: 'E_VERIFIER_REJECT', message: 'nope', errno: 13 } };
  };

  it('counts agreement over entries with a kernel verdict; exceptions and bad entries are disagreements', () => {
    const seen: string[] = [];
    const { rows, summary } = runCorpus(entries, fake, { onRow: (r) => seen.push(r.id) });
    expect(seen).toEqual(entries.map((e) => e.id));
    expect(rows.map((r) => r.outcome)).toEqual([
      'accept-agree', 'accept-agree', 'accept-agree', 'reject-agree', 'reject-agree', 'false-accept', 'false-reject', 'false-reject',
      'no-kernel-verdict', 'no-kernel-verdict', 'exception', 'bad-entry', 'no-kernel-verdict',
    ]);
    expect(summary).toMatchObject({
      total: 13, compared: 10, agree: 5, acceptAgree: 3, rejectAgree: 2, falseAccept: 1, falseReject: 2, exceptions: 2, badEntries: 1, noKernelVerdict: 3,
      noKernelVerdictBy: { env_refused: 2, setup_error: 1 },
      messages: { withExpected: 2, agreed: 1, kernelAgreed: 2 },
    });
    expect(rows[4]!.messages).toEqual({ expected: ['invalid access to packet'], ok: false, missing: 'invalid access to packet', kernelOk: true });
    expect(summary.byProgType.map((t) => [t.progType, t.counts.compared, t.counts.agree, t.counts.noKernelVerdict])).toEqual([
      ['BPF_PROG_TYPE_SOCKET_FILTER', 5, 3, 0],
      ['BPF_PROG_TYPE_XDP', 4, 2, 0],
      ['BPF_PROG_TYPE_LSM', 0, 0, 2],
      ['BPF_PROG_TYPE_NOPE', 1, 0, 0],
      ['BPF_PROG_TYPE_TRACING', 0, 0, 1],
    ]);
    const text = formatSummary(summary);
    expect(text[0]).toBe('agree 5 of 10 (accept-agree 3, reject-agree 2, false-accept 1, false-reject 2)');
    expect(text).toContain('no kernel verdict: 3 (env_refused 2, setup_error 1; not compared)');
    expect(text.at(-1)).toBe('messages: 1 of 2 agreed rejects with expected messages');
    const socketFilter = text.find((l) => l.startsWith('  SOCKET_FILTER '))!.trim().split(/\s+/);
    // N, agree, accept-agree, reject-agree, false-accept, false-reject, no verdict (the exception is in N only)
    expect(socketFilter).toEqual(['SOCKET_FILTER', '5', '3', '2', '1', '0', '1', '0']);
    expect(formatRow(rows[3]!)).toBe('synthetic/4 reject reject');
    expect(formatRow(rows[5]!)).toBe('synthetic/6 accept reject');
    expect(formatRow(rows[8]!)).toBe('synthetic/9 accept (no kernel verdict: env_refused)');
    expect(formatRow(rows[10]!)).toBe('synthetic/11 error reject (exception: engine bug 11)');
    expect(formatRow(rows[11]!)).toMatch(/^synthetic\/12 error accept \(bad-entry: .*unknown program type BPF_PROG_TYPE_NOPE\)$/);
  });

  it('an empty corpus', () => {
    const { summary } = runCorpus([], fake);
    expect(formatSummary(summary)[0]).toBe('agree 0 of 0 (accept-agree 0, reject-agree 0, false-accept 0, false-reject 0)');
  });
});
