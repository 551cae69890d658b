import { describe, expect, it } from 'vitest';
import { MapType, NotSupportedError, PseudoLd, SK_BUFF_LAYOUT, XDP_MD_LAYOUT, assembleLlvm, helperId, lddw } from '@tsbpf/core';
import { AddressSpace, type PerfEventArrayMap, type RingBufMap } from '@tsbpf/maps';
import { Runtime } from './runtime.js';
import { callHelper } from './test-support/call.js';

const call = callHelper;
const neg = (errno: number) => BigInt.asUintN(64, BigInt(-errno));

/** A runtime in the middle of an `__sk_buff` run on `packet` (no headroom). */
function skbRun(packet: Uint8Array) {
  const rt = new Runtime();
  const buf = rt.space.alloc(packet.length);
  rt.space.write(buf, packet);
  const skb = rt.space.alloc(SK_BUFF_LAYOUT.size);
  rt.space.view.setUint32(skb + 76, buf, true);
  rt.space.view.setUint32(skb + 80, buf + packet.length, true);
  rt.packet = { ctx: skb, fields: SK_BUFF_LAYOUT.packet!, bufStart: buf, bufEnd: buf + packet.length };
  return { rt, buf, skb };
}

describe('Runtime helpers', () => {
  it('map helpers work on guest pointers and return the kernel errno', () => {
    const rt = new Runtime();
    const m = rt.createMap({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 2 });
    const key = rt.space.alloc(4);
    const val = rt.space.alloc(8);
    rt.space.view.setUint32(key, 7, true);
    rt.space.view.setBigUint64(val, 1234n, true);
    expect(call(rt, 'bpf_map_lookup_elem', m.fd, key)).toBe(0n);
    expect(call(rt, 'bpf_map_update_elem', m.fd, key, val, 0)).toBe(0n);
    expect(call(rt, 'bpf_map_update_elem', m.fd, key, val, 1)).toBe(neg(17)); // -EEXIST
    const p = Number(call(rt, 'bpf_map_lookup_elem', m.fd, key));
    expect(rt.space.view.getBigUint64(p, true)).toBe(1234n);
    rt.space.view.setBigUint64(p, 99n, true); // a program's store
    expect(new DataView(m.lookup(Uint8Array.of(7, 0, 0, 0))!.buffer).getBigUint64(0, true)).toBe(99n);
    expect(call(rt, 'bpf_map_delete_elem', m.fd, key)).toBe(0n);
    expect(call(rt, 'bpf_map_delete_elem', m.fd, key)).toBe(neg(2)); // -ENOENT
  });

  it('per-CPU updates from a program write the current CPU only', () => {
    const rt = new Runtime({ cpus: 3, context: { cpu: 1 } });
    const m = rt.createMap({ type: MapType.PercpuHash, keySize: 4, valueSize: 8, maxEntries: 4 });
    const key = rt.space.alloc(4);
    const val = rt.space.alloc(8);
    rt.space.view.setBigUint64(val, 5n, true);
    call(rt, 'bpf_map_update_elem', m.fd, key, val, 0);
    const all = m.lookup(new Uint8Array(4))!;
    expect([0, 1, 2].map((c) => new DataView(all.buffer).getBigUint64(c * 8, true))).toEqual([0n, 5n, 0n]);
  });

  it('ring buffer helpers reserve, submit, discard and query in guest memory', () => {
    const rt = new Runtime();
    const rb = rt.createMap({ type: MapType.Ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 }) as RingBufMap;
    const a = Number(call(rt, 'bpf_ringbuf_reserve', rb.fd, 16, 0));
    const b = Number(call(rt, 'bpf_ringbuf_reserve', rb.fd, 8, 0));
    expect(call(rt, 'bpf_ringbuf_reserve', rb.fd, 8, 1)).toBe(0n); // flags must be 0
    rt.space.bytes.fill(0xab, a, a + 16);
    call(rt, 'bpf_ringbuf_submit', a, 0);
    call(rt, 'bpf_ringbuf_discard', b, 0);
    const data = rt.space.alloc(3);
    rt.space.write(data, Uint8Array.of(1, 2, 3));
    expect(call(rt, 'bpf_ringbuf_output', rb.fd, data, 3, 0)).toBe(0n);
    expect(call(rt, 'bpf_ringbuf_query', rb.fd, 0)).toBe(56n); // records of 24, 16 and 16 bytes with their 8-byte headers
    expect(rb.consume()).toEqual([new Uint8Array(16).fill(0xab), Uint8Array.of(1, 2, 3)]);
  });

  it('context helpers: pid/tgid, uid/gid, comm (15 bytes, NUL-padded), cpu, clocks', () => {
    const rt = new Runtime({ context: { pid: 11, tgid: 10, uid: 1000, gid: 100, comm: 'a-very-long-command-name', cpu: 1 }, clock: () => 5_000n, bootOffsetNs: 7n });
    expect(call(rt, 'bpf_get_current_pid_tgid')).toBe((10n << 32n) | 11n);
    expect(call(rt, 'bpf_get_current_uid_gid')).toBe((100n << 32n) | 1000n);
    expect(call(rt, 'bpf_get_smp_processor_id')).toBe(1n);
    expect(call(rt, 'bpf_ktime_get_ns')).toBe(5000n);
    expect(call(rt, 'bpf_ktime_get_boot_ns')).toBe(5007n);
    const buf = rt.space.alloc(20);
    rt.space.bytes.fill(0xff, buf, buf + 20);
    expect(call(rt, 'bpf_get_current_comm', buf, 20)).toBe(0n);
    expect(Buffer.from(rt.space.read(buf, 20)).toString('latin1')).toBe('a-very-long-com' + '\0'.repeat(5));
  });

  it('probe reads copy guest memory and fault outside it', () => {
    const rt = new Runtime();
    const src = rt.space.alloc(8);
    const dst = rt.space.alloc(8);
    rt.space.write(src, new TextEncoder().encode('hi\0junk'));
    expect(call(rt, 'bpf_probe_read_kernel', dst, 4, src)).toBe(0n);
    expect(call(rt, 'bpf_probe_read_user_str', dst, 8, src)).toBe(3n); // "hi" + NUL
    expect(call(rt, 'bpf_probe_read_kernel', dst, 4, 16)).toBe(neg(14)); // the NULL page: -EFAULT
    expect(rt.space.read(dst, 4)).toEqual(new Uint8Array(4)); // zeroed on fault, as the kernel does
  });

  it('trace_printk follows the kernel format rules', () => {
    const rt = new Runtime();
    const fmt = (s: string) => { const a = rt.space.alloc(s.length + 1); rt.space.write(a, new TextEncoder().encode(`${s}\0`)); return [a, s.length + 1] as const; };
    const [f1, n1] = fmt('x=%d y=%u z=%llx\n');
    const str = rt.space.alloc(8);
    rt.space.write(str, new TextEncoder().encode('abc\0'));
    // %d reads 32 bits (so -5 stays -5), %llx all 64; the return value counts the bytes written.
    expect(call(rt, 'bpf_trace_printk', f1, n1, -5, 0xffffffffn, 0x1ffffffffn)).toBe(BigInt('x=-5 y=4294967295 z=1ffffffff\n'.length));
    expect(rt.tracePipe.at(-1)?.msg).toBe('x=-5 y=4294967295 z=1ffffffff');
    const [f2, n2] = fmt('%d %d %d %d');
    expect(call(rt, 'bpf_trace_printk', f2, n2, 1, 2, 3)).toBe(neg(22)); // 4 conversions: -EINVAL
    const [f3, n3] = fmt('%q');
    expect(call(rt, 'bpf_trace_printk', f3, n3)).toBe(neg(22));
    const [f4, n4] = fmt('%s|%5d|%-3x|');
    expect(call(rt, 'bpf_trace_printk', f4, n4, str, 42, 10)).toBe(BigInt('abc|   42|a  |'.length));
    expect(rt.tracePipe.at(-1)?.msg).toBe('abc|   42|a  |');
  });

  it('snprintf formats up to 12 u64 arguments and returns the length with the NUL', () => {
    const rt = new Runtime();
    const fmtAddr = rt.space.alloc(16);
    rt.space.write(fmtAddr, new TextEncoder().encode('%d-%hhx\0'));
    const data = rt.space.alloc(16);
    rt.space.view.setBigUint64(data, 7n, true);
    rt.space.view.setBigUint64(data + 8, 0x1ffn, true);
    const out = rt.space.alloc(8);
    expect(call(rt, 'bpf_snprintf', out, 8, fmtAddr, data, 16)).toBe(6n);
    expect(Buffer.from(rt.space.read(out, 6)).toString('latin1')).toBe('7-1ff\0');
  });

  it('perf_event_output goes to the current CPU, bpf_loop calls back through the backend', () => {
    const rt = new Runtime({ context: { cpu: 1 } });
    const pe = rt.createMap({ type: MapType.PerfEventArray, keySize: 4, valueSize: 4, maxEntries: 2 }) as PerfEventArrayMap;
    const data = rt.space.alloc(4);
    rt.space.write(data, Uint8Array.of(9, 8, 7, 6));
    expect(call(rt, 'bpf_perf_event_output', 0, pe.fd, 0xffffffffn, data, 4)).toBe(0n);
    expect(pe.consume()).toEqual([{ cpu: 1, kind: 'sample', data: Uint8Array.of(9, 8, 7, 6) }]);
    expect(call(rt, 'bpf_loop', 10, 0, 0, 0)).toBe(neg(95)); // no backend callback support here
    const seen: number[] = [];
    rt.invokeCallback = (_pc, [i]) => { seen.push(i); return i === 3 ? 1n : 0n; };
    expect(call(rt, 'bpf_loop', 10, 5, 0, 0)).toBe(4n);
    expect(seen).toEqual([0, 1, 2, 3]);
  });

  it('xdp_adjust_head/meta/tail stay within the packet buffer and keep the metadata before data', () => {
    const rt = new Runtime();
    const buf = rt.space.alloc(256 + 64);
    const ctx = rt.space.alloc(24);
    const v = rt.space.view;
    v.setUint32(ctx, buf + 256, true);
    v.setUint32(ctx + 4, buf + 256 + 64, true);
    v.setUint32(ctx + 8, buf + 256, true);
    rt.packet = { ctx, fields: XDP_MD_LAYOUT.packet!, bufStart: buf, bufEnd: buf + 256 + 64 };
    expect(call(rt, 'bpf_xdp_adjust_head', ctx, -16)).toBe(0n);
    expect(v.getUint32(ctx, true)).toBe(buf + 240);
    expect(call(rt, 'bpf_xdp_adjust_head', ctx, -1000)).toBe(neg(22));
    expect(call(rt, 'bpf_xdp_adjust_meta', ctx, -8)).toBe(0n);
    expect(v.getUint32(ctx + 8, true)).toBe(buf + 232);
    expect(call(rt, 'bpf_xdp_adjust_meta', ctx, -2)).toBe(neg(13)); // -EACCES: not a multiple of 4
    expect(call(rt, 'bpf_xdp_adjust_meta', ctx, -28)).toBe(neg(13)); // -EACCES: more than 32 bytes
    v.setUint32(buf + 232, 0xabcd, true);
    expect(call(rt, 'bpf_xdp_adjust_head', ctx, 4)).toBe(0n);
    expect([v.getUint32(ctx, true), v.getUint32(ctx + 8, true), v.getUint32(buf + 236, true)]).toEqual([buf + 244, buf + 236, 0xabcd]);
    expect(call(rt, 'bpf_xdp_adjust_tail', ctx, -20)).toBe(0n);
    expect(call(rt, 'bpf_xdp_adjust_tail', ctx, 100)).toBe(neg(22));
  });

  it('reads the packet through the context layout of the program type (__sk_buff: data at 76, data_end at 80)', () => {
    const { rt, buf, skb } = skbRun(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    const to = rt.space.alloc(4);
    expect(call(rt, 'bpf_skb_load_bytes', skb, 2, to, 4)).toBe(0n);
    expect(rt.space.read(to, 4)).toEqual(Uint8Array.of(3, 4, 5, 6));
    expect(call(rt, 'bpf_skb_load_bytes', skb, 6, to, 4)).toBe(neg(14));
    expect(rt.space.read(to, 4)).toEqual(new Uint8Array(4));
  });

  it('small skb and socket helpers: skb_store_bytes, csum_diff, sk_fullsock, tcp_sock, sk_release, get_cgroup_classid', () => {
    const { rt, buf, skb } = skbRun(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    const from = rt.space.alloc(8);
    rt.space.write(from, Uint8Array.of(0xaa, 0xbb, 0, 0, 0, 0, 0, 0));
    expect(call(rt, 'bpf_skb_store_bytes', skb, 6, from, 2, 0)).toBe(0n);
    expect(rt.space.read(buf, 8)).toEqual(Uint8Array.of(1, 2, 3, 4, 5, 6, 0xaa, 0xbb));
    expect(call(rt, 'bpf_skb_store_bytes', skb, 7, from, 2, 0)).toBe(neg(14)); // past the packet
    expect(call(rt, 'bpf_skb_store_bytes', skb, 0, from, 2, 4)).toBe(neg(22)); // unknown flag
    // csum_diff: the ones' complement sum of `to` (little-endian words), minus `from`'s, plus the seed, folded to 16 bits
    expect(call(rt, 'bpf_csum_diff', 0, 0, buf, 4, 0)).toBe(0x0604n);
    expect(call(rt, 'bpf_csum_diff', buf, 4, 0, 0, 0x04030201)).toBe(0n); // pulling what the seed pushed
    expect(call(rt, 'bpf_csum_diff', buf, 4, buf, 4, 7)).toBe(7n);
    expect(call(rt, 'bpf_csum_diff', buf, 3, 0, 0, 0)).toBe(neg(22));
    const sk = rt.space.alloc(80);
    expect([call(rt, 'bpf_sk_fullsock', sk), call(rt, 'bpf_tcp_sock', sk), call(rt, 'bpf_sk_release', sk), call(rt, 'bpf_get_cgroup_classid', skb)])
      .toEqual([BigInt(sk), 0n, 0n, 0n]);
  });

  it('lddw map_fd loads a pointer to a struct bpf_map stand-in, which helpers take for the map', () => {
    const rt = new Runtime({ space: new AddressSpace({ strict: true }) });
    const m = rt.createMap({ type: MapType.Hash, keySize: 8, valueSize: 8, maxEntries: 1 });
    const handle = rt.resolveLddw(lddw(1, BigInt(m.fd), PseudoLd.MAP_FD))!;
    expect(handle).toBeGreaterThanOrEqual(4096);
    expect([rt.mapArg(handle), rt.mapArg(m.fd), rt.space.check(handle, 296)]).toEqual([m, m, true]);
    const key = rt.space.alloc(8);
    rt.space.write(key, Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0));
    expect(call(rt, 'bpf_map_update_elem', handle, key, key, 0)).toBe(0n);
    expect(m.lookup(Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0))).toEqual(Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0));
    rt.closeMap(m.fd);
    expect([rt.mapArg(handle), rt.space.check(handle, 1)]).toEqual([undefined, false]);
  });

  it('helperArgFault: names the pointer argument whose sized memory is not live (strict spaces)', () => {
    const rt = new Runtime({ space: new AddressSpace({ strict: true }) });
    const m = rt.createMap({ type: MapType.Hash, keySize: 8, valueSize: 16, maxEntries: 1 });
    const regs = (...args: number[]) => Uint32Array.from({ length: 12 }, (_, i) => (i % 2 === 0 && i > 0 ? args[i / 2 - 1] ?? 0 : 0));
    const short = rt.space.alloc(4);
    const long = rt.space.alloc(16);
    expect(rt.helperArgFault(helperId('bpf_map_lookup_elem')!, regs(m.fd, long))).toBeUndefined();
    expect(rt.helperArgFault(helperId('bpf_map_lookup_elem')!, regs(m.fd, short))).toMatch(/^R2 \(ARG_PTR_TO_MAP_KEY\) names 8 bytes at 0x/);
    expect(rt.helperArgFault(helperId('bpf_map_update_elem')!, regs(m.fd, long, short, 0))).toMatch(/^R3 \(ARG_PTR_TO_MAP_VALUE\) names 16 bytes/);
    expect(rt.helperArgFault(helperId('bpf_probe_read_kernel')!, regs(long, 16, 0))).toBeUndefined(); // the source may be anything
    expect(rt.helperArgFault(helperId('bpf_probe_read_kernel')!, regs(short, 8, 0))).toMatch(/^R1 \(ARG_PTR_TO_UNINIT_MEM\) names 8 bytes/);
    expect(rt.helperArgFault(helperId('bpf_snprintf')!, regs(0, 0, long, 0, 0))).toBeUndefined(); // NULL with size 0
  });

  it('refuses at load time a program calling a helper it cannot honour, naming it', () => {
    const rt = new Runtime();
    const prog = assembleLlvm('call bpf_get_stack\nexit').insns;
    expect(() => rt.checkProgram(prog)).toThrow(NotSupportedError);
    expect(() => rt.checkProgram(prog)).toThrow(/bpf_get_stack/);
    expect(() => rt.checkProgram(assembleLlvm('r1 = map_fd(99) ll\nexit').insns)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('bpf_get_current_task gives the task image of the context, and refuses to invent one', () => {
    const rt = new Runtime();
    expect(() => rt.call(helperId('bpf_get_current_task')!, new Uint32Array(12))).toThrow(/no current task/);
    const task = rt.space.alloc(64, 'task_struct');
    rt.context.task = task;
    expect(call(rt, 'bpf_get_current_task')).toBe(BigInt(task));
  });
});
