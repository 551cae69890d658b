import type { AccessSize, AluName, AtomicName, Insn, JmpName } from '../isa/insn.js';
import { decode, encode, lddw, slotIndexes } from '../isa/insn.js';
import { Opcode } from '../isa/opcodes.js';
import { make } from '../isa/make.js';
import { helperId } from '../uapi/helper-ids.js';
import { AsmBuilder, fit64, fitSigned, type AssembledProgram, type LabelField } from './common.js';
import { Cursor, parseRegisterName } from './cursor.js';
import { stripComment, tokenize, type Token } from './lexer.js';
import { rawSlotInsn } from './raw.js';

/** Options of {@link assembleUbpf}. */
export interface UbpfAsmOptions {
  /** Resolves a helper name in `call NAME` (default: the kernel's `enum bpf_func_id`). */
  helpers?: (name: string) => number | undefined;
}

/**
 * Assembles the uBPF / bpf_conformance syntax, the one of the `-- asm` sections of the
 * conformance suite's `.data` files:
 *
 * - registers `%r0`..`%r10` (the `%` may be left out), numbers in decimal or `0x` hex;
 * - ALU `add`, `add32`, ... `mov`, `neg`, `sdiv`, `smod`, `movsx{8,16}{32,64}`, `movsx3264`,
 *   byte swaps `be16`.. `le64`, `swap16`.. / `bswap16`..;
 * - `lddw %r0, 0x...`, `ldx{b,h,w,dw}` / `ldxs{b,h,w} %rD, [%rS+off]`, `st{b,h,w,dw} [%rD+off], imm`,
 *   `stx{b,h,w,dw} [%rD+off], %rS`, the legacy `ldabs{b,h,w} imm` and `ldind{b,h,w} %rS, imm`;
 * - jumps `jeq %rD, %rS|imm, label|+off` (and `jeq32` ...), `ja label`, `ja32 label` (offset in imm);
 * - `exit`, `call N` / `call helper N` / `call NAME`, `call local label`, `call runtime N` (kfunc),
 *   `call %rN` (callx);
 * - atomics `lock [fetch] add|and|or|xor[32] [%rD+off], %rS`, `lock xchg[32]`, `lock cmpxchg[32]`;
 * - `.quad 0x...`: one raw 8-byte slot (the little-endian u64 of its bytes), for anything the
 *   syntax cannot spell. A `.quad` whose opcode is `lddw` takes the next slot as its second half,
 *   as {@link decode} does.
 *
 * Labels are written `name:`; `#` and `//` start comments; `;` separates statements on a line.
 * The label `exit` is defined at the first `exit` instruction unless the source defines it itself
 * (anywhere), so `jne %r1, 0, exit` works before that instruction.
 *
 * @throws AsmError with the code, 1-based line and column of the first problem, and what was expected.
 * @example
 * ```ts
 * assembleUbpf('mov %r0, 1\njeq %r1, 0, exit\nadd %r0, 1\nexit').insns.length; // 4
 * ```
 */
export function assembleUbpf(source: string, options: UbpfAsmOptions = {}): AssembledProgram {
  const lines = source.split('\n');
  const b = new AsmBuilder(lines);
  const parser = new Parser(b, options.helpers ?? helperId);
  lines.forEach((raw, idx) => {
    const text = stripComment(raw, ['#', '//']);
    for (const s of statements(tokenize(text), text.length)) parser.statement(new Cursor(s.tokens, idx + 1, b, s.end));
  });
  const exit = parser.firstExit;
  if (exit && !b.hasLabel('exit')) b.label('exit', exit.pos, exit.slot);
  return pairRawLddw(b.finish());
}

/** The tokens of each `;`-separated statement of a line, with the column its end is reported at. */
function statements(tokens: Token[], lineLength: number): Array<{ tokens: Token[]; end: number }> {
  const out: Array<{ tokens: Token[]; end: number }> = [];
  let start = 0;
  tokens.forEach((t, i) => {
    if (t.kind === 'punct' && t.text === ';') {
      out.push({ tokens: tokens.slice(start, i), end: t.column - 1 });
      start = i + 1;
    }
  });
  out.push({ tokens: tokens.slice(start), end: lineLength });
  return out;
}

