/**
 * Helper rules the generic prototypes of @tsbpf/helpers do not express, transcribed from the
 * kernel (kernel/bpf/verifier.c check_map_func_compatibility, may_update_sockmap,
 * may_access_direct_pkt_data, bpf_helper_changes_pkt_data, the acquire/release helpers) and
 * prototype corrections for helpers whose derived prototype is wrong.
 */
import { helperProto } from '@tsbpf/helpers';

// check_map_func_compatibility, first direction: what a map of each type may be passed to.
const LOOKUP_UPDATE_DELETE = [1, 2, 3];
const BY_MAP: Record<number, number[]> = {
  3: [12], // prog array: tail_call
  4: [22, 25, 55, 111, 121], // perf event array
  7: [27, 67], // stack trace: get_stackid
  8: [37, 80], // cgroup array
  14: [51, 1], // devmap
  25: [51, 1], // devmap hash
  16: [51], // cpumap
  17: [51, 1], // xskmap
  12: [1], // array of maps
  13: [1], // hash of maps
  15: [52, 53, 60, 82, ...LOOKUP_UPDATE_DELETE], // sockmap
  18: [70, 71, 72, 82, ...LOOKUP_UPDATE_DELETE], // sockhash
  20: [82], // reuseport sockarray
  19: [81], // cgroup storage
  21: [81], // percpu cgroup storage
  22: [89, 88, 87], // queue: peek, pop, push
  23: [89, 88, 87], // stack: peek, pop, push
  24: [107, 108], // sk storage
  27: [130, 131, 132, 133, 134, 196, 197, 198], // ringbuf
  28: [156, 157], // inode storage
  29: [161, 162], // task storage
  31: [209], // user ringbuf
  32: [210, 211], // cgrp storage
  30: [89, 87], // bloom filter: peek, push
};
// second direction: helpers that only take certain map types.
const BY_FUNC: Record<number, number[]> = {
  12: [3], 22: [4], 25: [4], 55: [4], 111: [4], 121: [4], 27: [7], 67: [7], 37: [8], 80: [8],
  51: [14, 25, 16, 17], 52: [15], 53: [15], 60: [15], 70: [18], 71: [18], 72: [18], 82: [20, 15, 18],
  81: [19, 21], 87: [22, 23, 30], 88: [22, 23], 89: [22, 23, 30], 107: [24], 108: [24],
  130: [27], 131: [27], 132: [27], 133: [27], 134: [27], 156: [28], 157: [28], 161: [29], 162: [29],
  209: [31], 210: [32], 211: [32], 164: [1, 2, 5, 6, 9, 10], 195: [5, 6, 10],
};

