import { Errno, MapError, MapFlags, MapType, UpdateFlags, type MapSpec } from '@tsbpf/core';
import type { AddressSpace } from './address-space.js';
import { arrayNextKey } from './array.js';
import { HashMap } from './hash.js';
import { BpfMap } from './map.js';

/** Resolves a map descriptor written into a map of maps to the map (the runtime's registry), or undefined for a bad fd. */
export type MapResolver = (fd: number) => BpfMap | undefined;

/**
 * Whether a map of shape `m` may go into an outer map whose inner template is `template`: the
 * kernel's `map_meta_equal` (same type, key size, value size and flags; arrays also the same
 * `max_entries`, unless the template has `BPF_F_INNER_MAP`).
 */
export function innerMapMatches(template: MapSpec, m: MapSpec): boolean {
  const flags = template.flags ?? 0;
  if (m.type !== template.type || m.keySize !== template.keySize || m.valueSize !== template.valueSize || (m.flags ?? 0) !== flags) return false;
  const array = template.type === MapType.Array || template.type === MapType.PercpuArray;
  return !array || (flags & MapFlags.BPF_F_INNER_MAP) !== 0 || m.maxEntries === template.maxEntries;
}

const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
const readU32 = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);

/** The inner map a descriptor names, checked against the outer map's template. */
function resolveInner(outer: BpfMap, resolve: MapResolver, value: Uint8Array): BpfMap {
  const fd = readU32(value);
  const inner = resolve(fd);
  if (!inner) throw new MapError(Errno.EBADF, `descriptor ${fd} is not a map`);
  const template = outer.spec.innerMap!;
  if (!innerMapMatches(template, inner.spec)) {
    const s = (x: MapSpec) => `type ${x.type}, key ${x.keySize}, value ${x.valueSize}, max_entries ${x.maxEntries}, flags 0x${(x.flags ?? 0).toString(16)}`;
    throw new MapError(Errno.EINVAL, `map ${inner.name} (${s(inner.spec)}) does not match ${outer.name}'s inner map (${s(template)})`);
  }
  return inner;
}

/**
 * `BPF_MAP_TYPE_ARRAY_OF_MAPS`: `max_entries` slots, each empty or holding a map shaped like the
 * template `spec.innerMap`. As in the kernel: user space writes a map's descriptor (`BPF_ANY`
 * only, `E2BIG` past the end, `EBADF` for a descriptor that is no map, `EINVAL` for a map that does
 * not match the template) and reads back the map's id; a program's `bpf_map_lookup_elem` gets the
 * map itself (its {@link BpfMap.ptr}), which it passes to helpers as their map argument.
 */
export class ArrayOfMapsMap extends BpfMap {
  private readonly slots: (BpfMap | undefined)[];

  constructor(space: AddressSpace, spec: MapSpec, private readonly resolve: MapResolver = () => undefined) {
    super(space, spec);
    this.slots = new Array(spec.maxEntries);
  }

  private index(key: Uint8Array): number {
    this.checkKey(key);
    return readU32(key);
  }

  /** The map in slot `index`, if any. */
  innerAt(index: number): BpfMap | undefined {
    return index < this.spec.maxEntries ? this.slots[index] : undefined;
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    const inner = this.innerAt(this.index(key));
    return inner ? u32(inner.id) : undefined;
  }

  lookupAddr(keyAddr: number): number {
    return this.innerAt(this.space.view.getUint32(keyAddr, true))?.ptr ?? 0;
  }

  update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlags.BPF_ANY): void {
    const i = this.index(key);
    this.checkValue(value);
    if (flags !== UpdateFlags.BPF_ANY) throw new MapError(Errno.EINVAL, 'an array of maps takes only BPF_ANY');
    if (i >= this.spec.maxEntries) throw new MapError(Errno.E2BIG, `index ${i} is out of range (max_entries ${this.spec.maxEntries})`);
    const inner = resolveInner(this, this.resolve, value);
    inner.hold();
    this.slots[i]?.release();
    this.slots[i] = inner;
  }

  override updateFromProgram(_key?: Uint8Array): void {
    throw new MapError(Errno.EINVAL, 'programs cannot update a map of maps');
  }

  delete(key: Uint8Array): void {
    const i = this.index(key);
    if (i >= this.spec.maxEntries) throw new MapError(Errno.E2BIG, `index ${i} is out of range (max_entries ${this.spec.maxEntries})`);
    const inner = this.slots[i];
    if (!inner) throw new MapError(Errno.ENOENT, `slot ${i} is empty`);
    this.slots[i] = undefined;
    inner.release();
  }

  nextKey(key?: Uint8Array): Uint8Array | undefined {
    return arrayNextKey(key === undefined ? undefined : this.index(key), this.spec.maxEntries);
  }

  close(): void {
    for (let i = 0; i < this.slots.length; i++) {
      const inner = this.slots[i];
      this.slots[i] = undefined;
      inner?.release();
    }
  }
}

/**
 * `BPF_MAP_TYPE_HASH_OF_MAPS`: a hash map (same key semantics, flags and `E2BIG` when full) whose
 * values are maps shaped like the template `spec.innerMap`: user space writes a map's descriptor
 * and reads back its id, a program's lookup gets the map itself (its {@link BpfMap.ptr}).
 * Lookup-and-delete is `ENOTSUPP`, as in the kernel.
 */
export class HashOfMapsMap extends HashMap {
  /** The maps held, by id, with the number of keys holding each. */
  private readonly inners = new Map<number, { map: BpfMap; keys: number }>();

  constructor(space: AddressSpace, spec: MapSpec, private readonly resolve: MapResolver = () => undefined) {
    super(space, spec);
  }

  /** The map stored under `key`, if any. */
  innerOf(key: Uint8Array): BpfMap | undefined {
    const id = super.lookup(key);
    return id ? this.inners.get(readU32(id))?.map : undefined;
  }

  override lookupAddr(keyAddr: number): number {
    const at = super.lookupAddr(keyAddr);
    return at ? (this.inners.get(this.space.view.getUint32(at, true))?.map.ptr ?? 0) : 0;
  }

  override update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlags.BPF_ANY): void {
    this.checkKey(key);
    this.checkValue(value);
    // bpf_fd_htab_map_update_elem: the descriptor is resolved before the hash table is touched
    const inner = resolveInner(this, this.resolve, value);
    const old = super.lookup(key);
    super.update(key, u32(inner.id), flags);
    const held = this.inners.get(inner.id);
    if (held) held.keys++;
    else this.inners.set(inner.id, { map: inner, keys: 1 });
    inner.hold();
    if (old) this.drop(readU32(old));
  }

  override updateFromProgram(_key?: Uint8Array): void {
    throw new MapError(Errno.EINVAL, 'programs cannot update a map of maps');
  }

  private drop(id: number): void {
    const held = this.inners.get(id);
    if (!held) return;
    if (--held.keys === 0) this.inners.delete(id);
    held.map.release();
  }

  override delete(key: Uint8Array): void {
    const old = super.lookup(key);
    super.delete(key);
    if (old) this.drop(readU32(old));
  }

  override lookupAndDelete(key: Uint8Array, flags = 0): Uint8Array | undefined {
    this.checkKey(key);
    this.checkLookupFlags(flags);
    throw new MapError(Errno.ENOTSUPP, 'a hash of maps has no lookup-and-delete (ENOTSUPP)');
  }

  override close(): void {
    for (const { map, keys } of this.inners.values()) for (let i = 0; i < keys; i++) map.release();
    this.inners.clear();
    super.close();
  }
}
