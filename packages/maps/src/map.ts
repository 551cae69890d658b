import { Errno, MapError, MapFlags, MapType, UpdateFlags, mapTypeName, type MapSpec } from '@tsbpf/core';
import type { AddressSpace } from './address-space.js';

/** Kernel limits the maps check, as the kernel does when a map is created. */
export const Limits = {
  /** `MAX_BPF_STACK`: keys live on the stack of programs. */
  MAX_KEY_SIZE: 512,
  /** `KMALLOC_MAX_SIZE`-like bound of one value. */
  MAX_VALUE_SIZE: 1 << 22,
  /** `LPM_DATA_SIZE_MAX`: bytes of an LPM trie key after its `u32 prefixlen`. */
  LPM_MAX_DATA_SIZE: 256,
  /** `LPM_VAL_SIZE_MAX`: `KMALLOC_MAX_SIZE - LPM_DATA_SIZE_MAX - sizeof(struct lpm_trie_node)`. */
  LPM_MAX_VALUE_SIZE: (1 << 22) - 256 - 40,
} as const;

/** Number of simulated CPUs per-CPU maps keep a value for. */
export const DEFAULT_CPUS = 2;

/**
 * What every map type provides: the bytes API of libbpf (`lookup`, `update`, `delete`,
 * `nextKey`, throwing a {@link MapError} with the kernel's errno) and the guest-address API the
 * helpers use (`lookupAddr` returns a pointer into the address space, 0 when absent).
 */
export abstract class BpfMap {
  readonly spec: Readonly<MapSpec>;
  /** Descriptor programs reference the map by (`lddw rX, map_fd(fd)`), set by the registry. */
  fd = -1;
  /** Map id (`bpf_map_info.id`), set by the registry: what a map-in-map lookup from user space returns. */
  id = 0;
  /**
   * The value a program holds for this map, set by the registry (the runtime's `struct bpf_map`
   * stand-in that `lddw map_fd` loads): what a map-in-map lookup from a program returns. 0 for none.
   */
  ptr = 0;
  /** Outer maps holding this map (the kernel's reference from `bpf_map_fd_get_ptr`). */
  private holders = 0;
  /** Runs when the last outer map lets go of this map (the registry defers closing a held map to it). */
  onReleased?: () => void;

  constructor(readonly space: AddressSpace, spec: MapSpec) {
    this.spec = { flags: 0, ...spec };
  }

  get name(): string {
    return this.spec.name ?? mapTypeName(this.spec.type) ?? 'map';
  }

  protected checkKey(key: Uint8Array | undefined): void {
    if (key !== undefined && key.length !== this.spec.keySize) {
      throw new MapError(Errno.EINVAL, `key is ${key.length} bytes, the map's key_size is ${this.spec.keySize}`);
    }
  }

  protected checkValue(value: Uint8Array, expected = this.spec.valueSize): void {
    if (value.length !== expected) throw new MapError(Errno.EINVAL, `value is ${value.length} bytes, the map takes ${expected}`);
  }

  protected checkFlags(flags: number): void {
    if ((flags & ~UpdateFlags.BPF_F_LOCK) > UpdateFlags.BPF_EXIST) throw new MapError(Errno.EINVAL, `update flags 0x${flags.toString(16)} are not BPF_ANY, BPF_NOEXIST or BPF_EXIST`);
    // No value of ours holds a bpf_spin_lock yet (that needs BTF), so BPF_F_LOCK is refused as the kernel does.
    if (flags & UpdateFlags.BPF_F_LOCK) throw new MapError(Errno.EINVAL, 'BPF_F_LOCK needs a value with a struct bpf_spin_lock');
  }

  /** An outer map stored this map in a slot: it stays alive until {@link release}d. */
  hold(): void {
    this.holders++;
  }

  /** An outer map's slot let go of this map. */
  release(): void {
    if (this.holders > 0 && --this.holders === 0) this.onReleased?.();
  }

  /** Whether an outer map holds this map. */
  get held(): boolean {
    return this.holders > 0;
  }

