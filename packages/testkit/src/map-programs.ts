import { afterAll, describe, expect, it } from 'vitest';
import { MapFlags, MapType, ProgType, assembleLlvm, type Backend, type BackendMap, type MapSpec } from '@tsbpf/core';

/**
 * Programs that use the queue, stack, bloom filter and LPM trie maps through their helpers
 * (`bpf_map_push_elem`, `bpf_map_pop_elem`, `bpf_map_peek_elem`, lookup/update/delete) and maps of
 * maps (the map a lookup returns, passed on to helpers), each a socket filter test-run once. Each
 * step's r0 (and the values popped or looked up) go to an `out` array; the case lists what the
 * C-level semantics make them, and the kernel, where reachable, must give exactly that too.
 */
interface MapProgramCase {
  name: string;
  /** Maps by name, created in order (inner maps before the outer maps that hold them). */
  maps: Record<string, MapSpec>;
  /** What user space does before the run (fills outer maps with inner maps' descriptors). */
  setup?(maps: Record<string, BackendMap>): void;
  /** LLVM assembly: `map_fd(NAME)`; r9 points at `out` (16 u64 slots); `OUT(i)` stores r0 in slot i. */
  body: string;
  /** The `out` slots after the run (as signed 64-bit numbers). */
  out: bigint[];
  /** What user space sees in the maps afterwards, and what it must be. */
  after?: { observe(maps: Record<string, BackendMap>): unknown; expected: unknown };
}

const OUT_SLOTS = 16;
const EMPTY = new Uint8Array(0);
const le32 = (n: number) => Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
const u64s = (b: Uint8Array | undefined) => (b ? Array.from({ length: b.length / 8 }, (_, i) => new DataView(b.buffer, b.byteOffset).getBigInt64(8 * i, true)) : undefined);
const ENOENT = -2n;
const E2BIG = -7n;
const EEXIST = -17n;
const EINVAL = -22n;
const ENOSPC = -28n;

/** `*(u64 *)(r10 - 8) = v`, then `fn(map, fp - 8 [, flags])`. */
const push = (map: string, v: number, flags = 0) => `*(u64 *)(r10 - 8) = ${v}\nr1 = map_fd(${map}) ll\nr2 = r10\nr2 += -8\nr3 = ${flags}\ncall bpf_map_push_elem`;
/** Pop or peek into fp - 8 (first filled with 0xff bytes, so a zeroed buffer shows); r1 = the value. */
const take = (fn: 'pop' | 'peek', map: string) => `r1 = -1\n*(u64 *)(r10 - 8) = r1\nr1 = map_fd(${map}) ll\nr2 = r10\nr2 += -8\ncall bpf_map_${fn}_elem\nr1 = *(u64 *)(r10 - 8)`;
/** Store r0 (or another register) in out[i]. */
const OUT = (i: number, reg = 'r0') => `*(u64 *)(r9 + ${8 * i}) = ${reg}`;
/** An LPM key at fp - 24: prefixlen, then an IPv4 address in network order. */
const lpmKey = (plen: number, ip: string) => {
  const b = ip.split('.').map(Number);
  return `*(u32 *)(r10 - 24) = ${plen}\n*(u32 *)(r10 - 20) = ${(b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) | 0}`;
};
const lpmUpdate = (ip: string, plen: number, v: number, flags: number) =>
  `${lpmKey(plen, ip)}\n*(u64 *)(r10 - 8) = ${v}\nr1 = map_fd(lpm) ll\nr2 = r10\nr2 += -24\nr3 = r10\nr3 += -8\nr4 = ${flags}\ncall bpf_map_update_elem`;
/** r0 = the value for ip/32 (or `missing` when there is none). */
const lpmLookup = (ip: string, missing: number) => `${lpmKey(32, ip)}\nr1 = map_fd(lpm) ll\nr2 = r10\nr2 += -24\ncall bpf_map_lookup_elem\nif r0 == 0 goto +2\nr0 = *(u64 *)(r0 + 0)\ngoto +1\nr0 = ${missing}`;
/** r1 = 1 when r0 is NULL, else 0 (a map pointer itself is not stored: its value differs between backends). */
const isNull = 'r1 = 0\nif r0 != 0 goto +1\nr1 = 1';
/** r6 = outer[key] (a map) or the program ends with r0 = 0. */
const innerOf = (outer: string, key: number) => `*(u32 *)(r10 - 16) = ${key}\nr1 = map_fd(${outer}) ll\nr2 = r10\nr2 += -16\ncall bpf_map_lookup_elem\nif r0 == 0 goto fail\nr6 = r0`;

