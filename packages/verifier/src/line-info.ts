/**
 * `bpf_line_info`: which C source line each instruction comes from, and how the kernel's verifier
 * prints it in its log (kernel/bpf/log.c `find_linfo`, `verbose_linfo`; kernel/bpf/verifier.c
 * `check_btf_line`).
 */
import type { BtfExtLineInfo } from '@tsbpf/core';
import type { Code } from './structure.js';
import type { LineInfo } from './types.js';

/** The kernel formats each piece of its log in a 1024-byte buffer (BPF_VERIFIER_TMP_LOG_SIZE). */
const TMP_LOG_SIZE = 1024;

/**
 * The line info of an object's program in the shape `verify` takes: `lineInfo` as
 * `ObjectProgram.lineInfo` has it (by slot of the linked code, strings resolved).
 *
 * @example
 * ```ts
 * const p = openObject(bytes).program('xdp_parser')!;
 * verify(p.insns, { progType: p.progType, lineInfo: lineInfoOf(p), logLevel: 1 });
 * ```
 */
export function lineInfoOf(p: { lineInfo: readonly (BtfExtLineInfo & { slot: number })[] }): LineInfo[] {
  return p.lineInfo.map((r) => ({ insnOff: r.slot, fileName: r.fileName, line: r.line, lineNum: r.lineNum, col: r.col, fileNameOff: r.fileNameOff }));
}

/** What is wrong with `lineInfo` as input (not the kernel's checks: those are {@link checkLineInfo}). */
export function lineInfoProblem(lineInfo: unknown): string | undefined {
  if (!Array.isArray(lineInfo)) return 'lineInfo must be an array of line records';
  const bad = lineInfo.findIndex(
    (l: Partial<LineInfo> | null) =>
      typeof l !== 'object' || l === null || !Number.isInteger(l.insnOff) || typeof l.fileName !== 'string' || typeof l.line !== 'string' ||
      !Number.isInteger(l.lineNum) || l.lineNum! < 0 || (l.fileNameOff !== undefined && !Number.isInteger(l.fileNameOff)),
  );
  return bad < 0 ? undefined : `lineInfo[${bad}]: needs an integer insnOff, strings fileName and line, a non-negative integer lineNum`;
}

/**
 * check_btf_line: offsets strictly increasing and inside the program, none on an `lddw`'s second
 * slot (opcode 0), and one record at the first slot of every subprogram.
 */
export function checkLineInfo(lineInfo: readonly LineInfo[], code: Code, subprogs: readonly number[]): { message: string; insn: number } | undefined {
  if (lineInfo.length === 0) return undefined;
  const n = code.length;
  let prev = 0;
  let s = 0;
  for (let i = 0; i < lineInfo.length; i++) {
    const off = lineInfo[i]!.insnOff;
    // the kernel reads insn_off as a u32
    const u = off >>> 0;
    if ((i > 0 && u <= prev) || u >= n) {
      return { message: `Invalid line_info[${i}].insn_off:${u} (prev_offset:${prev} prog->len:${n})`, insn: Math.min(u, n - 1) };
    }
    const op = code.tail[u] ? code.head2[u - 1]! & 0xff : code.op[u]!;
    if (op === 0) return { message: `Invalid insn code at line_info[${i}].insn_off`, insn: u };
    if (s < subprogs.length) {
      if (u === subprogs[s]) s++;
      else if (subprogs[s]! < u) return { message: `missing bpf_line_info for func#${s}`, insn: subprogs[s]! };
    }
    prev = u;
  }
  if (s < subprogs.length) return { message: `missing bpf_line_info for ${subprogs.length - s} funcs starting from func#${s}`, insn: subprogs[s]! };
  return undefined;
}

/**
 * verbose_linfo: the source line of a slot, printed once per new line. `prev` is the last record
 * printed; the kernel keeps it across the log rewinds of level 1 (so the first instruction of a
 * resumed branch shows no line when the abandoned path printed the same one last) and forgets it
 * at the start of each `do_check_common` pass.
 */
export class LinePrinter {
  private prev: LineInfo | undefined;

  constructor(
    private readonly lines: readonly LineInfo[],
    private readonly progLen: number,
  ) {}

  /** A new verification pass (`do_check_common`: `env->prev_linfo = NULL`). */
  reset(): void {
    this.prev = undefined;
  }

  /** The log line for slot `pc` with `prefix` (`"; "` before an instruction), or undefined when none is due. */
  at(pc: number, prefix: string): string | undefined {
    const l = this.find(pc);
    const prev = this.prev;
    if (!l || l === prev) return undefined;
    // two records of one line (differing columns) print once: same file, same line number
    if (prev && sameFile(l, prev) && l.lineNum === prev.lineNum) return undefined;
    this.prev = l;
    const file = l.fileName.slice(l.fileName.lastIndexOf('/') + 1);
    return `${prefix}${chunk(l.line.replace(/^[ \t\n\v\f\r]+/, ''))} @ ${file}:${l.lineNum}`;
  }

  /** find_linfo: the last record at or before `pc`. */
  private find(pc: number): LineInfo | undefined {
    const lines = this.lines;
    if (!lines.length || pc >= this.progLen) return undefined;
    let lo = 0;
    let hi = lines.length - 1;
    while (lo < hi) {
      const mid = lo + ((hi - lo + 1) >> 1);
      if (lines[mid]!.insnOff <= pc) lo = mid;
      else hi = mid - 1;
    }
    return lines[lo];
  }
}

/** The kernel compares the records' string offsets; without them, the names. */
function sameFile(a: LineInfo, b: LineInfo): boolean {
  return a.fileNameOff !== undefined && b.fileNameOff !== undefined ? a.fileNameOff === b.fileNameOff : a.fileName === b.fileName;
}

/** What one `verbose(env, "%s", s)` keeps of `s`: at most 1023 bytes. */
function chunk(s: string): string {
  if (s.length < TMP_LOG_SIZE / 4) return s;
  const bytes = new TextEncoder().encode(s);
  return bytes.length < TMP_LOG_SIZE ? s : new TextDecoder().decode(bytes.subarray(0, TMP_LOG_SIZE - 1));
}
