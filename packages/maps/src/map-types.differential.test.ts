// Queue, stack, bloom filter, LPM trie, array of maps and hash of maps against the kernel's own:
// the same random operation sequences on both, every result (value or errno) compared; the bloom
// filter with BPF_F_ZERO_SEED answers exactly as the kernel's (same hashes, same bits).
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MapError, MapFlags, MapType, SyscallError, type MapSpec } from '@tsbpf/core';
import { BpfCmd, KernelMap, infoByFdAttr, loadNative, mapCreateAttr, mapElemAttr, possibleCpus, probe } from '@tsbpf/kernel';
import { createMap } from './create.js';
import type { BpfMap } from './map.js';

const kernel = probe();
if (!kernel.ok) console.log(`map type differential tests skipped: ${kernel.reason}`);

const EMPTY = new Uint8Array(0);
const le32 = (n: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n >>> 0, true); return b; };
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : 'none');

/** What a caller observes: the result (bytes as hex) or the errno name. */
function outcome(f: () => unknown): string {
  try {
    const r = f();
    return r instanceof Uint8Array ? hex(r) : r === undefined ? 'ok' : String(r);
  } catch (e) {
    if (e instanceof MapError) return e.code;
    if (e instanceof SyscallError) return e.code;
    throw e;
  }
}

// ---- the kernel side, through bpf() where KernelMap has no method for it ----
const sys = () => {
  const n = loadNative();
  if (!n.ok) throw new Error(n.reason);
  return n.native;
};
function bpf(cmd: number, enc: ReturnType<typeof mapElemAttr>): number {
  try {
    return sys().bpf(cmd, enc.attr, enc.ptrs);
  } catch (e) {
    if (e instanceof SyscallError) throw new MapError(e.errno, e.code, { cause: e });
    throw e;
  }
}

/** A kernel map with `map_extra` and (for maps of maps) a template made from `spec.innerMap`, closed after. */
function kernelMap(spec: MapSpec, mapExtra = 0): KernelMap {
  const template = spec.innerMap ? kernelMap(spec.innerMap) : undefined;
  try {
    const fd = bpf(BpfCmd.MAP_CREATE, mapCreateAttr({
      mapType: spec.type, keySize: spec.keySize, valueSize: spec.valueSize, maxEntries: spec.maxEntries, mapFlags: spec.flags ?? 0,
      innerMapFd: template?.fd, mapExtra: BigInt(mapExtra),
    }));
    return new KernelMap(spec, { fd });
  } finally {
    template?.close();
  }
}

/** `BPF_MAP_LOOKUP_AND_DELETE_ELEM` through the kernel backend (`undefined` for ENOENT). */
function kernelLookupAndDelete(m: KernelMap, key: Uint8Array, flags = 0): Uint8Array | undefined {
  return m.lookupAndDelete(key, flags);
}

/** `BPF_MAP_LOOKUP_ELEM` of a bloom filter: the value to test goes in (`undefined` for ENOENT). */
function kernelBloomLookup(m: KernelMap, value: Uint8Array): Uint8Array | undefined {
  const v = value.slice();
  try {
    bpf(BpfCmd.MAP_LOOKUP_ELEM, mapElemAttr({ mapFd: m.fd, key: null, value: v }));
  } catch (e) {
    if (e instanceof MapError && e.errno === 2) return undefined;
    throw e;
  }
  return v;
}

/** The kernel's id of a map (`bpf_map_info.id`). */
function kernelId(fd: number): number {
  const info = new Uint8Array(88);
  bpf(BpfCmd.OBJ_GET_INFO_BY_FD, infoByFdAttr({ fd, info }) as never);
  return new DataView(info.buffer).getUint32(4, true);
}

/** Both sides of one comparison: ours and the kernel's map made from the same spec. */
interface Pair {
  ours: BpfMap;
  theirs: KernelMap;
}

