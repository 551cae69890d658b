import { readFileSync } from 'node:fs';
import { Btf, BtfKind, TsbpfError } from '@tsbpf/core';

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
