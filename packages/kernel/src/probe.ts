import { release } from 'node:os';
import { MapType, SyscallError } from '@tsbpf/core';
import { loadNative } from './native.js';
import { BpfCmd, mapCreateAttr } from './sys/bpf-attr.js';

/** Whether the kernel backend is usable here, and if not, why. */
export interface KernelProbe {
  ok: boolean;
  /** Why not, in words a person can act on. */
  reason?: string;
  /** `no-addon`, `no-permission`, `kernel-too-old`, `error`. */
  cause?: 'no-addon' | 'no-permission' | 'kernel-too-old' | 'error';
  /** `uname -r` */
  kernel: string;
}

let cached: KernelProbe | undefined;

/**
 * Finds out, without throwing, whether bpf() works here: the addon loads and an array map can be
 * created (which needs CAP_BPF or root).
 */
export function probe(): KernelProbe {
  if (cached) return cached;
  const kernel = release();
  const n = loadNative();
  if (!n.ok) return (cached = { ok: false, reason: n.reason, cause: 'no-addon', kernel });
  const enc = mapCreateAttr({ mapType: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 1 });
  try {
    n.native.close(n.native.bpf(BpfCmd.MAP_CREATE, enc.attr, enc.ptrs));
    cached = { ok: true, kernel };
  } catch (e) {
    const errno = e instanceof SyscallError ? e.errno : -1;
    if (errno === 1 || errno === 13) {
      cached = { ok: false, reason: `bpf() is not permitted for this user (${errno === 1 ? 'EPERM' : 'EACCES'}): run as root or with CAP_BPF (and CAP_PERFMON for tracing)`, cause: 'no-permission', kernel };
    } else if (errno === 38) {
      cached = { ok: false, reason: `this kernel (${kernel}) has no bpf() system call (ENOSYS)`, cause: 'kernel-too-old', kernel };
    } else {
      cached = { ok: false, reason: `bpf(BPF_MAP_CREATE) failed: ${(e as Error).message}`, cause: 'error', kernel };
    }
  }
  return cached;
}

/** `probe().ok`: true when programs and maps can be loaded into the running kernel. */
export function available(): boolean {
  return probe().ok;
}