export function mapFuncCompat(mapType: number, helperId: number, progType: number, _a?: number): string | undefined {
  const name = helperProto(helperId)?.name ?? 'unknown';
  const bad = `cannot pass map_type ${mapType} into func ${name}#${helperId}`;
  const allowedFuncs = BY_MAP[mapType];
  if (allowedFuncs && !allowedFuncs.includes(helperId)) return bad;
  const allowedMaps = BY_FUNC[helperId];
  if (allowedMaps && !allowedMaps.includes(mapType)) return bad;
  // may_update_sockmap: sockmap/sockhash updates and deletes only from some program types
  if ((mapType === 15 || mapType === 18) && (helperId === 2 || helperId === 3)) {
    const ok = [1, 3, 4, 6, 21, 22, 30].includes(progType) || (progType === 13 && helperId === 3) || (progType === 26 && _a === 28);
    if (!ok) return 'cannot update sockmap in this context';
  }
  return undefined;
}
/** Program types that may read packet data directly (may_access_direct_pkt_data, reads). */
const PKT_READ: ReadonlySet<number> = new Set([1, 2, 3, 4, 6, 8, 10, 11, 12, 13, 14, 15, 17, 22, 23]);
/** ... and write it. */
const PKT_WRITE: ReadonlySet<number> = new Set([3, 4, 6, 12, 14, 15, 16, 17, 19]);
/** Helpers that may move packet data (bpf_helper_changes_pkt_data): packet pointers die at the call. */
const CHANGES_PKT: ReadonlySet<number> = new Set([
  9 /* skb_store_bytes */, 10 /* l3_csum_replace */, 11 /* l4_csum_replace */, 12 /* tail_call */,
  13 /* clone_redirect */, 18 /* skb_vlan_push */, 19 /* skb_vlan_pop */, 31 /* skb_change_proto */,
  38 /* skb_change_tail */, 39 /* skb_pull_data */, 43 /* skb_change_head */, 44 /* xdp_adjust_head */,
  50 /* skb_adjust_room */, 54 /* xdp_adjust_meta */, 63 /* msg_pull_data */, 65 /* xdp_adjust_tail */,
  73 /* lwt_push_encap */, 74 /* lwt_seg6_store_bytes */, 75 /* lwt_seg6_adjust_srh */,
  76 /* lwt_seg6_action */, 90 /* msg_push_data */, 91 /* msg_pop_data */, 143 /* store_hdr_opt */,
]);
/** Helpers whose result is a reference the program must release (sk_lookup_tcp/udp, skc_lookup_tcp, ringbuf_reserve). */
const ACQUIRE: ReadonlySet<number> = new Set([84, 85, 99, 131]);
/** Helpers that release the reference in their first argument (sk_release, ringbuf_submit/discard). */
const RELEASE_ARG0: ReadonlySet<number> = new Set([86, 132, 133]);

/** may_access_direct_pkt_data. */
export function directPacketAccess(p: number, _a: number | undefined, write: boolean): boolean {
  return write ? PKT_WRITE.has(p) : PKT_READ.has(p);
}
export function helperChangesPktData(id: number): boolean {
  return CHANGES_PKT.has(id);
}
export function helperAcquires(id: number): boolean {
  return ACQUIRE.has(id);
}
/** The argument index (0-based) a release helper releases, or undefined. */
export function helperReleasesArg(id: number): number | undefined {
  return RELEASE_ARG0.has(id) ? 0 : undefined;
}
const LOOKUP = ['ARG_PTR_TO_CTX', 'ARG_PTR_TO_MEM', 'ARG_CONST_SIZE', 'ARG_ANYTHING', 'ARG_ANYTHING'];
export const PROTO_OVERRIDES = new Map<number, { args?: string[]; ret?: string }>([
  [84, { args: LOOKUP, ret: 'RET_PTR_TO_SOCKET_OR_NULL' }],
  [85, { args: LOOKUP, ret: 'RET_PTR_TO_SOCKET_OR_NULL' }],
  [99, { args: LOOKUP, ret: 'RET_PTR_TO_SOCK_COMMON_OR_NULL' }],
  [86, { args: ['ARG_PTR_TO_BTF_ID_SOCK_COMMON'] }],
  [122, { args: ['ARG_PTR_TO_CTX_OR_NULL'] }],
  [81, { args: ['ARG_CONST_MAP_PTR', 'ARG_ANYTHING'], ret: 'RET_PTR_TO_MAP_VALUE' }],
  [105, { args: ['ARG_PTR_TO_MEM', 'ARG_CONST_SIZE', 'ARG_ANYTHING', 'ARG_PTR_TO_LONG'] }],
  [106, { args: ['ARG_PTR_TO_MEM', 'ARG_CONST_SIZE', 'ARG_ANYTHING', 'ARG_PTR_TO_LONG'] }],
  [28, { args: ['ARG_PTR_TO_MEM_OR_NULL', 'ARG_CONST_SIZE_OR_ZERO', 'ARG_PTR_TO_MEM_OR_NULL', 'ARG_CONST_SIZE_OR_ZERO', 'ARG_ANYTHING'] }],
]);