  /** The flags `BPF_MAP_LOOKUP_AND_DELETE_ELEM` takes: only `BPF_F_LOCK`, refused without a spin lock. */
  protected checkLookupFlags(flags: number): void {
    if (flags & ~UpdateFlags.BPF_F_LOCK) throw new MapError(Errno.EINVAL, `lookup flags 0x${flags.toString(16)} are not BPF_F_LOCK`);
    if (flags & UpdateFlags.BPF_F_LOCK) throw new MapError(Errno.EINVAL, 'BPF_F_LOCK needs a value with a struct bpf_spin_lock');
  }

  /** The value for `key` (a copy), or `undefined`. */
  abstract lookup(key: Uint8Array): Uint8Array | undefined;
  /** Guest address of the value for the key at guest address `keyAddr`, or 0 (`bpf_map_lookup_elem`). */
  abstract lookupAddr(keyAddr: number, cpu?: number): number;
  abstract update(key: Uint8Array, value: Uint8Array, flags?: number): void;

  /**
   * An update from a program (`bpf_map_update_elem`): `value` is one value; per-CPU maps write it
   * to `cpu` only (a new element's other CPUs start zeroed, as in the kernel).
   */
  updateFromProgram(key: Uint8Array, value: Uint8Array, flags: number, cpu: number): void {
    void cpu;
    this.update(key, value, flags);
  }
  abstract delete(key: Uint8Array): void;
  abstract nextKey(key?: Uint8Array): Uint8Array | undefined;

  /**
   * `BPF_MAP_LOOKUP_AND_DELETE_ELEM` (libbpf's `bpf_map_lookup_and_delete_elem`): the value for
   * `key`, removed from the map; `undefined` when there is none (`ENOENT`). Queue and stack maps pop
   * (`key` is empty), hash maps delete the key; other types refuse it with `ENOTSUPP`, as the kernel does.
   */
  lookupAndDelete(key: Uint8Array, flags = 0): Uint8Array | undefined {
    this.checkKey(key);
    this.checkLookupFlags(flags);
    throw new MapError(Errno.ENOTSUPP, `${this.name}: lookup-and-delete is not supported by this map type (ENOTSUPP)`);
  }

  /**
   * `bpf_map_push_elem` (and the update of queue, stack and bloom filter maps): adds `value`.
   * Maps without it refuse with `EINVAL` (the verifier never lets a program call it on them).
   */
  pushElem(value: Uint8Array, flags: number): void {
    void value;
    void flags;
    throw new MapError(Errno.EINVAL, `${this.name}: push is only for queue, stack and bloom filter maps`);
  }

  /** `bpf_map_pop_elem`: takes the next value into `out` (zeroed and `ENOENT` when there is none). */
  popElem(out: Uint8Array): void {
    void out;
    throw new MapError(Errno.EINVAL, `${this.name}: pop is only for queue and stack maps`);
  }

  /**
   * `bpf_map_peek_elem`: queue and stack maps copy the next value into `buf` (zeroed and `ENOENT`
   * when there is none); a bloom filter tests the value in `buf` (`ENOENT`: certainly absent).
   */
  peekElem(buf: Uint8Array): void {
    void buf;
    throw new MapError(Errno.EINVAL, `${this.name}: peek is only for queue, stack and bloom filter maps`);
  }

  /** Every key, in iteration order. */
  *keys(): Generator<Uint8Array> {
    let k = this.nextKey();
    while (k) {
      yield k;
      k = this.nextKey(k);
    }
  }

  /**
   * `BPF_MAP_LOOKUP_BATCH` (and `..._AND_DELETE_BATCH` with `delete`): up to `count` entries from
   * `cursor` (an opaque position, the key to start at); `cursor` is undefined once done.
   */
  lookupBatch(count: number, cursor?: Uint8Array, opts: { delete?: boolean } = {}): { keys: Uint8Array[]; values: Uint8Array[]; cursor?: Uint8Array } {
    if (!Number.isInteger(count) || count <= 0) throw new MapError(Errno.EINVAL, `batch count ${count} must be positive`);
    const keys: Uint8Array[] = [];
    const values: Uint8Array[] = [];
    let k: Uint8Array | undefined = cursor ?? this.nextKey();
    while (k && keys.length < count) {
      const v = this.lookup(k);
      const next = this.nextKey(k);
      if (v) {
        keys.push(k);
        values.push(v);
        if (opts.delete) this.delete(k);
      }
      k = next;
    }
    return { keys, values, cursor: k };
  }

