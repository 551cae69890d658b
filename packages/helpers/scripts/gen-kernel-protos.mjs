// Reads the `struct bpf_func_proto` definitions of a kernel source tree and writes
// src/generated/kernel-protos.ts: for each helper, the return type, argument types and gpl_only
// flag the kernel's verifier checks, in this package's ArgType / RetType vocabulary. Helpers with an
// argument kind the vocabulary cannot say (fixed-size memory, nullable BTF ids, ...) are left out
// and keep the prototype derived from their documented signature (see prototypes.ts).
//   node packages/helpers/scripts/gen-kernel-protos.mjs /path/to/linux
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HELPERS } from '@tsbpf/core';

const tree = process.argv[2];
if (!tree) {
  console.error('usage: gen-kernel-protos.mjs KERNEL_TREE');
  process.exit(2);
}
const FILES = [
  'kernel/bpf/helpers.c', 'kernel/trace/bpf_trace.c', 'net/core/filter.c', 'kernel/bpf/ringbuf.c', 'kernel/bpf/stackmap.c',
  'kernel/bpf/cgroup.c', 'kernel/bpf/bpf_task_storage.c', 'kernel/bpf/bpf_inode_storage.c', 'kernel/bpf/bpf_cgrp_storage.c',
  'net/core/bpf_sk_storage.c', 'kernel/bpf/syscall.c', 'kernel/bpf/local_storage.c', 'net/core/sock_map.c',
  'kernel/bpf/task_iter.c', 'kernel/bpf/bpf_iter.c', 'kernel/bpf/reuseport_array.c', 'kernel/bpf/bpf_lsm.c',
  'kernel/bpf/core.c', 'drivers/media/rc/bpf-lirc.c', 'kernel/bpf/log.c',
];
/** Helpers whose proto variable is not named `<helper>_proto`: the variant taken. */
const VARIANT = {
  bpf_probe_read: 'bpf_probe_read_compat_proto', bpf_probe_read_str: 'bpf_probe_read_compat_str_proto',
  bpf_redirect_map: 'bpf_xdp_redirect_map_proto', bpf_fib_lookup: 'bpf_xdp_fib_lookup_proto',
  bpf_setsockopt: 'bpf_sock_ops_setsockopt_proto', bpf_getsockopt: 'bpf_sock_ops_getsockopt_proto',
  bpf_lwt_push_encap: 'bpf_lwt_in_push_encap_proto', bpf_rc_repeat: 'rc_repeat_proto', bpf_rc_keydown: 'rc_keydown_proto',
  bpf_rc_pointer_rel: 'rc_pointer_rel_proto', bpf_sk_select_reuseport: 'sk_select_reuseport_proto',
  bpf_load_hdr_opt: 'bpf_sock_ops_load_hdr_opt_proto', bpf_store_hdr_opt: 'bpf_sock_ops_store_hdr_opt_proto',
  bpf_reserve_hdr_opt: 'bpf_sock_ops_reserve_hdr_opt_proto', bpf_check_mtu: 'bpf_skb_check_mtu_proto',
  bpf_get_func_ip: 'bpf_get_func_ip_proto_tracing',
};
const SAME = new Set([
  'ARG_ANYTHING', 'ARG_PTR_TO_CTX', 'ARG_CONST_SIZE', 'ARG_CONST_MAP_PTR', 'ARG_CONST_SIZE_OR_ZERO', 'ARG_PTR_TO_UNINIT_MEM',
  'ARG_PTR_TO_BTF_ID', 'ARG_PTR_TO_BTF_ID_SOCK_COMMON', 'ARG_PTR_TO_MAP_KEY', 'ARG_PTR_TO_FUNC', 'ARG_PTR_TO_SOCK_COMMON',
  'ARG_PTR_TO_STACK_OR_NULL', 'ARG_PTR_TO_TIMER', 'ARG_PTR_TO_MAP_VALUE', 'ARG_PTR_TO_SPIN_LOCK', 'ARG_CONST_ALLOC_SIZE_OR_ZERO',
  'ARG_PTR_TO_CONST_STR', 'ARG_PTR_TO_CTX_OR_NULL', 'ARG_PTR_TO_SOCKET',
  'RET_INTEGER', 'RET_VOID', 'RET_PTR_TO_MAP_VALUE', 'RET_PTR_TO_MAP_VALUE_OR_NULL', 'RET_PTR_TO_SOCKET_OR_NULL',
  'RET_PTR_TO_TCP_SOCK_OR_NULL', 'RET_PTR_TO_SOCK_COMMON_OR_NULL', 'RET_PTR_TO_RINGBUF_MEM_OR_NULL', 'RET_PTR_TO_BTF_ID',
  'RET_PTR_TO_BTF_ID_OR_NULL',
]);
/** Kernel type expressions (base type | flags) in this package's words. */
const MAPPED = {
  'ARG_PTR_TO_MEM | MEM_RDONLY': 'ARG_PTR_TO_MEM',
  'ARG_PTR_TO_MEM | PTR_MAYBE_NULL | MEM_RDONLY': 'ARG_PTR_TO_MEM_OR_NULL',
  'ARG_PTR_TO_MEM | MEM_WRITE': 'ARG_PTR_TO_UNINIT_MEM',
  'ARG_PTR_TO_MEM_OR_NULL | MEM_WRITE': 'ARG_PTR_TO_MEM_OR_NULL',
  'ARG_PTR_TO_MAP_VALUE | MEM_UNINIT | MEM_WRITE': 'ARG_PTR_TO_UNINIT_MAP_VALUE',
  'ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE': 'ARG_PTR_TO_ALLOC_MEM',
  'ARG_PTR_TO_BTF_ID_SOCK_COMMON | OBJ_RELEASE': 'ARG_PTR_TO_BTF_ID_SOCK_COMMON',
  'ARG_PTR_TO_DYNPTR | MEM_RDONLY': 'ARG_PTR_TO_DYNPTR',
  'RET_PTR_TO_MEM_OR_BTF_ID | MEM_RDONLY': 'RET_PTR_TO_MEM_OR_BTF_ID',
  'RET_PTR_TO_BTF_ID_TRUSTED': 'RET_PTR_TO_BTF_ID',
};
const word = (expr) => (SAME.has(expr) ? expr : MAPPED[expr]);

