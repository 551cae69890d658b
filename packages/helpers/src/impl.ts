import { Errno, MapError, NotSupportedError } from '@tsbpf/core';
import { PerfEventArrayMap, RingBufMap } from '@tsbpf/maps';
import { formatValue, parseFormat } from './format.js';
import { packetPointers, setPacketPointers } from './packet.js';
import type { Runtime } from './runtime.js';

/** A helper implementation: reads r1..r5 from `r` (u32 pairs), writes r0. */
export type HelperImpl = (rt: Runtime, r: Uint32Array) => void;

const TWO32 = 0x100000000;
/** Argument `i` (1..5) as a number (exact below 2^53: pointers, sizes, flags, fds). */
const arg = (r: Uint32Array, i: number): number => r[2 * i] + r[2 * i + 1] * TWO32;
/** Argument `i` as a 64-bit value. */
const arg64 = (r: Uint32Array, i: number): bigint => (BigInt(r[2 * i + 1]) << 32n) | BigInt(r[2 * i]);
const ret = (r: Uint32Array, v: number): void => {
  r[0] = v >>> 0;
  r[1] = v < 0 ? 0xffffffff : Math.floor(v / TWO32) >>> 0;
};
const ret64 = (r: Uint32Array, v: bigint): void => {
  const u = BigInt.asUintN(64, v);
  r[0] = Number(u & 0xffffffffn);
  r[1] = Number(u >> 32n);
};

function mapArg(rt: Runtime, r: Uint32Array, i: number) {
  return rt.mapArg(arg(r, i));
}

/** Runs a map operation, returning 0 or the kernel's negative errno. */
function mapOp(f: () => void): number {
  try {
    f();
    return 0;
  } catch (e) {
    if (e instanceof MapError) return -e.errno;
    throw e;
  }
}

/** Copies `size` bytes from `src` to `dst` when `src` is readable guest memory; -EFAULT (and zeroes) otherwise. */
function probeRead(rt: Runtime, dst: number, size: number, src: number): number {
  if (!rt.space.check(dst, size)) return -Errno.EFAULT;
  if (!rt.space.check(src, size)) {
    rt.space.bytes.fill(0, dst, dst + size);
    return -Errno.EFAULT;
  }
  rt.space.bytes.copyWithin(dst, src, src + size);
  return 0;
}

/** Copies a NUL-terminated string of at most `size` bytes (NUL included); returns its length with the NUL. */
function probeReadStr(rt: Runtime, dst: number, size: number, src: number): number {
  if (size <= 0) return 0;
  if (!rt.space.check(dst, size)) return -Errno.EFAULT;
  const b = rt.space.bytes;
  for (let i = 0; i < size - 1; i++) {
    if (!rt.space.check(src + i, 1)) {
      b[dst] = 0;
      return -Errno.EFAULT;
    }
    const c = b[src + i];
    b[dst + i] = c;
    if (c === 0) return i + 1;
  }
  b[dst + size - 1] = 0;
  return size;
}

function readCString(rt: Runtime, addr: number, max: number): string | undefined {
  let s = '';
  for (let i = 0; i < max; i++) {
    if (!rt.space.check(addr + i, 1)) return undefined;
    const c = rt.space.bytes[addr + i];
    if (c === 0) return s;
    s += String.fromCharCode(c);
  }
  return undefined;
}

/** Formats with the kernel's rules; `args` are the raw 64-bit values. Returns the text or -EINVAL. */
function bprintf(rt: Runtime, fmt: string, args: bigint[], opts: { allowShort?: boolean; maxArgs: number }): string | number {
  const parts = parseFormat(fmt, opts);
  if (typeof parts === 'string') return -Errno.EINVAL;
  const convs = parts.filter((p) => typeof p !== 'string');
  if (convs.length > opts.maxArgs || convs.length > args.length) return -Errno.EINVAL;
  let a = 0;
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') out += p;
    else {
      const v = args[a++];
      // %s reads a string through a probe read; a bad pointer prints as the kernel's "(efault)".
      out += p.kind === 'str' ? formatValue(p, v, readCString(rt, Number(BigInt.asUintN(32, v)), 4096) ?? '(efault)') : formatValue(p, v);
    }
  }
  return out;
}