const ALU: Record<string, AluName> = {
  add: 'add', sub: 'sub', mul: 'mul', div: 'div', sdiv: 'sdiv', or: 'or', and: 'and', lsh: 'lsh',
  rsh: 'rsh', mod: 'mod', smod: 'smod', xor: 'xor', mov: 'mov', arsh: 'arsh',
};
const JMP: readonly JmpName[] = ['jeq', 'jgt', 'jge', 'jset', 'jne', 'jsgt', 'jsge', 'jlt', 'jle', 'jslt', 'jsle'];
const SIZES: Record<string, AccessSize> = { b: 1, h: 2, w: 4, dw: 8 };
const ATOMICS: Record<string, AtomicName> = { add: 'add', and: 'and', or: 'or', xor: 'xor', xchg: 'xchg', cmpxchg: 'cmpxchg' };

/** Parses the operands of one mnemonic (`m`, already consumed) and emits the instruction. */
type Handler = (p: Parser, c: Cursor, m: Token) => void;

/** Every mnemonic, spelled exactly (lower case), with its parser. */
const MNEMONICS = new Map<string, Handler>();
for (const [text, name] of Object.entries(ALU)) {
  MNEMONICS.set(text, (p, c) => p.alu(c, name, true));
  MNEMONICS.set(`${text}32`, (p, c) => p.alu(c, name, false));
}
MNEMONICS.set('neg', (p, c) => p.neg(c, true));
MNEMONICS.set('neg32', (p, c) => p.neg(c, false));
// movsx<source bits><destination bits>: movsx832 is w = (s8)w, movsx3264 is r = (s32)w.
for (const [ext, is64] of [[8, false], [16, false], [8, true], [16, true], [32, true]] as const) {
  MNEMONICS.set(`movsx${ext}${is64 ? 64 : 32}`, (p, c) => p.movsx(c, ext, is64));
}
for (const bits of [16, 32, 64] as const) {
  MNEMONICS.set(`be${bits}`, (p, c) => p.end(c, 'be', bits));
  MNEMONICS.set(`le${bits}`, (p, c) => p.end(c, 'le', bits));
  MNEMONICS.set(`swap${bits}`, (p, c) => p.end(c, 'swap', bits));
  MNEMONICS.set(`bswap${bits}`, (p, c) => p.end(c, 'swap', bits));
}
MNEMONICS.set('lddw', (p, c) => p.lddw(c));
for (const [sfx, size] of Object.entries(SIZES)) {
  MNEMONICS.set(`ldx${sfx}`, (p, c) => p.ldx(c, size, false));
  if (size !== 8) MNEMONICS.set(`ldxs${sfx}`, (p, c) => p.ldx(c, size, true));
  MNEMONICS.set(`st${sfx}`, (p, c) => p.st(c, size));
  MNEMONICS.set(`stx${sfx}`, (p, c) => p.stx(c, size));
  if (size !== 8) {
    MNEMONICS.set(`ldabs${sfx}`, (p, c) => p.ldPacket(c, size as 1 | 2 | 4, false));
    MNEMONICS.set(`ldind${sfx}`, (p, c) => p.ldPacket(c, size as 1 | 2 | 4, true));
  }
}
MNEMONICS.set('ja', (p, c) => p.target(c, make.ja(0), 'off'));
MNEMONICS.set('ja32', (p, c) => p.target(c, make.ja(0, true), 'imm'));
for (const name of JMP) {
  MNEMONICS.set(name, (p, c) => p.jcond(c, name, false));
  MNEMONICS.set(`${name}32`, (p, c) => p.jcond(c, name, true));
}
MNEMONICS.set('exit', (p, c, m) => p.exit(c, m));
MNEMONICS.set('call', (p, c) => p.call(c));
MNEMONICS.set('lock', (p, c) => p.lock(c));
MNEMONICS.set('.quad', (p, c) => p.quad(c));
MNEMONICS.set('.8byte', (p, c) => p.quad(c));

