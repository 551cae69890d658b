/**
 * What the verifier learns about a program's functions from its BTF `func_info`: which return void,
 * which are global, and, for global functions, what each argument must be (the kernel's
 * `btf_prepare_func_args`). A global function is verified once, on its own, for any arguments that
 * match these expectations; its callers are checked against them.
 */
import { BtfKind, ProgType, type Btf, type BtfType } from '@tsbpf/core';
import type { FuncArg, FuncFacts } from './types.js';

/** The context struct name of each program type (include/linux/bpf_types.h); '' for `void *`. */
const CTX_STRUCT: Readonly<Partial<Record<number, string>>> = {
  [ProgType.SocketFilter]: '__sk_buff',
  [ProgType.SchedCls]: '__sk_buff',
  [ProgType.SchedAct]: '__sk_buff',
  [ProgType.Xdp]: 'xdp_md',
  [ProgType.CgroupSkb]: '__sk_buff',
  [ProgType.CgroupSock]: 'bpf_sock',
  [ProgType.CgroupSockAddr]: 'bpf_sock_addr',
  [ProgType.LwtIn]: '__sk_buff',
  [ProgType.LwtOut]: '__sk_buff',
  [ProgType.LwtXmit]: '__sk_buff',
  [ProgType.LwtSeg6local]: '__sk_buff',
  [ProgType.SockOps]: 'bpf_sock_ops',
  [ProgType.SkSkb]: '__sk_buff',
  [ProgType.SkMsg]: 'sk_msg_md',
  [ProgType.FlowDissector]: '__sk_buff',
  [ProgType.Kprobe]: 'pt_regs',
  [ProgType.PerfEvent]: 'bpf_perf_event_data',
  [ProgType.RawTracepoint]: 'bpf_raw_tracepoint_args',
  [ProgType.RawTracepointWritable]: 'bpf_raw_tracepoint_args',
  [ProgType.CgroupDevice]: 'bpf_cgroup_dev_ctx',
  [ProgType.CgroupSysctl]: 'bpf_sysctl',
  [ProgType.CgroupSockopt]: 'bpf_sockopt',
  [ProgType.SkReuseport]: 'sk_reuseport_md',
  [ProgType.SkLookup]: 'bpf_sk_lookup',
  [ProgType.Netfilter]: 'bpf_nf_ctx',
};

const MODIFIERS: ReadonlySet<BtfKind> = new Set([BtfKind.Typedef, BtfKind.Const, BtfKind.Volatile, BtfKind.Restrict, BtfKind.TypeTag]);
const ARG_TAGS = ['ctx', 'trusted', 'untrusted', 'nonnull', 'nullable', 'arena'] as const;
type ArgTag = (typeof ARG_TAGS)[number];

function skipModifiers(btf: Btf, id: number, stopAtTypedef = false): BtfType {
  let t = btf.type(id);
  for (let i = 0; i < 64 && MODIFIERS.has(t.kind) && !(stopAtTypedef && t.kind === BtfKind.Typedef); i++) t = btf.type(t.type);
  return t;
}

/** `btf_is_prog_ctx_type`: a pointer to the program type's context struct (by name). */
function isCtxPointer(btf: Btf, ptr: BtfType, progType: number): boolean {
  if (progType === ProgType.Kprobe) {
    const td = skipModifiers(btf, ptr.type, true);
    if (td.kind === BtfKind.Typedef && td.name === 'bpf_user_pt_regs_t') return true;
  }
  const t = skipModifiers(btf, ptr.type);
  if (t.kind !== BtfKind.Struct) return false;
  const want = CTX_STRUCT[progType];
  if (!want) return false;
  return t.name === want || (want === '__sk_buff' && t.name === 'sk_buff') || (want === 'xdp_md' && t.name === 'xdp_buff');
}

/** `btf_resolve_size`: the size of what a pointer argument points to, or an error text. */
function pointeeSize(btf: Btf, ptr: BtfType): number | string {
  const t = skipModifiers(btf, ptr.type);
  let elem = t;
  let n = 1;
  for (let i = 0; i < 32 && elem.kind === BtfKind.Array; i++) {
    n *= elem.array!.nelems;
    elem = skipModifiers(btf, elem.array!.type);
  }
  const kind = elem.kind;
  const sized = kind === BtfKind.Int || kind === BtfKind.Struct || kind === BtfKind.Union || kind === BtfKind.Enum || kind === BtfKind.Enum64 || kind === BtfKind.Float || kind === BtfKind.Ptr;
  if (!sized) {
    const kindName = t.kind === BtfKind.Unknown ? 'UNKN' : BtfKind[t.kind]!.toUpperCase();
    return `reference type('${kindName} ${t.name}') size cannot be determined: -22`;
  }
  return n * (kind === BtfKind.Ptr ? 8 : elem.size);
}

