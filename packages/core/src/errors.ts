/**
 * Typed errors. Every error the SDK throws on bad input is a {@link TsbpfError}: it has a stable
 * `code` a program can switch on and structured fields saying where the problem is, so callers
 * never parse messages.
 */

/** A position in source text; line and column are 1-based. */
export interface SourcePosition {
  line: number;
  column: number;
}

/** Base class of every typed error of tsbpf. */
export class TsbpfError extends Error {
  /** A stable machine-readable code such as `E_ASM_SYNTAX`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Codes of {@link AsmError}. */
export type AsmErrorCode =
  | 'E_ASM_SYNTAX'
  | 'E_ASM_UNKNOWN_MNEMONIC'
  | 'E_ASM_BAD_REGISTER'
  | 'E_ASM_BAD_OPERAND'
  | 'E_ASM_RANGE'
  | 'E_ASM_UNKNOWN_LABEL'
  | 'E_ASM_DUPLICATE_LABEL'
  | 'E_ASM_UNKNOWN_HELPER'
  | 'E_ASM_DIRECTIVE';

/** An error in assembly source, with the line and column it was found at. */
export class AsmError extends TsbpfError {
  declare readonly code: AsmErrorCode;
  /** 1-based line of the problem. */
  readonly line: number;
  /** 1-based column of the problem. */
  readonly column: number;
  /** The text of the offending line. */
  readonly sourceLine: string;

  constructor(code: AsmErrorCode, message: string, pos: SourcePosition, sourceLine = '') {
    super(code, `${pos.line}:${pos.column}: ${message}`);
    this.line = pos.line;
    this.column = pos.column;
    this.sourceLine = sourceLine;
  }
}

/** Codes of {@link ConformanceError}. */
export type ConformanceErrorCode =
  | 'E_CONFORMANCE_UNKNOWN_SECTION'
  | 'E_CONFORMANCE_BAD_MEM'
  | 'E_CONFORMANCE_BAD_RESULT'
  | 'E_CONFORMANCE_BAD_RAW'
  | 'E_CONFORMANCE_NO_PROGRAM';

/**
 * A malformed bpf_conformance `.data` file (an unknown `--` section, a `-- mem` token that is not a
 * hex byte, ...), with the 1-based line and column in the file. Errors in the `-- asm` program
 * itself are {@link AsmError}s, also positioned in the file.
 */
export class ConformanceError extends TsbpfError {
  declare readonly code: ConformanceErrorCode;
  /** The test's name, as given to `parseConformanceData`. */
  readonly file: string;
  /** 1-based line of the problem. */
  readonly line: number;
  /** 1-based column of the problem. */
  readonly column: number;
  /** The text of the offending line. */
  readonly sourceLine: string;

  constructor(code: ConformanceErrorCode, message: string, file: string, pos: SourcePosition, sourceLine = '') {
    super(code, `${pos.line}:${pos.column}: ${message}`);
    this.file = file;
    this.line = pos.line;
    this.column = pos.column;
    this.sourceLine = sourceLine;
  }
}

/** Codes of {@link DecodeError}. */
export type DecodeErrorCode =
  | 'E_DECODE_LENGTH'
  | 'E_DECODE_UNKNOWN_OPCODE'
  | 'E_DECODE_TRUNCATED_LDDW'
  | 'E_DECODE_RESERVED'
  | 'E_DECODE_HEX';

/** An error decoding instruction bytes, with the index of the instruction slot. */
export class DecodeError extends TsbpfError {
  declare readonly code: DecodeErrorCode;
  /** Index of the 8-byte slot the problem is in (or the byte length, for `E_DECODE_LENGTH`). */
  readonly index: number;

  constructor(code: DecodeErrorCode, message: string, index: number) {
    super(code, message);
    this.index = index;
  }
}

/** An operation the current backend, kernel or build cannot perform, with the reason. */
export class NotSupportedError extends TsbpfError {
  /** What could be used instead, when there is an alternative. */
  readonly alternatives: readonly string[];

  constructor(message: string, options: { code?: string; alternatives?: readonly string[]; cause?: unknown } = {}) {
    super(options.code ?? 'E_NOT_SUPPORTED', message, { cause: options.cause });
    this.alternatives = options.alternatives ?? [];
  }
}

/** Kernel errno names and numbers used across the SDK (Linux x86-64/arm64 values). */
export const Errno = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, E2BIG: 7, EBADF: 9, EAGAIN: 11, ENOMEM: 12,
  EACCES: 13, EFAULT: 14, EBUSY: 16, EEXIST: 17, ENODEV: 19, EINVAL: 22, ENOSPC: 28, ERANGE: 34,
  ENOSYS: 38, EOPNOTSUPP: 95, ENOTSUPP: 524,
} as const;

/** The name of an errno number (`'ENOENT'` for 2), or `E<n>` when it has none here. */
export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(Errno)) if (value === errno) return name;
  return `E${errno}`;
}

/** A map operation failed; `errno` is the kernel's (`ENOENT`, `EEXIST`, `E2BIG`, `EINVAL`, ...). */
export class MapError extends TsbpfError {
  /** Positive errno, as the kernel returns it negated. */
  readonly errno: number;

  constructor(errno: number, message: string, options?: { cause?: unknown }) {
    super(errnoName(errno), message, options);
    this.errno = errno;
  }
}

/** The verifier rejected a program; `log` is its full log, `insn` the failing instruction when known. */
export class VerifierError extends TsbpfError {
  /** The verifier log as it printed it. */
  readonly log: string;
  /** Index of the instruction the verifier stopped at, when the log says. */
  readonly insn?: number;
  /** The errno of the load (`EACCES` for a rejection, `EINVAL` for a malformed program). */
  readonly errno: number;

