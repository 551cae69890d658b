// Test-only helpers of the kernel package (excluded from the build).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { probe } from './probe.js';

/** Why the kernel tests cannot run here (printed once), or undefined when they can. */
export function kernelSkipReason(): string | undefined {
  const p = probe();
  if (p.ok) return undefined;
  const reason = `kernel tests skipped: ${p.reason}`;
  console.log(reason);
  return reason;
}

/** Mounts tracefs when it is missing and we are root; returns why tracing cannot work, if it cannot. */
export function ensureTracefs(): string | undefined {
  if (existsSync('/sys/kernel/tracing/events') || existsSync('/sys/kernel/debug/tracing/events')) return undefined;
  if (process.getuid?.() !== 0) return 'tracefs is not mounted and we are not root to mount it';
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], { stdio: 'pipe' });
    console.log('mounted tracefs at /sys/kernel/tracing for the tracepoint tests');
    return undefined;
  } catch (e) {
    return `cannot mount tracefs: ${(e as Error).message}`;
  }
}

/** Open file descriptors of this process (to check that everything was closed). */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/**
 * Assembly of a program that adds 1 to the u64 at `slot` of array map `mapFd`, only for process
 * `pid` when given (what the tracing tests attach everywhere).
 */
export function counterAsm(o: { mapFd: number; slot?: number; pid?: number }): string {
  return `
    ${o.pid === undefined ? '' : `call bpf_get_current_pid_tgid
    r0 >>= 32
    if r0 != ${o.pid} goto out`}
    *(u32 *)(r10 - 4) = ${o.slot ?? 0}
    r2 = r10
    r2 += -4
    r1 = map_fd(${o.mapFd}) ll
    call bpf_map_lookup_elem
    if r0 == 0 goto out
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
  out:
    r0 = 0
    exit`;
}
