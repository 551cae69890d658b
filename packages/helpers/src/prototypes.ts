import { HELPERS } from '@tsbpf/core';
import { KERNEL_PROTOS } from './generated/kernel-protos.js';
import { SIGNATURES } from './generated/signatures.js';
import type { ArgType, HelperProto, RetType } from './types.js';

/**
 * Prototypes transcribed from the kernel's `bpf_func_proto` definitions (kernel/bpf/helpers.c,
 * kernel/trace/bpf_trace.c, kernel/bpf/ringbuf.c, net/core/filter.c), for the helpers the runtime
 * implements and the verifier cares most about.
 */
const KERNEL: Record<number, [RetType, ArgType[], boolean?]> = {
  1: ['RET_PTR_TO_MAP_VALUE_OR_NULL', ['ARG_CONST_MAP_PTR', 'ARG_PTR_TO_MAP_KEY']],
  2: ['RET_INTEGER', ['ARG_CONST_MAP_PTR', 'ARG_PTR_TO_MAP_KEY', 'ARG_PTR_TO_MAP_VALUE', 'ARG_ANYTHING']],
  3: ['RET_INTEGER', ['ARG_CONST_MAP_PTR', 'ARG_PTR_TO_MAP_KEY']],
  4: ['RET_INTEGER', ['ARG_PTR_TO_UNINIT_MEM', 'ARG_CONST_SIZE_OR_ZERO', 'ARG_ANYTHING'], true],
  5: ['RET_INTEGER', []],
  6: ['RET_INTEGER', ['ARG_PTR_TO_MEM', 'ARG_CONST_SIZE'], true],
  7: ['RET_INTEGER', []],
  8: ['RET_INTEGER', []],
  12: ['RET_VOID', ['ARG_PTR_TO_CTX', 'ARG_CONST_MAP_PTR', 'ARG_ANYTHING']],
  14: ['RET_INTEGER', []],
  15: ['RET_INTEGER', []],
  16: ['RET_INTEGER', ['ARG_PTR_TO_UNINIT_MEM', 'ARG_CONST_SIZE']],
  25: ['RET_INTEGER', ['ARG_PTR_TO_CTX', 'ARG_CONST_MAP_PTR', 'ARG_ANYTHING', 'ARG_PTR_TO_MEM', 'ARG_CONST_SIZE_OR_ZERO'], true],
  26: ['RET_INTEGER', ['ARG_PTR_TO_CTX', 'ARG_ANYTHING', 'ARG_PTR_TO_UNINIT_MEM', 'ARG_CONST_SIZE']],
  27: ['RET_INTEGER', ['ARG_PTR_TO_CTX', 'ARG_CONST_MAP_PTR', 'ARG_ANYTHING'], true],
  35: ['RET_INTEGER', []],
  44: ['RET_INTEGER', ['ARG_PTR_TO_CTX', 'ARG_ANYTHING']],
  65: ['RET_INTEGER', ['ARG_PTR_TO_CTX', 'ARG_ANYTHING']],
  87: ['RET_INTEGER', ['ARG_CONST_MAP_PTR', 'ARG_PTR_TO_MAP_VALUE', 'ARG_ANYTHING']],
  // pop and peek write the value (MEM_UNINIT); the verifier reads a bloom filter's peek argument instead
  88: ['RET_INTEGER', ['ARG_CONST_MAP_PTR', 'ARG_PTR_TO_UNINIT_MAP_VALUE']],
  89: ['RET_INTEGER', ['ARG_CONST_MAP_PTR', 'ARG_PTR_TO_UNINIT_MAP_VALUE']],
  112: ['RET_INTEGER', ['ARG_PTR_TO_UNINIT_MEM', 'ARG_CONST_SIZE_OR_ZERO', 'ARG_ANYTHING'], true],
  113: ['RET_INTEGER', ['ARG_PTR_TO_UNINIT_MEM', 'ARG_CONST_SIZE_OR_ZERO', 'ARG_ANYTHING'], true],
  114: ['RET_INTEGER', ['ARG_PTR_TO_UNINIT_MEM', 'ARG_CONST_SIZE_OR_ZERO', 'ARG_ANYTHING'], true],
  115: ['RET_INTEGER', ['ARG_PTR_TO_UNINIT_MEM', 'ARG_CONST_SIZE_OR_ZERO', 'ARG_ANYTHING'], true],
  125: ['RET_INTEGER', []],
  130: ['RET_INTEGER', ['ARG_CONST_MAP_PTR', 'ARG_PTR_TO_MEM', 'ARG_CONST_SIZE_OR_ZERO', 'ARG_ANYTHING']],
  131: ['RET_PTR_TO_RINGBUF_MEM_OR_NULL', ['ARG_CONST_MAP_PTR', 'ARG_CONST_ALLOC_SIZE_OR_ZERO', 'ARG_ANYTHING']],
  132: ['RET_VOID', ['ARG_PTR_TO_ALLOC_MEM', 'ARG_ANYTHING']],
  133: ['RET_VOID', ['ARG_PTR_TO_ALLOC_MEM', 'ARG_ANYTHING']],
  134: ['RET_INTEGER', ['ARG_CONST_MAP_PTR', 'ARG_ANYTHING']],
  165: ['RET_INTEGER', ['ARG_PTR_TO_MEM_OR_NULL', 'ARG_CONST_SIZE_OR_ZERO', 'ARG_PTR_TO_CONST_STR', 'ARG_PTR_TO_MEM_OR_NULL', 'ARG_CONST_SIZE_OR_ZERO']],
  181: ['RET_INTEGER', ['ARG_ANYTHING', 'ARG_PTR_TO_FUNC', 'ARG_PTR_TO_STACK_OR_NULL', 'ARG_ANYTHING']],
};