const BPF_F_CURRENT_CPU = 0xffffffffn;
const BPF_F_RECOMPUTE_CSUM = 1;
const BPF_F_INVALIDATE_HASH = 2;

/** Folds a sum into 32 bits with end-around carry, as the kernel's `from64to32`. */
const fold32 = (x: number): number => {
  while (x > 0xffffffff) x = (x % 0x100000000) + Math.floor(x / 0x100000000);
  return x;
};
/** `csum_partial` of `size` bytes (a multiple of 4) at `addr`: the 32-bit ones' complement sum of its little-endian words. */
function csumPartial(view: DataView, addr: number, size: number, seed: number): number {
  let sum = seed;
  for (let i = 0; i < size; i += 4) sum = fold32(sum + view.getUint32(addr + i, true));
  return sum;
}
/** `csum_sub(a, b)` = `csum_add(a, ~b)`. */
const csumSub = (a: number, b: number): number => fold32(a + (~b >>> 0));
/** `csum_from32to16`: the high half of `sum + ror32(sum, 16)`. */
const csumFrom32to16 = (sum: number): number => ((sum + ((sum >>> 16) | (sum << 16) >>> 0)) % 0x100000000) >>> 16;
/** The XDP helpers keep at least an Ethernet header between `data` and `data_end`. */
const ETH_HLEN = 14;

