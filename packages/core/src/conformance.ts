import { assembleUbpf } from './asm/ubpf.js';
import { rawSlotInsn } from './asm/raw.js';
import { AsmError, ConformanceError, type ConformanceErrorCode } from './errors.js';
import { decode, encode, type Insn } from './isa/insn.js';

/** One bpf_conformance test (`*.data`): program, input memory, expected r0 or error. */
export interface ConformanceTest {
  /** The name given to {@link parseConformanceData}, usually the file name. */
  name: string;
  /** The `-- asm` section in uBPF syntax, comments kept (several `-- asm` sections are joined). */
  asm?: string;
  /** The `-- raw` section: 64-bit little-endian instruction words, used instead of `asm`. */
  raw?: bigint[];
  /** The `-- mem` section (empty when absent): passed as r1 = pointer, r2 = length. */
  mem: Uint8Array;
  /** The expected r0 (`-- result`, the last line when there are several), unsigned 64-bit. */
  result?: bigint;
  /** The expected error text (`-- error`, the last line), compared after trailing whitespace is removed. */
  error?: string;
  /** Line of the first `-- asm` header (0 when there is none). */
  asmLine: number;
  /**
   * The program: the `-- raw` words decoded when there are any, else `asm` assembled.
   *
   * @throws AsmError for a bad `-- asm` line, with its line and column in the `.data` file.
   * @throws ConformanceError `E_CONFORMANCE_NO_PROGRAM` when neither section has an instruction.
   */
  program(): Insn[];
}

type State = 'asm' | 'result' | 'mem' | 'raw' | 'error' | 'ignore';

/** Section keywords in the order the runner tries them: the first one the header line contains wins. */
const HEADERS: ReadonlyArray<readonly [string, State]> = [
  ['asm', 'asm'], ['result', 'result'], ['mem', 'mem'], ['raw', 'raw'],
  ['no register offset', 'ignore'], [' c', 'ignore'], ['error', 'error'],
];

/** A line of the file: its number, its text without `\r`, and that text without its comment. */
interface DataLine {
  no: number;
  full: string;
  text: string;
}

const U64_MAX = (1n << 64n) - 1n;

/**
 * Parses a bpf_conformance `.data` file as its runner (`bpf_test_parser.cc`) does:
 *
 * - a trailing `\r` is removed, `#` starts a comment, blank lines are skipped;
 * - a line containing `--` is a section header, matched by the first of `asm`, `result`, `mem`,
 *   `raw`, `no register offset`, ` c`, `error` it contains (`-- c` and `-- no register offset`
 *   are ignored; lines before the first header too);
 * - `-- result` is hex when it contains `0x` and unsigned decimal otherwise (a `-` wraps modulo
 *   2^64, as `stoull` does); the last line wins, as it does for `-- error`;
 * - `-- mem` is whitespace-separated hex bytes over any number of lines;
 * - `-- raw` is whitespace-separated 64-bit little-endian words (`0x` hex or decimal) which,
 *   when there is at least one, replace `-- asm`.
 *
 * Where the runner would silently skip or misread a file, this reports it: an unknown header,
 * a `-- mem` token that is not a byte, a `-- result` or `-- raw` value that is not a 64-bit number.
 *
 * @throws ConformanceError with the line and column of the problem in the file.
 * @example
 * ```ts
 * const t = parseConformanceData('-- asm\nmov %r0, 3\nexit\n-- result\n0x3\n', 'three.data');
 * t.program().length; // 2
 * t.result;           // 3n
 * ```
 */