/** Spellings that look right but name no instruction, with what to write instead. */
const NEAR_MISSES: Record<string, string> = {
  movsx3232: 'a 32-bit move cannot sign-extend 32 bits (use mov32)',
  movsx6464: 'nothing to sign-extend (use mov)',
  ldxsdw: 'a 64-bit load has nothing to sign-extend (use ldxdw)',
  ldabsdw: 'legacy packet loads are 1, 2 or 4 bytes (ldabsb, ldabsh, ldabsw)',
  ldinddw: 'legacy packet loads are 1, 2 or 4 bytes (ldindb, ldindh, ldindw)',
  callx: 'write call %rN',
};

/** A decimal or `0x` hex literal (no octal: `010` is ten, as bpf_conformance reads it). */
function parseLiteral(text: string): bigint | undefined {
  return /^(0x[0-9a-f]+|[0-9]+)$/i.test(text) ? BigInt(text) : undefined;
}

class Parser {
  /** Slot and position of the first `exit` instruction, where the implicit `exit` label goes. */
  firstExit: { slot: number; pos: { line: number; column: number } } | undefined;

  constructor(
    private readonly b: AsmBuilder,
    private readonly resolveHelper: (name: string) => number | undefined,
  ) {}

  statement(c: Cursor): void {
    while (c.peek()?.kind === 'ident' && c.peek(1)?.kind === 'punct' && c.peek(1)?.text === ':') {
      const t = c.next()!;
      c.next();
      this.b.label(t.text, { line: c.line, column: t.column });
    }
    if (c.atEnd()) return;
    const mt = c.peek()!;
    if (mt.kind !== 'ident') c.fail('E_ASM_SYNTAX', `expected an instruction mnemonic or a label, got ${c.describe(mt)}`);
    c.next();
    const m = mt.text.toLowerCase();
    const handler = MNEMONICS.get(m);
    if (!handler) {
      const hint = NEAR_MISSES[m] ?? 'expected an instruction such as mov, add32, ldxw, stxdw, jeq, ja, call, exit or lock';
      c.fail('E_ASM_UNKNOWN_MNEMONIC', `unknown mnemonic '${mt.text}': ${hint}`, mt.column);
    }
    handler(this, c, mt);
    c.expectEnd();
  }

  private emit(c: Cursor, insn: Insn): void {
    this.b.emit(insn, c.line);
  }

  /** `%rN` or `rN`. */
  private reg(c: Cursor): number {
    const column = c.column();
    const percent = c.accept('%');
    const t = c.peek();
    const r = t?.kind === 'ident' ? parseRegisterName(t.text.toLowerCase()) : undefined;
    if (!r || r.is32) {
      const got = percent && t && t.column === column + 1 ? `'%${t.text}'` : c.describe(t);
      c.fail('E_ASM_BAD_REGISTER', `expected a register such as %r1 (%r0..%r10), got ${got}`, column);
    }
    c.next();
    return r.reg;
  }

  /** Whether a register (or something meant as one: `%...`, `r12`) comes next. */
  private atRegister(c: Cursor): boolean {
    const t = c.peek();
    return (t?.kind === 'punct' && t.text === '%') || (t?.kind === 'ident' && /^[rw]\d+$/i.test(t.text));
  }

  /** An optional `+`/`-` then a literal; the column is the sign's when written against the number. */
  private integer(c: Cursor, what: string): { value: bigint; column: number } {
    const first = c.peek();
    let negative = false;
    if (first?.kind === 'punct' && (first.text === '-' || first.text === '+')) {
      negative = first.text === '-';
      c.next();
    }
    const t = c.peek();
    const v = t?.kind === 'number' ? parseLiteral(t.text) : undefined;
    if (v === undefined) {
      const hint = t?.kind === 'number' ? ' (numbers are decimal or 0x hex)' : '';
      c.fail('E_ASM_BAD_OPERAND', `expected ${what}, got ${c.describe(t)}${hint}`, t?.column ?? c.column());
    }
    c.next();
    const column = first !== t && first!.column + 1 === t!.column ? first!.column : t!.column;
    return { value: negative ? -v : v, column };
  }

  private imm32(c: Cursor, what: string): number {
    const v = this.integer(c, what);
    return fitSigned(v.value, 32, { line: c.line, column: v.column }, this.b, 'immediate');
  }

