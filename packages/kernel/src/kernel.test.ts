import { describe, expect, it, afterAll, beforeAll } from 'vitest';
import {
  AttachType, MapError, MapType, NotSupportedError, ProgType, UpdateFlags, VerifierError, assembleLlvm,
} from '@tsbpf/core';
import { KernelBackend } from './backend.js';
import { KernelMap } from './map.js';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { loadNative } from './native.js';
import { possibleCpus } from './sys/cpus.js';
import { kernelSkipReason, openFds } from './test-support.js';

const skip = kernelSkipReason();
const u32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); return b; };
const u64 = (v: bigint) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, v, true); return b; };
const readU64 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getBigUint64(0, true);

describe('native layer', () => {
  it('loads or says why not, without throwing', () => {
    const n = loadNative();
    if (!n.ok) expect(n.reason).toMatch(/addon|Linux/);
    else expect(Object.keys(n.native).sort()).toEqual(['bpf', 'close', 'ioctl', 'mmap', 'munmap', 'perfEventOpen', 'poll']);
  });

  it.skipIf(!loadNative().ok)('rejects bad arguments with a TypeError, not a crash', () => {
    const n = loadNative();
    if (!n.ok) return;
    expect(() => n.native.bpf(0, 'x' as never)).toThrow(/attr must be a Uint8Array/);
    expect(() => n.native.bpf('x' as never, new Uint8Array(8))).toThrow(/cmd must be a number/);
    expect(() => n.native.bpf(0, new Uint8Array(8), [[4, new Uint8Array(1)]])).toThrow(/outside the 8-byte attr/);
    expect(() => n.native.munmap(new ArrayBuffer(8))).not.toThrow();
  });
});

