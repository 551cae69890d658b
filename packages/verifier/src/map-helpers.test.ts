// Queue, stack, bloom filter, LPM trie and map-in-map programs, verified by us and loaded by the
// live kernel with real maps of those types: the verdicts (and the rejection messages) must agree.
// Covers check_map_func_compatibility in both directions, the MEM_UNINIT value of pop/peek (which
// a bloom filter's peek reads instead), and the map pointer a map-of-maps lookup returns.
import { afterAll, describe, expect, it } from 'vitest';
import { MapFlags, MapType, ProgType, VerifierError, assembleLlvm, type MapSpec } from '@tsbpf/core';
import { KernelBackend, probe, type KernelMap } from '@tsbpf/kernel';
import { verify, type VerifierMap } from './index.js';

const kernel = probe();
if (!kernel.ok) console.log(`map helper verdicts against the kernel skipped: ${kernel.reason}`);

const ARR: MapSpec = { type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 4 };
/** The maps the programs use, by the name they write in `map_fd(NAME)`. */
const MAPS: Record<string, MapSpec> = {
  queue: { type: MapType.Queue, keySize: 0, valueSize: 8, maxEntries: 4 },
  stack: { type: MapType.Stack, keySize: 0, valueSize: 8, maxEntries: 4 },
  bloom: { type: MapType.BloomFilter, keySize: 0, valueSize: 8, maxEntries: 16 },
  lpm: { type: MapType.LpmTrie, keySize: 8, valueSize: 8, maxEntries: 16, flags: MapFlags.BPF_F_NO_PREALLOC },
  hash: { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 },
  array: ARR,
  aom: { type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: ARR },
  aom_inner_map: { type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: { ...ARR, flags: MapFlags.BPF_F_INNER_MAP } },
  hom: { type: MapType.HashOfMaps, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 } },
  aom_queue: { type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: { type: MapType.Queue, keySize: 0, valueSize: 8, maxEntries: 4 } },
  aom_bloom: { type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: { type: MapType.BloomFilter, keySize: 0, valueSize: 8, maxEntries: 4 } },
  hom_lpm: { type: MapType.HashOfMaps, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: { type: MapType.LpmTrie, keySize: 8, valueSize: 8, maxEntries: 4, flags: MapFlags.BPF_F_NO_PREALLOC } },
};

/** r2 = fp - 8 with 8 bytes written there (or not, with `init` false). */
const buf = (init = true) => `${init ? '*(u64 *)(r10 - 8) = 0\n' : ''}r2 = r10\nr2 += -8`;
/** r0 = outer[0] (a map, or NULL), the key at fp - 16. */
const outer = (name: string) => `*(u32 *)(r10 - 16) = 0\nr2 = r10\nr2 += -16\nr1 = map_fd(${name}) ll\ncall bpf_map_lookup_elem`;

