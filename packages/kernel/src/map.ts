import { MapError, MapType, SyscallError, mapTypeName, type BackendMap, type MapSpec } from '@tsbpf/core';
import { native } from './native.js';
import { BpfCmd, mapBatchAttr, mapCreateAttr, mapElemAttr, fdAttr, infoByFdAttr, objPinAttr } from './sys/bpf-attr.js';
import { possibleCpus } from './sys/cpus.js';

const PERCPU = new Set<number>([MapType.PercpuArray, MapType.PercpuHash, MapType.LruPercpuHash, MapType.PercpuCgroupStorage]);

/** Whether values of this map type have one slot per possible CPU. */
export function isPerCpu(type: MapType): boolean {
  return PERCPU.has(type);
}

/** Calls bpf() for a map command, turning a failure into a {@link MapError} with the kernel's errno. */
function mapCall(what: string, cmd: number, enc: ReturnType<typeof mapElemAttr>): number {
  try {
    return native().bpf(cmd, enc.attr, enc.ptrs);
  } catch (e) {
    if (e instanceof SyscallError) throw new MapError(e.errno, `${what}: ${e.code}`, { cause: e });
    throw e;
  }
}

/**
 * A map in the kernel (`BPF_MAP_CREATE`). The bytes API mirrors libbpf's `bpf_map_*_elem`; the
 * errors are {@link MapError}s carrying the kernel's errno.
 */
export class KernelMap implements BackendMap {
  readonly fd: number;
  readonly spec: Readonly<MapSpec>;
  /** Bytes of one value as the syscalls move it: per-CPU maps hold `round_up(value, 8) * possible CPUs`. */
  readonly valueBytes: number;
  private closed = false;

  constructor(spec: MapSpec, opts: { innerMapFd?: number; fd?: number } = {}) {
    this.spec = { ...spec };
    this.valueBytes = isPerCpu(spec.type) ? Math.ceil(spec.valueSize / 8) * 8 * possibleCpus() : spec.valueSize;
    if (opts.fd !== undefined) {
      this.fd = opts.fd;
      return;
    }
    const enc = mapCreateAttr({
      mapType: spec.type,
      keySize: spec.keySize,
      valueSize: spec.valueSize,
      maxEntries: spec.maxEntries,
      mapFlags: spec.flags,
      name: spec.name,
      innerMapFd: opts.innerMapFd,
      ...(spec.mapExtra ? { mapExtra: BigInt(spec.mapExtra) } : {}),
    });
    try {
      this.fd = native().bpf(BpfCmd.MAP_CREATE, enc.attr, enc.ptrs);
    } catch (e) {
      if (e instanceof SyscallError) {
        throw new MapError(e.errno, `cannot create ${mapTypeName(spec.type) ?? `map type ${spec.type}`} (key ${spec.keySize}, value ${spec.valueSize}, max_entries ${spec.maxEntries}): ${e.code}`, { cause: e });
      }
      throw e;
    }
  }

  private key(key: Uint8Array | undefined): Uint8Array | null {
    if (key === undefined) return null;
    if (key.length !== this.spec.keySize) throw new MapError(22, `key is ${key.length} bytes, the map's key_size is ${this.spec.keySize}`);
    return key;
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    const value = new Uint8Array(this.valueBytes);
    try {
      mapCall('lookup', BpfCmd.MAP_LOOKUP_ELEM, mapElemAttr({ mapFd: this.fd, key: this.key(key), value }));
    } catch (e) {
      if (e instanceof MapError && e.errno === 2) return undefined;
      throw e;
    }
    return value;
  }

  /**
   * `BPF_MAP_LOOKUP_AND_DELETE_ELEM`: the value for `key` (for a queue or stack, an empty key: the
   * element popped), removed from the map; `undefined` when there is none (`ENOENT`).
   */
  lookupAndDelete(key: Uint8Array, flags = 0): Uint8Array | undefined {
    const value = new Uint8Array(this.valueBytes);
    try {
      mapCall('lookupAndDelete', BpfCmd.MAP_LOOKUP_AND_DELETE_ELEM, mapElemAttr({ mapFd: this.fd, key: this.key(key), value, flags }));
    } catch (e) {
      if (e instanceof MapError && e.errno === 2) return undefined;
      throw e;
    }
    return value;
  }

  /** Per-CPU maps: the value of each possible CPU, as libbpf returns them. */
  lookupPerCpu(key: Uint8Array): Uint8Array[] | undefined {
    const all = this.lookup(key);
    if (!all) return undefined;
    const stride = Math.ceil(this.spec.valueSize / 8) * 8;
    return Array.from({ length: all.length / stride }, (_, i) => all.slice(i * stride, i * stride + this.spec.valueSize));
  }

  update(key: Uint8Array, value: Uint8Array, flags = 0): void {
    if (value.length !== this.valueBytes) throw new MapError(22, `value is ${value.length} bytes, the map takes ${this.valueBytes}`);
    mapCall('update', BpfCmd.MAP_UPDATE_ELEM, mapElemAttr({ mapFd: this.fd, key: this.key(key), value, flags }));
  }

