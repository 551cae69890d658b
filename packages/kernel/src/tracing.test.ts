import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttachType, MapType, NotSupportedError, ProgType, assembleLlvm } from '@tsbpf/core';
import { kernelFuncId, tpBtfId, vmlinuxBtf } from './btf.js';
import { attachKprobe, attachRawTracepoint, attachTpBtf, attachTracepoint, attachUprobe } from './attach.js';
import { KernelBackend } from './backend.js';
import { RingBufReader } from './ringbuf.js';
import { PerfBufReader } from './perfbuf.js';
import { onlineCpus } from './sys/cpus.js';
import { counterAsm, ensureTracefs, kernelSkipReason, openFds } from './test-support.js';

const skip = kernelSkipReason() ?? ensureTracefs();
if (skip) console.log(`tracing tests skipped: ${skip}`);
const u32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); return b; };
const readU64 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getBigUint64(0, true);
const cstr = (b: Uint8Array) => Buffer.from(b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0))).toString();

/**
 * A child that waits for a line on stdin and then execs three times in the same process
 * (sh -> sh -> true), so its pid is known before the execs happen.
 */
function execChain() {
  const child = spawn('/bin/sh', ['-c', 'read x; exec /bin/sh -c "exec /bin/sh -c \'exec /bin/true\'"'], { stdio: ['pipe', 'ignore', 'ignore'] });
  const done = new Promise<void>((r) => child.on('exit', () => r()));
  return { pid: child.pid!, go: () => child.stdin!.end('go\n'), done };
}

