// Queue, stack, bloom filter, LPM trie and maps of maps without a kernel: their semantics, property
// tests against naive models (LPM lookups against a linear longest-prefix search, bloom filters
// without false negatives), and bad input. map-types.differential.test.ts compares them with the kernel.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MapError, MapFlags, MapType, UpdateFlags, type MapSpec } from '@tsbpf/core';
import { AddressSpace } from './address-space.js';
import type { BloomFilterMap } from './bloom-filter.js';
import { createMap } from './create.js';
import { jhash, jhash2 } from './jhash.js';
import type { LpmTrieMap } from './lpm-trie.js';
import type { BpfMap } from './map.js';
import type { ArrayOfMapsMap, HashOfMapsMap } from './map-of-maps.js';
import type { QueueStackMap } from './queue-stack.js';

const EMPTY = new Uint8Array(0);
const le32 = (n: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n >>> 0, true); return b; };
const u32Of = (b: Uint8Array | undefined) => (b ? new DataView(b.buffer, b.byteOffset).getUint32(0, true) : undefined);
const code = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof MapError) return e.code;
    throw e;
  }
};

describe('jhash', () => {
  it('gives lookup3\'s published values (hashlittle) and agrees with jhash2 on whole words', () => {
    const text = new TextEncoder().encode('Four score and seven years ago');
    expect(jhash(text, 0)).toBe(0x17770551);
    expect(jhash(text, 1)).toBe(0xcd628161);
    expect(jhash(EMPTY, 0)).toBe(0xdeadbeef);
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }).map((b) => b.subarray(0, b.length & ~3)), fc.nat(), (b, seed) => jhash(b, seed) === jhash2(b, b.length / 4, seed)), { numRuns: 500 });
  });
});

describe('queue and stack', () => {
  const make = (type: MapType, maxEntries = 3) => createMap({ type, keySize: 0, valueSize: 4, maxEntries }) as QueueStackMap;

  it('a queue is FIFO, a stack LIFO; BPF_EXIST makes room by dropping the oldest value', () => {
    for (const [type, order] of [[MapType.Queue, [2, 3, 4]], [MapType.Stack, [4, 3, 2]]] as const) {
      const m = make(type);
      for (const v of [1, 2, 3]) m.update(EMPTY, le32(v));
      expect(code(() => m.update(EMPTY, le32(9)))).toBe('E2BIG');
      m.update(EMPTY, le32(4), UpdateFlags.BPF_EXIST);
      expect(m.count).toBe(3);
      expect(u32Of(m.lookup(EMPTY))).toBe(order[0]); // peek
      expect([1, 2, 3, 4].map(() => u32Of(m.lookupAndDelete(EMPTY)))).toEqual([...order, undefined]);
    }
  });

  it('refuses what the kernel refuses: NOEXIST, keys, delete, iteration, batches, lookup-and-delete flags', () => {
    const m = make(MapType.Queue);
    expect([
      code(() => m.update(EMPTY, le32(1), UpdateFlags.BPF_NOEXIST)),
      code(() => m.update(EMPTY, le32(1), 3)),
      code(() => m.update(EMPTY, le32(1), UpdateFlags.BPF_F_LOCK)),
      code(() => m.update(le32(0), le32(1))),
      code(() => m.update(EMPTY, new Uint8Array(3))),
      code(() => m.delete(EMPTY)),
      code(() => m.nextKey()),
      code(() => m.lookupBatch(1)),
      code(() => m.lookupAndDelete(EMPTY, UpdateFlags.BPF_F_LOCK)),
      code(() => m.lookupAndDelete(EMPTY, 1)),
    ]).toEqual(['EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'ENOTSUPP', 'EINVAL', 'EINVAL']);
    expect(m.count).toBe(0);
  });

  it('program-side pop and peek zero the buffer and say ENOENT when empty', () => {
    const m = make(MapType.Stack);
    const buf = Uint8Array.of(0xff, 0xff, 0xff, 0xff);
    expect(code(() => m.popElem(buf))).toBe('ENOENT');
    expect(buf).toEqual(new Uint8Array(4));
    m.pushElem(le32(7), 0);
    m.peekElem(buf);
    expect(u32Of(buf)).toBe(7);
    expect(m.count).toBe(1);
  });

  it('matches a model queue/stack over random operation sequences', () => {
    const op = fc.oneof(
      fc.record({ op: fc.constant('push' as const), v: fc.nat(), flags: fc.constantFrom(0, 1, 2, 3) }),
      fc.record({ op: fc.constant('pop' as const) }),
      fc.record({ op: fc.constant('peek' as const) }),
    );
    fc.assert(fc.property(fc.boolean(), fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 60 }), (lifo, max, ops) => {
      const m = make(lifo ? MapType.Stack : MapType.Queue, max);
      const model: number[] = [];
      for (const o of ops) {
        if (o.op === 'push') {
          const want = o.flags === 1 || o.flags === 3 ? 'EINVAL' : model.length === max && o.flags === 0 ? 'E2BIG' : 'ok';
          expect(code(() => m.update(EMPTY, le32(o.v), o.flags))).toBe(want);
          if (want === 'ok') {
            if (model.length === max) model.shift();
            model.push(o.v);
          }
        } else {
          const next = lifo ? model[model.length - 1] : model[0];
          const got = o.op === 'pop' ? m.lookupAndDelete(EMPTY) : m.lookup(EMPTY);
          expect(u32Of(got)).toBe(next === undefined ? undefined : next >>> 0);
          if (o.op === 'pop' && next !== undefined) lifo ? model.pop() : model.shift();
        }
      }
    }), { numRuns: 300 });
  });
});

