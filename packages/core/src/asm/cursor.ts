import type { AsmErrorCode } from '../errors.js';
import type { AsmBuilder } from './common.js';
import { fitSigned, parseIntegerLiteral } from './common.js';
import type { Insn } from '../isa/insn.js';
import type { Token } from './lexer.js';

/** A register operand: its number and whether it was written as a 32-bit `wN` (LLVM syntax). */
export interface RegOperand {
  reg: number;
  is32: boolean;
  column: number;
}

/** Walks the tokens of one line; every failure is an `AsmError` at the token's column. */
export class Cursor {
  private i = 0;

  constructor(
    readonly tokens: readonly Token[],
    readonly line: number,
    readonly builder: AsmBuilder,
    readonly lineLength: number,
  ) {}

  peek(offset = 0): Token | undefined {
    return this.tokens[this.i + offset];
  }

  next(): Token | undefined {
    return this.tokens[this.i++];
  }

  atEnd(): boolean {
    return this.i >= this.tokens.length;
  }

  /** Column of the current token (or just past the end of the line). */
  column(): number {
    return this.peek()?.column ?? this.lineLength + 1;
  }

  describe(t: Token | undefined): string {
    return t ? `'${t.text}'` : 'the end of the line';
  }

  fail(code: AsmErrorCode, message: string, column = this.column()): never {
    this.builder.fail(code, message, { line: this.line, column });
  }

  /** Consumes `text` if it is next. */
  accept(text: string): boolean {
    const t = this.peek();
    if (t && t.kind !== 'string' && t.text === text) {
      this.i++;
      return true;
    }
    return false;
  }

  expect(text: string, what = `'${text}'`): Token {
    const t = this.peek();
    if (!t || t.text !== text || t.kind === 'string') {
      this.fail('E_ASM_SYNTAX', `expected ${what}, got ${this.describe(t)}`);
    }
    this.i++;
    return t;
  }

  expectEnd(): void {
    if (!this.atEnd()) this.fail('E_ASM_SYNTAX', `unexpected ${this.describe(this.peek())} after the instruction`);
  }

  expectIdent(what: string): Token {
    const t = this.peek();
    if (!t || t.kind !== 'ident') this.fail('E_ASM_SYNTAX', `expected ${what}, got ${this.describe(t)}`);
    this.i++;
    return t;
  }

  /**
   * Reads a register written `rN`/`wN` (LLVM) or `%rN` (uBPF). `allow32` accepts `wN`.
   */
  register(opts: { percent?: 'optional' | 'required' | 'forbidden'; allow32?: boolean } = {}): RegOperand {
    const column = this.column();
    const percent = opts.percent ?? 'forbidden';
    let hadPercent = false;
    if (percent !== 'forbidden' && this.accept('%')) hadPercent = true;
    const t = this.peek();
    const example = percent === 'required' ? '%r1' : opts.allow32 ? 'r1 or w1' : 'r1';
    const reg = t?.kind === 'ident' ? parseRegisterName(t.text) : undefined;
    if (!reg || (reg.is32 && !opts.allow32) || (percent === 'required' && !hadPercent)) {
      this.fail('E_ASM_BAD_REGISTER', `expected a register such as ${example}, got ${this.describe(t)}`, column);
    }
    this.i++;
    return { ...reg, column };
  }

  /** Whether the next token is a register name (optionally after `%`). */
  atRegister(percent = false): boolean {
    let t = this.peek();
    if (percent && t?.text === '%') t = this.peek(1);
    return t?.kind === 'ident' && parseRegisterName(t.text) !== undefined;
  }

  /** Reads a signed integer: an optional `+`/`-` then a number literal. */
  integer(what = 'a number'): { value: bigint; column: number } {
    const signTok = this.peek();
    let sign = 1n;
    if (this.accept('-')) sign = -1n;
    else this.accept('+');
    const t = this.peek();
    const v = t?.kind === 'number' ? parseIntegerLiteral(t.text) : undefined;
    if (v === undefined) this.fail('E_ASM_BAD_OPERAND', `expected ${what}, got ${this.describe(t)}`, t?.column ?? this.column());
    this.i++;
    // Point at the sign when it is written against the number (`-8`), else at the number (`+ 8`).
    const column = signTok !== t && signTok && signTok.column + 1 === t!.column ? signTok.column : t!.column;
    return { value: sign * v, column };
  }

  /**
   * Reads a jump target (a label, or `+N`/`-N` slots) and emits `insn` with it in `field`: the
   * offset directly, or a label reference the builder resolves at the end.
   */
  emitJump(insn: Insn, field: 'off' | 'imm'): void {
    const t = this.peek();
    if (t?.kind === 'ident') {
      this.i++;
      this.builder.emit(insn, this.line, { name: t.text, field, pos: { line: this.line, column: t.column } });
    } else if (this.atInteger()) {
      const v = this.integer('a jump offset');
      const value = fitSigned(v.value, field === 'off' ? 16 : 32, { line: this.line, column: v.column }, this.builder, 'jump offset');
      this.builder.emit({ ...insn, [field]: value }, this.line);
    } else {
      this.fail('E_ASM_BAD_OPERAND', `expected a label or an offset such as +2, got ${this.describe(t)}`);
    }
    this.expectEnd();
  }

  /** Whether an integer (possibly signed) comes next. */
  atInteger(): boolean {
    const t = this.peek();
    if (t?.text === '-' || t?.text === '+') return this.peek(1)?.kind === 'number';
    return t?.kind === 'number';
  }
}

/** Parses `r0`..`r10` or `w0`..`w10`. */
export function parseRegisterName(text: string): { reg: number; is32: boolean } | undefined {
  const m = /^([rw])(10|[0-9])$/.exec(text);
  if (!m) return undefined;
  return { reg: Number(m[2]), is32: m[1] === 'w' };
}