describe.skipIf(skip)('kernel maps and programs', () => {
  let backend: KernelBackend;
  let fdsBefore = 0;
  beforeAll(() => {
    fdsBefore = openFds();
    backend = new KernelBackend();
  });
  afterAll(() => {
    backend.close();
    expect(openFds()).toBe(fdsBefore);
  });

  it('array: every index exists (zeroed), writes round-trip, out of range is E2BIG/ENOENT', () => {
    const m = backend.createMap({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 4 });
    expect(readU64(m.lookup(u32(3))!)).toBe(0n);
    m.update(u32(1), u64(42n));
    expect(readU64(m.lookup(u32(1))!)).toBe(42n);
    expect(m.lookup(u32(4))).toBeUndefined();
    expect(() => m.update(u32(4), u64(1n))).toThrow(expect.objectContaining({ code: 'E2BIG', errno: 7 }));
    expect(() => m.update(u32(0), u64(1n), UpdateFlags.BPF_NOEXIST)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => m.delete(u32(0))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect([...m.keys()].map((k) => new DataView(k.buffer).getUint32(0, true))).toEqual([0, 1, 2, 3]);
  });

  it('hash: flags, max_entries, iteration, batch lookup and delete', () => {
    const m = backend.createMap({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 3 });
    expect(m.lookup(u32(1))).toBeUndefined();
    expect(() => m.update(u32(1), u64(1n), UpdateFlags.BPF_EXIST)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    for (const k of [1, 2, 3]) m.update(u32(k), u64(BigInt(k * 10)));
    expect(() => m.update(u32(4), u64(4n))).toThrow(expect.objectContaining({ code: 'E2BIG' }));
    expect(() => m.update(u32(2), u64(5n), UpdateFlags.BPF_NOEXIST)).toThrow(MapError);
    m.update(u32(2), u64(5n), UpdateFlags.BPF_EXIST);
    expect(new Set([...m.keys()].map((k) => new DataView(k.buffer).getUint32(0, true)))).toEqual(new Set([1, 2, 3]));
    const batch = m.lookupBatch(8);
    expect(batch.keys).toHaveLength(3);
    expect(m.deleteBatch([u32(1), u32(3)])).toBe(2);
    expect([...m.keys()]).toHaveLength(1);
    expect(() => m.delete(u32(9))).toThrow(expect.objectContaining({ code: 'ENOENT', errno: 2 }));
    expect(() => m.lookup(new Uint8Array(3))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('per-CPU array: one value per possible CPU', () => {
    const m = backend.createMap({ type: MapType.PercpuArray, keySize: 4, valueSize: 4, maxEntries: 1 });
    const cpus = possibleCpus();
    expect(m.lookupPerCpu(u32(0))).toHaveLength(cpus);
    expect(m.valueBytes).toBe(8 * cpus);
  });

  it('creates every map type the runtime has', () => {
    const specs = [
      { type: MapType.LruHash, keySize: 4, valueSize: 8, maxEntries: 16 },
      { type: MapType.PercpuHash, keySize: 4, valueSize: 8, maxEntries: 16 },
      { type: MapType.LruPercpuHash, keySize: 4, valueSize: 8, maxEntries: 16 },
      { type: MapType.Ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 },
      { type: MapType.PerfEventArray, keySize: 4, valueSize: 4, maxEntries: possibleCpus() },
      { type: MapType.ProgArray, keySize: 4, valueSize: 4, maxEntries: 4 },
    ];
    for (const s of specs) expect(backend.createMap(s).fd).toBeGreaterThan(2);
    expect(() => backend.createMap({ type: 9999 as MapType, keySize: 4, valueSize: 4, maxEntries: 1 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('pins a map in bpffs and opens it again with its spec', () => {
    expect(existsSync('/sys/fs/bpf')).toBe(true);
    // bpffs is where pins live; mount it as `bpftool` would when it is missing.
    if (!readFileSync('/proc/self/mounts', 'utf8').includes(' /sys/fs/bpf bpf ')) execFileSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
    const path = `/sys/fs/bpf/tsbpf_test_${process.pid}`;
    const m = backend.createMap({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 7, name: 'pinned' });
    m.update(u32(5), u64(55n));
    m.pin(path);
    try {
      const again = backend.own(KernelMap.fromPinned(path));
      expect(again.spec).toMatchObject({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 7, name: 'pinned' });
      expect(readU64(again.lookup(u32(5))!)).toBe(55n);
    } finally {
      unlinkSync(path);
    }
  });

  it('loads a program and test-runs it, with the kernel duration', () => {
    const m = backend.createMap({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 });
    m.update(u32(0), u64(41n));
    const { insns } = assembleLlvm(`
      *(u32 *)(r10 - 4) = 0
      r2 = r10
      r2 += -4
      r1 = map_fd(${m.fd}) ll
      call bpf_map_lookup_elem
      if r0 == 0 goto out
      r1 = *(u64 *)(r0 + 0)
      r1 += 1
      *(u64 *)(r0 + 0) = r1
      r0 = r1
      exit
    out:
      r0 = 0
      exit`);
    const p = backend.load({ insns, progType: ProgType.Xdp, expectedAttachType: AttachType.Xdp, name: 'count' });
    const r = p.testRun({ data: new Uint8Array(64), repeat: 10 });
    expect(r.retval).toBe(51n); // 41 + 10 runs
    expect(readU64(m.lookup(u32(0))!)).toBe(51n);
    expect(r.durationNs).toBeGreaterThanOrEqual(0);
  });

  it('returns the full verifier log in a VerifierError', () => {
    const { insns } = assembleLlvm('exit');
    let err: unknown;
    try {
      backend.load({ insns, progType: ProgType.SocketFilter });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VerifierError);
    const v = err as VerifierError;
    expect(v.log).toContain('R0 !read_ok');
    expect(v.insn).toBe(0);
    expect(v.errno).toBe(13);
    expect(v.message).toContain('R0 !read_ok');
  });

  it('reports fentry as not supported on this kernel, with alternatives', () => {
    let err: unknown;
    try {
      backend.load({ insns: assembleLlvm('r0 = 0\nexit').insns, progType: ProgType.Tracing, expectedAttachType: AttachType.TraceFentry }, { attachBtfId: 1 });
    } catch (e) {
      err = e;
    }
    // Where fentry works the kernel rejects attach_btf_id 1 (not a function) with a log instead.
    if (err instanceof NotSupportedError) expect(err.alternatives.join(' ')).toContain('tp_btf');
    else expect(err).toBeInstanceOf(VerifierError);
  });
});
