import { AsmError, DecodeError, TsbpfError, decode, type Insn } from '@tsbpf/core';
import { CliExit, ReportedError } from './io.js';

/** Prints a typed error as `FILE:LINE:COL: error: message`, with the line and a caret when known. */
export function formatError(file: string, e: unknown): string {
  if (e instanceof AsmError) {
    const msg = e.message.replace(/^\d+:\d+: /, '');
    const caret = e.sourceLine ? `\n  ${e.sourceLine}\n  ${' '.repeat(Math.max(0, e.column - 1))}^` : '';
    return `${file}:${e.line}:${e.column}: error: ${msg} [${e.code}]${caret}\n`;
  }
  if (e instanceof DecodeError) return `${file}: error: insn ${e.index}: ${e.message} [${e.code}]\n`;
  if (e instanceof TsbpfError) return `${file}: error: ${e.message} [${e.code}]\n`;
  if (e instanceof CliExit) return `tsbpf: ${e.message}\n`;
  return `${file}: error: ${(e as Error).message ?? String(e)}\n`;
}

/** Hex text of a program: one 8-byte slot per line, bytes in memory order (`b7 00 00 00 01 00 00 00`). */
export function toHexLines(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 8) {
    lines.push(Array.from(bytes.subarray(i, i + 8), (b) => b.toString(16).padStart(2, '0')).join(' '));
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}

/** Whether the bytes are hex text (digits, spaces, `0x` prefixes, `#` comments) rather than binary. */
export function looksLikeHexText(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return false;
  const text = Buffer.from(bytes).toString('latin1');
  return /^(\s|#[^\n]*|0x|[0-9a-fA-F])*$/.test(text) && /[0-9a-fA-F]/.test(text);
}

/**
 * Reads a program given as raw bytes or as hex text (any whitespace, optional `0x` per byte or
 * per 8-byte word written as bytes in memory order).
 */
export function programBytes(bytes: Uint8Array): Uint8Array {
  if (!looksLikeHexText(bytes)) return bytes;
  const text = Buffer.from(bytes).toString('latin1').replace(/#[^\n]*/g, '').replace(/0x/gi, '').replace(/\s+/g, '');
  if (text.length % 2 !== 0) throw new DecodeError('E_DECODE_HEX', `hex text has an odd number of digits (${text.length})`, 0);
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

/** Decodes a program file (raw or hex), throwing typed errors. */
export function readProgram(bytes: Uint8Array): Insn[] {
  return decode(programBytes(bytes));
}

/** Runs a command body, reporting typed errors against `file`. */
export function withFile<T>(file: string, body: () => T): T {
  try {
    return body();
  } catch (e) {
    if (e instanceof CliExit) throw e;
    throw new ReportedError(formatError(file, e));
  }
}