describe('bloom filter', () => {
  const make = (valueSize: number, maxEntries: number, extra: Partial<{ flags: number; mapExtra: number }> = {}) =>
    createMap({ type: MapType.BloomFilter, keySize: 0, valueSize, maxEntries, ...extra }) as BloomFilterMap;

  it('never forgets a value it was given (no false negatives), for any value size and number of hashes', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 24 }), fc.integer({ min: 0, max: 15 }), fc.integer({ min: 1, max: 300 }), fc.boolean(),
      fc.array(fc.uint8Array({ minLength: 24, maxLength: 24 }), { minLength: 1, maxLength: 300 }),
      (size, hashes, maxEntries, zeroSeed, values) => {
        const m = make(size, maxEntries, { mapExtra: hashes, flags: zeroSeed ? MapFlags.BPF_F_ZERO_SEED : 0 });
        const vs = values.map((v) => v.subarray(0, size));
        for (const v of vs) m.update(EMPTY, v);
        for (const v of vs) {
          expect(m.has(v)).toBe(true);
          expect(m.lookup(EMPTY, v)).toEqual(v);
          m.peekElem(v);
        }
      },
    ), { numRuns: 200 });
  });

  it('keeps the false positive rate near a bloom filter\'s: under 6% with max_entries values and 5 hashes', () => {
    for (const [size, n] of [[4, 1000], [6, 1000], [16, 5000]] as const) {
      const m = make(size, n);
      const value = (i: number) => { const b = new Uint8Array(size); new DataView(b.buffer).setUint32(0, i, true); b[size - 1] ^= i & 0xff; return b; };
      for (let i = 0; i < n; i++) m.update(EMPTY, value(i));
      let fp = 0;
      const probes = 20_000;
      for (let i = n; i < n + probes; i++) if (m.has(value(i))) fp++;
      expect(fp / probes).toBeLessThan(0.06);
      expect(m.hashes).toBe(5);
    }
  });

  it('sizes its bit array as the kernel does and refuses what the kernel refuses', () => {
    expect((make(4, 1) as BloomFilterMap).mask).toBe(63); // at least 64 bits
    expect(make(4, 100).mask).toBe(1023); // 100 * 5 / 5 * 7 = 700 bits, rounded up to 1024
    expect(make(4, 100, { mapExtra: 3 }).mask).toBe(511); // 100 * 3 / 5 * 7 = 420
    const m = make(4, 10);
    expect([
      code(() => m.update(EMPTY, le32(1), UpdateFlags.BPF_NOEXIST)),
      code(() => m.update(EMPTY, le32(1), UpdateFlags.BPF_EXIST)),
      code(() => m.delete(EMPTY)),
      code(() => m.nextKey()),
      code(() => m.lookupAndDelete(EMPTY)),
      code(() => m.popElem(new Uint8Array(4))),
      code(() => m.peekElem(le32(1))),
    ]).toEqual(['EINVAL', 'EINVAL', 'EOPNOTSUPP', 'EOPNOTSUPP', 'ENOTSUPP', 'EOPNOTSUPP', 'ENOENT']);
  });
});

