import { Errno, MapError } from '@tsbpf/core';
import type { BpfMap } from './map.js';

/** Converts between a TS value and the bytes of a key or value. */
export interface Codec<T> {
  readonly size: number;
  encode(v: T, out: DataView, at: number): void;
  decode(view: DataView, at: number): T;
}

const int = <T extends number | bigint>(size: number, get: (v: DataView, at: number) => T, set: (v: DataView, at: number, x: T) => void): Codec<T> => ({
  size,
  encode: (x, v, at) => set(v, at, x),
  decode: (v, at) => get(v, at),
});

/** Little-endian integer codecs (the byte order of the kernel's maps on x86 and arm64); 64-bit ones use bigint. */
export const u8 = int<number>(1, (v, a) => v.getUint8(a), (v, a, x) => v.setUint8(a, x));
export const i8 = int<number>(1, (v, a) => v.getInt8(a), (v, a, x) => v.setInt8(a, x));
export const u16 = int<number>(2, (v, a) => v.getUint16(a, true), (v, a, x) => v.setUint16(a, x, true));
export const i16 = int<number>(2, (v, a) => v.getInt16(a, true), (v, a, x) => v.setInt16(a, x, true));
export const u32 = int<number>(4, (v, a) => v.getUint32(a, true), (v, a, x) => v.setUint32(a, x, true));
export const i32 = int<number>(4, (v, a) => v.getInt32(a, true), (v, a, x) => v.setInt32(a, x, true));
export const u64 = int<bigint>(8, (v, a) => v.getBigUint64(a, true), (v, a, x) => v.setBigUint64(a, x, true));
export const i64 = int<bigint>(8, (v, a) => v.getBigInt64(a, true), (v, a, x) => v.setBigInt64(a, x, true));

/** Raw bytes of a fixed size. */
export function bytes(size: number): Codec<Uint8Array> {
  return {
    size,
    encode: (x, v, at) => new Uint8Array(v.buffer, v.byteOffset + at, size).set(x.subarray(0, size)),
    decode: (v, at) => new Uint8Array(v.buffer.slice(v.byteOffset + at, v.byteOffset + at + size)),
  };
}

/**
 * A C struct with natural alignment (each field aligned to its size, the total to the largest),
 * as clang lays out the structs it shares with programs.
 *
 * @example
 * ```ts
 * const event = struct({ pid: u32, ts: u64 });   // size 16: pid at 0, ts at 8
 * ```
 */
export function struct<F extends Record<string, Codec<unknown>>>(fields: F): Codec<{ [K in keyof F]: F[K] extends Codec<infer T> ? T : never }> {
  const layout: [string, number, Codec<unknown>][] = [];
  let off = 0;
  let maxAlign = 1;
  for (const [name, c] of Object.entries(fields)) {
    const align = Math.min(8, c.size & -c.size || 1);
    off = Math.ceil(off / align) * align;
    layout.push([name, off, c]);
    off += c.size;
    maxAlign = Math.max(maxAlign, align);
  }
  const size = Math.ceil(off / maxAlign) * maxAlign;
  return {
    size,
    encode: (x, v, at) => {
      for (const [n, o, c] of layout) c.encode((x as Record<string, unknown>)[n], v, at + o);
    },
    decode: (v, at) => Object.fromEntries(layout.map(([n, o, c]) => [n, c.decode(v, at + o)])) as never,
  };
}

function enc<T>(c: Codec<T>, x: T): Uint8Array {
  const b = new Uint8Array(c.size);
  c.encode(x, new DataView(b.buffer), 0);
  return b;
}

/**
 * A typed view of a map: `get`, `set`, `delete`, `keys`, `entries` with codecs. Per-CPU maps give
 * (and take) one value per CPU, as libbpf does.
 */
export class TypedMap<K, V> {
  readonly perCpu: number;

  constructor(readonly map: BpfMap, readonly key: Codec<K>, readonly value: Codec<V>, opts: { cpus?: number } = {}) {
    if (key.size !== map.spec.keySize) throw new MapError(Errno.EINVAL, `the key codec is ${key.size} bytes, the map's key_size is ${map.spec.keySize}`);
    if (value.size !== map.spec.valueSize) throw new MapError(Errno.EINVAL, `the value codec is ${value.size} bytes, the map's value_size is ${map.spec.valueSize}`);
    this.perCpu = opts.cpus ?? (map as unknown as { cpus?: number }).cpus ?? 1;
  }

  private stride(): number {
    return Math.ceil(this.value.size / 8) * 8;
  }

  private decodeValue(raw: Uint8Array): V | V[] {
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    if (this.perCpu === 1) return this.value.decode(v, 0);
    return Array.from({ length: this.perCpu }, (_, c) => this.value.decode(v, c * this.stride()));
  }

  get(k: K): V | V[] | undefined {
    const raw = this.map.lookup(enc(this.key, k));
    return raw && this.decodeValue(raw);
  }

  set(k: K, v: V | V[], flags = 0): void {
    let raw: Uint8Array;
    if (this.perCpu === 1) raw = enc(this.value, v as V);
    else {
      const list = Array.isArray(v) ? (v as V[]) : Array.from({ length: this.perCpu }, () => v as V);
      raw = new Uint8Array(this.stride() * this.perCpu);
      list.forEach((x, c) => this.value.encode(x, new DataView(raw.buffer), c * this.stride()));
    }
    this.map.update(enc(this.key, k), raw, flags);
  }

  delete(k: K): void {
    this.map.delete(enc(this.key, k));
  }

  *keys(): Generator<K> {
    for (const k of this.map.keys()) yield this.key.decode(new DataView(k.buffer), 0);
  }

  *entries(): Generator<[K, V | V[]]> {
    for (const k of this.map.keys()) {
      const raw = this.map.lookup(k);
      if (raw) yield [this.key.decode(new DataView(k.buffer), 0), this.decodeValue(raw)];
    }
  }
}