/** Signatures of helpers newer than the documentation this table was generated from. */
const EXTRA_SIGNATURES: Record<number, string> = {
  210: 'void *bpf_cgrp_storage_get(struct bpf_map *map, struct cgroup *cgroup, void *value, u64 flags)',
  211: 'long bpf_cgrp_storage_delete(struct bpf_map *map, struct cgroup *cgroup)',
};

const CTX_PARAM = /^(void \*ctx|struct (__sk_buff|sk_buff|xdp_md|xdp_buff|pt_regs|bpf_sock_ops|sk_msg_md|sk_msg_buff|bpf_perf_event_data|sk_reuseport_md|bpf_sock_addr|bpf_sysctl|bpf_sk_lookup|bpf_sockopt) \*\w+)$/;
const SIZE_PARAM = /^(u32|u64|__u32|__u64|int|size_t|unsigned int|u16) \w*(size|len)\w*$/;
const BTF_STRUCTS = /^(const )?struct (task_struct|cgroup|inode|file|path|socket|seq_file|btf_ptr|linux_binprm|sock|tcp_sock|tcp6_sock|tcp_timewait_sock|tcp_request_sock|udp6_sock|unix_sock|mptcp_sock|mm_struct|vm_area_struct|bpf_iter_num) \*/;

/** Derives argument types from a documented C parameter list (see the module comment). */
export function deriveArgs(params: string[]): ArgType[] {
  const out: ArgType[] = [];
  const hasMap = params.some((p) => /struct bpf_map \*/.test(p));
  for (let i = 0; i < params.length; i++) {
    const p = params[i].trim();
    const next = params[i + 1]?.trim() ?? '';
    if (p === 'void' || p === '') continue;
    if (/^struct bpf_map \*/.test(p)) out.push('ARG_CONST_MAP_PTR');
    else if (i === 0 && CTX_PARAM.test(p)) out.push('ARG_PTR_TO_CTX');
    else if (hasMap && /^(const )?void \*key$/.test(p)) out.push('ARG_PTR_TO_MAP_KEY');
    else if (hasMap && /^(const )?void \*value$/.test(p)) out.push('ARG_PTR_TO_MAP_VALUE');
    else if (/callback_fn|\(\*/.test(p)) out.push('ARG_PTR_TO_FUNC');
    else if (/^void \*callback_ctx$|^void \*ctx$/.test(p)) out.push('ARG_PTR_TO_STACK_OR_NULL');
    else if (/struct bpf_dynptr \*/.test(p)) out.push('ARG_PTR_TO_DYNPTR');
    else if (/struct bpf_timer \*/.test(p)) out.push('ARG_PTR_TO_TIMER');
    else if (/struct bpf_spin_lock \*/.test(p)) out.push('ARG_PTR_TO_SPIN_LOCK');
    else if (/unsafe_ptr|unsafe/.test(p)) out.push('ARG_ANYTHING');
    else if (/^struct bpf_sock \*|^void \*sk$|^struct sock_common \*/.test(p)) out.push('ARG_PTR_TO_SOCK_COMMON');
    else if (BTF_STRUCTS.test(p)) out.push('ARG_PTR_TO_BTF_ID');
    else if (/^(u64|s64|long|__u64) \*/.test(p)) out.push('ARG_PTR_TO_LONG');
    else if (/^(int|u32|__u32) \*/.test(p)) out.push('ARG_PTR_TO_INT');
    else if (/\*/.test(p) && SIZE_PARAM.test(next)) {
      out.push(/^const /.test(p) ? 'ARG_PTR_TO_MEM' : 'ARG_PTR_TO_UNINIT_MEM');
      out.push(/^const /.test(p) ? 'ARG_CONST_SIZE_OR_ZERO' : 'ARG_CONST_SIZE');
      i++;
    } else if (/\*/.test(p)) out.push('ARG_PTR_TO_MEM');
    else out.push('ARG_ANYTHING');
  }
  return out;
}

/** Derives the return type from a documented C signature. */
export function deriveRet(signature: string, name: string): RetType {
  const ret = signature.slice(0, signature.indexOf(name)).trim();
  if (ret === 'void') return 'RET_VOID';
  if (ret === 'void *') return /ringbuf_reserve/.test(name) ? 'RET_PTR_TO_RINGBUF_MEM_OR_NULL' : 'RET_PTR_TO_MAP_VALUE_OR_NULL';
  if (/struct bpf_sock \*/.test(ret)) return 'RET_PTR_TO_SOCKET_OR_NULL';
  if (/struct bpf_tcp_sock \*/.test(ret)) return 'RET_PTR_TO_TCP_SOCK_OR_NULL';
  if (/\*/.test(ret)) return 'RET_PTR_TO_BTF_ID_OR_NULL';
  return 'RET_INTEGER';
}

function splitParams(signature: string): string[] {
  const inside = signature.slice(signature.indexOf('(') + 1, signature.lastIndexOf(')'));
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of inside) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur);
  return out.map((p) => p.trim());
}

/** Every helper of the kernel's `enum bpf_func_id` (id 0 excluded) with its prototype. */
export const HELPER_PROTOS: ReadonlyMap<number, HelperProto> = new Map(
  HELPERS.slice(1).map((h) => {
    const signature = SIGNATURES.get(h.id) ?? EXTRA_SIGNATURES[h.id] ?? `long ${h.name}(void)`;
    const k = KERNEL[h.id] ?? KERNEL_PROTOS.get(h.id);
    const proto: HelperProto = k
      ? { id: h.id, name: h.name, ret: k[0], args: k[1], signature, source: 'kernel', gplOnly: k[2] ?? false }
      : { id: h.id, name: h.name, ret: deriveRet(signature, h.name), args: deriveArgs(splitParams(signature)), signature, source: 'derived' };
    return [h.id, proto];
  }),
);

/** The prototype of helper `id`, or `undefined`. */
export function helperProto(id: number): HelperProto | undefined {
  return HELPER_PROTOS.get(id);
}
