import { Errno, SyscallError, TsbpfError } from '@tsbpf/core';
import { native } from './native.js';
import { BpfCmd, BtfLoadOut, btfLoadAttr, infoByFdAttr } from './sys/bpf-attr.js';

/** Options of {@link loadBtf}. */
export interface BtfLoadOptions {
  /** `btf_log_level`: 1 keeps the kernel's BTF log on success too (`KernelBtf.log`). Default: a log only on rejection. */
  logLevel?: number;
  /** Bytes for the log (grown to what the kernel says it needs when it does not fit). */
  logSize?: number;
}

/**
 * The kernel rejected a BTF blob (`BPF_BTF_LOAD`). `log` is the kernel's BTF verifier log, which
 * dumps the types it checked and ends with the one it refused; `typeId` is that type's id when the
 * log names one.
 */
export class BtfLoadError extends TsbpfError {
  /** The kernel's BTF log as it printed it. */
  readonly log: string;
  /** The errno of the load (`EINVAL` for malformed BTF). */
  readonly errno: number;
  /** The id of the type the kernel stopped at (`[36] DATASEC .bss size=0 vlen=1 size == 0` gives 36). */
  readonly typeId?: number;

  constructor(message: string, log: string, errno: number, typeId?: number) {
    super('E_BTF_LOAD', message);
    this.log = log;
    this.errno = errno;
    this.typeId = typeId;
  }
}

const MAX_LOG = 64 << 20;

/** BTF loaded in the kernel: its fd goes into `prog_btf_fd` (and `btf_fd` of maps). */
export class KernelBtf {
  private closed = false;
  private cachedId?: number;

  constructor(readonly fd: number, readonly size: number, readonly log: string) {}

  /** The kernel's id of this BTF (`bpftool btf show id N`; `btf_id` of the programs that use it). */
  get id(): number {
    if (this.cachedId === undefined) {
      const info = new Uint8Array(32); // struct bpf_btf_info
      const enc = infoByFdAttr({ fd: this.fd, info });
      native().bpf(BpfCmd.OBJ_GET_INFO_BY_FD, enc.attr, enc.ptrs);
      this.cachedId = new DataView(info.buffer).getUint32(12, true);
    }
    return this.cachedId;
  }

  /** Closes the fd. Programs loaded with it keep their own reference to the BTF. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    native().close(this.fd);
  }
}

function decodeLog(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return Buffer.from(buf.subarray(0, end < 0 ? buf.length : end)).toString('utf8');
}

/** The kernel's reason (the log's last line) and the type it refused: its `[id]` and header line. */
function rejection(log: string): { reason: string; typeId?: number; typeLine?: string } {
  const lines = log.trim().split('\n').map((l) => l.trim()).filter(Boolean);
  const reason = lines[lines.length - 1] ?? '';
  // The refused type's header line is the last one the kernel printed; its members follow it.
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^\[(\d+)\] /.exec(lines[i]);
    if (m) return { reason, typeId: Number(m[1]), typeLine: lines[i] };
  }
  return { reason };
}

/**
 * Loads a BTF blob into the kernel (`BPF_BTF_LOAD`), as libbpf's `btf__load_into_kernel` does: first
 * without a log (the kernel fails a valid load whose log does not fit), then, on rejection, again
 * with one to say why.
 *
 * The `.BTF` of a clang object is not loadable as it is: fix it up first with `fixupObjectBtf`
 * from `@tsbpf/core`.
 *
 * ```ts
 * const elf = parseElf(bytes);
 * const btf = loadBtf(fixupObjectBtf(elf.section('.BTF')!.data, elf));
 * // ... BPF_PROG_LOAD with prog_btf_fd = btf.fd
 * btf.close();
 * ```
 *
 * @throws BtfLoadError with the kernel's BTF log when the kernel refuses the blob.
 * @throws SyscallError when bpf() fails without a log (EPERM without CAP_BPF, ...).
 */
export function loadBtf(data: Uint8Array, opts: BtfLoadOptions = {}): KernelBtf {
  const wantLog = (opts.logLevel ?? 0) > 0;
  let size = opts.logSize ?? (wantLog ? 1 << 16 : 0);
  for (;;) {
    const logBuf = size > 0 ? new Uint8Array(size) : null;
    const enc = btfLoadAttr({ btf: data, logBuf, logLevel: wantLog ? opts.logLevel : 1 });
    try {
      const fd = native().bpf(BpfCmd.BTF_LOAD, enc.attr, enc.ptrs);
      return new KernelBtf(fd, data.length, wantLog && logBuf ? decodeLog(logBuf) : '');
    } catch (e) {
      if (!(e instanceof SyscallError)) throw e;
      if (logBuf && e.errno === Errno.ENOSPC && size < MAX_LOG) {
        const needed = new DataView(enc.attr.buffer).getUint32(BtfLoadOut.LOG_TRUE_SIZE, true);
        size = Math.min(MAX_LOG, Math.max(needed, size * 4));
        continue;
      }
      if (!logBuf && e.errno !== Errno.EPERM && e.errno !== Errno.ENOMEM) {
        size = 1 << 16; // once more, with a log to explain the rejection
        continue;
      }
      const log = logBuf ? decodeLog(logBuf) : '';
      if (!log) throw e;
      const { reason, typeId, typeLine } = rejection(log);
      const where = typeLine && typeLine !== reason ? `${typeLine}: ` : '';
      const hint = /^\[\d+\] DATASEC/.test(typeLine ?? '') && /size == 0|Invalid offset/.test(reason)
        ? ' (a clang object leaves DATASEC sizes and VAR offsets to the loader: fixupObjectBtf(btf, elf) from @tsbpf/core fills them in)'
        : '';
      throw new BtfLoadError(`the kernel rejected the BTF (${e.code}): ${where}${reason}${hint}`, log, e.errno, typeId);
    }
  }
}
