import { TsbpfError } from '@tsbpf/core';
import { native } from './native.js';
import type { KernelMap } from './map.js';
import { onlineCpus } from './sys/cpus.js';
import { PERF_COUNT_SW_BPF_OUTPUT, PERF_FLAG_FD_CLOEXEC, PERF_SAMPLE_RAW, PerfIoctl, PerfType, perfEventAttr } from './sys/perf-attr.js';

const PAGE = 4096;
const PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;
const PERF_RECORD_LOST = 2, PERF_RECORD_SAMPLE = 9;
// struct perf_event_mmap_page
const DATA_HEAD = 1024, DATA_TAIL = 1032;

/** One sample from a perf event array, or a count of samples the kernel dropped. */
export type PerfRecord = { cpu: number; kind: 'sample'; data: Uint8Array } | { cpu: number; kind: 'lost'; lost: bigint };

interface CpuRing {
  cpu: number;
  fd: number;
  mem: ArrayBuffer;
  view: DataView;
  bytes: Uint8Array;
}

/**
 * Reads a `BPF_MAP_TYPE_PERF_EVENT_ARRAY` as libbpf's `perf_buffer` does: one
 * `PERF_COUNT_SW_BPF_OUTPUT` event per online CPU, each with an mmapped ring of `pageCount` data
 * pages, its fd stored in the map at the CPU's index. `bpf_perf_event_output(ctx, &map,
 * BPF_F_CURRENT_CPU, ...)` then lands in the ring of the CPU that ran the program.
 */
export class PerfBufReader {
  private readonly rings: CpuRing[] = [];
  /** Samples the kernel reported lost (ring full), per CPU. */
  readonly lost = new Map<number, bigint>();
  private closed = false;

  constructor(readonly map: KernelMap, opts: { pageCount?: number } = {}) {
    const pages = opts.pageCount ?? 8;
    if (pages & (pages - 1)) throw new TsbpfError('E_PERFBUF', `pageCount ${pages} is not a power of 2`);
    const n = native();
    try {
      for (const cpu of onlineCpus()) {
        if (cpu >= map.spec.maxEntries) break;
        const { attr, ptrs } = perfEventAttr({
          type: PerfType.SOFTWARE,
          config: BigInt(PERF_COUNT_SW_BPF_OUTPUT),
          sampleType: BigInt(PERF_SAMPLE_RAW),
          samplePeriod: 1n,
          wakeupEvents: 1,
        });
        const fd = n.perfEventOpen(attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC, ptrs);
        let mem: ArrayBuffer;
        try {
          mem = n.mmap(fd, (1 + pages) * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
        } catch (e) {
          n.close(fd);
          throw e;
        }
        this.rings.push({ cpu, fd, mem, view: new DataView(mem), bytes: new Uint8Array(mem, PAGE, pages * PAGE) });
        n.ioctl(fd, PerfIoctl.ENABLE, 0);
        const key = new Uint8Array(4);
        new DataView(key.buffer).setUint32(0, cpu, true);
        const value = new Uint8Array(4);
        new DataView(value.buffer).setUint32(0, fd, true);
        map.update(key, value);
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Takes every record available now from every CPU's ring. */
  consume(): PerfRecord[] {
    const out: PerfRecord[] = [];
    for (const ring of this.rings) {
      const size = ring.bytes.length;
      let tail = ring.view.getBigUint64(DATA_TAIL, true);
      const head = ring.view.getBigUint64(DATA_HEAD, true);
      const read = (at: bigint, len: number) => {
        const buf = new Uint8Array(len);
        for (let i = 0; i < len; i++) buf[i] = ring.bytes[Number((at + BigInt(i)) % BigInt(size))];
        return buf;
      };
      while (tail < head) {
        const hdr = new DataView(read(tail, 8).buffer);
        const type = hdr.getUint32(0, true);
        const recSize = hdr.getUint16(6, true);
        if (recSize < 8) break;
        const body = read(tail + 8n, recSize - 8);
        const bv = new DataView(body.buffer);
        if (type === PERF_RECORD_SAMPLE) {
          const rawSize = bv.getUint32(0, true);
          out.push({ cpu: ring.cpu, kind: 'sample', data: body.slice(4, 4 + rawSize) });
        } else if (type === PERF_RECORD_LOST) {
          const lost = bv.getBigUint64(8, true);
          this.lost.set(ring.cpu, (this.lost.get(ring.cpu) ?? 0n) + lost);
          out.push({ cpu: ring.cpu, kind: 'lost', lost });
        }
        tail += BigInt(recSize);
      }
      ring.view.setBigUint64(DATA_TAIL, tail, true);
    }
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const n = native();
    for (const r of this.rings) {
      try {
        n.munmap(r.mem);
        n.close(r.fd);
      } catch {
        // best effort
      }
    }
  }
}