  delete(key: Uint8Array): void {
    mapCall('delete', BpfCmd.MAP_DELETE_ELEM, mapElemAttr({ mapFd: this.fd, key: this.key(key) }));
  }

  nextKey(key?: Uint8Array): Uint8Array | undefined {
    const next = new Uint8Array(this.spec.keySize);
    try {
      mapCall('get_next_key', BpfCmd.MAP_GET_NEXT_KEY, mapElemAttr({ mapFd: this.fd, key: this.key(key), value: next }));
    } catch (e) {
      if (e instanceof MapError && e.errno === 2) return undefined;
      throw e;
    }
    return next;
  }

  /** Every key, in the kernel's iteration order. */
  *keys(): Generator<Uint8Array> {
    let k = this.nextKey();
    while (k) {
      yield k;
      k = this.nextKey(k);
    }
  }

  /**
   * `BPF_MAP_LOOKUP_BATCH` (or `..._AND_DELETE_BATCH`): up to `count` entries from `cursor`;
   * returns them with the cursor for the next call (`undefined` when iteration is done).
   */
  lookupBatch(count: number, cursor?: Uint8Array, opts: { delete?: boolean } = {}): { keys: Uint8Array[]; values: Uint8Array[]; cursor?: Uint8Array } {
    const keys = new Uint8Array(count * this.spec.keySize);
    const values = new Uint8Array(count * this.valueBytes);
    const outBatch = new Uint8Array(Math.max(this.spec.keySize, 4));
    const enc = mapBatchAttr({ mapFd: this.fd, inBatch: cursor ?? null, outBatch, keys, values, count });
    let done = false;
    try {
      native().bpf(opts.delete ? BpfCmd.MAP_LOOKUP_AND_DELETE_BATCH : BpfCmd.MAP_LOOKUP_BATCH, enc.attr, enc.ptrs);
    } catch (e) {
      if (!(e instanceof SyscallError)) throw e;
      if (e.errno !== 2) throw new MapError(e.errno, `lookup batch: ${e.code}`, { cause: e });
      done = true;
    }
    const got = new DataView(enc.attr.buffer).getUint32(32, true);
    return {
      keys: Array.from({ length: got }, (_, i) => keys.slice(i * this.spec.keySize, (i + 1) * this.spec.keySize)),
      values: Array.from({ length: got }, (_, i) => values.slice(i * this.valueBytes, (i + 1) * this.valueBytes)),
      cursor: done ? undefined : outBatch,
    };
  }

  /** `BPF_MAP_DELETE_BATCH`: deletes the given keys; returns how many were deleted. */
  deleteBatch(keys: Uint8Array[]): number {
    const flat = new Uint8Array(keys.length * this.spec.keySize);
    keys.forEach((k, i) => flat.set(this.key(k)!, i * this.spec.keySize));
    const enc = mapBatchAttr({ mapFd: this.fd, inBatch: null, outBatch: null, keys: flat, values: null, count: keys.length });
    try {
      native().bpf(BpfCmd.MAP_DELETE_BATCH, enc.attr, enc.ptrs);
    } catch (e) {
      if (e instanceof SyscallError) throw new MapError(e.errno, `delete batch: ${e.code}`, { cause: e });
      throw e;
    }
    return new DataView(enc.attr.buffer).getUint32(32, true);
  }

  /** `BPF_MAP_FREEZE`: no more writes from user space. */
  freeze(): void {
    const enc = fdAttr(this.fd);
    native().bpf(BpfCmd.MAP_FREEZE, enc.attr, enc.ptrs);
  }

  /** Pins the map in bpffs (`BPF_OBJ_PIN`), so it outlives this process. */
  pin(path: string): void {
    const enc = objPinAttr({ path, fd: this.fd });
    native().bpf(BpfCmd.OBJ_PIN, enc.attr, enc.ptrs);
  }

  /** Opens a map pinned in bpffs (`BPF_OBJ_GET`), reading its spec back from the kernel. */
  static fromPinned(path: string): KernelMap {
    const n = native();
    const get = objPinAttr({ path });
    const fd = n.bpf(BpfCmd.OBJ_GET, get.attr, get.ptrs);
    try {
      const info = new Uint8Array(88);
      const enc = infoByFdAttr({ fd, info });
      n.bpf(BpfCmd.OBJ_GET_INFO_BY_FD, enc.attr, enc.ptrs);
      const v = new DataView(info.buffer);
      const nameEnd = info.indexOf(0, 24);
      const spec: MapSpec = {
        type: v.getUint32(0, true),
        keySize: v.getUint32(8, true),
        valueSize: v.getUint32(12, true),
        maxEntries: v.getUint32(16, true),
        flags: v.getUint32(20, true),
        name: Buffer.from(info.subarray(24, nameEnd < 24 || nameEnd > 40 ? 40 : nameEnd)).toString(),
      };
      return new KernelMap(spec, { fd });
    } catch (e) {
      n.close(fd);
      throw e;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    native().close(this.fd);
  }
}
