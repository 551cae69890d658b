import { dirname, resolve } from 'node:path';
import { assemble, parseConformanceData, type Insn } from '@tsbpf/core';
import { looksLikeHexText, readProgram } from './format.js';
import type { CliIo } from './io.js';

/** What `run` reads: a program and, for a bpf_conformance `.data` file, its memory. */
export interface ProgramInput {
  insns: Insn[];
  mem?: Uint8Array;
}

/**
 * Reads PROGRAM as `tsbpf run` takes it: a bpf_conformance `.data` file, assembly (either syntax),
 * hex text, or raw bytes.
 */
export function readProgramFile(file: string, io: CliIo, defines: Record<string, bigint> = {}): ProgramInput {
  const bytes = io.readFile(file);
  if (file.endsWith('.data')) {
    const t = parseConformanceData(Buffer.from(bytes).toString('utf8'), file);
    return { insns: t.program(), mem: t.mem };
  }
  const text = Buffer.from(bytes).toString('latin1');
  const isText = /^[\x09\x0a\x0d\x20-\x7e]*$/.test(text);
  if (file.endsWith('.s') || file.endsWith('.asm') || (isText && !looksLikeHexText(bytes))) {
    const base = file === '-' ? process.cwd() : dirname(resolve(file));
    return { insns: assemble(Buffer.from(bytes).toString('utf8'), { defines, readFile: (p) => Buffer.from(io.readFile(resolve(base, p))).toString('utf8') }).insns };
  }
  return { insns: readProgram(bytes) };
}

/** Parses memory given as hex bytes (`"00 01 ff"`, `"0001ff"`, with optional 0x prefixes). */
export function parseHexMemory(text: string): Uint8Array {
  const clean = text.replace(/0x/gi, '').replace(/\s+/g, '');
  if (!/^[0-9a-fA-F]*$/.test(clean) || clean.length % 2) throw new Error(`memory '${text.slice(0, 40)}' is not hex bytes`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}
