import { ctxLayout, type CtxLayout, type ProgType, type TestRunOptions, type TestRunResult } from '@tsbpf/core';
import { packetPointers, setPacketPointers, writeCtxPointer } from './packet.js';
import type { Runtime } from './runtime.js';

/** Bytes before and after a test run's packet (the kernel's `XDP_PACKET_HEADROOM`), for the adjust helpers. */
const HEADROOM = 256;

/** Options of a user-space test run: the kernel's, plus a way to reach NULL paths. */
export interface UserTestRunOptions extends TestRunOptions {
  /**
   * Leaves the context's nullable pointer fields NULL (`__sk_buff.sk`, `bpf_sock_ops.sk`), which
   * the kernel's test run always fills in, so a program's NULL paths run too.
   */
  nullPointers?: boolean;
}

/** The context after a run, with the fields the run filled in (pointers, length) as they came in. */
function ctxOut(after: Uint8Array, before: Uint8Array, layout: CtxLayout | undefined): Uint8Array {
  const packet = layout?.packet;
  const filled = [...(packet ? [packet.data, packet.dataEnd, packet.dataMeta] : []), ...(layout?.pointers ?? [])];
  if (layout?.len !== undefined) filled.push({ off: layout.len, size: 4 });
  for (const f of filled) {
    if (f && f.off < after.length) after.set(before.subarray(f.off, f.off + f.size), f.off);
  }
  return after;
}

/**
 * `BPF_PROG_TEST_RUN` for user-space backends: builds the context of `progType` in the runtime's
 * address space, calls `run(ctxAddr, repeat)` (which runs the program `repeat` times with r1 =
 * the context and returns the last r0 and the mean ns per run), then reads the packet and the
 * context back and frees what it allocated.
 *
 * - types with a packet (XDP's `xdp_md`, the `__sk_buff` types, ...): `data` is copied into a
 *   packet buffer with 256 bytes of headroom and tailroom; the context's `data`, `data_end` and
 *   `data_meta` point into it and its length field (`__sk_buff.len`) holds the length. As in the
 *   kernel, the `__sk_buff` types other than tc's see the packet from the network header (the
 *   14-byte Ethernet header is pulled, and comes back zeroed in `dataOut`). `dataOut` is the
 *   packet from `data` to `data_end` after the run.
 * - other types with a known layout (`pt_regs`, tracepoint records, `bpf_sock_addr`, ...): the
 *   context is the whole struct.
 * - both: `ctx`, when given, is copied into the context first (the kernel's `ctx_in`); then the
 *   pointer fields are filled in: a zeroed struct where the layout has one (the dummy socket of
 *   `__sk_buff.sk`, `bpf_sock_addr.sk`), NULL elsewhere (`__sk_buff.flow_keys`).
 * - types without a layout: r1 points to a copy of `ctx`, or is 0.
 *
 * Unlike the kernel, packets shorter than an Ethernet header are run, no `ctx` field is refused
 * and the dummy socket is all zeroes (the kernel sets its family and addresses from the IP
 * header). `ctxOut` is the context after the run, with the fields the run filled in read back as
 * they came in (the kernel's `ctx_out` never shows its pointers).
 */
export function userTestRun(
  rt: Runtime,
  progType: ProgType,
  options: UserTestRunOptions,
  run: (ctxAddr: number, repeat: number) => { r0: bigint; ns: number },
): TestRunResult {
  const space = rt.space;
  const layout = ctxLayout(progType);
  const regions: number[] = [];
  const alloc = (size: number, tag: string) => {
    const a = space.alloc(size, tag);
    regions.push(a);
    return a;
  };
  const ctxIn = options.ctx;
  let ctxAddr = 0;
  let pulled = 0;
  try {
    if (layout) {
      ctxAddr = alloc(Math.max(layout.size, ctxIn?.length ?? 0), 'ctx');
      if (ctxIn) space.write(ctxAddr, ctxIn);
      for (const p of layout.pointers ?? []) {
        const target = p.target && !(p.nullable && options.nullPointers) ? alloc(p.target.size, p.target.struct) : 0;
        writeCtxPointer(space.view, ctxAddr, p, target);
      }
      if (layout.packet) {
        const data = options.data ?? new Uint8Array();
        const buf = alloc(HEADROOM + data.length + HEADROOM, 'packet');
        const start = buf + HEADROOM;
        space.write(start, data);
        pulled = Math.min(layout.linkHeader ?? 0, data.length);
        rt.packet = { ctx: ctxAddr, fields: layout.packet, bufStart: buf, bufEnd: start + data.length + HEADROOM };
        setPacketPointers(space, rt.packet, { data: start + pulled, end: start + data.length, meta: start + pulled });
        if (layout.len !== undefined) space.view.setUint32(ctxAddr + layout.len, data.length - pulled, true);
      }
    } else if (ctxIn) {
      ctxAddr = alloc(ctxIn.length, 'ctx');
      space.write(ctxAddr, ctxIn);
    }
    const r = run(ctxAddr, Math.max(1, options.repeat ?? 1));
    const out: TestRunResult = { retval: r.r0, durationNs: r.ns };
    if (rt.packet) {
      const { data, end } = packetPointers(space, rt.packet);
      out.dataOut = new Uint8Array(pulled + end - data);
      out.dataOut.set(space.read(data, end - data), pulled);
    }
    if (ctxIn) out.ctxOut = ctxOut(space.read(ctxAddr, ctxIn.length), ctxIn, layout);
    return out;
  } finally {
    rt.packet = undefined;
    for (const a of regions) space.free(a);
  }
}
