import { Errno, MapError, MapType, mapTypeFromName, type MapSpec } from '@tsbpf/core';
import { AddressSpace } from './address-space.js';
import { ArrayMap } from './array.js';
import { BloomFilterMap } from './bloom-filter.js';
import { HashMap } from './hash.js';
import { LpmTrieMap } from './lpm-trie.js';
import { BpfMap, DEFAULT_CPUS, validateSpec } from './map.js';
import { ArrayOfMapsMap, HashOfMapsMap, type MapResolver } from './map-of-maps.js';
import { QueueStackMap } from './queue-stack.js';
import { RingBufMap } from './ringbuf.js';
import { FdArrayMap, PerfEventArrayMap, type FdResolver } from './fd-array.js';

/** Options of {@link createMap}: the spec, with the type as enum or kernel name. */
export interface CreateMapOptions extends Omit<MapSpec, 'type'> {
  type: MapType | string;
  /** The address space to allocate in (a fresh one by default). */
  space?: AddressSpace;
  /** CPUs of per-CPU maps (default 2). */
  cpus?: number;
  /** Prog arrays: resolves a program descriptor to its id (the runtime's program registry). */
  resolveFd?: FdResolver;
  /** Maps of maps: resolves a map descriptor to the map (the runtime's map registry). */
  resolveMap?: MapResolver;
  /**
   * `map_extra` of `BPF_MAP_CREATE`: for a bloom filter, the number of hash functions in the low
   * 4 bits (0: 5); any other type must leave it 0.
   */
  mapExtra?: number | bigint;
}

/**
 * Creates a map with the kernel's semantics, like libbpf's `bpf_map_create`.
 *
 * @throws MapError with the errno `BPF_MAP_CREATE` would return (`EINVAL`, `E2BIG`, `ENOMEM`).
 * @example
 * ```ts
 * const m = createMap({ type: 'BPF_MAP_TYPE_HASH', keySize: 4, valueSize: 8, maxEntries: 1024 });
 * m.update(Uint8Array.of(1, 0, 0, 0), new Uint8Array(8));
 * ```
 */
export function createMap(opts: CreateMapOptions): BpfMap {
  const type = typeof opts.type === 'string' ? mapTypeFromName(opts.type) : opts.type;
  if (type === undefined) throw new MapError(Errno.EINVAL, `unknown map type '${opts.type}'`);
  const spec: MapSpec = {
    type, keySize: opts.keySize, valueSize: opts.valueSize, maxEntries: opts.maxEntries, flags: opts.flags ?? 0, name: opts.name,
    ...(opts.innerMap && (type === MapType.ArrayOfMaps || type === MapType.HashOfMaps) ? { innerMap: { ...opts.innerMap } } : {}),
  };
  validateSpec(spec, { mapExtra: opts.mapExtra });
  const space = opts.space ?? new AddressSpace();
  const cpus = opts.cpus ?? DEFAULT_CPUS;
  try {
    switch (type) {
      case MapType.Array: return new ArrayMap(space, spec);
      case MapType.PercpuArray: return new ArrayMap(space, spec, cpus);
      case MapType.Hash: return new HashMap(space, spec);
      case MapType.PercpuHash: return new HashMap(space, spec, { cpus });
      case MapType.LruHash: return new HashMap(space, spec, { lru: true });
      case MapType.LruPercpuHash: return new HashMap(space, spec, { lru: true, cpus });
      case MapType.Ringbuf: return new RingBufMap(space, spec);
      case MapType.PerfEventArray: return new PerfEventArrayMap(space, spec);
      case MapType.ProgArray: return new FdArrayMap(space, spec, opts.resolveFd);
      case MapType.Queue: return new QueueStackMap(space, spec, false);
      case MapType.Stack: return new QueueStackMap(space, spec, true);
      case MapType.BloomFilter: return new BloomFilterMap(space, spec, { mapExtra: opts.mapExtra });
      case MapType.LpmTrie: return new LpmTrieMap(space, spec);
      case MapType.ArrayOfMaps: return new ArrayOfMapsMap(space, spec, opts.resolveMap);
      case MapType.HashOfMaps: return new HashOfMapsMap(space, spec, opts.resolveMap);
      default: throw new MapError(Errno.EINVAL, `map type ${type} is not supported`);
    }
  } catch (e) {
    if (e instanceof MapError) throw e;
    throw new MapError(Errno.ENOMEM, `cannot allocate the map: ${(e as Error).message}`, { cause: e });
  }
}
