import { Errno, MapError, MapFlags, UpdateFlags, type MapSpec } from '@tsbpf/core';
import type { AddressSpace } from './address-space.js';
import { jhash, jhash2 } from './jhash.js';
import { BpfMap } from './map.js';

/** Options of {@link BloomFilterMap}. */
export interface BloomFilterOptions {
  /** `map_extra`: its low 4 bits are the number of hash functions (0: the default 5). */
  mapExtra?: number | bigint;
  /** The hash seed when the map has no `BPF_F_ZERO_SEED` (default: random, as the kernel's). */
  seed?: number;
}

/**
 * `BPF_MAP_TYPE_BLOOM_FILTER`, as kernel/bpf/bloom_filter.c builds it: a bit array of
 * `max_entries * hashes * 7 / 5` bits rounded up to a power of two (at least 64), and `hashes`
 * jhash functions (`jhash2` over u32 words when `value_size` is a multiple of 4), each seeded with
 * `seed + i`; the seed is 0 with `BPF_F_ZERO_SEED`, so such a filter sets exactly the kernel's
 * bits. A value pushed is always found again (no false negatives); one never pushed is found
 * with the probability of a bloom filter of that size.
 *
 * - push (`bpf_map_push_elem`; `update` from user space with an empty key): `BPF_ANY` only.
 * - peek (`bpf_map_peek_elem`): `0` when the value may be present, `-ENOENT` when it is not; from
 *   user space, `lookup(key, value)` tests `value` as the kernel's `BPF_MAP_LOOKUP_ELEM` does.
 * - pop, `delete` and `nextKey` are `EOPNOTSUPP`; lookup-and-delete and batches are `ENOTSUPP`.
 *
 * @example
 * ```ts
 * const f = createMap({ type: 'BPF_MAP_TYPE_BLOOM_FILTER', keySize: 0, valueSize: 4, maxEntries: 100 }) as BloomFilterMap;
 * f.add(Uint8Array.of(42, 0, 0, 0));
 * f.has(Uint8Array.of(42, 0, 0, 0));   // true
 * ```
 */
export class BloomFilterMap extends BpfMap {
  /** Number of hash functions. */
  readonly hashes: number;
  /** Seed of hash function 0 (function i uses `seed + i`). */
  readonly seed: number;
  /** Bits in the filter minus one (a power of two minus one). */
  readonly mask: number;
  private readonly bits: Uint32Array;
  /** `value_size / 4` when it is a multiple of 4 (then `jhash2`), else 0 (then `jhash`). */
  private readonly words: number;

  constructor(space: AddressSpace, spec: MapSpec, opts: BloomFilterOptions = {}) {
    super(space, spec);
    this.hashes = Number(BigInt(opts.mapExtra ?? 0) & 0xfn) || 5;
    this.seed = (spec.flags ?? 0) & MapFlags.BPF_F_ZERO_SEED ? 0 : (opts.seed ?? Math.floor(Math.random() * 0x100000000)) >>> 0;
    // n * k / ln(2) bits, with 7 / 5 for 1 / ln(2), as the kernel computes it in u32 (overflow: 2^32 bits)
    const product = spec.maxEntries * this.hashes;
    const nrBits = product > 0xffffffff ? Infinity : Math.floor(product / 5) * 7;
    let bits: number;
    if (nrBits > 2 ** 31) bits = 2 ** 32;
    else if (nrBits <= 64) bits = 64;
    else bits = 2 ** Math.ceil(Math.log2(nrBits));
    this.mask = (bits - 1) >>> 0;
    this.bits = new Uint32Array(bits / 32);
    this.words = spec.valueSize % 4 === 0 ? spec.valueSize / 4 : 0;
  }

  private hash(value: Uint8Array, i: number): number {
    const seed = (this.seed + i) >>> 0;
    const h = this.words ? jhash2(value, this.words, seed) : jhash(value, seed);
    return (h & this.mask) >>> 0;
  }

  /** Adds `value` (`bpf_map_push_elem`: `flags` must be `BPF_ANY`). @throws MapError `EINVAL` */
  add(value: Uint8Array, flags: number = UpdateFlags.BPF_ANY): void {
    this.checkValue(value);
    if (flags !== UpdateFlags.BPF_ANY) throw new MapError(Errno.EINVAL, 'a bloom filter takes only BPF_ANY');
    for (let i = 0; i < this.hashes; i++) {
      const h = this.hash(value, i);
      this.bits[h >>> 5] |= 1 << (h & 31);
    }
  }

  /** Whether `value` may have been added (false: it certainly was not). */
  has(value: Uint8Array): boolean {
    this.checkValue(value);
    for (let i = 0; i < this.hashes; i++) {
      const h = this.hash(value, i);
      if (!(this.bits[h >>> 5] & (1 << (h & 31)))) return false;
    }
    return true;
  }

  /**
   * `BPF_MAP_LOOKUP_ELEM`: tests `value` (all zeroes by default, which is what a lookup without a
   * value buffer tests on the kernel); a copy of it when it may be present, `undefined` (`ENOENT`) if not.
   */
  lookup(key?: Uint8Array, value: Uint8Array = new Uint8Array(this.spec.valueSize)): Uint8Array | undefined {
    this.checkKey(key);
    return this.has(value) ? value.slice() : undefined;
  }

  lookupAddr(_keyAddr?: number): number {
    return 0; // bloom_map_lookup_elem: programs peek instead
  }

  /** `BPF_MAP_UPDATE_ELEM` with an empty key: add. */
  update(key: Uint8Array | undefined, value: Uint8Array, flags: number = UpdateFlags.BPF_ANY): void {
    this.checkKey(key);
    this.add(value, flags);
  }

  override pushElem(value: Uint8Array, flags: number): void {
    this.add(value, flags);
  }

  override popElem(_out?: Uint8Array): void {
    throw new MapError(Errno.EOPNOTSUPP, 'a bloom filter cannot pop');
  }

  override peekElem(buf: Uint8Array): void {
    if (!this.has(buf)) throw new MapError(Errno.ENOENT, 'the value is not in the bloom filter');
  }

  delete(_key?: Uint8Array): void {
    throw new MapError(Errno.EOPNOTSUPP, 'a bloom filter cannot delete');
  }

  nextKey(_key?: Uint8Array): Uint8Array | undefined {
    throw new MapError(Errno.EOPNOTSUPP, 'a bloom filter has no keys to iterate');
  }

  override lookupBatch(_count?: number): never {
    throw new MapError(Errno.ENOTSUPP, 'a bloom filter has no batch operations (ENOTSUPP)');
  }

  override deleteBatch(_keys?: Uint8Array[]): never {
    throw new MapError(Errno.ENOTSUPP, 'a bloom filter has no batch operations (ENOTSUPP)');
  }

  close(): void {}
}