  constructor(message: string, log: string, errno: number, insn?: number) {
    super('E_VERIFIER', message);
    this.log = log;
    this.errno = errno;
    this.insn = insn;
  }
}

/** A system call failed (kernel backend); `code` is the errno name, `syscall` the call. */
export class SyscallError extends TsbpfError {
  readonly errno: number;
  readonly syscall: string;

  constructor(syscall: string, errno: number, message?: string, options?: { cause?: unknown }) {
    super(errnoName(errno), message ?? `${syscall} failed: ${errnoName(errno)}`, options);
    this.errno = errno;
    this.syscall = syscall;
  }
}

/** Malformed BTF: `offset` is the byte offset of the problem in the blob. */
export class BtfError extends TsbpfError {
  readonly offset: number;

  constructor(code: string, message: string, offset: number) {
    super(code, `${message} (at byte ${offset})`);
    this.offset = offset;
  }
}

/** Codes of {@link RuntimeError}. */
export type RuntimeErrorCode =
  | 'E_MEM_FAULT'
  | 'E_UNKNOWN_OPCODE'
  | 'E_CALL_DEPTH'
  | 'E_BUDGET'
  | 'E_UNKNOWN_HELPER'
  | 'E_BAD_JUMP'
  | 'E_FELL_OFF';

/**
 * A program went wrong while running on a user-space backend (the interpreter, the JIT); `pc` is
 * the instruction (slot) index. Both backends raise the same codes for the same faults.
 */
export class RuntimeError extends TsbpfError {
  declare readonly code: RuntimeErrorCode;
  readonly pc: number;

  constructor(code: RuntimeErrorCode, pc: number, message: string) {
    super(code, `insn ${pc}: ${message}`);
    this.pc = pc;
  }
}

/** Codes of {@link ElfError}. */
export type ElfErrorCode =
  | 'E_ELF_MAGIC'
  | 'E_ELF_CLASS'
  | 'E_ELF_ENCODING'
  | 'E_ELF_VERSION'
  | 'E_ELF_TYPE'
  | 'E_ELF_MACHINE'
  | 'E_ELF_TRUNCATED'
  | 'E_ELF_SECTION'
  | 'E_ELF_STRING'
  | 'E_ELF_SYMBOL'
  | 'E_ELF_RELOCATION'
  | 'E_ELF_EXTERN';

/** A malformed ELF object: `offset` is the file offset of the problem. */
export class ElfError extends TsbpfError {
  declare readonly code: ElfErrorCode;
  readonly offset: number;

  constructor(code: ElfErrorCode, message: string, offset: number) {
    super(code, `${message} (at byte ${offset})`);
    this.offset = offset;
  }
}

/** Codes of {@link ObjectError}. */
export type ObjectErrorCode =
  /** A `__ksym` extern or kfunc the backend cannot resolve (only the kernel can). */
  | 'E_OBJ_EXTERN'
  /** A `.kconfig` extern that is not `__weak` and that the configuration given does not set. */
  | 'E_OBJ_KCONFIG'
  /** CO-RE relocations, but no target BTF to resolve them against. */
  | 'E_OBJ_CORE'
  /** A program or map the object does not have. */
  | 'E_OBJ_MISSING'
  /** A map pinned where a `LIBBPF_PIN_BY_NAME` map goes that does not match its definition. */
  | 'E_OBJ_PIN';

/**
 * An object that opened but cannot load as asked: `program` and `insn` (a slot of the linked
 * code) say where, and the message names the C source line when the object has line_info.
 */
export class ObjectError extends TsbpfError {
  declare readonly code: ObjectErrorCode;
  constructor(code: ObjectErrorCode, message: string, readonly program?: string, readonly insn?: number) {
    super(code, message);
  }
}

/** Codes of {@link CoreError} and of a failed CO-RE resolution (`CoreFailure.code`). */
export type CoreErrorCode =
  | 'E_CORE_BAD_RELO'
  | 'E_CORE_BAD_BTF'
  | 'E_CORE_NOT_FOUND'
  | 'E_CORE_AMBIGUOUS'
  | 'E_CORE_BITFIELD'
  | 'E_CORE_UNSUPPORTED'
  | 'E_CORE_INSN_RANGE'
  | 'E_CORE_INSN_FORM'
  | 'E_CORE_INSN_VALUE'
  | 'E_CORE_OFFSET_RANGE'
  | 'E_CORE_MEM_SIZE';

/**
 * A CO-RE relocation that cannot be applied to its instruction (the instruction does not hold the
 * value clang emitted, the new offset does not fit in 16 bits, the load cannot be resized, ...),
 * or one a loader refuses, as libbpf does, after `resolveCoreRelo` reported a fatal failure.
 * `insn` is the instruction's slot index; `expected`/`got` are set for a value mismatch.
 */
export class CoreError extends TsbpfError {
  declare readonly code: CoreErrorCode;
  /** Index of the 8-byte instruction slot the relocation applies to. */
  readonly insn: number;
  /** The value the instruction should have held. */
  readonly expected?: bigint;
  /** The value it held. */
  readonly got?: bigint;

  constructor(code: CoreErrorCode, message: string, insn: number, values: { expected?: bigint; got?: bigint } = {}) {
    super(code, `insn ${insn}: ${message}`);
    this.insn = insn;
    this.expected = values.expected;
    this.got = values.got;
  }
}
