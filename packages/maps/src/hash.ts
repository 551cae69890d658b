import { Errno, MapError, UpdateFlags, type MapSpec } from '@tsbpf/core';
import type { AddressSpace } from './address-space.js';
import { BpfMap } from './map.js';

/**
 * The JavaScript `Map` key of a hash key: a number for keys of up to 6 bytes (exact in a double;
 * the common u32/u16 keys cost no string), a string of 16-bit units otherwise. All keys of one map
 * have the same length, so the two forms never meet.
 */
function keyString(bytes: Uint8Array, start: number, len: number): string | number {
  if (len <= 6) {
    let v = 0;
    for (let i = len - 1; i >= 0; i--) v = v * 256 + bytes[start + i];
    return v;
  }
  let s = '';
  let i = 0;
  for (; i + 1 < len; i += 2) s += String.fromCharCode(bytes[start + i] | (bytes[start + i + 1] << 8));
  if (i < len) s += String.fromCharCode(bytes[start + i]);
  return s;
}

/**
 * `BPF_MAP_TYPE_HASH` / `PERCPU_HASH`, and with `lru` the `LRU_HASH` / `LRU_PERCPU_HASH` types.
 *
 * Like the kernel's preallocated hash table, values live in `max_entries` slots allocated up front
 * in the address space, so `bpf_map_lookup_elem` returns a stable guest pointer. Differences from
 * the kernel, on purpose: iteration (`get_next_key`) follows insertion order instead of bucket
 * order (same set of keys, stable while the map is not mutated); an update of an existing key
 * rewrites its value in place where the kernel swaps in a new element. LRU: the kernel
 * approximates LRU with per-CPU free lists and active/inactive lists with reference bits; this map
 * evicts the exact least recently used key (updates and program lookups count as uses, user-space
 * lookups do not, as in the kernel), which is what the kernel does on one CPU until its lists
 * start rotating.
 */
export class HashMap extends BpfMap {
  readonly stride: number;
  readonly base: number;
  private readonly slots = new Map<string | number, number>();
  private readonly keyOf: (Uint8Array | undefined)[];
  private readonly free: number[] = [];
  // Insertion order (iteration) and recency order (LRU) as doubly linked lists of slots.
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private head = -1;
  private tail = -1;
  private readonly rNext: Int32Array;
  private readonly rPrev: Int32Array;
  private mru = -1;
  private lru = -1;

  constructor(space: AddressSpace, spec: MapSpec, readonly opts: { cpus?: number; lru?: boolean } = {}) {
    super(space, spec);
    const n = spec.maxEntries;
    this.stride = Math.ceil(spec.valueSize / 8) * 8;
    this.base = space.alloc(this.stride * this.cpus * n, `map:${this.name}`);
    // One value: strict mode refuses the stride's padding too, as the verifier does.
    if (n * this.cpus === 1) space.window(this.base, this.base, this.base + spec.valueSize);
    this.keyOf = new Array(n);
    for (let i = n - 1; i >= 0; i--) this.free.push(i);
    this.next = new Int32Array(n).fill(-1);
    this.prev = new Int32Array(n).fill(-1);
    this.rNext = new Int32Array(n).fill(-1);
    this.rPrev = new Int32Array(n).fill(-1);
  }

  get cpus(): number {
    return this.opts.cpus ?? 1;
  }

  /** Number of elements. */
  get count(): number {
    return this.slots.size;
  }

  private valueAddr(slot: number, cpu = 0): number {
    return this.base + (slot * this.cpus + cpu) * this.stride;
  }

  private touch(slot: number): void {
    if (!this.opts.lru || this.mru === slot) return;
    // unlink
    if (this.rPrev[slot] >= 0 || this.lru === slot) {
      const p = this.rPrev[slot];
      const nx = this.rNext[slot];
      if (p >= 0) this.rNext[p] = nx;
      if (nx >= 0) this.rPrev[nx] = p;
      if (this.lru === slot) this.lru = p;
    }
    this.rPrev[slot] = -1;
    this.rNext[slot] = this.mru;
    if (this.mru >= 0) this.rPrev[this.mru] = slot;
    this.mru = slot;
    if (this.lru < 0) this.lru = slot;
  }

  private unlinkRecency(slot: number): void {
    if (!this.opts.lru) return;
    const p = this.rPrev[slot];
    const nx = this.rNext[slot];
    if (p >= 0) this.rNext[p] = nx;
    else if (this.mru === slot) this.mru = nx;
    if (nx >= 0) this.rPrev[nx] = p;
    else if (this.lru === slot) this.lru = p;
    this.rPrev[slot] = this.rNext[slot] = -1;
  }