describe.skipIf(!kernel.ok)('queue, stack, bloom filter, LPM trie and maps of maps against the kernel (differential)', () => {
  let compared = 0;
  /** Maps still open, closed after the tests (each exactly once: ours free their memory). */
  const open = new Set<{ close(): void }>();
  const close = (...maps: { close(): void }[]) => maps.forEach((m) => open.delete(m) && m.close());
  afterAll(() => {
    close(...open);
    console.log(`map type differential: ${compared} operations compared with kernel maps, 0 differences`);
  });
  const pair = (spec: MapSpec, mapExtra = 0, resolveMap?: (fd: number) => BpfMap | undefined): Pair => {
    const p = { ours: createMap({ ...spec, mapExtra, resolveMap }), theirs: kernelMap(spec, mapExtra) };
    open.add(p.ours).add(p.theirs);
    return p;
  };
  const same = (what: string, ours: () => unknown, theirs: () => unknown) => {
    const a = outcome(ours);
    const b = outcome(theirs);
    compared++;
    if (a !== b) throw new Error(`${what}: ours ${a}, kernel ${b}`);
  };

  it('BPF_MAP_CREATE: the same errno for the same bad (and good) specs', () => {
    const ARR: MapSpec = { type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 4 };
    const specs: Array<MapSpec & { mapExtra?: number }> = [];
    for (const flags of [0, 1, 4, 8, 0x18, 0x40, 0x80, 0x180, 0x800, 0x1000, 0x1001, 0x41]) {
      specs.push(
        { type: MapType.Queue, keySize: 0, valueSize: 4, maxEntries: 4, flags },
        { type: MapType.Stack, keySize: 0, valueSize: 4, maxEntries: 4, flags },
        { type: MapType.BloomFilter, keySize: 0, valueSize: 4, maxEntries: 4, flags },
        { type: MapType.LpmTrie, keySize: 8, valueSize: 4, maxEntries: 4, flags },
        { type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 4, flags, innerMap: ARR },
        { type: MapType.HashOfMaps, keySize: 4, valueSize: 4, maxEntries: 4, flags, innerMap: ARR },
      );
    }
    specs.push(
      { type: MapType.Queue, keySize: 4, valueSize: 4, maxEntries: 4 },
      { type: MapType.Queue, keySize: 0, valueSize: 0, maxEntries: 4 },
      { type: MapType.Stack, keySize: 0, valueSize: 4, maxEntries: 0 },
      { type: MapType.Queue, keySize: 0, valueSize: 4, maxEntries: 4, mapExtra: 1 },
      { type: MapType.BloomFilter, keySize: 4, valueSize: 4, maxEntries: 4 },
      { type: MapType.BloomFilter, keySize: 0, valueSize: 0, maxEntries: 4 },
      { type: MapType.BloomFilter, keySize: 0, valueSize: 4, maxEntries: 4, mapExtra: 15 },
      { type: MapType.BloomFilter, keySize: 0, valueSize: 4, maxEntries: 4, mapExtra: 16 },
      { type: MapType.BloomFilter, keySize: 0, valueSize: 4, maxEntries: 0 },
      { type: MapType.LpmTrie, keySize: 4, valueSize: 4, maxEntries: 4, flags: 1 },
      { type: MapType.LpmTrie, keySize: 5, valueSize: 4, maxEntries: 4, flags: 1 },
      { type: MapType.LpmTrie, keySize: 260, valueSize: 4, maxEntries: 4, flags: 1 },
      { type: MapType.LpmTrie, keySize: 261, valueSize: 4, maxEntries: 4, flags: 1 },
      { type: MapType.LpmTrie, keySize: 8, valueSize: 0, maxEntries: 4, flags: 1 },
      { type: MapType.LpmTrie, keySize: 8, valueSize: 4, maxEntries: 0, flags: 1 },
      { type: MapType.ArrayOfMaps, keySize: 8, valueSize: 4, maxEntries: 4, innerMap: ARR },
      { type: MapType.ArrayOfMaps, keySize: 4, valueSize: 8, maxEntries: 4, innerMap: ARR },
      { type: MapType.HashOfMaps, keySize: 16, valueSize: 4, maxEntries: 4, innerMap: ARR },
      { type: MapType.HashOfMaps, keySize: 0, valueSize: 4, maxEntries: 4, innerMap: ARR },
      { type: MapType.HashOfMaps, keySize: 4, valueSize: 8, maxEntries: 4, innerMap: ARR },
      { type: MapType.HashOfMaps, keySize: 4, valueSize: 4, maxEntries: 4, innerMap: { type: MapType.ProgArray, keySize: 4, valueSize: 4, maxEntries: 2 } },
      { type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 4, innerMap: { type: MapType.HashOfMaps, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: ARR } },
      ...[MapType.Hash, MapType.PercpuArray, MapType.LruHash, MapType.Queue, MapType.BloomFilter, MapType.Ringbuf, MapType.PerfEventArray, MapType.LpmTrie].map((t): MapSpec => ({
        type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 2,
        innerMap: t === MapType.Ringbuf ? { type: t, keySize: 0, valueSize: 0, maxEntries: 4096 }
          : t === MapType.Queue || t === MapType.BloomFilter ? { type: t, keySize: 0, valueSize: 4, maxEntries: 4 }
            : t === MapType.LpmTrie ? { type: t, keySize: 8, valueSize: 4, maxEntries: 4, flags: 1 }
              : { type: t, keySize: 4, valueSize: 4, maxEntries: 4 },
      })),
    );
    for (const s of specs) {
      same(JSON.stringify(s), () => createMap({ ...s }).close(), () => kernelMap(s, s.mapExtra).close());
    }
  });

  it('queue and stack: push (each flag), peek, pop, delete, iteration and batches give the kernel\'s results', () => {
    const arbOp = fc.oneof(
      { weight: 5, arbitrary: fc.record({ op: fc.constant('push' as const), v: fc.nat(), flags: fc.constantFrom(0, 0, 2, 2, 1, 3, 4) }) },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('peek' as const) }) },
      { weight: 3, arbitrary: fc.record({ op: fc.constant('pop' as const), flags: fc.constantFrom(0, 0, 0, 0, 1, 4) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('delete' as const, 'next' as const, 'batch' as const, 'keyed' as const) }) },
    );
    fc.assert(fc.property(fc.constantFrom(MapType.Queue, MapType.Stack), fc.integer({ min: 1, max: 9 }), fc.constantFrom(4, 8, 3), fc.array(arbOp, { minLength: 50, maxLength: 200 }), (type, maxEntries, valueSize, ops) => {
      const { ours, theirs } = pair({ type, keySize: 0, valueSize, maxEntries });
      const val = (v: number) => { const b = new Uint8Array(valueSize); b.set(le32(v).subarray(0, valueSize)); return b; };
      ops.forEach((o, i) => {
        const what = `${type === MapType.Queue ? 'queue' : 'stack'} op ${i} ${JSON.stringify(o)}`;
        switch (o.op) {
          case 'push': return same(what, () => ours.update(EMPTY, val(o.v), o.flags), () => theirs.update(EMPTY, val(o.v), o.flags));
          case 'peek': return same(what, () => ours.lookup(EMPTY), () => theirs.lookup(EMPTY));
          case 'pop': return same(what, () => ours.lookupAndDelete(EMPTY, o.flags), () => kernelLookupAndDelete(theirs, EMPTY, o.flags));
          case 'delete': return same(what, () => ours.delete(EMPTY), () => theirs.delete(EMPTY));
          case 'next': return same(what, () => ours.nextKey(), () => theirs.nextKey());
          case 'batch': return same(what, () => ours.lookupBatch(2).keys.length, () => theirs.lookupBatch(2).keys.length);
          case 'keyed': return same(what, () => ours.update(le32(1), val(1)), () => theirs.update(le32(1), val(1)));
        }
      });
      // drain both: the remaining values in order
      for (let k = 0; k <= maxEntries; k++) same('drain', () => ours.lookupAndDelete(EMPTY), () => kernelLookupAndDelete(theirs, EMPTY));
      close(ours, theirs);
    }), { numRuns: 60, seed: 11 });
  });

  it('bloom filter with BPF_F_ZERO_SEED: the kernel\'s exact answers (false positives included) for each value size and number of hashes', () => {
    let positives = 0;
    for (const valueSize of [4, 6, 16, 13, 1]) {
      for (const hashes of [0, 1, 3, 7, 15]) {
        for (const maxEntries of [8, 100]) {
          const { ours, theirs } = pair({ type: MapType.BloomFilter, keySize: 0, valueSize, maxEntries, flags: MapFlags.BPF_F_ZERO_SEED }, hashes);
          const val = (i: number) => { const b = new Uint8Array(valueSize); for (let j = 0; j < valueSize; j++) b[j] = (i * 2654435761 >>> (8 * (j % 4))) + j; return b; };
          // crowd the small filter: many false positives to compare
          for (let i = 0; i < maxEntries * 3; i++) same('push', () => ours.update(EMPTY, val(i)), () => theirs.update(EMPTY, val(i)));
          for (let i = 0; i < 400; i++) {
            const v = val(10_000 + i);
            const ourAnswer = outcome(() => (ours as unknown as { lookup(k: Uint8Array, v: Uint8Array): Uint8Array | undefined }).lookup(EMPTY, v));
            const theirAnswer = outcome(() => kernelBloomLookup(theirs, v));
            compared++;
            if (ourAnswer !== 'none') positives++;
            expect(`${valueSize}/${hashes}/${maxEntries} value ${i}: ${ourAnswer}`).toBe(`${valueSize}/${hashes}/${maxEntries} value ${i}: ${theirAnswer}`);
          }
          for (let i = 0; i < maxEntries * 3; i++) expect(kernelBloomLookup(theirs, val(i))).toBeDefined();
          close(ours, theirs);
        }
      }
    }
    expect(positives).toBeGreaterThan(100); // the false positives did happen, and agreed
  });

  it('bloom filter errno behaviour (random seed): flags, delete, iteration, pop, batches', () => {
    const { ours, theirs } = pair({ type: MapType.BloomFilter, keySize: 0, valueSize: 4, maxEntries: 16 });
    const steps: Array<[string, (m: BpfMap | KernelMap) => unknown]> = [
      ['push NOEXIST', (m) => m.update(EMPTY, le32(1), 1)],
      ['push EXIST', (m) => m.update(EMPTY, le32(1), 2)],
      ['push F_LOCK', (m) => m.update(EMPTY, le32(1), 4)],
      ['push', (m) => m.update(EMPTY, le32(1), 0)],
      ['push with a key', (m) => m.update(le32(0), le32(1), 0)],
      ['delete', (m) => m.delete(EMPTY)],
      ['next', (m) => m.nextKey()],
      ['batch', (m) => m.lookupBatch(2).keys.length],
      ['lookup of a value never pushed (zeroes)', (m) => m.lookup(EMPTY)],
    ];
    for (const [what, f] of steps) same(what, () => f(ours), () => f(theirs));
    same('lookup-and-delete', () => ours.lookupAndDelete(EMPTY), () => kernelLookupAndDelete(theirs, EMPTY));
    same('pushed value', () => (ours as unknown as { lookup(k: Uint8Array, v: Uint8Array): Uint8Array | undefined }).lookup(EMPTY, le32(1)), () => kernelBloomLookup(theirs, le32(1)));
  });

  it('LPM trie: updates (each flag), deletes, longest-prefix lookups and get_next_key in the kernel\'s order', () => {
    const arbKey = (dataSize: number) => fc.record({
      plen: fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 0, max: dataSize * 8 }) }, { weight: 1, arbitrary: fc.integer({ min: dataSize * 8 + 1, max: 300 }) }),
      // few distinct leading bytes, so prefixes nest and share bits
      data: fc.array(fc.constantFrom(0, 1, 2, 0x80, 0x81, 0xc0, 0xff, 10), { minLength: dataSize, maxLength: dataSize }),
    });
    for (const dataSize of [1, 2, 4]) {
      const keyBytes = (k: { plen: number; data: number[] }) => { const b = new Uint8Array(4 + dataSize); new DataView(b.buffer).setUint32(0, k.plen, true); b.set(k.data, 4); return b; };
      const arbOp = fc.oneof(
        { weight: 6, arbitrary: fc.record({ op: fc.constant('update' as const), key: arbKey(dataSize), v: fc.nat(), flags: fc.constantFrom(0, 0, 0, 1, 2, 3) }) },
        { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), key: arbKey(dataSize) }) },
        { weight: 4, arbitrary: fc.record({ op: fc.constant('lookup' as const), key: arbKey(dataSize) }) },
        { weight: 2, arbitrary: fc.record({ op: fc.constant('next' as const), key: fc.option(arbKey(dataSize), { nil: undefined }) }) },
        { weight: 1, arbitrary: fc.record({ op: fc.constant('nextStored' as const), i: fc.nat() }) },
      );
      fc.assert(fc.property(fc.integer({ min: 1, max: 24 }), fc.array(arbOp, { minLength: 100, maxLength: 300 }), (maxEntries, ops) => {
        const spec: MapSpec = { type: MapType.LpmTrie, keySize: 4 + dataSize, valueSize: 4, maxEntries, flags: MapFlags.BPF_F_NO_PREALLOC };
        const { ours, theirs } = pair(spec);
        const all = (m: BpfMap | KernelMap) => [...m.keys()].map(hex).join(' ');
        ops.forEach((o, i) => {
          const what = `LPM/${dataSize} op ${i} ${JSON.stringify(o)}`;
          switch (o.op) {
            case 'update': return same(what, () => ours.update(keyBytes(o.key), le32(o.v), o.flags), () => theirs.update(keyBytes(o.key), le32(o.v), o.flags));
            case 'delete': return same(what, () => ours.delete(keyBytes(o.key)), () => theirs.delete(keyBytes(o.key)));
            case 'lookup': return same(what, () => ours.lookup(keyBytes(o.key)), () => theirs.lookup(keyBytes(o.key)));
            case 'next': return same(what, () => ours.nextKey(o.key && keyBytes(o.key)), () => theirs.nextKey(o.key && keyBytes(o.key)));
            case 'nextStored': {
              const keys = [...theirs.keys()];
              const k = keys.length ? keys[o.i % keys.length] : undefined;
              return same(what, () => ours.nextKey(k), () => theirs.nextKey(k));
            }
          }
          if (i % 25 === 24) same(`${what}: iteration`, () => all(ours), () => all(theirs));
        });
        same('final iteration', () => all(ours), () => all(theirs));
        same('batch', () => ours.lookupBatch(100).values.map(hex).join(), () => theirs.lookupBatch(100).values.map(hex).join());
        same('lookup-and-delete', () => ours.lookupAndDelete(keyBytes({ plen: 0, data: new Array(dataSize).fill(0) })), () => kernelLookupAndDelete(theirs, keyBytes({ plen: 0, data: new Array(dataSize).fill(0) })));
        close(ours, theirs);
      }), { numRuns: 40, seed: 5 + dataSize });
    }
  });

  it('array and hash of maps: descriptors in, ids out, template checks, flags, delete, iteration', () => {
    const INNER: MapSpec = { type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 4 };
    const candidates: MapSpec[] = [
      INNER, INNER, { ...INNER, maxEntries: 8 }, { ...INNER, valueSize: 4 }, { ...INNER, flags: MapFlags.BPF_F_RDONLY_PROG },
      { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 },
    ];
    // The inner maps, created on both sides; ours in a registry the outer maps resolve descriptors with.
    const registry = new Map<number, BpfMap>();
    const inners = candidates.map((spec, i) => {
      const ours = createMap(spec);
      ours.fd = 100 + i;
      ours.id = 5000 + i;
      registry.set(ours.fd, ours);
      const theirs = kernelMap(spec);
      open.add(ours).add(theirs);
      return { ours, theirs, theirId: kernelId(theirs.fd) };
    });
    /** A lookup's id as the index of the candidate it names, on either side. */
    const name = (side: 'ours' | 'theirs') => (b: Uint8Array | undefined) => {
      if (!b) return 'none';
      const id = new DataView(b.buffer, b.byteOffset).getUint32(0, true);
      return `inner#${inners.findIndex((x) => (side === 'ours' ? x.ours.id : x.theirId) === id)}`;
    };
    for (const type of [MapType.ArrayOfMaps, MapType.HashOfMaps]) {
      const arbOp = fc.oneof(
        { weight: 5, arbitrary: fc.record({ op: fc.constant('update' as const), k: fc.nat(5), c: fc.integer({ min: -1, max: candidates.length - 1 }), flags: fc.constantFrom(0, 0, 0, 1, 2, 3) }) },
        { weight: 3, arbitrary: fc.record({ op: fc.constant('lookup' as const), k: fc.nat(5) }) },
        { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), k: fc.nat(5) }) },
        { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('next' as const, 'lad' as const), k: fc.nat(5) }) },
      );
      fc.assert(fc.property(fc.array(arbOp, { minLength: 50, maxLength: 150 }), (ops) => {
        const spec: MapSpec = { type, keySize: 4, valueSize: 4, maxEntries: 3, innerMap: INNER };
        const { ours, theirs } = pair(spec, 0, (fd) => registry.get(fd));
        ops.forEach((o, i) => {
          const what = `${type === MapType.ArrayOfMaps ? 'array' : 'hash'} of maps op ${i} ${JSON.stringify(o)}`;
          const key = le32(o.k);
          switch (o.op) {
            case 'update': {
              const fd = (side: 'ours' | 'theirs') => le32(o.c < 0 ? 9999 : inners[o.c][side].fd);
              return same(what, () => ours.update(key, fd('ours'), o.flags), () => theirs.update(key, fd('theirs'), o.flags));
            }
            case 'lookup': return same(what, () => name('ours')(ours.lookup(key)), () => name('theirs')(theirs.lookup(key)));
            case 'delete': return same(what, () => ours.delete(key), () => theirs.delete(key));
            case 'lad': return same(what, () => ours.lookupAndDelete(key), () => kernelLookupAndDelete(theirs, key));
            case 'next':
              // arrays iterate by index; a hash's order is its own, so only whether there is a first key
              if (type === MapType.ArrayOfMaps) return same(what, () => ours.nextKey(key), () => theirs.nextKey(key));
              return same(what, () => (ours.nextKey() ? 'some' : 'none'), () => (theirs.nextKey() ? 'some' : 'none'));
          }
        });
        const contents = (m: BpfMap | KernelMap, side: 'ours' | 'theirs') => [...m.keys()].map((k) => `${hex(k)}=${name(side)(m.lookup(k))}`).sort().join(' ');
        same('contents', () => contents(ours, 'ours'), () => contents(theirs, 'theirs'));
        close(ours, theirs);
        expect(inners.some((x) => x.ours.held)).toBe(false); // closing the outer map let go of every inner map
      }), { numRuns: 40, seed: 3 });
    }
  });

  it('lookup-and-delete on hash maps (per-CPU too), arrays and LRU hashes, as BPF_MAP_LOOKUP_AND_DELETE_ELEM does', () => {
    const cpus = possibleCpus();
    for (const type of [MapType.Hash, MapType.PercpuHash, MapType.LruHash, MapType.Array, MapType.PercpuArray]) {
      const spec: MapSpec = { type, keySize: 4, valueSize: 12, maxEntries: 4 };
      const ours = createMap({ ...spec, cpus });
      const theirs = kernelMap(spec);
      open.add(ours).add(theirs);
      // per-CPU values: 12 bytes in each 16-byte slot (the padding stays 0: the kernel copies it, we do not keep it)
      const value = new Uint8Array(theirs.valueBytes).map((_, i) => (i % 16 < 12 ? i + 1 : 0));
      for (const m of [ours, theirs]) m.update(le32(1), value);
      for (const [k, flags] of [[1, 1], [1, 4], [1, 0], [1, 0], [2, 0], [9, 0]]) {
        same(`${type}: lookup-and-delete ${k} flags ${flags}`, () => ours.lookupAndDelete(le32(k), flags), () => kernelLookupAndDelete(theirs, le32(k), flags));
      }
      close(ours, theirs);
    }
  });

  it('prog and perf event arrays: delete past the end is E2BIG, as for an array of maps', () => {
    for (const type of [MapType.ProgArray, MapType.PerfEventArray]) {
      const { ours, theirs } = pair({ type, keySize: 4, valueSize: 4, maxEntries: 2 });
      for (const k of [1, 2, 7]) same(`${type} delete ${k}`, () => ours.delete(le32(k)), () => theirs.delete(le32(k)));
    }
  });
});
