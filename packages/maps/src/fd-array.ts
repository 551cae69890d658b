import { Errno, MapError, UpdateFlags, type MapSpec } from '@tsbpf/core';
import type { AddressSpace } from './address-space.js';
import { BpfMap } from './map.js';
import { arrayNextKey } from './array.js';

/** Resolves a descriptor stored into an fd array: the object's id, or undefined for a bad fd. */
export type FdResolver = (fd: number) => number | undefined;

/**
 * Arrays of descriptors: `BPF_MAP_TYPE_PROG_ARRAY` (programs for `bpf_tail_call`) and the base of
 * `PERF_EVENT_ARRAY`. As in the kernel: updates take only `BPF_ANY` (`EINVAL` otherwise) and a
 * descriptor the resolver knows (`EBADF` otherwise); a lookup from user space returns the object's
 * id (`ENOENT` for an empty slot); delete empties a slot (`ENOENT` if already empty, `E2BIG` past the end).
 */
export class FdArrayMap extends BpfMap {
  protected readonly fds: (number | undefined)[];
  protected readonly ids: (number | undefined)[];

  constructor(space: AddressSpace, spec: MapSpec, protected readonly resolve: FdResolver = () => undefined) {
    super(space, spec);
    this.fds = new Array(spec.maxEntries);
    this.ids = new Array(spec.maxEntries);
  }

  protected index(key: Uint8Array): number {
    this.checkKey(key);
    return new DataView(key.buffer, key.byteOffset).getUint32(0, true);
  }

  /** The descriptor in slot `index` (what `bpf_tail_call` follows), or undefined. */
  fdAt(index: number): number | undefined {
    return index < this.spec.maxEntries ? this.fds[index] : undefined;
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    const i = this.index(key);
    const id = i < this.spec.maxEntries ? this.ids[i] : undefined;
    if (id === undefined) return undefined;
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, id, true);
    return out;
  }

  lookupAddr(): number {
    return 0; // programs cannot look into fd arrays
  }

  update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlags.BPF_ANY): void {
    const i = this.index(key);
    this.checkValue(value);
    if (flags !== UpdateFlags.BPF_ANY) throw new MapError(Errno.EINVAL, 'fd arrays take only BPF_ANY');
    if (i >= this.spec.maxEntries) throw new MapError(Errno.E2BIG, `index ${i} is out of range (max_entries ${this.spec.maxEntries})`);
    const fd = new DataView(value.buffer, value.byteOffset).getUint32(0, true);
    const id = this.resolve(fd);
    if (id === undefined) throw new MapError(Errno.EBADF, `descriptor ${fd} is not a ${this.kind}`);
    this.fds[i] = fd;
    this.ids[i] = id;
  }

  protected get kind(): string {
    return 'program';
  }

  delete(key: Uint8Array): void {
    const i = this.index(key);
    if (i >= this.spec.maxEntries) throw new MapError(Errno.E2BIG, `index ${i} is out of range (max_entries ${this.spec.maxEntries})`);
    if (this.fds[i] === undefined) throw new MapError(Errno.ENOENT, `slot ${i} is empty`);
    this.fds[i] = undefined;
    this.ids[i] = undefined;
  }

  nextKey(key?: Uint8Array): Uint8Array | undefined {
    return arrayNextKey(key === undefined ? undefined : this.index(key), this.spec.maxEntries);
  }

  close(): void {}
}

/** One record read from a perf event array: a sample, or a count of samples lost to a full buffer. */
export type PerfSample = { cpu: number; kind: 'sample'; data: Uint8Array } | { cpu: number; kind: 'lost'; lost: number };

/**
 * `BPF_MAP_TYPE_PERF_EVENT_ARRAY` for the user-space runtime: each CPU slot has its own buffer of
 * `bufferBytes` (like a perf ring of that many data pages); `bpf_perf_event_output` appends a
 * sample to the buffer of the current CPU, and when it does not fit the sample is dropped and
 * counted, then reported as a lost record before the next sample that fits, as perf does. A
 * lookup from user space is `ENOTSUPP`, as in the kernel.
 */
export class PerfEventArrayMap extends FdArrayMap {
  private readonly buffers: PerfSample[][];
  private readonly used: number[];
  private readonly pendingLost: number[];
  /** Samples lost per CPU since creation. */
  readonly lostTotal: number[];

  constructor(space: AddressSpace, spec: MapSpec, readonly bufferBytes = 8 * 4096) {
    super(space, spec);
    this.buffers = Array.from({ length: spec.maxEntries }, () => []);
    this.used = new Array(spec.maxEntries).fill(0);
    this.pendingLost = new Array(spec.maxEntries).fill(0);
    this.lostTotal = new Array(spec.maxEntries).fill(0);
  }

  protected override get kind(): string {
    return 'perf event';
  }

  override lookup(key: Uint8Array): Uint8Array | undefined {
    this.index(key);
    throw new MapError(524, 'perf event arrays cannot be read from user space (ENOTSUPP)');
  }

  /**
   * `bpf_perf_event_output` into CPU `cpu`'s buffer: 0 on success, `-ENOENT` for a CPU without a
   * buffer, `-ENOSPC` when the sample was lost to a full buffer.
   */
  output(cpu: number, data: Uint8Array): number {
    if (cpu >= this.spec.maxEntries) return -Errno.ENOENT;
    // perf's record: 8-byte header + u32 size + data, padded to 8 bytes.
    const size = Math.ceil((8 + 4 + data.length) / 8) * 8;
    if (this.used[cpu] + size > this.bufferBytes) {
      this.pendingLost[cpu]++;
      this.lostTotal[cpu]++;
      return -Errno.ENOSPC;
    }
    if (this.pendingLost[cpu]) {
      this.buffers[cpu].push({ cpu, kind: 'lost', lost: this.pendingLost[cpu] });
      this.pendingLost[cpu] = 0;
    }
    this.buffers[cpu].push({ cpu, kind: 'sample', data: data.slice() });
    this.used[cpu] += size;
    return 0;
  }

  /** Takes every record of every CPU buffer, freeing the space. */
  consume(): PerfSample[] {
    const out: PerfSample[] = [];
    for (let cpu = 0; cpu < this.buffers.length; cpu++) {
      out.push(...this.buffers[cpu]);
      if (this.pendingLost[cpu]) out.push({ cpu, kind: 'lost', lost: this.pendingLost[cpu] });
      this.buffers[cpu] = [];
      this.used[cpu] = 0;
      this.pendingLost[cpu] = 0;
    }
    return out;
  }
}
