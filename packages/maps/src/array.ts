import { Errno, MapError, UpdateFlags, type MapSpec } from '@tsbpf/core';
import type { AddressSpace } from './address-space.js';
import { BpfMap } from './map.js';

/**
 * `BPF_MAP_TYPE_ARRAY` (and, with `cpus` > 1, `PERCPU_ARRAY`): every index exists and starts
 * zeroed; values are stored contiguously (stride `round_up(value_size, 8)`), one block per CPU.
 */
export class ArrayMap extends BpfMap {
  readonly stride: number;
  readonly base: number;

  constructor(space: AddressSpace, spec: MapSpec, readonly cpus = 1) {
    super(space, spec);
    this.stride = Math.ceil(spec.valueSize / 8) * 8;
    this.base = space.alloc(this.stride * spec.maxEntries * cpus, `map:${this.name}`);
    // One value: strict mode refuses the stride's padding too, as the verifier does.
    if (spec.maxEntries * cpus === 1) space.window(this.base, this.base, this.base + spec.valueSize);
  }

  private index(key: Uint8Array): number {
    this.checkKey(key);
    return new DataView(key.buffer, key.byteOffset).getUint32(0, true);
  }

  /** Guest address of the value of `index` on `cpu`. */
  valueAddr(index: number, cpu = 0): number {
    return this.base + (cpu * this.spec.maxEntries + index) * this.stride;
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    const i = this.index(key);
    if (i >= this.spec.maxEntries) return undefined;
    if (this.cpus === 1) return this.space.read(this.valueAddr(i), this.spec.valueSize);
    // Per-CPU: the syscall layout, round_up(value_size, 8) bytes per CPU.
    const out = new Uint8Array(this.stride * this.cpus);
    for (let c = 0; c < this.cpus; c++) out.set(this.space.read(this.valueAddr(i, c), this.spec.valueSize), c * this.stride);
    return out;
  }

  lookupAddr(keyAddr: number, cpu = 0): number {
    const i = this.space.view.getUint32(keyAddr, true);
    return i < this.spec.maxEntries ? this.valueAddr(i, cpu) : 0;
  }

  update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlags.BPF_ANY): void {
    const i = this.index(key);
    this.checkFlags(flags);
    this.checkValue(value, this.cpus === 1 ? this.spec.valueSize : this.stride * this.cpus);
    if (i >= this.spec.maxEntries) throw new MapError(Errno.E2BIG, `index ${i} is out of range (max_entries ${this.spec.maxEntries})`);
    if (flags === UpdateFlags.BPF_NOEXIST) throw new MapError(Errno.EEXIST, `index ${i} of an array always exists`);
    if (this.cpus === 1) this.space.write(this.valueAddr(i), value);
    else for (let c = 0; c < this.cpus; c++) this.space.write(this.valueAddr(i, c), value.subarray(c * this.stride, c * this.stride + this.spec.valueSize));
  }

  override updateFromProgram(key: Uint8Array, value: Uint8Array, flags: number, cpu: number): void {
    if (this.cpus === 1) return this.update(key, value, flags);
    const i = this.index(key);
    this.checkFlags(flags);
    if (i >= this.spec.maxEntries) throw new MapError(Errno.E2BIG, `index ${i} is out of range`);
    if (flags === UpdateFlags.BPF_NOEXIST) throw new MapError(Errno.EEXIST, `index ${i} of an array always exists`);
    this.space.write(this.valueAddr(i, cpu), value.subarray(0, this.spec.valueSize));
  }

  delete(key: Uint8Array): void {
    this.index(key);
    throw new MapError(Errno.EINVAL, 'array elements cannot be deleted');
  }

  nextKey(key?: Uint8Array): Uint8Array | undefined {
    return arrayNextKey(key === undefined ? undefined : this.index(key), this.spec.maxEntries);
  }

  close(): void {
    this.space.free(this.base);
  }
}

/**
 * `get_next_key` of the array-like maps, as the kernel's `array_map_get_next_key`: no key or an
 * index out of range gives index 0, the last index gives ENOENT (`undefined`).
 */
export function arrayNextKey(index: number | undefined, maxEntries: number): Uint8Array | undefined {
  const next = index === undefined || index >= maxEntries ? 0 : index + 1;
  if (next >= maxEntries) return undefined;
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, next, true);
  return out;
}
