import { Errno, MapError, UpdateFlags, type MapSpec } from '@tsbpf/core';
import type { AddressSpace } from './address-space.js';
import { BpfMap } from './map.js';

/**
 * `BPF_MAP_TYPE_QUEUE` (FIFO) and, with `lifo`, `BPF_MAP_TYPE_STACK`: keyless maps of up to
 * `max_entries` values, as kernel/bpf/queue_stack_maps.c keeps them: a ring of `max_entries + 1`
 * value slots with a head (next write) and a tail (oldest value).
 *
 * - push (`bpf_map_push_elem`, and `update` from user space with an empty key): `BPF_ANY` fails with
 *   `E2BIG` when full, `BPF_EXIST` then overwrites the oldest value; `BPF_NOEXIST` and other flags
 *   are `EINVAL`.
 * - peek (`bpf_map_peek_elem`, `lookup`) and pop (`bpf_map_pop_elem`, `lookupAndDelete`): the oldest
 *   value of a queue, the newest of a stack; `ENOENT` (and a zeroed buffer) when empty.
 * - `delete` and `nextKey` are `EINVAL`; batches are `ENOTSUPP`, as in the kernel.
 *
 * Programs never get a pointer into the values (pop and peek copy them out), so they live in
 * JavaScript memory, not in the address space.
 *
 * @example
 * ```ts
 * const q = createMap({ type: 'BPF_MAP_TYPE_QUEUE', keySize: 0, valueSize: 4, maxEntries: 8 }) as QueueStackMap;
 * q.push(Uint8Array.of(1, 0, 0, 0));
 * q.pop();   // Uint8Array [1, 0, 0, 0]
 * q.pop();   // undefined (ENOENT)
 * ```
 */
export class QueueStackMap extends BpfMap {
  /** `max_entries + 1` slots: one always stays free, so head === tail means empty. */
  private readonly slots: number;
  private readonly ring: Uint8Array;
  private head = 0;
  private tail = 0;

  constructor(space: AddressSpace, spec: MapSpec, readonly lifo: boolean) {
    super(space, spec);
    this.slots = spec.maxEntries + 1;
    this.ring = new Uint8Array(this.slots * spec.valueSize);
  }

  /** Number of values held. */
  get count(): number {
    return (this.head - this.tail + this.slots) % this.slots;
  }

  private get full(): boolean {
    return (this.head + 1) % this.slots === this.tail;
  }

  /** Adds `value`; see the class comment for the flags. @throws MapError `E2BIG`, `EINVAL` */
  push(value: Uint8Array, flags: number = UpdateFlags.BPF_ANY): void {
    this.checkValue(value);
    if (flags & UpdateFlags.BPF_NOEXIST || flags > UpdateFlags.BPF_EXIST) throw new MapError(Errno.EINVAL, `push flags 0x${flags.toString(16)}: only BPF_ANY or BPF_EXIST`);
    if (this.full) {
      if (!(flags & UpdateFlags.BPF_EXIST)) throw new MapError(Errno.E2BIG, `the ${this.lifo ? 'stack' : 'queue'} is full (max_entries ${this.spec.maxEntries}); BPF_EXIST overwrites the oldest value`);
      this.tail = (this.tail + 1) % this.slots;
    }
    this.ring.set(value, this.head * this.spec.valueSize);
    this.head = (this.head + 1) % this.slots;
  }

  /** The next value (a copy), removed when `remove`; `undefined` when empty. */
  private take(remove: boolean): Uint8Array | undefined {
    if (this.head === this.tail) return undefined;
    const vs = this.spec.valueSize;
    const at = this.lifo ? (this.head - 1 + this.slots) % this.slots : this.tail;
    const out = this.ring.slice(at * vs, (at + 1) * vs);
    if (remove) {
      if (this.lifo) this.head = at;
      else this.tail = (this.tail + 1) % this.slots;
    }
    return out;
  }

  /** Removes and returns the next value (oldest of a queue, newest of a stack), or `undefined`. */
  pop(): Uint8Array | undefined {
    return this.take(true);
  }

  /** The next value without removing it, or `undefined`. */
  peek(): Uint8Array | undefined {
    return this.take(false);
  }

  /** `BPF_MAP_LOOKUP_ELEM` with an empty key: peek. */
  lookup(key?: Uint8Array): Uint8Array | undefined {
    this.checkKey(key);
    return this.take(false);
  }

  lookupAddr(_keyAddr?: number): number {
    return 0; // the kernel's queue_stack_map_lookup_elem: NULL (programs peek instead)
  }

  /** `BPF_MAP_UPDATE_ELEM` with an empty key: push. */
  update(key: Uint8Array | undefined, value: Uint8Array, flags: number = UpdateFlags.BPF_ANY): void {
    this.checkKey(key);
    if (flags & UpdateFlags.BPF_F_LOCK) throw new MapError(Errno.EINVAL, 'BPF_F_LOCK needs a value with a struct bpf_spin_lock');
    this.push(value, flags);
  }

  /** `BPF_MAP_LOOKUP_AND_DELETE_ELEM` with an empty key: pop (flags must be 0). */
  override lookupAndDelete(key: Uint8Array | undefined, flags = 0): Uint8Array | undefined {
    this.checkLookupFlags(flags);
    this.checkKey(key);
    return this.take(true);
  }

  override pushElem(value: Uint8Array, flags: number): void {
    this.push(value, flags);
  }

  override popElem(out: Uint8Array): void {
    this.takeInto(out, true);
  }

  override peekElem(buf: Uint8Array): void {
    this.takeInto(buf, false);
  }

  private takeInto(out: Uint8Array, remove: boolean): void {
    const v = this.take(remove);
    if (!v) {
      out.fill(0);
      throw new MapError(Errno.ENOENT, `the ${this.lifo ? 'stack' : 'queue'} is empty`);
    }
    out.set(v);
  }

  delete(_key?: Uint8Array): void {
    throw new MapError(Errno.EINVAL, `${this.lifo ? 'stack' : 'queue'} maps have no keys to delete (pop instead)`);
  }

  nextKey(_key?: Uint8Array): Uint8Array | undefined {
    throw new MapError(Errno.EINVAL, `${this.lifo ? 'stack' : 'queue'} maps have no keys to iterate`);
  }

  override lookupBatch(_count?: number): never {
    throw new MapError(Errno.ENOTSUPP, `${this.lifo ? 'stack' : 'queue'} maps have no batch operations (ENOTSUPP)`);
  }

  override deleteBatch(_keys?: Uint8Array[]): never {
    throw new MapError(Errno.ENOTSUPP, `${this.lifo ? 'stack' : 'queue'} maps have no batch operations (ENOTSUPP)`);
  }

  close(): void {}
}
