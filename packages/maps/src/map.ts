import { Errno, MapError, MapType, UpdateFlags, mapTypeName, type MapSpec } from '@tsbpf/core';
import type { AddressSpace } from './address-space.js';

/** Kernel limits the maps check, as the kernel does when a map is created. */
export const Limits = {
  /** `MAX_BPF_STACK`: keys live on the stack of programs. */
  MAX_KEY_SIZE: 512,
  /** `KMALLOC_MAX_SIZE`-like bound of one value. */
  MAX_VALUE_SIZE: 1 << 22,
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

/** Validates a spec as `BPF_MAP_CREATE` does, throwing the kernel's errno. */
export function validateSpec(spec: MapSpec): void {
  const { type, keySize, valueSize, maxEntries } = spec;
  const bad = (msg: string, errno: number = Errno.EINVAL): never => {
    throw new MapError(errno, `${mapTypeName(type) ?? `map type ${type}`}: ${msg}`);
  };
  for (const [n, v] of Object.entries({ keySize, valueSize, maxEntries })) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) bad(`${n} ${v} is not a u32`);
  }
  if (maxEntries === 0) bad('max_entries must be positive');
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
    default:
      bad(`map type ${type} is not supported by the user-space runtime`);
  }
  if ((spec.flags ?? 0) & ~0x7ffff) bad(`unknown map flags 0x${(spec.flags ?? 0).toString(16)}`);
}