  /** `BPF_MAP_DELETE_BATCH`: deletes the keys, stopping at the first error (as the kernel does); returns how many. */
  deleteBatch(keys: Uint8Array[]): number {
    let n = 0;
    for (const k of keys) {
      this.delete(k);
      n++;
    }
    return n;
  }

  /** Releases the map's memory. */
  abstract close(): void;
}

/** `BPF_F_ACCESS_MASK`: who may read and write the map. */
const ACCESS = MapFlags.BPF_F_RDONLY | MapFlags.BPF_F_WRONLY | MapFlags.BPF_F_RDONLY_PROG | MapFlags.BPF_F_WRONLY_PROG;

/** The `map_flags` each of these types accepts (the `*_CREATE_FLAG_MASK`s of the kernel). */
const FLAG_MASKS: Partial<Record<MapType, number>> = {
  [MapType.Queue]: MapFlags.BPF_F_NUMA_NODE | ACCESS,
  [MapType.Stack]: MapFlags.BPF_F_NUMA_NODE | ACCESS,
  [MapType.BloomFilter]: MapFlags.BPF_F_NUMA_NODE | MapFlags.BPF_F_ZERO_SEED | ACCESS,
  [MapType.LpmTrie]: MapFlags.BPF_F_NO_PREALLOC | MapFlags.BPF_F_NUMA_NODE | ACCESS,
  // fd_array_map_alloc_check: no read-only/write-only for programs
  [MapType.ArrayOfMaps]: MapFlags.BPF_F_NUMA_NODE | MapFlags.BPF_F_RDONLY | MapFlags.BPF_F_WRONLY,
  [MapType.HashOfMaps]: MapFlags.BPF_F_NO_PREALLOC | MapFlags.BPF_F_NUMA_NODE | MapFlags.BPF_F_ZERO_SEED | ACCESS,
};

/** What {@link validateSpec} checks besides the spec. */
export interface SpecExtras {
  /** `map_extra` of `BPF_MAP_CREATE` (the bloom filter's number of hash functions). */
  mapExtra?: number | bigint;
}

