import { existsSync, readFileSync } from 'node:fs';
import { AttachType, NotSupportedError, SyscallError, TsbpfError } from '@tsbpf/core';
import { native } from './native.js';
import type { KernelProgram } from './program.js';
import { BpfCmd, cString, linkCreateAttr, rawTracepointOpenAttr } from './sys/bpf-attr.js';
import { PERF_FLAG_FD_CLOEXEC, PerfIoctl, PerfType, perfEventAttr } from './sys/perf-attr.js';
import { uprobeOffset } from './elf-symbols.js';

/** An attachment: closing it detaches the program. */
export interface Link {
  readonly fd: number;
  close(): void;
}

class FdLink implements Link {
  private closed = false;
  constructor(readonly fd: number, private readonly extra: number[] = []) {}
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const n = native();
    for (const fd of [this.fd, ...this.extra]) {
      try {
        n.close(fd);
      } catch {
        // already gone
      }
    }
  }
}

const TRACEFS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/** The tracefs mount point, or an error saying how to mount it. */
export function tracefsRoot(): string {
  const root = TRACEFS.find((p) => existsSync(`${p}/events`));
  if (!root) {
    throw new NotSupportedError('tracefs is not mounted, so tracepoint ids cannot be read', {
      code: 'E_NO_TRACEFS',
      alternatives: ['mount -t tracefs nodev /sys/kernel/tracing', 'raw tracepoints (attachRawTracepoint)'],
    });
  }
  return root;
}

/** The id of tracepoint `category:name` (from tracefs `events/<category>/<name>/id`). */
export function tracepointId(category: string, name: string): number {
  const file = `${tracefsRoot()}/events/${category}/${name}/id`;
  if (!existsSync(file)) throw new TsbpfError('E_NO_TRACEPOINT', `no tracepoint ${category}:${name} (${file} does not exist)`);
  return Number(readFileSync(file, 'utf8').trim());
}

/** Attaches a perf event fd to a program with BPF_LINK_CREATE (falls back to PERF_EVENT_IOC_SET_BPF). */
function attachPerfEvent(prog: KernelProgram, pfd: number): Link {
  const n = native();
  try {
    const enc = linkCreateAttr({ progFd: prog.fd, targetFd: pfd, attachType: AttachType.PerfEvent });
    const link = n.bpf(BpfCmd.LINK_CREATE, enc.attr, enc.ptrs);
    return new FdLink(link, [pfd]);
  } catch (e) {
    if (!(e instanceof SyscallError) || (e.errno !== 22 && e.errno !== 95)) {
      n.close(pfd);
      throw e;
    }
  }
  try {
    n.ioctl(pfd, PerfIoctl.SET_BPF, prog.fd);
    n.ioctl(pfd, PerfIoctl.ENABLE, 0);
  } catch (e) {
    n.close(pfd);
    throw e;
  }
  return new FdLink(pfd);
}

/** `SEC("tracepoint/<category>/<name>")`: a tracepoint program on a kernel tracepoint. */
export function attachTracepoint(prog: KernelProgram, category: string, name: string): Link {
  const id = tracepointId(category, name);
  const { attr, ptrs } = perfEventAttr({ type: PerfType.TRACEPOINT, config: BigInt(id), samplePeriod: 1n, wakeupEvents: 1 });
  const pfd = native().perfEventOpen(attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC, ptrs);
  return attachPerfEvent(prog, pfd);
}

/** `SEC("raw_tracepoint/<name>")` (BPF_RAW_TRACEPOINT_OPEN), also used for `tp_btf` with `name` null. */
export function attachRawTracepoint(prog: KernelProgram, name: string | null): Link {
  const enc = rawTracepointOpenAttr({ name, progFd: prog.fd });
  return new FdLink(native().bpf(BpfCmd.RAW_TRACEPOINT_OPEN, enc.attr, enc.ptrs));
}

/**
 * `SEC("tp_btf/<name>")`: the program must have been loaded with `expectedAttachType:
 * AttachType.TraceRawTp` and `attachBtfId` = the id of `btf_trace_<name>` in vmlinux BTF.
 */
export function attachTpBtf(prog: KernelProgram): Link {
  return attachRawTracepoint(prog, null);
}

function pmuType(pmu: string): number {
  const file = `/sys/bus/event_source/devices/${pmu}/type`;
  if (!existsSync(file)) {
    throw new NotSupportedError(
      pmu === 'kprobe'
        ? 'this kernel has no kprobes (no kprobe PMU at /sys/bus/event_source/devices/kprobe): it was built without CONFIG_KPROBES'
        : `this kernel has no ${pmu} PMU (${file} is missing)`,
      {
        code: pmu === 'kprobe' ? 'E_NOT_SUPPORTED_KPROBE' : 'E_NOT_SUPPORTED_PMU',
        alternatives: pmu === 'kprobe' ? ['tracepoint/syscalls/sys_enter_* and sys_exit_*', 'tracepoint/sock/inet_sock_set_state', 'tp_btf/<tracepoint>', 'raw_tracepoint/<tracepoint>'] : [],
      },
    );
  }
  return Number(readFileSync(file, 'utf8').trim());
}

function retprobeBit(pmu: string): bigint {
  const file = `/sys/bus/event_source/devices/${pmu}/format/retprobe`;
  const m = existsSync(file) ? /config:(\d+)/.exec(readFileSync(file, 'utf8')) : null;
  return 1n << BigInt(m ? Number(m[1]) : 0);
}

/**
 * `SEC("uprobe/<binary>:<symbol>")` / uretprobe: a probe on a function of a user-space binary,
 * for every process (`pid` -1) or one.
 */
export function attachUprobe(prog: KernelProgram, opts: { binary: string; symbol?: string; offset?: number; retprobe?: boolean; pid?: number }): Link {
  const type = pmuType('uprobe');
  const offset = opts.offset ?? uprobeOffset(opts.binary, opts.symbol ?? fail('attachUprobe needs a symbol or an offset'));
  const { attr, ptrs } = perfEventAttr({
    type,
    config: opts.retprobe ? retprobeBit('uprobe') : 0n,
    config1Ptr: cString(opts.binary),
    config2: BigInt(offset),
    samplePeriod: 1n,
    wakeupEvents: 1,
  });
  const pfd = native().perfEventOpen(attr, opts.pid ?? -1, opts.pid && opts.pid > 0 ? -1 : 0, -1, PERF_FLAG_FD_CLOEXEC, ptrs);
  return attachPerfEvent(prog, pfd);
}

/**
 * `SEC("kprobe/<function>")` / kretprobe. Needs the kprobe PMU; on a kernel without kprobes this
 * throws a {@link NotSupportedError} naming the alternatives.
 */
export function attachKprobe(prog: KernelProgram, fn: string, opts: { retprobe?: boolean; offset?: number } = {}): Link {
  const type = pmuType('kprobe');
  const { attr, ptrs } = perfEventAttr({
    type,
    config: opts.retprobe ? retprobeBit('kprobe') : 0n,
    config1Ptr: cString(fn),
    config2: BigInt(opts.offset ?? 0),
  });
  const pfd = native().perfEventOpen(attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC, ptrs);
  return attachPerfEvent(prog, pfd);
}

function fail(msg: string): never {
  throw new TsbpfError('E_ATTACH', msg);
}
