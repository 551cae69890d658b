import { TsbpfError } from '@tsbpf/core';
import { native } from './native.js';
import type { KernelMap } from './map.js';

const PAGE = 4096;
const PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;
const BUSY = 0x80000000, DISCARD = 0x40000000, HDR = 8;
const POLLIN = 1;

/**
 * Reads a `BPF_MAP_TYPE_RINGBUF` map through mmap, as libbpf's `ring_buffer__consume` does: the
 * consumer page (read-write) holds `consumer_pos`; the producer page and the data area (mapped
 * twice in a row, so a record that wraps is contiguous) are read-only. Records come out in commit
 * order, each exactly once; discarded records are skipped.
 */
export class RingBufReader implements AsyncIterable<Uint8Array> {
  private readonly consumer: ArrayBuffer;
  private readonly producer: ArrayBuffer;
  private readonly cons: DataView;
  private readonly prod: DataView;
  private readonly data: Uint8Array;
  private readonly mask: number;
  private closed = false;

  constructor(readonly map: KernelMap) {
    const size = map.spec.maxEntries;
    if (size & (size - 1) || size % PAGE) throw new TsbpfError('E_RINGBUF', `ring buffer size ${size} is not a power-of-2 multiple of the page size`);
    const n = native();
    this.consumer = n.mmap(map.fd, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    try {
      this.producer = n.mmap(map.fd, PAGE + 2 * size, PROT_READ, MAP_SHARED, PAGE);
    } catch (e) {
      n.munmap(this.consumer);
      throw e;
    }
    this.cons = new DataView(this.consumer);
    this.prod = new DataView(this.producer);
    this.data = new Uint8Array(this.producer, PAGE);
    this.mask = size - 1;
  }

  /** Takes every committed record available now (copies), advancing `consumer_pos`. */
  consume(): Uint8Array[] {
    if (this.closed) return [];
    const out: Uint8Array[] = [];
    let cons = this.cons.getBigUint64(0, true);
    const prod = this.prod.getBigUint64(0, true);
    const dv = new DataView(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    while (cons < prod) {
      const at = Number(cons & BigInt(this.mask));
      const len = dv.getUint32(at, true);
      if (len & BUSY) break;
      const size = len & ~(BUSY | DISCARD);
      if (!(len & DISCARD)) out.push(this.data.slice(at + HDR, at + HDR + size));
      cons += BigInt((size + HDR + 7) & ~7);
      this.cons.setBigUint64(0, cons, true);
    }
    return out;
  }

  /** Waits up to `timeoutMs` for data (poll on the map fd). */
  wait(timeoutMs: number): boolean {
    return native().poll(this.map.fd, POLLIN, timeoutMs) !== 0;
  }

  /**
   * Records as they arrive, until `signal` aborts or the reader is closed. Polls without blocking
   * the event loop (short `setTimeout` pauses between empty polls).
   */
  async *records(opts: { signal?: AbortSignal; idleMs?: number } = {}): AsyncGenerator<Uint8Array> {
    while (!this.closed && !opts.signal?.aborted) {
      const batch = this.consume();
      for (const r of batch) yield r;
      if (batch.length === 0) await new Promise((r) => setTimeout(r, opts.idleMs ?? 5));
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.records();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const n = native();
    n.munmap(this.producer);
    n.munmap(this.consumer);
  }
}