  /**
   * An offset written with its sign (`[%r1+8]`, `-2`): unlike an immediate it has no unsigned
   * reading, so `+40000` is an error rather than a jump backwards.
   */
  private signedField(v: bigint, bits: 16 | 32, pos: { line: number; column: number }, what: string): number {
    const limit = 1n << BigInt(bits - 1);
    if (v < -limit || v >= limit) {
      this.b.fail('E_ASM_RANGE', `${what} ${v} does not fit in ${bits} bits (expected ${-limit}..${limit - 1n})`, pos);
    }
    return Number(v);
  }

  /** `[%rN+off]`, `[%rN-off]` or `[%rN]`. */
  private mem(c: Cursor): { reg: number; off: number } {
    c.expect('[', "'[' starting a memory operand such as [%r1+8]");
    const reg = this.reg(c);
    let off = 0;
    const t = c.peek();
    if (t?.kind === 'punct' && (t.text === '+' || t.text === '-')) {
      const v = this.integer(c, 'an offset such as +8 or -8');
      off = this.signedField(v.value, 16, { line: c.line, column: v.column }, 'offset');
    }
    c.expect(']', "']' closing the memory operand");
    return { reg, off };
  }

  /** A jump target (a label, `+N` or `-N` slots) put into `field` of `insn`. */
  target(c: Cursor, insn: Insn, field: LabelField): void {
    const t = c.peek();
    if (t?.kind === 'ident') {
      c.next();
      this.b.emit(insn, c.line, { name: t.text, field, pos: { line: c.line, column: t.column } });
    } else if (c.atInteger()) {
      const v = this.integer(c, 'a jump offset');
      const value = this.signedField(v.value, field === 'off' ? 16 : 32, { line: c.line, column: v.column }, 'jump offset');
      this.emit(c, field === 'off' ? { ...insn, off: value } : { ...insn, imm: value });
    } else {
      c.fail('E_ASM_BAD_OPERAND', `expected a label or an offset such as +2 or -1, got ${c.describe(t)}`);
    }
  }

  alu(c: Cursor, name: AluName, is64: boolean): void {
    const dst = this.reg(c);
    c.expect(',', "',' then a register or an immediate");
    if (this.atRegister(c)) this.emit(c, make.alu(name, is64, dst, this.reg(c)));
    else this.emit(c, make.alu(name, is64, dst, undefined, this.imm32(c, 'a register or an immediate')));
  }

  neg(c: Cursor, is64: boolean): void {
    this.emit(c, make.alu('neg', is64, this.reg(c), undefined));
  }

  movsx(c: Cursor, ext: 8 | 16 | 32, is64: boolean): void {
    const dst = this.reg(c);
    c.expect(',', "',' then a source register");
    this.emit(c, make.alu('movsx', is64, dst, this.reg(c), 0, ext));
  }

  end(c: Cursor, to: 'le' | 'be' | 'swap', bits: 16 | 32 | 64): void {
    this.emit(c, make.end(to, bits, this.reg(c)));
  }

  lddw(c: Cursor): void {
    const dst = this.reg(c);
    c.expect(',', "',' then a 64-bit immediate");
    const v = this.integer(c, 'a 64-bit immediate');
    this.emit(c, lddw(dst, fit64(v.value, { line: c.line, column: v.column }, this.b)));
  }

  ldx(c: Cursor, size: AccessSize, signed: boolean): void {
    const dst = this.reg(c);
    c.expect(',', "',' then a memory operand such as [%r1+8]");
    const m = this.mem(c);
    this.emit(c, make.ldx(size, dst, m.reg, m.off, signed));
  }

  st(c: Cursor, size: AccessSize): void {
    const m = this.mem(c);
    c.expect(',', "',' then an immediate");
    this.emit(c, make.st(size, m.reg, m.off, this.imm32(c, 'an immediate')));
  }

  stx(c: Cursor, size: AccessSize): void {
    const m = this.mem(c);
    c.expect(',', "',' then a register");
    this.emit(c, make.stx(size, m.reg, m.off, this.reg(c)));
  }