/**
 * The facts `verify()` needs about each `func_info` record: `[insn, btf type id]` pairs pointing at
 * `BTF_KIND_FUNC` types. Records that do not name a function are skipped.
 *
 * @example
 * ```ts
 * const funcs = funcsFromBtf(btf, funcInfo, ProgType.Xdp);
 * verify(insns, { progType: 'xdp', funcs });
 * ```
 */
export function funcsFromBtf(btf: Btf, funcInfo: readonly (readonly [number, number])[], progType: number): FuncFacts[] {
  // decl tags `arg:<tag>` by function type id and argument index
  const tags = new Map<string, string[]>();
  for (const t of btf.types) {
    if (t.kind !== BtfKind.DeclTag || !t.name.startsWith('arg:') || (t.componentIdx ?? -1) < 0) continue;
    const key = `${t.type}:${t.componentIdx}`;
    const list = tags.get(key);
    if (list) list.push(t.name.slice(4));
    else tags.set(key, [t.name.slice(4)]);
  }
  const out: FuncFacts[] = [];
  for (const [insn, typeId] of funcInfo) {
    let fn: BtfType;
    let proto: BtfType;
    try {
      fn = btf.type(typeId);
      proto = btf.type(fn.type);
    } catch {
      continue;
    }
    if (fn.kind !== BtfKind.Func || proto.kind !== BtfKind.FuncProto) continue;
    const params = proto.params ?? [];
    const facts: FuncFacts = { insn, name: fn.name, returnsVoid: proto.type === 0, global: fn.vlen === 1, params: params.length };
    if (facts.global) {
      try {
        const r = prepareArgs(btf, fn, proto, progType, tags);
        if (typeof r === 'string') facts.argsError = r;
        else facts.args = r;
      } catch {
        facts.argsError = `BTF of func#? ('${fn.name}') is malformed`;
      }
    }
    out.push(facts);
  }
  return out;
}

/** `btf_prepare_func_args` for a global function: the argument kinds, or the kernel's complaint. */
function prepareArgs(btf: Btf, fn: BtfType, proto: BtfType, progType: number, tagsOf: Map<string, string[]>): FuncArg[] | string {
  const params = proto.params ?? [];
  if (params.length > 5) return `Global function ${fn.name}() with ${params.length} > 5 args. Buggy compiler.`;
  const ret = proto.type === 0 ? undefined : skipModifiers(btf, proto.type);
  if (!ret || (ret.kind !== BtfKind.Int && ret.kind !== BtfKind.Enum && ret.kind !== BtfKind.Enum64)) {
    return `Global function ${fn.name}() doesn't return scalar. Only those are supported.`;
  }
  const args: FuncArg[] = [];
  for (let i = 0; i < params.length; i++) {
    const tags = new Set<ArgTag>();
    for (const tag of tagsOf.get(`${fn.id}:${i}`) ?? []) {
      if (!(ARG_TAGS as readonly string[]).includes(tag)) return `arg#${i} has unsupported set of tags`;
      tags.add(tag as ArgTag);
    }
    const t = skipModifiers(btf, params[i]!.type);
    if (t.kind === BtfKind.Ptr) {
      if (tags.has('ctx') || isCtxPointer(btf, t, progType)) {
        if (tags.size > (tags.has('ctx') ? 1 : 0)) return `arg#${i} has invalid combination of tags`;
        args.push({ kind: 'ctx' });
        continue;
      }
      const pointee = skipModifiers(btf, t.type);
      if ((pointee.kind === BtfKind.Struct || pointee.kind === BtfKind.Fwd) && pointee.name === 'bpf_dynptr') {
        if (tags.size) return `arg#${i} has invalid combination of tags`;
        args.push({ kind: 'unsupported', what: 'dynptr' });
        continue;
      }
      if (tags.has('trusted') || tags.has('untrusted') || tags.has('arena')) {
        // kernel objects and arena pointers: the caller's registers decide; not modelled
        args.push({ kind: 'unsupported', what: [...tags].join(',') });
        continue;
      }
      if (tags.has('nullable')) return `arg#${i} has invalid combination of tags`;
      const size = pointeeSize(btf, t);
      if (typeof size === 'string') return `arg#${i} ${size}`;
      args.push({ kind: 'mem', size, nullable: !tags.has('nonnull') });
      continue;
    }
    if (tags.size) return `arg#${i} has pointer tag, but is not a pointer type`;
    if (t.kind === BtfKind.Int || t.kind === BtfKind.Enum || t.kind === BtfKind.Enum64) {
      args.push({ kind: 'scalar' });
      continue;
    }
    const kindName = t.kind === BtfKind.Unknown ? 'UNKN' : BtfKind[t.kind]!.toUpperCase();
    return `Arg#${i} type ${kindName} in ${fn.name}() is not supported yet.`;
  }
  return args;
}