/** 12 values pushed into a bloom filter, and 64 never pushed that are probed. */
const BLOOM_IN = Array.from({ length: 12 }, (_, i) => 1000 + 7 * i);
const BLOOM_OUT = Array.from({ length: 64 }, (_, i) => 5000 + 13 * i);

const CASES: MapProgramCase[] = [
  {
    name: 'queue: FIFO, E2BIG when full, BPF_EXIST drops the oldest, NOEXIST is EINVAL, popping an empty queue zeroes the value',
    maps: { queue: { type: MapType.Queue, keySize: 0, valueSize: 8, maxEntries: 3 } },
    body: [
      push('queue', 1), OUT(0), push('queue', 2), push('queue', 3),
      push('queue', 4), OUT(1), push('queue', 5, 2), OUT(2), push('queue', 6, 1), OUT(3),
      take('pop', 'queue'), OUT(4), OUT(5, 'r1'), take('peek', 'queue'), OUT(6), OUT(7, 'r1'),
      take('pop', 'queue'), OUT(8, 'r1'), take('pop', 'queue'), OUT(9, 'r1'), take('pop', 'queue'), OUT(10), OUT(11, 'r1'),
      push('queue', 42),
    ].join('\n'),
    out: [0n, E2BIG, 0n, EINVAL, 0n, 2n, 0n, 3n, 3n, 5n, ENOENT, 0n],
    after: { observe: (m) => u64s(m.queue.lookup(EMPTY)), expected: [42n] },
  },
  {
    name: 'stack: LIFO, and BPF_EXIST drops the oldest value, not the newest',
    maps: { stack: { type: MapType.Stack, keySize: 0, valueSize: 8, maxEntries: 3 } },
    body: [
      push('stack', 1), push('stack', 2), push('stack', 3), push('stack', 4), OUT(0), push('stack', 5, 2), OUT(1),
      take('pop', 'stack'), OUT(2, 'r1'), take('peek', 'stack'), OUT(3, 'r1'), take('pop', 'stack'), OUT(4, 'r1'),
      take('pop', 'stack'), OUT(5, 'r1'), take('pop', 'stack'), OUT(6), OUT(7, 'r1'), push('stack', 9),
    ].join('\n'),
    out: [E2BIG, 0n, 5n, 3n, 3n, 2n, ENOENT, 0n],
    after: { observe: (m) => u64s(m.stack.lookup(EMPTY)), expected: [9n] },
  },
  {
    name: 'bloom filter (BPF_F_ZERO_SEED): every pushed value is found, and the false positives among 64 others are the kernel\'s',
    maps: { bloom: { type: MapType.BloomFilter, keySize: 0, valueSize: 8, maxEntries: 4, flags: MapFlags.BPF_F_ZERO_SEED } },
    body: [
      ...BLOOM_IN.map((v) => push('bloom', v)), push('bloom', 1, 2), OUT(0),
      // out[1] counts the pushed values found, out[2] the others found
      'r7 = 0', 'r8 = 0',
      ...BLOOM_IN.map((v) => `*(u64 *)(r10 - 8) = ${v}\nr1 = map_fd(bloom) ll\nr2 = r10\nr2 += -8\ncall bpf_map_peek_elem\nif r0 != 0 goto +1\nr7 += 1`),
      ...BLOOM_OUT.map((v) => `*(u64 *)(r10 - 8) = ${v}\nr1 = map_fd(bloom) ll\nr2 = r10\nr2 += -8\ncall bpf_map_peek_elem\nif r0 != 0 goto +1\nr8 += 1`),
      OUT(1, 'r7'), OUT(2, 'r8'),
    ].join('\n'),
    // 12 values in a 64-bit filter with 5 hashes: 2 of the 64 others test positive (deterministic
    // with a zero seed: the kernel's jhash and bit array size; what Linux 6.18 answers)
    out: [EINVAL, 12n, 2n],
  },
  {
    name: 'LPM trie: update flags, ENOSPC when full, longest-prefix lookups, delete of an exact prefix',
    maps: { lpm: { type: MapType.LpmTrie, keySize: 8, valueSize: 8, maxEntries: 2, flags: MapFlags.BPF_F_NO_PREALLOC } },
    body: [
      lpmUpdate('10.0.0.0', 8, 1, 0), OUT(0), lpmUpdate('10.1.0.0', 16, 2, 1), OUT(1), lpmUpdate('10.1.0.0', 16, 3, 1), OUT(2),
      lpmUpdate('10.2.0.0', 16, 4, 2), OUT(3), lpmUpdate('10.3.0.0', 16, 5, 0), OUT(4),
      lpmLookup('10.1.2.3', 99), OUT(5), lpmLookup('10.2.2.3', 99), OUT(6), lpmLookup('11.0.0.1', 99), OUT(7),
      `${lpmKey(16, '10.1.0.0')}\nr1 = map_fd(lpm) ll\nr2 = r10\nr2 += -24\ncall bpf_map_delete_elem`, OUT(8),
      lpmLookup('10.1.2.3', 99), OUT(9),
      `${lpmKey(16, '10.1.0.0')}\nr1 = map_fd(lpm) ll\nr2 = r10\nr2 += -24\ncall bpf_map_delete_elem`, OUT(10),
      lpmUpdate('10.0.0.0', 8, 7, 2), OUT(11),
    ].join('\n'),
    out: [0n, 0n, EEXIST, ENOENT, ENOSPC, 2n, 1n, 99n, 0n, 1n, ENOENT, 0n],
    after: {
      observe: (m) => [...keysOf(m.lpm)].map((k) => [...k]),
      expected: [[8, 0, 0, 0, 10, 0, 0, 0]],
    },
  },
  {
    name: 'array of maps: the inner map a lookup returns is looked up and updated; an empty slot is NULL',
    maps: {
      inner_a: { type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 4 },
      outer: { type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: { type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 4 } },
    },
    setup: (m) => {
      m.inner_a.update(le32(1), Uint8Array.of(5, 0, 0, 0, 0, 0, 0, 0));
      m.outer.update(le32(0), le32(m.inner_a.fd));
    },
    body: [
      innerOf('outer', 0),
      '*(u32 *)(r10 - 4) = 1\nr1 = r6\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem\nif r0 == 0 goto fail\nr1 = *(u64 *)(r0 + 0)\nr1 += 11\n*(u64 *)(r0 + 0) = r1', OUT(0, 'r1'),
      '*(u32 *)(r10 - 4) = 2\n*(u64 *)(r10 - 32) = 7\nr1 = r6\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -32\nr4 = 0\ncall bpf_map_update_elem', OUT(1),
      '*(u32 *)(r10 - 4) = 2\nr1 = r6\nr2 = r10\nr2 += -4\ncall bpf_map_delete_elem', OUT(2),
      '*(u32 *)(r10 - 16) = 1\nr1 = map_fd(outer) ll\nr2 = r10\nr2 += -16\ncall bpf_map_lookup_elem', isNull, OUT(3, 'r1'),
    ].join('\n'),
    out: [16n, 0n, EINVAL, 1n],
    after: { observe: (m) => [0, 1, 2, 3].map((i) => u64s(m.inner_a.lookup(le32(i)))?.[0]), expected: [0n, 16n, 7n, 0n] },
  },
  {
    name: 'hash of maps: update, NOEXIST, lookup and delete in the inner hash map; a missing key is NULL',
    maps: {
      inner_b: { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 },
      outer: { type: MapType.HashOfMaps, keySize: 4, valueSize: 4, maxEntries: 4, innerMap: { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 } },
    },
    setup: (m) => m.outer.update(le32(7), le32(m.inner_b.fd)),
    body: [
      innerOf('outer', 7),
      '*(u32 *)(r10 - 4) = 3\n*(u64 *)(r10 - 32) = 9\nr1 = r6\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -32\nr4 = 0\ncall bpf_map_update_elem', OUT(0),
      '*(u32 *)(r10 - 4) = 3\nr1 = r6\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -32\nr4 = 1\ncall bpf_map_update_elem', OUT(1),
      '*(u32 *)(r10 - 4) = 3\nr1 = r6\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem\nif r0 == 0 goto fail\nr1 = *(u64 *)(r0 + 0)', OUT(2, 'r1'),
      '*(u32 *)(r10 - 4) = 4\n*(u64 *)(r10 - 32) = 10\nr1 = r6\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -32\nr4 = 0\ncall bpf_map_update_elem',
      '*(u32 *)(r10 - 4) = 3\nr1 = r6\nr2 = r10\nr2 += -4\ncall bpf_map_delete_elem', OUT(3),
      '*(u32 *)(r10 - 4) = 3\nr1 = r6\nr2 = r10\nr2 += -4\ncall bpf_map_delete_elem', OUT(4),
      '*(u32 *)(r10 - 16) = 8\nr1 = map_fd(outer) ll\nr2 = r10\nr2 += -16\ncall bpf_map_lookup_elem', isNull, OUT(5, 'r1'),
    ].join('\n'),
    out: [0n, EEXIST, 9n, 0n, ENOENT, 1n],
    after: { observe: (m) => [3, 4].map((k) => u64s(m.inner_b.lookup(le32(k)))?.[0]), expected: [undefined, 10n] },
  },
  {
    name: 'array of queues: push and pop on the queue an outer lookup returns',
    maps: {
      q: { type: MapType.Queue, keySize: 0, valueSize: 8, maxEntries: 2 },
      outer: { type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 1, innerMap: { type: MapType.Queue, keySize: 0, valueSize: 8, maxEntries: 2 } },
    },
    setup: (m) => m.outer.update(le32(0), le32(m.q.fd)),
    body: [
      innerOf('outer', 0),
      ...[1, 2, 3].map((v, i) => `*(u64 *)(r10 - 8) = ${v}\nr1 = r6\nr2 = r10\nr2 += -8\nr3 = 0\ncall bpf_map_push_elem\n${OUT(i)}`),
      'r1 = r6\nr2 = r10\nr2 += -8\ncall bpf_map_pop_elem\nr1 = *(u64 *)(r10 - 8)', OUT(3), OUT(4, 'r1'),
    ].join('\n'),
    out: [0n, 0n, E2BIG, 0n, 1n],
    after: { observe: (m) => u64s(m.q.lookup(EMPTY)), expected: [2n] },
  },
];

