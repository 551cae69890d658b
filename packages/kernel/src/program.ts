import {
  AttachType, NotSupportedError, ProgType, SyscallError, TsbpfError, VerifierError, encode, progTypeName,
  type LoadedProgram, type ProgramSpec, type TestRunOptions, type TestRunResult,
} from '@tsbpf/core';
import { loadBtf, type KernelBtf } from './btf-load.js';
import { native } from './native.js';
import {
  BpfCmd, TestRunOut, coreReloRecords, funcInfoRecords, lineInfoRecords, objPinAttr, progLoadAttr, testRunAttr,
} from './sys/bpf-attr.js';

/** Extra load options the kernel takes beyond {@link ProgramSpec}. */
export interface KernelLoadOptions {
  /** `attach_btf_id` (tp_btf, fentry): a type id in vmlinux BTF. */
  attachBtfId?: number;
  /**
   * The program's BTF already in the kernel (`prog_btf_fd`), for `spec.btf`'s records to refer to:
   * {@link KernelBackend} passes the one it shares between the programs of an object. Without it,
   * `spec.btf.data` is loaded for this program alone and its fd closed once the program holds it.
   */
  btf?: KernelBtf;
  /** Bytes for the verifier log (grown automatically up to 64 MiB when it does not fit). */
  logSize?: number;
}

