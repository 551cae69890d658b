import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MapError, MapType, ProgType, UpdateFlags, assembleLlvm, type MapSpec } from '@tsbpf/core';
import { KernelBackend, probe } from '@tsbpf/kernel';
import { AddressSpace, NULL_GUARD, STRICT_GUARD } from './address-space.js';
import type { ArrayMap } from './array.js';
import { createMap } from './create.js';
import { HashMap } from './hash.js';
import { RingBufMap, RINGBUF_BUSY } from './ringbuf.js';
import { PerfEventArrayMap } from './fd-array.js';
import { TypedMap, struct, u32, u64 } from './typed.js';

const key = (k: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, k, true); return b; };

describe('AddressSpace', () => {
  it('never hands out the NULL page, reuses freed regions, and knows live regions in strict mode', () => {
    const s = new AddressSpace({ strict: true });
    const a = s.alloc(24, 'a');
    const b = s.alloc(5000, 'b');
    expect(a).toBeGreaterThanOrEqual(NULL_GUARD);
    expect(b % 4096).toBe(0);
    expect(s.check(a, 24)).toBe(true);
    expect(s.check(a, 25)).toBe(false); // past the region
    expect(s.check(0, 1)).toBe(false);
    expect(s.regionOf(a + 3)?.tag).toBe('a');
    s.free(a);
    expect(s.check(a, 1)).toBe(false);
    expect(s.alloc(20, 'c')).toBe(a); // same size class reused, zeroed
    expect(() => s.free(a + 8)).toThrow(expect.objectContaining({ code: 'E_FREE' }));
  });

  it('strict mode: a gap after each region, exact sizes, and windows narrowing a region', () => {
    const s = new AddressSpace({ strict: true });
    const a = s.alloc(12, 'ctx');
    const b = s.alloc(64, 'next');
    expect(b - a).toBeGreaterThanOrEqual(16 + STRICT_GUARD); // running off a lands in no region
    expect(s.check(a + 8, 4)).toBe(true);
    expect(s.check(a + 12, 4)).toBe(false); // the rounding slack is not the program's
    s.window(b, b + 16, b + 32);
    expect([s.check(b + 16, 16), s.check(b + 15, 1), s.check(b + 32, 1), s.regionOf(b)?.tag]).toEqual([true, false, false, 'next']);
    expect(new AddressSpace().check(new AddressSpace().alloc(12) + 12, 4)).toBe(true); // not strict: only the NULL page and the bounds
    const one = createMap({ type: MapType.Array, keySize: 4, valueSize: 10, maxEntries: 1, space: s }) as ArrayMap;
    expect([s.check(one.valueAddr(0), 10), s.check(one.valueAddr(0) + 10, 1)]).toEqual([true, false]);
  });

  it('grows the memory and keeps guest addresses valid', () => {
    const s = new AddressSpace({ initialPages: 1 });
    const first = s.alloc(8);
    s.bytes[first] = 42;
    const big = s.alloc(1 << 20);
    expect(s.size).toBeGreaterThanOrEqual(big + (1 << 20));
    expect(s.bytes[first]).toBe(42);
  });
});

