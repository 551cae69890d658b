import { Errno, MapError, type MapSpec } from '@tsbpf/core';
import type { AddressSpace } from './address-space.js';
import { BpfMap } from './map.js';

const PAGE = 4096;
/** Record header bits, as in the kernel (`BPF_RINGBUF_BUSY_BIT`, `BPF_RINGBUF_DISCARD_BIT`). */
export const RINGBUF_BUSY = 0x80000000;
export const RINGBUF_DISCARD = 0x40000000;
export const RINGBUF_HDR = 8;
/** `bpf_ringbuf_query` flags. */
export const RingbufQuery = { AVAIL_DATA: 0, RING_SIZE: 1, CONS_POS: 2, PROD_POS: 3 } as const;

/**
 * `BPF_MAP_TYPE_RINGBUF`, laid out as the kernel maps it to user space: a consumer page
 * (`consumer_pos` at offset 0), a producer page (`producer_pos` at offset 0), then the data area.
 * The kernel maps the data pages twice in a row so a record that wraps is contiguous; here the
 * area is allocated twice as large and a record that wraps simply continues into the second half,
 * which is where the consumer reads it from. Records are 8-byte aligned with an 8-byte header
 * (`len | BUSY | DISCARD`, page offset).
 */
export class RingBufMap extends BpfMap {
  readonly base: number;
  readonly consumerAddr: number;
  readonly producerAddr: number;
  readonly dataAddr: number;
  readonly mask: number;

  constructor(space: AddressSpace, spec: MapSpec) {
    super(space, spec);
    this.base = space.alloc(2 * PAGE + 2 * spec.maxEntries, `map:${this.name}`);
    this.consumerAddr = this.base;
    this.producerAddr = this.base + PAGE;
    this.dataAddr = this.base + 2 * PAGE;
    this.mask = spec.maxEntries - 1;
  }

  get consumerPos(): number {
    return Number(this.space.view.getBigUint64(this.consumerAddr, true));
  }

  set consumerPos(v: number) {
    this.space.view.setBigUint64(this.consumerAddr, BigInt(v), true);
  }

  get producerPos(): number {
    return Number(this.space.view.getBigUint64(this.producerAddr, true));
  }

  /**
   * `bpf_ringbuf_reserve`: guest address of `size` bytes for a record, or 0 when the ring has no
   * room (the consumer is too far behind) or `size` cannot fit at all.
   */
  reserve(size: number): number {
    if (size <= 0 || size > 0x3fffffff) return 0;
    const len = Math.ceil((size + RINGBUF_HDR) / 8) * 8;
    if (len > this.mask + 1) return 0;
    const prod = this.producerPos;
    if (prod + len - this.consumerPos > this.mask + 1) return 0;
    const at = this.dataAddr + (prod & this.mask);
    const v = this.space.view;
    v.setUint32(at, (size | RINGBUF_BUSY) >>> 0, true);
    // pg_off: pages from the kernel's struct bpf_ringbuf to the header; its data starts 3 pages in.
    v.setUint32(at + 4, 3 + (((at - this.dataAddr) / PAGE) | 0), true);
    v.setBigUint64(this.producerAddr, BigInt(prod + len), true);
    return at + RINGBUF_HDR;
  }

  /** `bpf_ringbuf_submit` / `bpf_ringbuf_discard` of a pointer `reserve` returned. */
  commit(addr: number, discard: boolean): void {
    const hdr = addr - RINGBUF_HDR;
    const v = this.space.view;
    const len = v.getUint32(hdr, true);
    if (!(len & RINGBUF_BUSY)) throw new MapError(Errno.EINVAL, 'record is not reserved (submitted or discarded twice?)');
    v.setUint32(hdr, ((len & ~RINGBUF_BUSY) | (discard ? RINGBUF_DISCARD : 0)) >>> 0, true);
  }

  /** `bpf_ringbuf_output`: reserve, copy, submit; false when the ring is full. */
  output(data: Uint8Array): boolean {
    const at = this.reserve(data.length);
    if (!at) return false;
    this.space.write(at, data);
    this.commit(at, false);
    return true;
  }

  /** `bpf_ringbuf_query`. */
  query(flag: number): number {
    switch (flag) {
      case RingbufQuery.AVAIL_DATA: return this.producerPos - this.consumerPos;
      case RingbufQuery.RING_SIZE: return this.mask + 1;
      case RingbufQuery.CONS_POS: return this.consumerPos;
      case RingbufQuery.PROD_POS: return this.producerPos;
      default: return 0;
    }
  }

  /** The user-space consumer: every committed record available now, in order, each once. */
  consume(): Uint8Array[] {
    const out: Uint8Array[] = [];
    let cons = this.consumerPos;
    const prod = this.producerPos;
    const v = this.space.view;
    while (cons < prod) {
      const at = this.dataAddr + (cons & this.mask);
      const len = v.getUint32(at, true);
      if (len & RINGBUF_BUSY) break;
      const size = len & ~(RINGBUF_BUSY | RINGBUF_DISCARD);
      if (!(len & RINGBUF_DISCARD)) out.push(this.space.read(at + RINGBUF_HDR, size));
      cons += Math.ceil((size + RINGBUF_HDR) / 8) * 8;
      this.consumerPos = cons;
    }
    return out;
  }

  lookup(): Uint8Array | undefined {
    throw new MapError(Errno.EOPNOTSUPP, 'ring buffers have no keys');
  }

  lookupAddr(): number {
    return 0;
  }

  update(): void {
    throw new MapError(Errno.EOPNOTSUPP, 'ring buffers have no keys');
  }

  delete(): void {
    throw new MapError(Errno.EOPNOTSUPP, 'ring buffers have no keys');
  }

  nextKey(): Uint8Array | undefined {
    throw new MapError(Errno.EOPNOTSUPP, 'ring buffers have no keys');
  }

  close(): void {
    this.space.free(this.base);
  }
}
