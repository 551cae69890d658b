import { readFileSync } from 'node:fs';
import { Btf, BtfKind, TsbpfError, type KsymResolver } from '@tsbpf/core';

let vmlinux: Btf | undefined;

/** The running kernel's BTF (`/sys/kernel/btf/vmlinux`), parsed once. */
export function vmlinuxBtf(path = '/sys/kernel/btf/vmlinux'): Btf {
  if (path !== '/sys/kernel/btf/vmlinux') return Btf.parse(new Uint8Array(readFileSync(path)));
  vmlinux ??= Btf.parse(new Uint8Array(readFileSync(path)));
  return vmlinux;
}

/** The vmlinux BTF id a `tp_btf/<name>` program attaches to (the typedef `btf_trace_<name>`, as libbpf looks it up). */
export function tpBtfId(name: string, btf: Btf = vmlinuxBtf()): number {
  const t = btf.find(`btf_trace_${name}`, BtfKind.Typedef);
  if (!t) throw new TsbpfError('E_NO_BTF_TRACEPOINT', `no BTF tracepoint '${name}' (vmlinux BTF has no typedef btf_trace_${name})`);
  return t.id;
}

/** The vmlinux BTF id of kernel function `name` (for fentry/fexit and kfuncs). */
export function kernelFuncId(name: string, btf: Btf = vmlinuxBtf()): number {
  const t = btf.find(name, BtfKind.Func);
  if (!t) throw new TsbpfError('E_NO_BTF_FUNC', `no kernel function '${name}' in vmlinux BTF`);
  return t.id;
}

/** `/proc/kallsyms` as name -> address (the first of each name), read once; empty where unreadable. */
let kallsyms: Map<string, bigint> | undefined;
function kernelAddresses(path: string): Map<string, bigint> {
  if (path === '/proc/kallsyms' && kallsyms) return kallsyms;
  const out = new Map<string, bigint>();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const [addr, , name] = line.split(/\s+/);
    // Module symbols carry a "[module]" column; the first of a name wins, as libbpf reads it.
    if (name && !out.has(name)) out.set(name, BigInt(`0x${addr}`));
  }
  if (path === '/proc/kallsyms') kallsyms = out;
  return out;
}

/**
 * A resolver of `__ksym` externs and kfuncs for the object loader (`loadObjectInto(obj, kernel,
 * { ksyms: kernelSymbols() })`), as libbpf resolves them: typed variables to the id of their VAR in
 * vmlinux BTF, kfuncs to the id of their FUNC, typeless variables to their address in
 * `/proc/kallsyms` (0 addresses, which kptr_restrict gives, count as missing).
 */
export function kernelSymbols(opts: { btf?: Btf; kallsymsPath?: string } = {}): KsymResolver {
  return ({ name, kind, typed }) => {
    if (kind === 'kfunc' || typed) {
      const t = (opts.btf ?? vmlinuxBtf()).find(name, kind === 'kfunc' ? BtfKind.Func : BtfKind.Var);
      return t ? { btfId: t.id } : undefined;
    }
    const address = kernelAddresses(opts.kallsymsPath ?? '/proc/kallsyms').get(name);
    return address ? { address } : undefined;
  };
}