function* keysOf(m: BackendMap): Generator<Uint8Array> {
  for (let k = m.nextKey(); k; k = m.nextKey(k)) yield k;
}

/** One run of a case on a backend: the `out` slots, r0 (32 bits) and what user space sees afterwards. */
function runCase(backend: Backend, c: MapProgramCase): { r0: number; out: bigint[]; after?: unknown } {
  const maps: Record<string, BackendMap> = {};
  for (const [name, spec] of Object.entries({ ...c.maps, out: { type: MapType.Array, keySize: 4, valueSize: 8 * OUT_SLOTS, maxEntries: 1 } })) {
    maps[name] = backend.createMap({ ...spec, name });
  }
  c.setup?.(maps);
  const source = `*(u32 *)(r10 - 4) = 0
    r2 = r10
    r2 += -4
    r1 = map_fd(out) ll
    call bpf_map_lookup_elem
    if r0 == 0 goto fail
    r9 = r0
    ${c.body}
    r0 = 1
    exit
  fail:
    r0 = 0
    exit`.replace(/map_fd\((\w+)\)/g, (_m, n: string) => `map_fd(${maps[n].fd})`);
  const prog = backend.load({ insns: assembleLlvm(source).insns, progType: ProgType.SocketFilter, license: 'GPL', name: 'map_program' });
  try {
    const r0 = Number(BigInt.asUintN(32, prog.testRun({ data: new Uint8Array(64) }).retval));
    const out = u64s(maps.out.lookup(le32(0)))!.slice(0, c.out.length);
    return { r0, out, ...(c.after ? { after: c.after.observe(maps) } : {}) };
  } finally {
    prog.close();
    for (const m of Object.values(maps).reverse()) m.close();
  }
}

/**
 * The map-program cases on a user-space backend, each also run on the kernel when `kernel` gives
 * one (skipped with the reason otherwise): both must end with r0 = 1 and the listed `out` slots
 * and map contents.
 */
export function describeMapProgramSuite(name: string, make: () => Backend, kernel: { reason?: string; make(): Backend }): void {
  describe(`${name}: queue, stack, bloom filter, LPM trie and map-of-maps programs${kernel.reason ? ` (kernel comparison skipped: ${kernel.reason})` : ', the same on the kernel'}`, () => {
    const backends: Backend[] = [];
    const ours = () => backends[0] ?? (backends[0] = make());
    const theirs = () => backends[1] ?? (backends[1] = kernel.make());
    afterAll(() => backends.forEach((b) => b.close()));
    it.each(CASES)('$name', (c) => {
      const want = { r0: 1, out: c.out, ...(c.after ? { after: c.after.expected } : {}) };
      expect(runCase(ours(), c)).toEqual(want);
      if (!kernel.reason) expect(runCase(theirs(), c)).toEqual(want);
    });
  });
}