  ldPacket(c: Cursor, size: 1 | 2 | 4, indirect: boolean): void {
    let src: number | undefined;
    if (indirect) {
      src = this.reg(c);
      c.expect(',', "',' then an immediate offset");
    }
    this.emit(c, make.ldPacket(size, src, this.imm32(c, 'an immediate offset')));
  }

  jcond(c: Cursor, name: JmpName, is32: boolean): void {
    const dst = this.reg(c);
    c.expect(',', "',' then a register or an immediate");
    const insn = this.atRegister(c)
      ? make.jcond(name, is32, dst, this.reg(c), 0, 0)
      : make.jcond(name, is32, dst, undefined, this.imm32(c, 'a register or an immediate'), 0);
    c.expect(',', "',' then a label or an offset such as +2");
    this.target(c, insn, 'off');
  }

  exit(c: Cursor, m: Token): void {
    this.firstExit ??= { slot: this.b.nextSlot, pos: { line: c.line, column: m.column } };
    this.emit(c, make.exit());
  }

  call(c: Cursor): void {
    const t = c.peek();
    const keyword = t?.kind === 'ident' ? t.text.toLowerCase() : undefined;
    if (keyword === 'local') {
      c.next();
      return this.target(c, make.call('local', 0), 'imm');
    }
    if (keyword === 'runtime') {
      c.next();
      return this.emit(c, make.call('kfunc', this.imm32(c, 'a kernel function BTF id')));
    }
    if (keyword === 'helper') c.next();
    if (this.atRegister(c)) return this.emit(c, make.callx(this.reg(c)));
    const n = c.peek();
    if (n?.kind === 'ident') {
      c.next();
      const id = this.resolveHelper(n.text);
      if (id === undefined) c.fail('E_ASM_UNKNOWN_HELPER', `unknown helper '${n.text}' (write 'call local ${n.text}' for a bpf-to-bpf call)`, n.column);
      return this.emit(c, make.call('helper', id));
    }
    this.emit(c, make.call('helper', this.imm32(c, 'a helper number or name, local LABEL, runtime N or a register')));
  }

  lock(c: Cursor): void {
    let fetch = false;
    if (c.peek()?.kind === 'ident' && c.peek()!.text.toLowerCase() === 'fetch') {
      c.next();
      fetch = true;
    }
    const ot = c.expectIdent('an atomic operation (add, and, or, xor, xchg or cmpxchg)');
    const am = /^([a-z]+?)(32)?$/.exec(ot.text.toLowerCase());
    const name = am ? ATOMICS[am[1]] : undefined;
    if (!name || !am) {
      c.fail('E_ASM_UNKNOWN_MNEMONIC', `unknown atomic operation '${ot.text}' (expected add, and, or, xor, xchg or cmpxchg, with an optional 32 suffix)`, ot.column);
    }
    const m = this.mem(c);
    c.expect(',', "',' then a register");
    const src = this.reg(c);
    // xchg and cmpxchg always fetch; `fetch` in front of them is accepted and changes nothing.
    this.emit(c, make.atomic(am[2] ? 4 : 8, name, fetch || name === 'xchg' || name === 'cmpxchg', m.reg, m.off, src));
  }

  quad(c: Cursor): void {
    const v = this.integer(c, 'a 64-bit value (the slot as a little-endian u64)');
    this.emit(c, rawSlotInsn(fit64(v.value, { line: c.line, column: v.column }, this.b)));
  }
}

/**
 * Joins a `.quad` slot whose opcode is `lddw` with the slot after it, so that the program is
 * exactly what {@link decode} makes of its bytes (and `lines` keeps the line of each start).
 */
function pairRawLddw(p: AssembledProgram): AssembledProgram {
  if (!p.insns.some((insn) => insn.op === Opcode.LDDW && !insn.wide)) return p;
  const lineOfSlot: number[] = [];
  p.insns.forEach((insn, i) => {
    lineOfSlot.push(p.lines[i]);
    if (insn.wide) lineOfSlot.push(p.lines[i]);
  });
  const insns = decode(encode(p.insns));
  return { insns, labels: p.labels, lines: slotIndexes(insns).map((s) => lineOfSlot[s]) };
}
