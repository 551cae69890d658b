import { assembleUbpf } from './asm/ubpf.js';
import { rawSlotInsn } from './asm/raw.js';
import { parseIntegerLiteral } from './asm/common.js';
import { AsmError } from './errors.js';
import { decode, encode, type Insn } from './isa/insn.js';

/** One bpf_conformance test (`*.data`): program, input memory, expected r0 or error. */
export interface ConformanceTest {
  name: string;
  /** The `-- asm` section, uBPF syntax. */
  asm?: string;
  /** The `-- raw` section: 64-bit little-endian instruction words, used instead of `asm`. */
  raw?: bigint[];
  /** The `-- mem` section (empty when absent): passed as r1 = pointer, r2 = length. */
  mem: Uint8Array;
  /** The expected r0 (`-- result`), as an unsigned 64-bit value. */
  result?: bigint;
  /** The expected error text (`-- error`). */
  error?: string;
  /** Line of the `-- asm` header, so assembler errors can point into the file. */
  asmLine: number;
  /** The program: `raw` when present, else `asm` assembled. */
  program(): Insn[];
}

const KEYWORDS = ['asm', 'result', 'mem', 'raw', 'no register offset', ' c', 'error'] as const;

/**
 * Parses a bpf_conformance `.data` file as its runner does: `#` comments, sections introduced by
 * a line containing `--` and matched by keyword in the runner's order, `-- result` hex when it
 * contains `0x` and unsigned decimal otherwise (the last line wins), `-- mem` hex bytes over any
 * number of lines, `-- raw` words replacing `-- asm`.
 *
 * @throws AsmError `E_ASM_SYNTAX` for a malformed section (bad hex byte, unknown header).
 * @example
 * ```ts
 * const t = parseConformanceData(text, 'add.data');
 * t.program(); t.result; // Insn[], 0x3n
 * ```
 */
export function parseConformanceData(text: string, name = '<data>'): ConformanceTest {
  const sections = new Map<string, { lines: string[]; start: number }>();
  let current: { lines: string[]; start: number } | undefined;
  text.split('\n').forEach((rawLine, idx) => {
    const line = rawLine.replace(/\r$/, '');
    if (line.includes('--')) {
      const kw = KEYWORDS.find((k) => line.includes(k));
      if (!kw) throw new AsmError('E_ASM_SYNTAX', `${name}: unknown section header '${line.trim()}'`, { line: idx + 1, column: 1 }, line);
      current = { lines: [], start: idx + 1 };
      sections.set(kw.trim(), current);
      return;
    }
    // The asm section keeps its comments (the assembler strips them) so columns stay right.
    current?.lines.push(line);
  });
  const body = (k: string) => sections.get(k)?.lines.map((l) => l.replace(/#.*/, '')) ?? [];

  const memText = body('mem').join(' ').trim();
  const memBytes: number[] = [];
  if (memText) {
    for (const tok of memText.split(/\s+/)) {
      if (!/^(0x)?[0-9a-f]{1,2}$/i.test(tok)) {
        throw new AsmError('E_ASM_SYNTAX', `${name}: '${tok}' in -- mem is not a hex byte`, { line: sections.get('mem')!.start, column: 1 });
      }
      memBytes.push(parseInt(tok.replace(/^0x/i, ''), 16));
    }
  }

  let result: bigint | undefined;
  for (const l of body('result').map((s) => s.trim()).filter(Boolean)) {
    const v = l.includes('0x') ? parseIntegerLiteral(l.slice(l.indexOf('0x'))) : parseIntegerLiteral(l);
    if (v === undefined) throw new AsmError('E_ASM_SYNTAX', `${name}: '${l}' in -- result is not a number`, { line: sections.get('result')!.start, column: 1 });
    result = BigInt.asUintN(64, v);
  }

  let raw: bigint[] | undefined;
  if (sections.has('raw')) {
    raw = [];
    for (const tok of body('raw').join(' ').trim().split(/\s+/).filter(Boolean)) {
      const v = parseIntegerLiteral(tok);
      if (v === undefined) throw new AsmError('E_ASM_SYNTAX', `${name}: '${tok}' in -- raw is not a number`, { line: sections.get('raw')!.start, column: 1 });
      raw.push(BigInt.asUintN(64, v));
    }
  }

  const asmSection = sections.get('asm');
  const asm = asmSection?.lines.join('\n');
  const errorText = sections.get('error')?.lines.join('\n').trim();
  const asmLine = asmSection?.start ?? 0;
  return {
    name,
    asm,
    raw,
    mem: Uint8Array.from(memBytes),
    result,
    error: errorText || undefined,
    asmLine,
    program(): Insn[] {
      if (raw) return decode(encode(raw.map(rawSlotInsn)));
      if (asm === undefined) throw new AsmError('E_ASM_SYNTAX', `${name}: no -- asm or -- raw section`, { line: 1, column: 1 });
      try {
        return assembleUbpf(asm).insns;
      } catch (e) {
        if (e instanceof AsmError) {
          // Report the position in the .data file, not in the section.
          throw new AsmError(e.code, `${name}: ${e.message.replace(/^\d+:\d+: /, '')}`, { line: e.line + asmLine, column: e.column }, e.sourceLine);
        }
        throw e;
      }
    },
  };
}