describe('map values live in the address space', () => {
  it('lookupAddr returns a guest pointer to the same bytes user space sees', () => {
    const space = new AddressSpace();
    const m = createMap({ type: 'BPF_MAP_TYPE_HASH', keySize: 4, valueSize: 8, maxEntries: 4, space });
    m.update(key(7), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    const k = space.alloc(4);
    space.write(k, key(7));
    const p = m.lookupAddr(k);
    expect(space.read(p, 8)).toEqual(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    space.bytes[p] = 99; // a program's store through the pointer
    expect(m.lookup(key(7))![0]).toBe(99);
    space.write(k, key(8));
    expect(m.lookupAddr(k)).toBe(0);
  });
});

describe('ring buffer', () => {
  it('delivers every committed record exactly once, in order, never a discarded one, over >= 1000 wraps', () => {
    const rb = createMap({ type: MapType.Ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 }) as RingBufMap;
    const expected: Uint8Array[] = [];
    const got: Uint8Array[] = [];
    const pending: { addr: number; data: Uint8Array; discard: boolean }[] = [];
    let seq = 0;
    const rnd = fc.sample(fc.tuple(fc.integer({ min: 1, max: 700 }), fc.nat(9)), { numRuns: 40_000, seed: 3 });
    for (const [size, dice] of rnd) {
      const addr = rb.reserve(size);
      if (addr) {
        const data = new Uint8Array(size);
        for (let i = 0; i < size; i++) data[i] = (seq * 31 + i) & 0xff;
        seq++;
        rb.space.write(addr, data);
        pending.push({ addr, data, discard: dice === 0 });
      } else {
        // Full: commit everything outstanding (in reservation order) and consume.
        for (const p of pending.splice(0)) {
          rb.commit(p.addr, p.discard);
          if (!p.discard) expected.push(p.data);
        }
        got.push(...rb.consume());
      }
      if (dice > 6 && pending.length) {
        const p = pending.shift()!;
        rb.commit(p.addr, p.discard);
        if (!p.discard) expected.push(p.data);
      }
      if (dice === 5) got.push(...rb.consume());
    }
    for (const p of pending.splice(0)) {
      rb.commit(p.addr, p.discard);
      if (!p.discard) expected.push(p.data);
    }
    got.push(...rb.consume());
    expect(rb.producerPos / 4096).toBeGreaterThanOrEqual(1000);
    expect(got.length).toBe(expected.length);
    const mismatch = got.findIndex((g, i) => Buffer.compare(g, expected[i]) !== 0);
    expect(mismatch).toBe(-1);
  });

  it('a full buffer makes reserve fail; a busy record blocks the consumer until it is committed', () => {
    const rb = createMap({ type: MapType.Ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 }) as RingBufMap;
    const a = rb.reserve(2000);
    const b = rb.reserve(2000);
    expect(a && b).toBeTruthy();
    expect(rb.reserve(100)).toBe(0); // 2 x 2008 + 108 > 4096
    expect(rb.reserve(5000)).toBe(0); // larger than the ring
    expect((rb.space.view.getUint32(a - 8, true) & RINGBUF_BUSY) >>> 0).toBe(RINGBUF_BUSY >>> 0);
    rb.commit(b, false);
    expect(rb.consume()).toEqual([]); // the first record is still busy
    rb.commit(a, false);
    expect(rb.consume().map((r) => r.length)).toEqual([2000, 2000]);
    expect(rb.reserve(100)).not.toBe(0);
    expect(() => rb.commit(a, false)).toThrow(MapError);
  });
});

describe('perf event array', () => {
  it('keeps per-CPU samples and counts the ones lost to a full buffer', () => {
    const m = createMap({ type: MapType.PerfEventArray, keySize: 4, valueSize: 4, maxEntries: 2 }) as PerfEventArrayMap;
    expect(m.output(1, Uint8Array.of(1, 2, 3))).toBe(0);
    let lost = 0;
    for (let i = 0; i < 10_000; i++) if (m.output(0, new Uint8Array(100)) !== 0) lost++;
    expect(lost).toBeGreaterThan(0);
    expect(m.lostTotal[0]).toBe(lost);
    const recs = m.consume();
    expect(recs.filter((r) => r.cpu === 1)).toEqual([{ cpu: 1, kind: 'sample', data: Uint8Array.of(1, 2, 3) }]);
    expect(recs.find((r) => r.kind === 'lost')).toEqual({ cpu: 0, kind: 'lost', lost });
    expect(m.output(5, new Uint8Array(1))).toBe(-2);
    expect(() => m.lookup(key(0))).toThrow(expect.objectContaining({ errno: 524 }));
  });
});

describe('typed API and batches', () => {
  it('gets and sets through codecs, per-CPU values as arrays, iterates entries', () => {
    const m = new TypedMap(createMap({ type: MapType.Hash, keySize: 4, valueSize: 16, maxEntries: 8 }), u32, struct({ pid: u32, ts: u64 }));
    m.set(1, { pid: 10, ts: 1n << 40n });
    m.set(2, { pid: 20, ts: 5n });
    expect(m.get(1)).toEqual({ pid: 10, ts: 1n << 40n });
    expect([...m.entries()]).toEqual([[1, { pid: 10, ts: 1n << 40n }], [2, { pid: 20, ts: 5n }]]);
    m.delete(1);
    expect([...m.keys()]).toEqual([2]);
    const pc = new TypedMap(createMap({ type: MapType.PercpuArray, keySize: 4, valueSize: 8, maxEntries: 2, cpus: 3 }), u32, u64);
    pc.set(1, [1n, 2n, 3n]);
    expect(pc.get(1)).toEqual([1n, 2n, 3n]);
    expect(() => new TypedMap(createMap({ type: MapType.Hash, keySize: 8, valueSize: 8, maxEntries: 1 }), u32, u64)).toThrow(MapError);
  });

  it('batch lookup walks every entry once with a cursor; lookup-and-delete empties the map', () => {
    const m = createMap({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 100 });
    for (let k = 0; k < 50; k++) m.update(key(k), key(k * 2));
    const seen: number[] = [];
    let cursor: Uint8Array | undefined;
    do {
      const r = m.lookupBatch(7, cursor);
      seen.push(...r.keys.map((k) => new DataView(k.buffer).getUint32(0, true)));
      cursor = r.cursor;
    } while (cursor);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(m.lookupBatch(100, undefined, { delete: true }).keys).toHaveLength(50);
    expect([...m.keys()]).toHaveLength(0);
  });
});

describe('bad input: typed errors with the kernel errno, nothing partially written', () => {
  const cases: Array<[string, Partial<MapSpec> & { type: MapType | string }, string]> = [
    ['unknown type name', { type: 'BPF_MAP_TYPE_NOPE' }, 'EINVAL'],
    ['unsupported type number', { type: 9999 as MapType }, 'EINVAL'],
    ['array key_size 8', { type: MapType.Array, keySize: 8 }, 'EINVAL'],
    ['zero max_entries', { type: MapType.Hash, maxEntries: 0 }, 'EINVAL'],
    ['hash key_size 513', { type: MapType.Hash, keySize: 513 }, 'E2BIG'],
    ['huge value_size', { type: MapType.Hash, valueSize: 1 << 30 }, 'E2BIG'],
    ['absurd max_entries', { type: MapType.Array, valueSize: 4096, maxEntries: 0xffffffff }, 'ENOMEM'],
    ['non-u32 max_entries', { type: MapType.Hash, maxEntries: -1 }, 'EINVAL'],
    ['ringbuf not a power of 2', { type: MapType.Ringbuf, keySize: 0, valueSize: 0, maxEntries: 5000 }, 'EINVAL'],
    ['unknown flags', { type: MapType.Hash, flags: 1 << 30 }, 'EINVAL'],
  ];
  it.each(cases)('%s -> %s', (_n, spec, code) => {
    expect(() => createMap({ keySize: 4, valueSize: 8, maxEntries: 4, ...spec } as never)).toThrow(expect.objectContaining({ code }));
  });

  it('wrong key or value sizes and bad flags fail before anything is written', () => {
    const m = createMap({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 }) as HashMap;
    m.update(key(1), new Uint8Array(8).fill(1));
    expect(() => m.update(new Uint8Array(3), new Uint8Array(8))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => m.update(key(1), new Uint8Array(7))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => m.update(key(1), new Uint8Array(8), 3)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => m.update(key(1), new Uint8Array(8), UpdateFlags.BPF_F_LOCK)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(m.lookup(key(1))).toEqual(new Uint8Array(8).fill(1));
    expect(m.count).toBe(1);
  });
});

const kernel = probe();
describe.skipIf(!kernel.ok)('prog array semantics match the kernel', () => {
  it('BPF_ANY only, bad fds, lookup of ids, delete of empty slots', () => {
    const backend = new KernelBackend();
    try {
      const prog = backend.load({ progType: ProgType.SocketFilter, insns: assembleLlvm('r0 = 0\nexit').insns });
      const spec: MapSpec = { type: MapType.ProgArray, keySize: 4, valueSize: 4, maxEntries: 4 };
      const theirs = backend.createMap(spec);
      const ours = createMap({ ...spec, resolveFd: (fd) => (fd === prog.fd ? 1000 : undefined) });
      const fdv = key(prog.fd);
      const ops: Array<(m: typeof ours | typeof theirs) => unknown> = [
        (m) => m.lookup(key(1)),
        (m) => m.delete(key(1)),
        (m) => m.update(key(1), fdv, UpdateFlags.BPF_NOEXIST),
        (m) => m.update(key(1), key(200), UpdateFlags.BPF_ANY),
        (m) => m.update(key(9), fdv, UpdateFlags.BPF_ANY),
        (m) => m.update(key(1), fdv, UpdateFlags.BPF_ANY),
        (m) => m.lookup(key(1)) !== undefined,
        (m) => m.nextKey(key(3)),
        (m) => m.delete(key(1)),
      ];
      const outcome = (m: typeof ours | typeof theirs, f: (m: typeof ours | typeof theirs) => unknown) => {
        try {
          const r = f(m);
          return r instanceof Uint8Array ? Buffer.from(r).toString('hex') : String(r);
        } catch (e) {
          return (e as MapError).code;
        }
      };
      expect(ops.map((f) => outcome(ours, f))).toEqual(ops.map((f) => outcome(theirs, f)));
    } finally {
      backend.close();
    }
  });
});