const protos = {};
for (const f of FILES) {
  const path = join(tree, f);
  if (!existsSync(path)) continue;
  const text = readFileSync(path, 'utf8');
  for (const m of text.matchAll(/const struct bpf_func_proto\s+(\w+)\s*=\s*\{([\s\S]*?)\n\};/g)) {
    const body = m[2].replace(/\/\*[\s\S]*?\*\//g, '');
    const field = (n) => body.match(new RegExp(`\\.${n}\\s*=\\s*([^,\\n]+(?:\\n\\s*\\|[^,\\n]+)*)`))?.[1]?.replace(/\s+/g, ' ').trim();
    const args = [];
    for (let i = 1; i <= 5; i++) {
      const a = field(`arg${i}_type`);
      if (a) args.push(a);
    }
    protos[m[1]] = { gpl: field('gpl_only') === 'true', ret: field('ret_type'), args };
  }
}
const rows = [];
const skipped = [];
for (const h of HELPERS.slice(1)) {
  const p = protos[VARIANT[h.name] ?? `${h.name}_proto`];
  if (!p) continue;
  const ret = word(p.ret);
  const args = p.args.map(word);
  if (!ret || args.some((a) => !a)) {
    skipped.push(`${h.name} (${[p.ret, ...p.args].filter((x) => !word(x)).join('; ')})`);
    continue;
  }
  rows.push(`  [${h.id}, [${JSON.stringify(ret)}, [${args.map((a) => JSON.stringify(a)).join(', ')}]${p.gpl ? ', true' : ''}]],`);
}
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'generated', 'kernel-protos.ts');
writeFileSync(out, `// Generated by scripts/gen-kernel-protos.mjs from the \`struct bpf_func_proto\` definitions of the
// Linux 6.18 sources: return type, argument types and gpl_only of each helper, by id.
import type { ArgType, RetType } from '../types.js';

export const KERNEL_PROTOS: ReadonlyMap<number, [RetType, ArgType[], boolean?]> = new Map<number, [RetType, ArgType[], boolean?]>([
${rows.join('\n')}
]);
`);
console.log(`${rows.length} prototypes -> ${out}`);
if (skipped.length) console.log(`left derived: ${skipped.join(', ')}`);
