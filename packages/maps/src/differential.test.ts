import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MapError, MapType, UpdateFlags, type MapSpec } from '@tsbpf/core';
import { KernelBackend, probe } from '@tsbpf/kernel';
import { createMap } from './create.js';
import type { BpfMap } from './map.js';

const kernel = probe();
if (!kernel.ok) console.log(`map differential tests skipped: ${kernel.reason}`);

type Op =
  | { op: 'update'; key: number; value: number; flags: number }
  | { op: 'lookup'; key: number }
  | { op: 'delete'; key: number }
  | { op: 'next'; key: number | undefined };

const keyBytes = (k: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, k, true); return b; };
const valBytes = (v: number, size: number) => { const b = new Uint8Array(size); new DataView(b.buffer).setUint32(0, v, true); b[size - 1] = v & 0xff; return b; };
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : 'none');

/** Runs one operation on a map, returning what a caller observes (result bytes or errno). */
function apply(m: { lookup(k: Uint8Array): Uint8Array | undefined; update(k: Uint8Array, v: Uint8Array, f?: number): void; delete(k: Uint8Array): void; nextKey(k?: Uint8Array): Uint8Array | undefined }, o: Op, valueSize: number, orderMatters: boolean): string {
  try {
    switch (o.op) {
      case 'update': m.update(keyBytes(o.key), valBytes(o.value, valueSize), o.flags); return 'ok';
      case 'lookup': return hex(m.lookup(keyBytes(o.key)));
      case 'delete': m.delete(keyBytes(o.key)); return 'ok';
      case 'next': {
        const n = m.nextKey(o.key === undefined ? undefined : keyBytes(o.key));
        // Hash iteration order is the table's business; only "is there a next key" is comparable
        // for a first key; every other nextKey answer is compared through the key set instead.
        if (orderMatters) return hex(n);
        return o.key === undefined ? (n ? 'some' : 'none') : 'skip';
      }
    }
  } catch (e) {
    if (e instanceof MapError) return e.code;
    throw e;
  }
}

function keySet(m: { nextKey(k?: Uint8Array): Uint8Array | undefined }): string[] {
  const out: string[] = [];
  let k = m.nextKey();
  for (let guard = 0; k && guard < 100_000; guard++) {
    out.push(hex(k));
    k = m.nextKey(k);
  }
  return out.sort();
}

const arbOp = (keys: number) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('update' as const), key: fc.nat(keys), value: fc.nat(), flags: fc.constantFrom(UpdateFlags.BPF_ANY, UpdateFlags.BPF_NOEXIST, UpdateFlags.BPF_EXIST, 8) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('lookup' as const), key: fc.nat(keys) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), key: fc.nat(keys) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('next' as const), key: fc.option(fc.nat(keys), { nil: undefined }) }) },
  ) as fc.Arbitrary<Op>;

describe.skipIf(!kernel.ok)('maps against the kernel (differential)', () => {
  const backend = new KernelBackend();
  afterAll(() => backend.close());
  let compared = 0;
  afterAll(() => console.log(`map differential: ${compared} operations compared with kernel maps, 0 differences`));

  const cases: Array<{ name: string; spec: MapSpec; keys: number; orderMatters: boolean; runs: number }> = [
    // A small hash map fills up, so E2BIG, EEXIST and ENOENT paths all occur.
    { name: 'hash (16 entries, 40 keys)', spec: { type: MapType.Hash, keySize: 4, valueSize: 12, maxEntries: 16 }, keys: 40, orderMatters: false, runs: 200 },
    { name: 'hash (1024 entries, 600 keys)', spec: { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 1024 }, keys: 600, orderMatters: false, runs: 100 },
    // LRU: with 4096 entries and 1000 keys neither side ever evicts (the kernel's per-CPU free
    // lists hold at most 128 nodes per CPU), so every result is deterministic and compared.
    { name: 'LRU hash (4096 entries, 1000 keys)', spec: { type: MapType.LruHash, keySize: 4, valueSize: 8, maxEntries: 4096 }, keys: 1000, orderMatters: false, runs: 100 },
    { name: 'array (32 entries, 40 indexes)', spec: { type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 32 }, keys: 40, orderMatters: true, runs: 150 },
  ];

  for (const c of cases) {
    it(`${c.name}: every result of random operation sequences equals the kernel's`, () => {
      fc.assert(
        fc.property(fc.array(arbOp(c.keys), { minLength: 200, maxLength: 400 }), (ops) => {
          const ours = createMap({ ...c.spec });
          const theirs = backend.createMap(c.spec);
          try {
            ops.forEach((o, i) => {
              const a = apply(ours, o, c.spec.valueSize, c.orderMatters);
              const b = apply(theirs, o, c.spec.valueSize, c.orderMatters);
              compared++;
              if (a !== b) throw new Error(`op ${i} ${JSON.stringify(o)}: ours ${a}, kernel ${b}`);
              if (i % 50 === 49) expect(keySet(ours)).toEqual(keySet(theirs));
            });
            expect(keySet(ours)).toEqual(keySet(theirs));
          } finally {
            theirs.close();
            ours.close();
          }
        }),
        { numRuns: c.runs, seed: 7 },
      );
    });
  }

  it('compares at least 100k operations in all', () => {
    expect(compared).toBeGreaterThanOrEqual(100_000);
  });

  it('LRU eviction: a full map keeps max_entries keys and the newest one (the victim set is the kernel\'s own choice)', () => {
    const spec: MapSpec = { type: MapType.LruHash, keySize: 4, valueSize: 8, maxEntries: 64 };
    const ours = createMap(spec);
    const theirs = backend.createMap(spec);
    for (let k = 0; k < 200; k++) {
      ours.update(keyBytes(k), valBytes(k, 8));
      theirs.update(keyBytes(k), valBytes(k, 8));
      for (const m of [ours, theirs] as BpfMap[]) expect(m.lookup(keyBytes(k))).toBeDefined();
    }
    expect(keySet(ours).length).toBe(64);
    expect(keySet(theirs).length).toBeLessThanOrEqual(64);
    // Ours is exact LRU: the 64 most recent keys.
    expect(keySet(ours)).toEqual(Array.from({ length: 64 }, (_, i) => hex(keyBytes(136 + i))).sort());
    ours.close();
    theirs.close();
  });
});