describe.skipIf(skip)('tracing on the real kernel', () => {
  let backend: KernelBackend;
  let fdsBefore = 0;
  beforeAll(() => {
    fdsBefore = openFds();
    backend = new KernelBackend();
  });
  afterAll(() => {
    backend.close();
    // Everything (maps, programs, perf events, links, mmaps) was released.
    expect(openFds()).toBe(fdsBefore);
  });

  it('a tracepoint program on syscalls/sys_enter_execve counts the execs of one child', async () => {
    const counts = backend.createMap({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 });
    const child = execChain();
    const prog = backend.load({
      progType: ProgType.Tracepoint,
      name: 'count_execs',
      insns: assembleLlvm(counterAsm({ mapFd: counts.fd, pid: child.pid })).insns,
    });
    const link = attachTracepoint(prog, 'syscalls', 'sys_enter_execve');
    child.go();
    await child.done;
    link.close();
    expect(readU64(counts.lookup(u32(0))!)).toBe(3n);
  });

  it('a ring buffer delivers {pid, comm, filename} of those execs to an async iterator, in order', async () => {
    const rb = backend.createMap({ type: MapType.Ringbuf, keySize: 0, valueSize: 0, maxEntries: 1 << 16 });
    const child = execChain();
    const prog = backend.load({
      progType: ProgType.Tracepoint,
      name: 'exec_events',
      insns: assembleLlvm(`
        r6 = r1
        call bpf_get_current_pid_tgid
        r7 = r0
        r7 >>= 32
        if r7 != ${child.pid} goto out
        r1 = map_fd(${rb.fd}) ll
        r2 = 88
        r3 = 0
        call bpf_ringbuf_reserve
        if r0 == 0 goto out
        r8 = r0
        *(u32 *)(r8 + 0) = r7
        r1 = r8
        r1 += 4
        r2 = 16
        call bpf_get_current_comm
        r1 = r8
        r1 += 20
        r2 = 64
        r3 = *(u64 *)(r6 + 16)
        call bpf_probe_read_user_str
        r1 = r8
        r2 = 0
        call bpf_ringbuf_submit
      out:
        r0 = 0
        exit`).insns,
    });
    const reader = backend.own(new RingBufReader(rb));
    const link = attachTracepoint(prog, 'syscalls', 'sys_enter_execve');
    child.go();
    const records: { pid: number; comm: string; filename: string }[] = [];
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 10_000);
    for await (const r of reader.records({ signal: abort.signal })) {
      records.push({ pid: new DataView(r.buffer).getUint32(0, true), comm: cstr(r.subarray(4, 20)), filename: cstr(r.subarray(20, 84)) });
      if (records.length === 3) break;
    }
    clearTimeout(timer);
    await child.done;
    link.close();
    expect(records).toEqual([
      { pid: child.pid, comm: 'sh', filename: '/bin/sh' },
      { pid: child.pid, comm: 'sh', filename: '/bin/sh' },
      { pid: child.pid, comm: 'sh', filename: '/bin/true' },
    ]);
  });

  const cc = spawnSync('cc', ['--version']).status === 0;
  if (!cc) console.log('uprobe test skipped: no C compiler (cc) to build the test binary');
  it.skipIf(!cc)('a uprobe on a function of a small test binary counts its calls; a uretprobe sees them return', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbpf-uprobe-'));
    const bin = join(dir, 'uprobe_target');
    const src = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'uprobe_target.c');
    expect(spawnSync('cc', ['-O1', '-o', bin, src]).status).toBe(0);
    const counts = backend.createMap({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 2 });
    const counter = (slot: number) => assembleLlvm(counterAsm({ mapFd: counts.fd, slot })).insns;
    const entry = backend.load({ progType: ProgType.Kprobe, name: 'uprobe_count', insns: counter(0) });
    const exit = backend.load({ progType: ProgType.Kprobe, name: 'uretprobe_count', insns: counter(1) });
    const l1 = attachUprobe(entry, { binary: bin, symbol: 'tsbpf_target' });
    const l2 = attachUprobe(exit, { binary: bin, symbol: 'tsbpf_target', retprobe: true });
    const run = spawnSync(bin, ['7']);
    l1.close();
    l2.close();
    expect(run.stdout.toString().trim()).toBe(String([0, 1, 2, 3, 4, 5, 6].reduce((s, i) => s + i * 2 + 1, 0)));
    expect(readU64(counts.lookup(u32(0))!)).toBe(7n);
    expect(readU64(counts.lookup(u32(1))!)).toBe(7n);
  });

  it('a raw tracepoint program runs on sys_enter', async () => {
    const counts = backend.createMap({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 });
    const child = execChain();
    const prog = backend.load({
      progType: ProgType.RawTracepoint,
      insns: assembleLlvm(counterAsm({ mapFd: counts.fd, pid: child.pid })).insns,
    });
    const link = attachRawTracepoint(prog, 'sys_enter');
    child.go();
    await child.done;
    link.close();
    expect(readU64(counts.lookup(u32(0))!)).toBeGreaterThan(3n); // every syscall of the child, execs included
  });

  it('a perf event array delivers bpf_perf_event_output samples per CPU', async () => {
    const events = backend.createMap({ type: MapType.PerfEventArray, keySize: 4, valueSize: 4, maxEntries: Math.max(...onlineCpus()) + 1 });
    const reader = backend.own(new PerfBufReader(events));
    const child = execChain();
    const prog = backend.load({
      progType: ProgType.Tracepoint,
      insns: assembleLlvm(`
        r6 = r1
        call bpf_get_current_pid_tgid
        r0 >>= 32
        if r0 != ${child.pid} goto out
        *(u64 *)(r10 - 8) = r0
        r1 = r6
        r2 = map_fd(${events.fd}) ll
        r3 = 0xffffffff ll
        r4 = r10
        r4 += -8
        r5 = 8
        call bpf_perf_event_output
      out:
        r0 = 0
        exit`).insns,
    });
    const link = attachTracepoint(prog, 'syscalls', 'sys_enter_execve');
    child.go();
    await child.done;
    link.close();
    const samples = reader.consume().filter((r) => r.kind === 'sample');
    expect(samples).toHaveLength(3);
    for (const s of samples) expect(s.kind === 'sample' && readU64(s.data)).toBe(BigInt(child.pid));
  });

  it('a tp_btf program (BTF id from our vmlinux BTF reader) counts sched_process_exec of the child', async () => {
    const counts = backend.createMap({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 });
    const child = execChain();
    const prog = backend.load(
      {
        progType: ProgType.Tracing,
        expectedAttachType: AttachType.TraceRawTp,
        insns: assembleLlvm(counterAsm({ mapFd: counts.fd, pid: child.pid })).insns,
      },
      { attachBtfId: tpBtfId('sched_process_exec') },
    );
    const link = attachTpBtf(prog);
    child.go();
    await child.done;
    link.close();
    expect(readU64(counts.lookup(u32(0))!)).toBe(3n);
  });

  it('struct layouts from our BTF reader match the kernel: task_struct->pid/tgid read through bpf_probe_read_kernel', async () => {
    const btf = vmlinuxBtf();
    const pid = btf.memberOffset('task_struct', 'pid')!;
    const tgid = btf.memberOffset('task_struct', 'tgid')!;
    expect(pid.size).toBe(4);
    const out = backend.createMap({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 });
    const child = execChain();
    const prog = backend.load({
      progType: ProgType.Tracepoint,
      insns: assembleLlvm(`
        call bpf_get_current_pid_tgid
        r0 >>= 32
        if r0 != ${child.pid} goto out
        call bpf_get_current_task
        r6 = r0
        r1 = r10
        r1 += -8
        r2 = 4
        r3 = r6
        r3 += ${pid.offset}
        call bpf_probe_read_kernel
        r1 = r10
        r1 += -4
        r2 = 4
        r3 = r6
        r3 += ${tgid.offset}
        call bpf_probe_read_kernel
        *(u32 *)(r10 - 12) = 0
        r2 = r10
        r2 += -12
        r1 = map_fd(${out.fd}) ll
        call bpf_map_lookup_elem
        if r0 == 0 goto out
        r1 = *(u64 *)(r10 - 8)
        *(u64 *)(r0 + 0) = r1
      out:
        r0 = 0
        exit`).insns,
    });
    const link = attachTracepoint(prog, 'syscalls', 'sys_enter_execve');
    child.go();
    await child.done;
    link.close();
    const v = out.lookup(u32(0))!;
    const dv = new DataView(v.buffer);
    expect([dv.getUint32(0, true), dv.getUint32(4, true)]).toEqual([child.pid, child.pid]);
  });

  it('fentry: loaded and attached where the kernel allows it, NotSupportedError naming alternatives where not', () => {
    let err: unknown;
    try {
      const p = backend.load(
        { progType: ProgType.Tracing, expectedAttachType: AttachType.TraceFentry, insns: assembleLlvm('r0 = 0\nexit').insns },
        { attachBtfId: kernelFuncId('do_sys_openat2') },
      );
      attachTpBtf(p).close();
    } catch (e) {
      err = e;
    }
    if (err !== undefined) {
      expect(err).toBeInstanceOf(NotSupportedError);
      expect((err as NotSupportedError).code).toBe('E_NOT_SUPPORTED_FENTRY');
      expect((err as NotSupportedError).alternatives.join(' ')).toContain('tp_btf');
    }
  });

  it('kprobes: attached where the kernel has them, NotSupportedError with alternatives where not', () => {
    const prog = backend.load({ progType: ProgType.Kprobe, insns: assembleLlvm('r0 = 0\nexit').insns });
    let err: unknown;
    try {
      attachKprobe(prog, 'tcp_v4_connect').close();
    } catch (e) {
      err = e;
    }
    if (err !== undefined) {
      expect(err).toBeInstanceOf(NotSupportedError);
      expect((err as NotSupportedError).code).toBe('E_NOT_SUPPORTED_KPROBE');
      expect((err as NotSupportedError).alternatives.join(' ')).toContain('inet_sock_set_state');
    }
  });
});