  private slotFor(key: Uint8Array): number | undefined {
    return this.slots.get(keyString(key, 0, key.length));
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    this.checkKey(key);
    const slot = this.slotFor(key);
    if (slot === undefined) return undefined;
    if (this.cpus === 1) return this.space.read(this.valueAddr(slot), this.spec.valueSize);
    const out = new Uint8Array(this.stride * this.cpus);
    for (let c = 0; c < this.cpus; c++) out.set(this.space.read(this.valueAddr(slot, c), this.spec.valueSize), c * this.stride);
    return out;
  }

  lookupAddr(keyAddr: number, cpu = 0): number {
    const slot = this.slots.get(keyString(this.space.bytes, keyAddr, this.spec.keySize));
    if (slot === undefined) return 0;
    this.touch(slot);
    return this.valueAddr(slot, cpu);
  }

  update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlags.BPF_ANY): void {
    this.checkKey(key);
    this.checkFlags(flags);
    this.checkValue(value, this.cpus === 1 ? this.spec.valueSize : this.stride * this.cpus);
    let slot = this.slotFor(key);
    if (slot !== undefined && flags === UpdateFlags.BPF_NOEXIST) throw new MapError(Errno.EEXIST, 'the key exists (BPF_NOEXIST)');
    if (slot === undefined && flags === UpdateFlags.BPF_EXIST) throw new MapError(Errno.ENOENT, 'the key does not exist (BPF_EXIST)');
    if (slot === undefined) {
      if (this.free.length === 0) {
        if (!this.opts.lru) throw new MapError(Errno.E2BIG, `the map is full (max_entries ${this.spec.maxEntries})`);
        this.deleteSlot(this.lru);
      }
      slot = this.free.pop()!;
      const copy = key.slice();
      this.slots.set(keyString(copy, 0, copy.length), slot);
      this.keyOf[slot] = copy;
      this.next[slot] = -1;
      this.prev[slot] = this.tail;
      if (this.tail >= 0) this.next[this.tail] = slot;
      else this.head = slot;
      this.tail = slot;
    }
    if (this.cpus === 1) this.space.write(this.valueAddr(slot), value);
    else for (let c = 0; c < this.cpus; c++) this.space.write(this.valueAddr(slot, c), value.subarray(c * this.stride, c * this.stride + this.spec.valueSize));
    this.touch(slot);
  }

  override updateFromProgram(key: Uint8Array, value: Uint8Array, flags: number, cpu: number): void {
    if (this.cpus === 1) return this.update(key, value, flags);
    const existing = this.slotFor(key);
    if (existing === undefined) {
      const all = new Uint8Array(this.stride * this.cpus);
      all.set(value.subarray(0, this.spec.valueSize), cpu * this.stride);
      return this.update(key, all, flags);
    }
    this.checkFlags(flags);
    if (flags === UpdateFlags.BPF_NOEXIST) throw new MapError(Errno.EEXIST, 'the key exists (BPF_NOEXIST)');
    this.space.write(this.valueAddr(existing, cpu), value.subarray(0, this.spec.valueSize));
    this.touch(existing);
  }

  /** `BPF_MAP_LOOKUP_AND_DELETE_ELEM`: the value (every CPU's, for per-CPU maps), and the key deleted. */
  override lookupAndDelete(key: Uint8Array, flags = 0): Uint8Array | undefined {
    this.checkKey(key);
    this.checkLookupFlags(flags);
    const slot = this.slotFor(key);
    if (slot === undefined) return undefined;
    const value = this.lookup(key);
    this.deleteSlot(slot);
    return value;
  }

  private deleteSlot(slot: number): void {
    const key = this.keyOf[slot]!;
    this.slots.delete(keyString(key, 0, key.length));
    this.keyOf[slot] = undefined;
    const p = this.prev[slot];
    const nx = this.next[slot];
    if (p >= 0) this.next[p] = nx;
    else this.head = nx;
    if (nx >= 0) this.prev[nx] = p;
    else this.tail = p;
    this.unlinkRecency(slot);
    this.free.push(slot);
  }

  delete(key: Uint8Array): void {
    this.checkKey(key);
    const slot = this.slotFor(key);
    if (slot === undefined) throw new MapError(Errno.ENOENT, 'no such key');
    this.deleteSlot(slot);
  }

  nextKey(key?: Uint8Array): Uint8Array | undefined {
    this.checkKey(key);
    // As in the kernel: no key, or a key that is not there, gives the first key.
    const slot = key === undefined ? undefined : this.slotFor(key);
    const next = slot === undefined ? this.head : this.next[slot];
    return next < 0 ? undefined : this.keyOf[next]!.slice();
  }

  close(): void {
    this.space.free(this.base);
  }
}