export function parseConformanceData(text: string, name = '<data>'): ConformanceTest {
  function fail(code: ConformanceErrorCode, message: string, l: DataLine, column: number): never {
    throw new ConformanceError(code, message, name, { line: l.no, column }, l.full);
  }
  let state: State = 'ignore';
  const asmLines: DataLine[] = [];
  const memLines: DataLine[] = [];
  const rawLines: DataLine[] = [];
  let resultLine: DataLine | undefined;
  let errorLine: DataLine | undefined;
  let asmLine = 0;

  text.split('\n').forEach((original, idx) => {
    const full = original.endsWith('\r') ? original.slice(0, -1) : original;
    const hash = full.indexOf('#');
    const l: DataLine = { no: idx + 1, full, text: hash < 0 ? full : full.slice(0, hash) };
    if (l.text.includes('--')) {
      const header = HEADERS.find(([keyword]) => l.text.includes(keyword));
      if (!header) {
        fail('E_CONFORMANCE_UNKNOWN_SECTION', `unknown section header '${l.text.trim()}' (expected -- asm, -- result, -- mem, -- raw, -- error, -- c or -- no register offset)`, l, l.text.indexOf('--') + 1);
      }
      state = header[1];
      if (state === 'asm' && asmLine === 0) asmLine = l.no;
      return;
    }
    // Blank asm lines are kept so that assembler errors map back to file lines one to one.
    if (state === 'asm') asmLines.push(l);
    else if (l.text.trim() === '') return;
    else if (state === 'result') resultLine = l;
    else if (state === 'error') errorLine = l;
    else if (state === 'mem') memLines.push(l);
    else if (state === 'raw') rawLines.push(l);
  });

  const mem: number[] = [];
  for (const l of memLines) {
    for (const tok of words(l.text)) {
      const ok = /^(0x)?[0-9a-f]+$/i.test(tok.text);
      const v = ok ? parseInt(tok.text.replace(/^0x/i, ''), 16) : NaN;
      if (!(v <= 0xff)) fail('E_CONFORMANCE_BAD_MEM', `'${tok.text}' in -- mem is not a hex byte (00..ff)`, l, tok.column);
      mem.push(v);
    }
  }

  let result: bigint | undefined;
  if (resultLine) {
    const l = resultLine;
    const s = l.text.trim();
    const column = l.text.search(/\S/) + 1;
    const hex = l.text.includes('0x');
    const m = hex ? /^([+-]?)(?:0x)?([0-9a-f]+)$/i.exec(s) : /^([+-]?)([0-9]+)$/.exec(s);
    if (!m) {
      fail('E_CONFORMANCE_BAD_RESULT', `-- result '${s}' is not a number (expected 0x hex or unsigned decimal)`, l, column);
    }
    const v = BigInt(hex ? `0x${m[2]}` : m[2]);
    if (v > U64_MAX) fail('E_CONFORMANCE_BAD_RESULT', `-- result '${s}' does not fit in 64 bits`, l, column);
    result = m[1] === '-' ? BigInt.asUintN(64, -v) : v;
  }

  const rawWords: bigint[] = [];
  for (const l of rawLines) {
    for (const tok of words(l.text)) {
      const ok = tok.text.startsWith('0x') ? /^0x[0-9a-f]+$/i.test(tok.text) : /^[0-9]+$/.test(tok.text);
      const v = ok ? BigInt(tok.text) : -1n;
      if (v < 0n || v > U64_MAX) fail('E_CONFORMANCE_BAD_RAW', `'${tok.text}' in -- raw is not a 64-bit word (0x hex or decimal)`, l, tok.column);
      rawWords.push(v);
    }
  }
  const raw = rawWords.length > 0 ? rawWords : undefined;

  // Trailing blank lines (the file's last newline, blank lines before the next header) say nothing.
  while (asmLines.length > 0 && asmLines[asmLines.length - 1].full.trim() === '') asmLines.pop();
  const asm = asmLine === 0 ? undefined : asmLines.map((l) => l.full).join('\n');
  let cached: Insn[] | undefined;
  const build = (): Insn[] => {
    if (raw) return decode(encode(raw.map(rawSlotInsn)));
    if (asm === undefined) return [];
    try {
      return assembleUbpf(asm).insns;
    } catch (e) {
      if (!(e instanceof AsmError)) throw e;
      // Report the position in the .data file, not in the section.
      const line = asmLines[e.line - 1]?.no ?? asmLine;
      throw new AsmError(e.code, e.message.replace(/^\d+:\d+: /, ''), { line, column: e.column }, e.sourceLine);
    }
  };

  return {
    name,
    asm,
    raw,
    mem: Uint8Array.from(mem),
    result,
    error: errorLine?.text.trimEnd(),
    asmLine,
    program(): Insn[] {
      cached ??= build();
      if (cached.length === 0) {
        throw new ConformanceError('E_CONFORMANCE_NO_PROGRAM', 'no instructions: expected an -- asm or -- raw section with at least one instruction', name, { line: asmLine || 1, column: 1 });
      }
      return cached.slice();
    },
  };
}

/** The whitespace-separated words of a line, with their 1-based columns. */
function words(text: string): Array<{ text: string; column: number }> {
  return Array.from(text.matchAll(/\S+/g), (m) => ({ text: m[0], column: m.index + 1 }));
}
