import type { CtxField } from '@tsbpf/core';
import type { AddressSpace } from '@tsbpf/maps';
import type { PacketState } from './runtime.js';

const TWO32 = 0x100000000;

/** The guest address a pointer field of a context holds (`u32` or `__bpf_md_ptr`). */
export function readCtxPointer(view: DataView, ctx: number, f: CtxField): number {
  const lo = view.getUint32(ctx + f.off, true);
  return f.size === 8 ? lo + view.getUint32(ctx + f.off + 4, true) * TWO32 : lo;
}

/** Stores a guest address in a pointer field of a context. */
export function writeCtxPointer(view: DataView, ctx: number, f: CtxField, addr: number): void {
  view.setUint32(ctx + f.off, addr >>> 0, true);
  if (f.size === 8) view.setUint32(ctx + f.off + 4, Math.floor(addr / TWO32) >>> 0, true);
}

/** Where the packet is now: the context's `data`, `data_end` and `data_meta` (`data` when the context has none). */
export interface PacketPointers {
  data: number;
  end: number;
  meta: number;
}

/**
 * Reads the packet pointers through the context, as the packet helpers must: a program's earlier
 * helper calls (`bpf_xdp_adjust_head`, ...) move them, so the context is the only truth.
 */
export function packetPointers(space: AddressSpace, pkt: PacketState): PacketPointers {
  const data = readCtxPointer(space.view, pkt.ctx, pkt.fields.data);
  const end = readCtxPointer(space.view, pkt.ctx, pkt.fields.dataEnd);
  const meta = pkt.fields.dataMeta ? readCtxPointer(space.view, pkt.ctx, pkt.fields.dataMeta) : data;
  return { data, end, meta };
}

/**
 * Moves the packet pointers given (`data_meta` only where the context has one), and narrows what
 * strict mode lets the program touch to `data_meta .. data_end`: headroom and tailroom stay the
 * helpers'.
 */
export function setPacketPointers(space: AddressSpace, pkt: PacketState, p: Partial<PacketPointers>): void {
  const view = space.view;
  if (p.data !== undefined) writeCtxPointer(view, pkt.ctx, pkt.fields.data, p.data);
  if (p.end !== undefined) writeCtxPointer(view, pkt.ctx, pkt.fields.dataEnd, p.end);
  if (p.meta !== undefined && pkt.fields.dataMeta) writeCtxPointer(view, pkt.ctx, pkt.fields.dataMeta, p.meta);
  const now = packetPointers(space, pkt);
  space.window(pkt.bufStart, Math.min(now.meta, now.data), now.end);
}