/** Implementations by helper id. A helper not here is reported at load time, never silently 0. */
export const HELPER_IMPLS: Record<number, HelperImpl> = {
  // bpf_map_lookup_elem(map, key)
  1: (rt, r) => ret(r, mapArg(rt, r, 1)?.lookupAddr(arg(r, 2), rt.context.cpu) ?? 0),
  // bpf_map_update_elem(map, key, value, flags)
  2: (rt, r) => {
    const m = mapArg(rt, r, 1);
    if (!m) return ret(r, -Errno.EINVAL);
    const key = rt.space.read(arg(r, 2), m.spec.keySize);
    const value = rt.space.read(arg(r, 3), m.spec.valueSize);
    ret(r, mapOp(() => m.updateFromProgram(key, value, arg(r, 4), rt.context.cpu)));
  },
  // bpf_map_delete_elem(map, key)
  3: (rt, r) => {
    const m = mapArg(rt, r, 1);
    if (!m) return ret(r, -Errno.EINVAL);
    ret(r, mapOp(() => m.delete(rt.space.read(arg(r, 2), m.spec.keySize))));
  },
  4: (rt, r) => ret(r, probeRead(rt, arg(r, 1), arg(r, 2), arg(r, 3))),
  5: (rt, r) => ret64(r, rt.clock()),
  // bpf_trace_printk(fmt, fmt_size, ...) : at most 3 arguments
  6: (rt, r) => {
    const size = arg(r, 2);
    const fmt = readCString(rt, arg(r, 1), size);
    if (fmt === undefined) return ret(r, -Errno.EINVAL);
    const text = bprintf(rt, fmt, [arg64(r, 3), arg64(r, 4), arg64(r, 5)], { maxArgs: 3 });
    if (typeof text === 'number') return ret(r, text);
    rt.trace(text.replace(/\n$/, ''));
    ret(r, text.length);
  },
  7: (rt, r) => ret(r, rt.random() >>> 0),
  8: (rt, r) => ret(r, rt.context.cpu),
  // bpf_skb_store_bytes(skb, u32 offset, from, len, flags): inside the packet only (no skb to grow here)
  9: (rt, r) => {
    const pkt = rt.packet;
    if (!pkt) return ret(r, -Errno.EINVAL);
    if (arg(r, 5) & ~(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH)) return ret(r, -Errno.EINVAL);
    const { data, end } = packetPointers(rt.space, pkt);
    const off = r[4];
    const len = arg(r, 4);
    if (off > 0x7fffffff || off + len > end - data) return ret(r, -Errno.EFAULT);
    rt.space.bytes.copyWithin(data + off, arg(r, 3), arg(r, 3) + len);
    ret(r, 0);
  },
  // bpf_tail_call(ctx, prog_array, index): the backend performs the jump after the call returns.
  12: (rt, r) => {
    const m = mapArg(rt, r, 2);
    const index = r[6];
    if (m && rt.tailCallTarget(m.fd, index) !== undefined) rt.pendingTailCall = { mapFd: m.fd, index };
    ret(r, -Errno.ENOENT); // what r0 holds when the tail call does not happen
  },
  14: (rt, r) => ret64(r, (BigInt(rt.context.tgid) << 32n) | BigInt(rt.context.pid)),
  15: (rt, r) => ret64(r, (BigInt(rt.context.gid) << 32n) | BigInt(rt.context.uid)),
  // bpf_get_current_task(): the task_struct image of the context (read it with bpf_probe_read_kernel)
  35: (rt, r) => ret64(r, BigInt(currentTask(rt))),
  // bpf_get_current_comm(buf, size)
  16: (rt, r) => {
    const dst = arg(r, 1);
    const size = arg(r, 2);
    if (!rt.space.check(dst, size)) return ret(r, -Errno.EFAULT);
    const name = new TextEncoder().encode(rt.context.comm).subarray(0, 15);
    rt.space.bytes.fill(0, dst, dst + size);
    rt.space.bytes.set(name.subarray(0, Math.max(0, size - 1)), dst);
    ret(r, 0);
  },
  // bpf_get_cgroup_classid(skb): the runtime has no net_cls cgroup, which the kernel reports as 0
  17: (rt, r) => ret(r, 0),
  // bpf_perf_event_output(ctx, map, flags, data, size)
  25: (rt, r) => {
    const m = mapArg(rt, r, 2);
    if (!(m instanceof PerfEventArrayMap)) return ret(r, -Errno.EINVAL);
    const flags = arg64(r, 3);
    const index = (flags & 0xffffffffn) === BPF_F_CURRENT_CPU ? rt.context.cpu : Number(flags & 0xffffffffn);
    const size = arg(r, 5);
    if (!rt.space.check(arg(r, 4), size)) return ret(r, -Errno.EFAULT);
    ret(r, m.output(index, rt.space.read(arg(r, 4), size)));
  },
  // bpf_skb_load_bytes(skb, u32 offset, to, len): offsets from skb->data, as the context holds it now
  26: (rt, r) => {
    const pkt = rt.packet;
    if (!pkt) return ret(r, -Errno.EINVAL);
    const { data, end } = packetPointers(rt.space, pkt);
    const off = r[4];
    const len = arg(r, 4);
    if (off + len > end - data) {
      rt.space.bytes.fill(0, arg(r, 3), arg(r, 3) + len);
      return ret(r, -Errno.EFAULT);
    }
    ret(r, probeRead(rt, arg(r, 3), len, data + off));
  },
  // bpf_get_stackid(ctx, map, flags): simulated, a stable id per process (no unwinder here)
  27: (rt, r) => ret(r, mapArg(rt, r, 2) ? rt.context.tgid % 1024 : -Errno.EINVAL),
  // bpf_csum_diff(from, from_size, to, to_size, seed): csum(to) - csum(from) + seed, folded to 16 bits (Linux 6.13+)
  28: (rt, r) => {
    const v = rt.space.view;
    const fromSize = arg(r, 2);
    const toSize = arg(r, 4);
    if ((fromSize | toSize) & 3) return ret(r, -Errno.EINVAL);
    const seed = r[10];
    const sum = fromSize && toSize ? csumSub(csumPartial(v, arg(r, 3), toSize, seed), csumPartial(v, arg(r, 1), fromSize, 0))
      : toSize ? csumPartial(v, arg(r, 3), toSize, seed)
        : fromSize ? ~csumPartial(v, arg(r, 1), fromSize, ~seed >>> 0) >>> 0
          : seed;
    ret(r, csumFrom32to16(sum));
  },
  // bpf_xdp_adjust_head(xdp_md, delta): metadata moves with data
  44: (rt, r) => {
    const pkt = rt.packet;
    if (!pkt) return ret(r, -Errno.EINVAL);
    const { data, end, meta } = packetPointers(rt.space, pkt);
    const delta = r[4] | 0;
    const metalen = data - meta;
    const moved = data + delta;
    if (moved < pkt.bufStart + metalen || moved > end - ETH_HLEN) return ret(r, -Errno.EINVAL);
    if (metalen) rt.space.bytes.copyWithin(meta + delta, meta, data);
    setPacketPointers(rt.space, pkt, { data: moved, meta: meta + delta });
    ret(r, 0);
  },
  // bpf_xdp_adjust_meta(xdp_md, delta): at most 32 bytes of metadata, in 4-byte units
  54: (rt, r) => {
    const pkt = rt.packet;
    if (!pkt?.fields.dataMeta) return ret(r, -Errno.ENOTSUPP);
    const { data, meta } = packetPointers(rt.space, pkt);
    const moved = meta + (r[4] | 0);
    if (moved < pkt.bufStart || moved > data) return ret(r, -Errno.EINVAL);
    if ((data - moved) % 4 !== 0 || data - moved > 32) return ret(r, -Errno.EACCES);
    setPacketPointers(rt.space, pkt, { meta: moved });
    ret(r, 0);
  },
  // bpf_xdp_adjust_tail(xdp_md, delta): grown bytes are zeroed
  65: (rt, r) => {
    const pkt = rt.packet;
    if (!pkt) return ret(r, -Errno.EINVAL);
    const { data, end: oldEnd } = packetPointers(rt.space, pkt);
    const delta = r[4] | 0;
    const end = oldEnd + delta;
    if (end > pkt.bufEnd || end < data + ETH_HLEN) return ret(r, -Errno.EINVAL);
    if (delta > 0) rt.space.bytes.fill(0, oldEnd, end);
    setPacketPointers(rt.space, pkt, { end });
    ret(r, 0);
  },
  // bpf_map_push_elem(map, value, flags): queue, stack (BPF_EXIST overwrites the oldest when full), bloom filter
  87: (rt, r) => {
    const m = mapArg(rt, r, 1);
    if (!m) return ret(r, -Errno.EINVAL);
    if (!rt.space.check(arg(r, 2), m.spec.valueSize)) return ret(r, -Errno.EFAULT);
    const value = rt.space.read(arg(r, 2), m.spec.valueSize);
    const flags = arg64(r, 3);
    ret(r, flags > 0xffffffffn ? -Errno.EINVAL : mapOp(() => m.pushElem(value, Number(flags))));
  },
  // bpf_map_pop_elem(map, value): the value is written (zeroed, -ENOENT, when the map is empty)
  88: (rt, r) => {
    const m = mapArg(rt, r, 1);
    if (!m) return ret(r, -Errno.EINVAL);
    if (!rt.space.check(arg(r, 2), m.spec.valueSize)) return ret(r, -Errno.EFAULT);
    const buf = rt.space.read(arg(r, 2), m.spec.valueSize);
    const err = mapOp(() => m.popElem(buf));
    if (err !== -Errno.EOPNOTSUPP && err !== -Errno.EINVAL) rt.space.write(arg(r, 2), buf);
    ret(r, err);
  },
  // bpf_map_peek_elem(map, value): queue/stack write the next value; a bloom filter tests it (0: maybe present)
  89: (rt, r) => {
    const m = mapArg(rt, r, 1);
    if (!m) return ret(r, -Errno.EINVAL);
    if (!rt.space.check(arg(r, 2), m.spec.valueSize)) return ret(r, -Errno.EFAULT);
    const buf = rt.space.read(arg(r, 2), m.spec.valueSize);
    const err = mapOp(() => m.peekElem(buf));
    if (err !== -Errno.EINVAL) rt.space.write(arg(r, 2), buf);
    ret(r, err);
  },
  // bpf_sk_release(sock): the runtime hands out no socket references, so there is nothing to drop
  86: (rt, r) => ret(r, 0),
  // bpf_sk_fullsock(sk): the runtime's sockets are all full sockets
  95: (rt, r) => ret(r, arg(r, 1)),
  // bpf_tcp_sock(sk): NULL, as the kernel answers for a socket that is not TCP (protocol 0 here)
  96: (rt, r) => ret(r, 0),
  112: (rt, r) => ret(r, probeRead(rt, arg(r, 1), arg(r, 2), arg(r, 3))),
  113: (rt, r) => ret(r, probeRead(rt, arg(r, 1), arg(r, 2), arg(r, 3))),
  114: (rt, r) => ret(r, probeReadStr(rt, arg(r, 1), arg(r, 2), arg(r, 3))),
  115: (rt, r) => ret(r, probeReadStr(rt, arg(r, 1), arg(r, 2), arg(r, 3))),
  125: (rt, r) => ret64(r, rt.clock() + rt.bootOffsetNs),
  // bpf_ringbuf_output(ringbuf, data, size, flags)
  130: (rt, r) => {
    const m = mapArg(rt, r, 1);
    if (!(m instanceof RingBufMap)) return ret(r, -Errno.EINVAL);
    if (!rt.space.check(arg(r, 2), arg(r, 3))) return ret(r, -Errno.EFAULT);
    ret(r, m.output(rt.space.read(arg(r, 2), arg(r, 3))) ? 0 : -Errno.EAGAIN);
  },
  // bpf_ringbuf_reserve(ringbuf, size, flags)
  131: (rt, r) => {
    const m = mapArg(rt, r, 1);
    if (!(m instanceof RingBufMap) || arg(r, 3) !== 0) return ret(r, 0);
    ret(r, m.reserve(arg(r, 2)));
  },
  132: (rt, r) => {
    rt.ringbufAt(arg(r, 1))?.commit(arg(r, 1), false);
    ret(r, 0);
  },
  133: (rt, r) => {
    rt.ringbufAt(arg(r, 1))?.commit(arg(r, 1), true);
    ret(r, 0);
  },
  134: (rt, r) => {
    const m = mapArg(rt, r, 1);
    ret(r, m instanceof RingBufMap ? m.query(arg(r, 2)) : 0);
  },
  // bpf_snprintf(out, out_size, fmt, data, data_len): up to 12 u64 arguments in `data`
  165: (rt, r) => {
    const out = arg(r, 1);
    const outSize = arg(r, 2);
    const fmt = readCString(rt, arg(r, 3), 4096);
    const dataLen = arg(r, 5);
    if (fmt === undefined || dataLen % 8 !== 0 || dataLen > 12 * 8) return ret(r, -Errno.EINVAL);
    const args = Array.from({ length: dataLen / 8 }, (_, i) => rt.space.view.getBigUint64(arg(r, 4) + i * 8, true));
    const text = bprintf(rt, fmt, args, { allowShort: true, maxArgs: 12 });
    if (typeof text === 'number') return ret(r, text);
    const bytes = new TextEncoder().encode(text);
    if (outSize > 0) {
      const n = Math.min(bytes.length, outSize - 1);
      rt.space.bytes.set(bytes.subarray(0, n), out);
      rt.space.bytes[out + n] = 0;
    }
    ret(r, bytes.length + 1);
  },
  // bpf_loop(nr_loops, callback_fn, callback_ctx, flags)
  181: (rt, r) => {
    const nr = arg(r, 1);
    if (arg(r, 4) !== 0) return ret(r, -Errno.EINVAL);
    if (nr > 1 << 23) return ret(r, -Errno.E2BIG);
    if (!rt.invokeCallback) return ret(r, -Errno.EOPNOTSUPP);
    const fn = arg(r, 2);
    const ctx = arg(r, 3);
    let i = 0;
    for (; i < nr; i++) {
      if (rt.invokeCallback(fn, [i, ctx]) !== 0n) {
        i++;
        break;
      }
    }
    ret(r, i);
  },
};

export { arg, arg64, ret, ret64 };

/** The current task's image, or a NotSupportedError saying how to give one. */
function currentTask(rt: Runtime): number {
  const task = rt.context.task;
  if (task === undefined) {
    throw new NotSupportedError('bpf_get_current_task: this runtime has no current task; set runtime.context.task to the guest address of a struct task_struct image (laid out from the kernel\'s BTF), or run on the kernel backend', { code: 'E_HELPER_NOT_SUPPORTED' });
  }
  return task;
}