describe('LPM trie', () => {
  const NO_PREALLOC = MapFlags.BPF_F_NO_PREALLOC;
  const key = (prefixlen: number, data: number[], size: number) => { const k = new Uint8Array(4 + size); new DataView(k.buffer).setUint32(0, prefixlen, true); k.set(data.slice(0, size), 4); return k; };
  /** The kernel's comparison: the first `bits` bits of a and b. */
  const samePrefix = (a: number[], b: number[], bits: number) => {
    for (let i = 0; i < bits; i++) if (((a[i >> 3] >> (7 - (i & 7))) & 1) !== ((b[i >> 3] >> (7 - (i & 7))) & 1)) return false;
    return true;
  };

  it('finds the longest stored prefix: the example of kernel/bpf/lpm_trie.c, and its get_next_key order', () => {
    const t = createMap({ type: MapType.LpmTrie, keySize: 8, valueSize: 4, maxEntries: 16, flags: NO_PREALLOC }) as LpmTrieMap;
    const ip = (s: string) => s.split('.').map(Number);
    t.update(key(16, ip('192.168.0.0'), 4), le32(1));
    t.update(key(24, ip('192.168.0.0'), 4), le32(2));
    t.update(key(24, ip('192.168.128.0'), 4), le32(3));
    t.update(key(24, ip('192.168.1.0'), 4), le32(5));
    const at = (s: string) => u32Of(t.lookup(key(32, ip(s), 4)));
    expect([at('192.168.0.7'), at('192.168.1.1'), at('192.168.128.9'), at('192.168.77.1'), at('192.169.0.1')]).toEqual([2, 5, 3, 1, undefined]);
    const order = [...t.keys()].map((k) => `${[...k.subarray(4)].join('.')}/${u32Of(k)}`);
    expect(order).toEqual(['192.168.0.0/24', '192.168.1.0/24', '192.168.128.0/24', '192.168.0.0/16']);
    expect(code(() => t.update(key(33, [], 4), le32(1)))).toBe('EINVAL');
    expect(t.lookup(key(33, ip('192.168.0.0'), 4))).toBeUndefined();
  });

  it('lookups equal a linear longest-prefix search over random updates and deletes; iteration gives every prefix once, specific before general', () => {
    const arbOp = fc.record({
      op: fc.constantFrom('update', 'update', 'delete', 'lookup'),
      plen: fc.integer({ min: 0, max: 16 }),
      data: fc.tuple(fc.constantFrom(0, 1, 0x80, 0xc0, 0xff, 10), fc.nat(255)),
      flags: fc.constantFrom(0, 0, 1, 2),
      value: fc.nat(),
    });
    fc.assert(fc.property(fc.array(arbOp, { maxLength: 120 }), fc.integer({ min: 1, max: 40 }), (ops, maxEntries) => {
      const t = createMap({ type: MapType.LpmTrie, keySize: 6, valueSize: 4, maxEntries, flags: NO_PREALLOC }) as LpmTrieMap;
      // the model: prefix (by its first plen bits) -> value
      const model = new Map<string, { plen: number; data: number[]; value: number }>();
      const id = (plen: number, data: number[]) => `${plen}:${Array.from({ length: plen }, (_, i) => (data[i >> 3] >> (7 - (i & 7))) & 1).join('')}`;
      for (const o of ops) {
        const data = [...o.data];
        const k = key(o.plen, data, 2);
        const present = model.has(id(o.plen, data));
        if (o.op === 'update') {
          const want = o.flags === 1 && present ? 'EEXIST' : o.flags === 2 && !present ? 'ENOENT' : !present && model.size === maxEntries ? 'ENOSPC' : 'ok';
          expect(code(() => t.update(k, le32(o.value), o.flags))).toBe(want);
          if (want === 'ok') model.set(id(o.plen, data), { plen: o.plen, data, value: o.value >>> 0 });
        } else if (o.op === 'delete') {
          expect(code(() => t.delete(k))).toBe(present ? 'ok' : 'ENOENT');
          model.delete(id(o.plen, data));
        }
        // a full-length lookup of the same data
        let best: { plen: number; value: number } | undefined;
        for (const e of model.values()) if (samePrefix(e.data, data, e.plen) && (!best || e.plen > best.plen)) best = e;
        expect(u32Of(t.lookup(key(16, data, 2)))).toBe(best?.value);
      }
      expect(t.count).toBe(model.size);
      const keys = [...t.keys()];
      expect(keys.map((k) => id(u32Of(k)!, [...k.subarray(4)])).sort()).toEqual([...model.keys()].sort());
      // post-order: a prefix comes after every stored prefix it contains
      const seen: { plen: number; data: number[] }[] = [];
      for (const k of keys) {
        const e = { plen: u32Of(k)!, data: [...k.subarray(4)] };
        for (const s of seen) expect(s.plen > e.plen || !samePrefix(s.data, e.data, s.plen) || s.plen === e.plen).toBe(true);
        seen.push(e);
      }
      t.close();
    }), { numRuns: 400 });
  });

  it('lookupAddr gives programs a pointer to the value user space sees', () => {
    const space = new AddressSpace({ strict: true });
    const t = createMap({ type: MapType.LpmTrie, keySize: 8, valueSize: 8, maxEntries: 4, flags: NO_PREALLOC, space });
    t.update(key(8, [10], 4), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    const k = space.alloc(8);
    space.write(k, key(32, [10, 1, 2, 3], 4));
    const p = t.lookupAddr(k);
    expect(space.check(p, 8)).toBe(true);
    space.bytes[p] = 99;
    expect(t.lookup(key(32, [10, 9, 9, 9], 4))![0]).toBe(99);
    space.write(k, key(32, [11], 4));
    expect(t.lookupAddr(k)).toBe(0);
  });
});

describe('maps of maps', () => {
  const ARR: MapSpec = { type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 4 };
  /** A tiny registry: fds, ids and program pointers, as the runtime hands them out. */
  function registry() {
    const maps = new Map<number, BpfMap>();
    let next = 10;
    const add = (spec: MapSpec & { type: MapType }): BpfMap => {
      const m = createMap({ ...spec, resolveMap: (fd) => maps.get(fd) });
      m.fd = next;
      m.id = next + 1000;
      m.ptr = next * 16;
      maps.set(next++, m);
      return m;
    };
    return { add };
  }

  it('an array of maps holds maps matching its template and hands programs the map itself', () => {
    const r = registry();
    const outer = r.add({ type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: ARR }) as ArrayOfMapsMap;
    const a = r.add(ARR);
    const bigger = r.add({ ...ARR, maxEntries: 8 });
    const hash = r.add({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 });
    expect([
      code(() => outer.update(le32(0), le32(a.fd))),
      code(() => outer.update(le32(1), le32(bigger.fd))),
      code(() => outer.update(le32(1), le32(hash.fd))),
      code(() => outer.update(le32(1), le32(999))),
      code(() => outer.update(le32(1), le32(a.fd), UpdateFlags.BPF_NOEXIST)),
      code(() => outer.update(le32(2), le32(a.fd))),
      code(() => outer.delete(le32(1))),
      code(() => outer.delete(le32(2))),
    ]).toEqual(['ok', 'EINVAL', 'EINVAL', 'EBADF', 'EINVAL', 'E2BIG', 'ENOENT', 'E2BIG']);
    expect(u32Of(outer.lookup(le32(0)))).toBe(a.id);
    expect(outer.lookup(le32(1))).toBeUndefined();
    const key = outer.space.alloc(4);
    outer.space.write(key, le32(0));
    expect(outer.lookupAddr(key)).toBe(a.ptr);
    expect(a.held).toBe(true);
    outer.delete(le32(0));
    expect(a.held).toBe(false);
  });

  it('a hash of maps: hash semantics for keys, ids for values, BPF_F_INNER_MAP lets arrays differ in size; holds are counted', () => {
    const r = registry();
    const inner: MapSpec = { ...ARR, flags: MapFlags.BPF_F_INNER_MAP };
    const outer = r.add({ type: MapType.HashOfMaps, keySize: 8, valueSize: 4, maxEntries: 2, innerMap: inner }) as HashOfMapsMap;
    const small = r.add(inner);
    const big = r.add({ ...inner, maxEntries: 64 });
    const k = (n: number) => Uint8Array.of(n, 0, 0, 0, 0, 0, 0, 1);
    expect([
      code(() => outer.update(k(1), le32(small.fd))),
      code(() => outer.update(k(2), le32(big.fd), UpdateFlags.BPF_NOEXIST)),
      code(() => outer.update(k(3), le32(big.fd))),
      code(() => outer.update(k(3), le32(big.fd), UpdateFlags.BPF_EXIST)),
      code(() => outer.update(k(1), le32(small.fd), UpdateFlags.BPF_NOEXIST)),
      code(() => outer.update(k(1), le32(big.fd), UpdateFlags.BPF_EXIST)),
      code(() => outer.lookupAndDelete(k(1))),
    ]).toEqual(['ok', 'ok', 'E2BIG', 'ENOENT', 'EEXIST', 'ok', 'ENOTSUPP']);
    expect([small.held, big.held]).toEqual([false, true]);
    expect(outer.innerOf(k(1))).toBe(big);
    expect(u32Of(outer.lookup(k(2)))).toBe(big.id);
    outer.delete(k(1));
    expect(big.held).toBe(true); // still under k(2)
    outer.close();
    expect(big.held).toBe(false);
  });
});

describe('bad input for the new types: the kernel\'s errno', () => {
  const ARR: MapSpec = { type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 4 };
  const cases: Array<[string, Partial<MapSpec> & { type: MapType; mapExtra?: number }, string]> = [
    ['queue with a key', { type: MapType.Queue, keySize: 4 }, 'EINVAL'],
    ['stack without values', { type: MapType.Stack, keySize: 0, valueSize: 0 }, 'EINVAL'],
    ['queue with BPF_F_NO_PREALLOC', { type: MapType.Queue, keySize: 0, flags: MapFlags.BPF_F_NO_PREALLOC }, 'EINVAL'],
    ['queue read-only and write-only', { type: MapType.Queue, keySize: 0, flags: MapFlags.BPF_F_RDONLY | MapFlags.BPF_F_WRONLY }, 'EINVAL'],
    ['queue with map_extra', { type: MapType.Queue, keySize: 0, mapExtra: 3 }, 'EINVAL'],
    ['bloom filter with a key', { type: MapType.BloomFilter, keySize: 4 }, 'EINVAL'],
    ['bloom filter map_extra 16', { type: MapType.BloomFilter, keySize: 0, mapExtra: 16 }, 'EINVAL'],
    ['bloom filter value too large', { type: MapType.BloomFilter, keySize: 4, valueSize: (1 << 22) + 1 }, 'E2BIG'],
    ['LPM trie without BPF_F_NO_PREALLOC', { type: MapType.LpmTrie, keySize: 8 }, 'EINVAL'],
    ['LPM trie key without data', { type: MapType.LpmTrie, keySize: 4, flags: MapFlags.BPF_F_NO_PREALLOC }, 'EINVAL'],
    ['LPM trie key of 261 bytes', { type: MapType.LpmTrie, keySize: 261, flags: MapFlags.BPF_F_NO_PREALLOC }, 'EINVAL'],
    ['array of maps without an inner map', { type: MapType.ArrayOfMaps, valueSize: 4 }, 'EINVAL'],
    ['array of maps of 8-byte values', { type: MapType.ArrayOfMaps, valueSize: 8, innerMap: ARR }, 'EINVAL'],
    ['array of maps with BPF_F_INNER_MAP', { type: MapType.ArrayOfMaps, valueSize: 4, innerMap: ARR, flags: MapFlags.BPF_F_INNER_MAP }, 'EINVAL'],
    ['hash of maps of maps', { type: MapType.HashOfMaps, valueSize: 4, innerMap: { type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 1, innerMap: ARR } }, 'EINVAL'],
    ['hash of prog arrays', { type: MapType.HashOfMaps, valueSize: 4, innerMap: { type: MapType.ProgArray, keySize: 4, valueSize: 4, maxEntries: 1 } }, 'ENOTSUPP'],
    ['an inner map the kernel would refuse', { type: MapType.HashOfMaps, valueSize: 4, innerMap: { ...ARR, keySize: 8 } }, 'EINVAL'],
  ];
  it.each(cases)('%s -> %s', (_n, spec, want) => {
    expect(code(() => createMap({ keySize: 4, valueSize: 4, maxEntries: 4, ...spec }))).toBe(want);
  });
});