/** Instruction index the kernel's log names last (`123: (85) call ...`). */
function lastInsnInLog(log: string): number | undefined {
  const matches = [...log.matchAll(/^(\d+): \(/gm)];
  return matches.length ? Number(matches[matches.length - 1][1]) : undefined;
}

function lastLine(log: string): string {
  const lines = log.trim().split('\n').filter((l) => !/^processed \d+ insns|^verification time/.test(l));
  return lines[lines.length - 1] ?? '';
}

/**
 * Loads a program into the kernel (`BPF_PROG_LOAD`). On rejection the whole verifier log comes back
 * in a {@link VerifierError}. fentry/fexit refused with EPERM and an empty log becomes a
 * {@link NotSupportedError}.
 *
 * With `spec.btf`, the program is loaded with its BTF (`prog_btf_fd`) and BTF.ext records
 * (`func_info`, `line_info`, `core_relos`), as libbpf loads an object's programs: the verifier then
 * checks each function against its BTF prototype, prints the C source line above the instructions
 * in its log, and applies the CO-RE relocations itself.
 *
 * ```ts
 * const prog = loadProgram({
 *   progType: ProgType.Tracepoint, insns,
 *   btf: { data: fixupObjectBtf(elf.section('.BTF')!.data, elf), funcInfo: [{ insnOff: 0, typeId: 25 }] },
 * });
 * ```
 *
 * @throws BtfLoadError when the kernel rejects `spec.btf.data` (and no `opts.btf` was given).
 * @throws TsbpfError `E_CORE_RELOS_WITHOUT_FUNC_INFO` for `coreRelos` with neither `funcInfo` nor `lineInfo`.
 */
export function loadProgram(spec: ProgramSpec, opts: KernelLoadOptions = {}): KernelProgram {
  if (spec.btf?.coreRelos?.length && !spec.btf.funcInfo?.length && !spec.btf.lineInfo?.length) {
    // The kernel reads core_relos only beside func_info or line_info and would silently load the
    // program unrelocated.
    throw new TsbpfError(
      'E_CORE_RELOS_WITHOUT_FUNC_INFO',
      'the kernel applies core_relos only to a program loaded with func_info or line_info, and ignores them otherwise: pass spec.btf.funcInfo too (at least { insnOff: 0, typeId: <the program\'s FUNC> })',
    );
  }
  const ownBtf = !opts.btf && spec.btf ? loadBtf(spec.btf.data) : undefined;
  try {
    return loadWithBtf(spec, opts, opts.btf ?? ownBtf);
  } finally {
    // The loaded program holds its own reference to the BTF.
    ownBtf?.close();
  }
}

function loadWithBtf(spec: ProgramSpec, opts: KernelLoadOptions, btf: KernelBtf | undefined): KernelProgram {
  const insns = encode(spec.insns);
  const records = spec.btf
    ? {
      funcInfo: spec.btf.funcInfo?.length ? funcInfoRecords(spec.btf.funcInfo) : null,
      lineInfo: spec.btf.lineInfo?.length ? lineInfoRecords(spec.btf.lineInfo) : null,
      coreRelos: spec.btf.coreRelos?.length ? coreReloRecords(spec.btf.coreRelos) : null,
    }
    : {};
  const load = (logBuf: Uint8Array | null, logLevel: number) => {
    const enc = progLoadAttr({
      progType: spec.progType,
      insns,
      license: spec.license ?? 'GPL',
      logBuf,
      logLevel,
      progFlags: spec.flags,
      name: spec.name,
      expectedAttachType: spec.expectedAttachType,
      attachBtfId: opts.attachBtfId,
      progBtfFd: btf?.fd,
      ...records,
    });
    return native().bpf(BpfCmd.PROG_LOAD, enc.attr, enc.ptrs);
  };
  const wantLog = (spec.logLevel ?? 0) > 0;
  let size = opts.logSize ?? (wantLog ? 1 << 20 : 0);
  for (;;) {
    const logBuf = size > 0 ? new Uint8Array(size) : null;
    try {
      const fd = load(logBuf, wantLog ? spec.logLevel! : 1);
      return new KernelProgram(fd, spec, logBuf ? decodeLog(logBuf) : '');
    } catch (e) {
      if (!(e instanceof SyscallError)) throw e;
      if (e.errno === 28 /* ENOSPC: log too small */ && size < 64 << 20) {
        size = Math.max(size * 4, 1 << 20);
        continue;
      }
      if (!logBuf) {
        size = 1 << 20; // retry once with a log to explain the rejection (EACCES, EINVAL, E2BIG, ENOENT, ENOTSUPP, ...)
        continue;
      }
      const log = logBuf ? decodeLog(logBuf) : '';
      const tracing = spec.progType === ProgType.Tracing || spec.progType === ProgType.Lsm;
      if (tracing && e.errno === 1 && log.trim() === '') {
        const what = spec.expectedAttachType === AttachType.TraceFexit ? 'fexit' : spec.expectedAttachType === AttachType.TraceFentry ? 'fentry' : 'tracing';
        throw new NotSupportedError(
          `this kernel refuses ${what} programs (BPF_PROG_LOAD: EPERM with an empty verifier log: the kernel lacks BPF trampoline support or it is locked down)`,
          { code: 'E_NOT_SUPPORTED_FENTRY', alternatives: ['tp_btf (BTF tracepoints)', 'raw tracepoints', 'tracepoint/syscalls/*', 'tracepoint/sock/inet_sock_set_state'], cause: e },
        );
      }
      if (log) throw new VerifierError(`${progTypeName(spec.progType) ?? spec.progType} program rejected: ${lastLine(log)}`, log, e.errno, lastInsnInLog(log));
      throw e;
    }
  }
}

function decodeLog(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return Buffer.from(buf.subarray(0, end < 0 ? buf.length : end)).toString('utf8');
}

/** A program loaded in the kernel. */
export class KernelProgram implements LoadedProgram {
  readonly name: string;
  private closed = false;

  constructor(readonly fd: number, readonly spec: ProgramSpec, readonly log: string) {
    this.name = spec.name ?? '';
  }

  /**
   * `BPF_PROG_TEST_RUN`: runs the program on `data` (and `ctx`) `repeat` times. The kernel reports
   * r0 as 32 bits and the mean duration per run in nanoseconds.
   */
  testRun(options: TestRunOptions = {}): TestRunResult {
    const data = options.data;
    if (this.spec.progType === ProgType.Syscall) {
      // The kernel runs a syscall program once, without data, repeat or ctx_out (EINVAL otherwise),
      // and writes the context back into ctx_in: it is handed back as ctxOut.
      if (data?.length || (options.repeat ?? 1) > 1) throw new NotSupportedError('BPF_PROG_TYPE_SYSCALL test runs take a context only, and run once (the kernel refuses data_in and repeat)');
      const ctx = options.ctx ? new Uint8Array(options.ctx) : null;
      const enc = testRunAttr({ progFd: this.fd, dataIn: null, dataOut: null, repeat: 0, ctxIn: ctx, ctxOut: null });
      native().bpf(BpfCmd.PROG_TEST_RUN, enc.attr, enc.ptrs);
      const v = new DataView(enc.attr.buffer);
      return { retval: BigInt(v.getUint32(TestRunOut.RETVAL, true)), durationNs: 0, ...(ctx ? { ctxOut: ctx } : {}) };
    }
    const dataOut = data ? new Uint8Array(Math.max(options.dataSizeOut ?? 0, data.length + 256)) : null;
    const ctxOut = options.ctx ? new Uint8Array(options.ctx.length) : null;
    const enc = testRunAttr({ progFd: this.fd, dataIn: data ?? null, dataOut, repeat: options.repeat ?? 1, ctxIn: options.ctx ?? null, ctxOut });
    native().bpf(BpfCmd.PROG_TEST_RUN, enc.attr, enc.ptrs);
    const v = new DataView(enc.attr.buffer);
    const outLen = v.getUint32(TestRunOut.DATA_SIZE_OUT, true);
    return {
      retval: BigInt(v.getUint32(TestRunOut.RETVAL, true)),
      durationNs: v.getUint32(TestRunOut.DURATION, true),
      dataOut: dataOut ? dataOut.slice(0, outLen) : undefined,
      ctxOut: ctxOut ? ctxOut.slice(0, v.getUint32(TestRunOut.CTX_SIZE_OUT, true)) : undefined,
    };
  }

  /** Pins the program in bpffs (`BPF_OBJ_PIN`). */
  pin(path: string): void {
    const enc = objPinAttr({ path, fd: this.fd });
    native().bpf(BpfCmd.OBJ_PIN, enc.attr, enc.ptrs);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    native().close(this.fd);
  }
}
