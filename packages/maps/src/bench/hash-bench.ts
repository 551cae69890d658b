// `npm run bench` (maps part): ops/s of hash lookups and updates through the bytes API, beside a
// plain JS Map of the same size. Run: node packages/maps/dist/bench/hash-bench.js
import { MapType } from '@tsbpf/core';
import { createMap } from '../create.js';

const N = 1024;
const OPS = 1_000_000;

function measure(fn: () => void, ops: number): number {
  for (let i = 0; i < 3; i++) fn(); // warm up
  const samples: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - t0));
  }
  samples.sort((a, b) => a - b);
  return (ops / samples[2]) * 1e9;
}

const keys = Array.from({ length: N }, (_, i) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, i, true); return b; });
const value = new Uint8Array(8);
const m = createMap({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: N });
for (const k of keys) m.update(k, value);
const js = new Map<number, bigint>();
for (let i = 0; i < N; i++) js.set(i, 0n);

const rows: [string, number][] = [
  ['tsbpf hash lookup (bytes API)', measure(() => { for (let i = 0; i < OPS; i++) m.lookup(keys[i & (N - 1)]); }, OPS)],
  ['tsbpf hash update (bytes API)', measure(() => { for (let i = 0; i < OPS; i++) m.update(keys[i & (N - 1)], value); }, OPS)],
  ['JS Map<number, bigint> get', measure(() => { for (let i = 0; i < OPS; i++) js.get(i & (N - 1)); }, OPS)],
  ['JS Map<number, bigint> set', measure(() => { for (let i = 0; i < OPS; i++) js.set(i & (N - 1), 1n); }, OPS)],
];
console.log(`\nmaps: ${N}-entry hash, u32 keys, 8-byte values, median of 5 runs of ${OPS.toLocaleString('en-US')} ops`);
for (const [name, opsPerSec] of rows) console.log(`${name.padEnd(34)} ${Math.round(opsPerSec).toLocaleString('en-US').padStart(14)} ops/s`);
console.log('(lookups from a guest program through bpf_map_lookup_elem: the hash1000 rows of the table above, 1000 lookups per execution)');
