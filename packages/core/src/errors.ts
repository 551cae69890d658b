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