/** name, program (then `out: r0 = 0; exit`). */
const CASES: Array<[string, string]> = [
  ['push, pop, peek on a queue', `r1 = map_fd(queue) ll\n${buf()}\nr3 = 0\ncall bpf_map_push_elem\nr1 = map_fd(queue) ll\n${buf()}\ncall bpf_map_pop_elem\nr1 = map_fd(queue) ll\n${buf()}\ncall bpf_map_peek_elem`],
  ['pop from a stack into uninitialised stack memory (MEM_UNINIT)', `r1 = map_fd(stack) ll\n${buf(false)}\ncall bpf_map_pop_elem\nr0 = *(u64 *)(r10 - 8)`],
  ['peek of a queue into uninitialised stack memory', `r1 = map_fd(queue) ll\n${buf(false)}\ncall bpf_map_peek_elem`],
  ['push from uninitialised memory', `r1 = map_fd(queue) ll\n${buf(false)}\nr3 = 0\ncall bpf_map_push_elem`],
  ['pop into a buffer smaller than the value', `r1 = map_fd(queue) ll\nr2 = r10\nr2 += -4\ncall bpf_map_pop_elem`],
  ['pop with a NULL value', `r1 = map_fd(queue) ll\nr2 = 0\ncall bpf_map_pop_elem`],
  ['lookup in a queue', `r1 = map_fd(queue) ll\n${buf()}\ncall bpf_map_lookup_elem`],
  ['update of a queue', `r1 = map_fd(queue) ll\n${buf()}\nr3 = r2\nr4 = 0\ncall bpf_map_update_elem`],
  ['delete in a stack', `r1 = map_fd(stack) ll\n${buf()}\ncall bpf_map_delete_elem`],
  ['push and peek on a bloom filter', `r1 = map_fd(bloom) ll\n${buf()}\nr3 = 0\ncall bpf_map_push_elem\nr1 = map_fd(bloom) ll\n${buf()}\ncall bpf_map_peek_elem`],
  ['peek of a bloom filter reads its value: uninitialised is refused', `r1 = map_fd(bloom) ll\n${buf(false)}\ncall bpf_map_peek_elem`],
  ['pop from a bloom filter', `r1 = map_fd(bloom) ll\n${buf()}\ncall bpf_map_pop_elem`],
  ['lookup in a bloom filter', `r1 = map_fd(bloom) ll\n${buf()}\ncall bpf_map_lookup_elem`],
  ['push into a hash map', `r1 = map_fd(hash) ll\n${buf()}\nr3 = 0\ncall bpf_map_push_elem`],
  ['peek of an array', `r1 = map_fd(array) ll\n${buf()}\ncall bpf_map_peek_elem`],
  ['pop from an LPM trie', `r1 = map_fd(lpm) ll\n${buf()}\ncall bpf_map_pop_elem`],
  ['LPM trie: update, lookup (checked), delete', `*(u32 *)(r10 - 16) = 32\n*(u32 *)(r10 - 12) = 0x0100000a\nr1 = map_fd(lpm) ll\nr2 = r10\nr2 += -16\n${buf().replace('r2 = r10\nr2 += -8', 'r3 = r10\nr3 += -8')}\nr4 = 0\ncall bpf_map_update_elem\nr1 = map_fd(lpm) ll\nr2 = r10\nr2 += -16\ncall bpf_map_lookup_elem\nif r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 0)\nr1 = map_fd(lpm) ll\nr2 = r10\nr2 += -16\ncall bpf_map_delete_elem`],
  ['LPM trie lookup used without a NULL check', `*(u64 *)(r10 - 16) = 0\nr1 = map_fd(lpm) ll\nr2 = r10\nr2 += -16\ncall bpf_map_lookup_elem\nr0 = *(u64 *)(r0 + 0)`],
  ['LPM trie key of 4 bytes on the stack (key_size is 8)', `*(u32 *)(r10 - 4) = 0\nr1 = map_fd(lpm) ll\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem`],
  ['array of maps: the map a lookup returns goes to helpers, after a NULL check', `${outer('aom')}\nif r0 == 0 goto out\nr1 = r0\n*(u32 *)(r10 - 4) = 1\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem\nif r0 == 0 goto out\nr1 = *(u64 *)(r0 + 0)\nr1 += 1\n*(u64 *)(r0 + 0) = r1`],
  ['array of maps: the inner map used without a NULL check', `${outer('aom')}\nr1 = r0\n*(u32 *)(r10 - 4) = 1\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem`],
  ['array of maps: an inner array lookup with a constant key used without a NULL check', `${outer('aom')}\nif r0 == 0 goto out\nr1 = r0\n*(u32 *)(r10 - 4) = 1\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem\nr0 = *(u64 *)(r0 + 0)`],
  ['BPF_F_INNER_MAP: the same, when inner arrays may differ in size', `${outer('aom_inner_map')}\nif r0 == 0 goto out\nr1 = r0\n*(u32 *)(r10 - 4) = 1\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem\nr0 = *(u64 *)(r0 + 0)`],
  ['array of maps: reading past the inner value', `${outer('aom')}\nif r0 == 0 goto out\nr1 = r0\n*(u32 *)(r10 - 4) = 1\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem\nif r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 8)`],
  ['array of maps: update of the inner map', `${outer('aom')}\nif r0 == 0 goto out\nr1 = r0\n*(u32 *)(r10 - 4) = 1\n*(u64 *)(r10 - 24) = 7\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -24\nr4 = 0\ncall bpf_map_update_elem`],
  ['array of maps: update of the outer map from a program', `*(u32 *)(r10 - 4) = 0\nr1 = map_fd(aom) ll\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -4\nr4 = 0\ncall bpf_map_update_elem`],
  ['array of maps: delete in the outer map from a program', `*(u32 *)(r10 - 4) = 0\nr1 = map_fd(aom) ll\nr2 = r10\nr2 += -4\ncall bpf_map_delete_elem`],
  ['array of maps: the inner map pointer dereferenced as memory', `${outer('aom')}\nif r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 0)`],
  ['hash of maps: lookup in the inner hash map, checked', `${outer('hom')}\nif r0 == 0 goto out\nr1 = r0\n*(u32 *)(r10 - 4) = 1\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem\nif r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 0)`],
  ['hash of maps: the inner hash lookup used without a NULL check', `${outer('hom')}\nif r0 == 0 goto out\nr1 = r0\n*(u32 *)(r10 - 4) = 1\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem\nr0 = *(u64 *)(r0 + 0)`],
  ['array of queues: push and pop on the inner queue', `${outer('aom_queue')}\nif r0 == 0 goto out\nr6 = r0\nr1 = r6\n${buf()}\nr3 = 0\ncall bpf_map_push_elem\nr1 = r6\nr2 = r10\nr2 += -8\ncall bpf_map_pop_elem`],
  ['array of queues: lookup in the inner queue', `${outer('aom_queue')}\nif r0 == 0 goto out\nr1 = r0\n${buf()}\ncall bpf_map_lookup_elem`],
  ['array of bloom filters: peek of the inner filter (initialised, then not)', `${outer('aom_bloom')}\nif r0 == 0 goto out\nr6 = r0\nr1 = r6\n${buf()}\ncall bpf_map_peek_elem\nr1 = r6\nr2 = r10\nr2 += -32\ncall bpf_map_peek_elem`],
  ['hash of LPM tries: lookup in the inner trie', `${outer('hom_lpm')}\nif r0 == 0 goto out\nr1 = r0\n*(u64 *)(r10 - 32) = 32\nr2 = r10\nr2 += -32\ncall bpf_map_lookup_elem\nif r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 0)`],
  ['push with flags from a register', `r1 = map_fd(queue) ll\n${buf()}\ncall bpf_get_prandom_u32\nr3 = r0\nr1 = map_fd(queue) ll\nr2 = r10\nr2 += -8\ncall bpf_map_push_elem`],
];