/** Validates a spec as `BPF_MAP_CREATE` does, throwing the kernel's errno. */
export function validateSpec(spec: MapSpec, extras: SpecExtras = {}): void {
  const { type, keySize, valueSize, maxEntries } = spec;
  const flags = spec.flags ?? 0;
  const bad = (msg: string, errno: number = Errno.EINVAL): never => {
    throw new MapError(errno, `${mapTypeName(type) ?? `map type ${type}`}: ${msg}`);
  };
  for (const [n, v] of Object.entries({ keySize, valueSize, maxEntries })) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) bad(`${n} ${v} is not a u32`);
  }
  const extra = BigInt(extras.mapExtra ?? 0);
  if (extra !== 0n && type !== MapType.BloomFilter) bad(`map_extra ${extra} is only for bloom filters`);
  if (maxEntries === 0) bad('max_entries must be positive');
  const mask = FLAG_MASKS[type];
  if (mask !== undefined) {
    if (flags & ~mask) bad(`map_flags 0x${flags.toString(16)} has flags this type does not take (0x${(flags & ~mask).toString(16)})`);
    // bpf_map_flags_access_ok: not both read-only and write-only, for user space or for programs
    const both = (a: number, b: number) => (flags & a) !== 0 && (flags & b) !== 0;
    if (both(MapFlags.BPF_F_RDONLY, MapFlags.BPF_F_WRONLY) || both(MapFlags.BPF_F_RDONLY_PROG, MapFlags.BPF_F_WRONLY_PROG)) bad('map_flags make the map both read-only and write-only');
  }
  switch (type) {
    case MapType.Array:
    case MapType.PercpuArray:
      if (keySize !== 4) bad(`key_size must be 4, not ${keySize}`);
      if (valueSize === 0) bad('value_size must be positive');
      if (valueSize > Limits.MAX_VALUE_SIZE) bad(`value_size ${valueSize} is too large`, Errno.E2BIG);
      break;
    case MapType.Hash:
    case MapType.PercpuHash:
    case MapType.LruHash:
    case MapType.LruPercpuHash:
      if (keySize === 0 || valueSize === 0) bad('key_size and value_size must be positive');
      if (keySize > Limits.MAX_KEY_SIZE) bad(`key_size ${keySize} is larger than ${Limits.MAX_KEY_SIZE}`, Errno.E2BIG);
      if (valueSize > Limits.MAX_VALUE_SIZE) bad(`value_size ${valueSize} is too large`, Errno.E2BIG);
      break;
    case MapType.Ringbuf:
      if (keySize !== 0 || valueSize !== 0) bad('key_size and value_size must be 0');
      if (maxEntries & (maxEntries - 1) || maxEntries % 4096) bad(`max_entries ${maxEntries} must be a power of 2 multiple of the page size`);
      break;
    case MapType.PerfEventArray:
    case MapType.ProgArray:
      if (keySize !== 4 || valueSize !== 4) bad('key_size and value_size must be 4');
      break;
    case MapType.Queue:
    case MapType.Stack:
      if (keySize !== 0) bad(`key_size must be 0 (the map has no keys), not ${keySize}`);
      if (valueSize === 0) bad('value_size must be positive');
      if (valueSize > Limits.MAX_VALUE_SIZE) bad(`value_size ${valueSize} is too large`, Errno.E2BIG);
      break;
    case MapType.BloomFilter:
      // bloom_map_alloc_check runs first: a value too large is E2BIG whatever else is wrong
      if (valueSize > Limits.MAX_VALUE_SIZE) bad(`value_size ${valueSize} is too large`, Errno.E2BIG);
      if (keySize !== 0) bad(`key_size must be 0 (the map has no keys), not ${keySize}`);
      if (valueSize === 0) bad('value_size must be positive');
      if (extra & ~0xfn) bad(`map_extra ${extra}: only its low 4 bits (the number of hash functions) may be set`);
      break;
    case MapType.LpmTrie:
      if (!(flags & MapFlags.BPF_F_NO_PREALLOC)) bad('an LPM trie needs BPF_F_NO_PREALLOC in map_flags');
      if (keySize < 5 || keySize > 4 + Limits.LPM_MAX_DATA_SIZE) bad(`key_size ${keySize} must be 4 (prefixlen) + 1..${Limits.LPM_MAX_DATA_SIZE} bytes of data`);
      if (valueSize === 0 || valueSize > Limits.LPM_MAX_VALUE_SIZE) bad(`value_size ${valueSize} must be 1..${Limits.LPM_MAX_VALUE_SIZE}`);
      break;
    case MapType.ArrayOfMaps:
    case MapType.HashOfMaps: {
      if (type === MapType.ArrayOfMaps && keySize !== 4) bad(`key_size must be 4, not ${keySize}`);
      if (type === MapType.HashOfMaps && (keySize === 0 || keySize > Limits.MAX_KEY_SIZE)) bad(`key_size ${keySize} must be 1..${Limits.MAX_KEY_SIZE}`);
      if (valueSize !== 4) bad(`value_size must be 4 (a map descriptor), not ${valueSize}`);
      const inner = spec.innerMap ?? bad('a map of maps needs its inner map (MapSpec.innerMap, the kernel\'s inner_map_fd)');
      if (inner.type === MapType.ArrayOfMaps || inner.type === MapType.HashOfMaps) bad('the inner map may not itself hold maps');
      if (inner.type === MapType.ProgArray) bad('a prog array cannot be an inner map', Errno.ENOTSUPP);
      validateSpec(inner);
      break;
    }
    default:
      bad(`map type ${type} is not supported by the user-space runtime`);
  }
  if (flags & ~0x7ffff) bad(`unknown map flags 0x${flags.toString(16)}`);
}
