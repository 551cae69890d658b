import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SyscallError } from '@tsbpf/core';
import type { PtrField } from './sys/bpf-attr.js';

/** The native addon's functions: a thin, generic layer over the system calls. */
export interface NativeApi {
  /** `bpf(cmd, attr)`; each `ptrs` entry puts a buffer's address into `attr` for the call. */
  bpf(cmd: number, attr: Uint8Array, ptrs?: PtrField[]): number;
  perfEventOpen(attr: Uint8Array, pid: number, cpu: number, groupFd: number, flags: number, ptrs?: PtrField[]): number;
  ioctl(fd: number, request: number, arg: number): number;
  close(fd: number): void;
  /** An ArrayBuffer over `mmap(fd, length, prot, flags, offset)`. */
  mmap(fd: number, length: number, prot: number, flags: number, offset: number): ArrayBuffer;
  /** Unmaps a buffer `mmap` returned and detaches it; a second call does nothing. */
  munmap(buffer: ArrayBuffer): void;
  /** `poll` on one fd: returns revents, 0 on timeout. */
  poll(fd: number, events: number, timeoutMs: number): number;
}

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Where the addon is looked for: `TSBPF_KERNEL_ADDON`, else the file the build script writes. */
export function addonPath(): string {
  const arch = process.arch === 'x64' ? 'x64' : process.arch;
  return process.env.TSBPF_KERNEL_ADDON ?? join(pkgDir, 'native', `tsbpf_kernel.${process.platform}-${arch}-gnu.node`);
}

let cached: { ok: true; native: NativeApi } | { ok: false; reason: string } | undefined;

/**
 * Loads the addon once. Never throws: when it cannot be loaded, `reason` says why (not built, no
 * cargo at install time, wrong platform).
 */
export function loadNative(): { ok: true; native: NativeApi } | { ok: false; reason: string } {
  if (cached) return cached;
  const path = addonPath();
  if (process.platform !== 'linux') cached = { ok: false, reason: `bpf() exists only on Linux, not ${process.platform}` };
  else if (!existsSync(path)) {
    cached = { ok: false, reason: `the native addon is not built (${path} is missing: install cargo and run npm run build:native -w @tsbpf/kernel)` };
  } else {
    try {
      const native = createRequire(import.meta.url)(path) as NativeApi;
      cached = { ok: true, native: wrapErrors(native) };
    } catch (e) {
      cached = { ok: false, reason: `the native addon failed to load: ${(e as Error).message}` };
    }
  }
  return cached;
}

/** Turns the addon's plain errors (`.code`, `.errno`, `.syscall`) into {@link SyscallError}s. */
function wrapErrors(n: NativeApi): NativeApi {
  const wrap = <A extends unknown[], R>(f: (...a: A) => R) => (...a: A): R => {
    try {
      return f(...a);
    } catch (e) {
      const err = e as { errno?: number; syscall?: string; message?: string };
      if (typeof err.errno === 'number' && err.syscall) throw new SyscallError(err.syscall, err.errno, err.message, { cause: e });
      throw e;
    }
  };
  return {
    bpf: wrap(n.bpf),
    perfEventOpen: wrap(n.perfEventOpen),
    ioctl: wrap(n.ioctl),
    close: wrap(n.close),
    mmap: wrap(n.mmap),
    munmap: wrap(n.munmap),
    poll: wrap(n.poll),
  };
}

/** The addon, or a thrown `NotSupportedError`-style error explaining why it is unusable. */
export function native(): NativeApi {
  const n = loadNative();
  if (!n.ok) throw new SyscallError('dlopen', 38, n.reason);
  return n.native;
}