describe.skipIf(!kernel.ok)('map helpers: our verdicts are the kernel\'s', () => {
  const backend = new KernelBackend();
  afterAll(() => backend.close());
  let maps: Map<string, { map: KernelMap; facts: VerifierMap }> | undefined;
  const getMaps = () => (maps ??= new Map(Object.entries(MAPS).map(([name, spec]) => {
    const map = backend.createMap(spec);
    const inner = spec.innerMap;
    const facts: VerifierMap = {
      fd: map.fd, name, type: spec.type, keySize: spec.keySize, valueSize: spec.valueSize, maxEntries: spec.maxEntries,
      ...(spec.flags ? { flags: spec.flags } : {}),
      ...(inner ? { inner: { type: inner.type, keySize: inner.keySize, valueSize: inner.valueSize, maxEntries: inner.maxEntries, ...(inner.flags ? { flags: inner.flags } : {}) } } : {}),
    };
    return [name, { map, facts }];
  })));

  it.each(CASES)('%s', (_name, body) => {
    const all = getMaps();
    const text = `${body.replace(/map_fd\((\w+)\)/g, (_m, n: string) => `map_fd(${all.get(n)!.map.fd})`)}\nout:\nr0 = 0\nexit`;
    const insns = assembleLlvm(text).insns;
    const ours = verify(insns, { progType: ProgType.SocketFilter, maps: [...all.values()].map((m) => m.facts), logLevel: 1 });
    let theirs: string;
    try {
      backend.load({ insns, progType: ProgType.SocketFilter }).close();
      theirs = 'accept';
    } catch (e) {
      if (!(e instanceof VerifierError)) throw e;
      theirs = `reject: ${e.message.replace(/^\S+ program rejected: /, '')}`;
    }
    expect(ours.ok ? 'accept' : `reject: ${ours.error?.message}`).toBe(theirs);
  });
});
