import type { AccessSize, AluName, AtomicName, Insn, JmpName } from '../isa/insn.js';
import { lddw } from '../isa/insn.js';
import { make } from '../isa/make.js';
import { helperId } from '../uapi/helper-ids.js';
import { AsmBuilder, fit64, fitSigned, type AssembledProgram } from './common.js';
import { Cursor } from './cursor.js';
import { stripComment, tokenize } from './lexer.js';
import { parseRawSlot } from './raw.js';

/** Options of {@link assembleUbpf}. */
export interface UbpfAsmOptions {
  /** Resolves a helper name in `call NAME` (default: the kernel's `enum bpf_func_id`). */
  helpers?: (name: string) => number | undefined;
}

const ALU: Record<string, AluName> = {
  add: 'add', sub: 'sub', mul: 'mul', div: 'div', sdiv: 'sdiv', or: 'or', and: 'and', lsh: 'lsh',
  rsh: 'rsh', mod: 'mod', smod: 'smod', xor: 'xor', mov: 'mov', arsh: 'arsh',
};
const JMP: Record<string, JmpName> = {
  jeq: 'jeq', jgt: 'jgt', jge: 'jge', jset: 'jset', jne: 'jne', jsgt: 'jsgt', jsge: 'jsge',
  jlt: 'jlt', jle: 'jle', jslt: 'jslt', jsle: 'jsle',
};
const SIZES: Record<string, AccessSize> = { b: 1, h: 2, w: 4, dw: 8 };
const ATOMICS: Record<string, AtomicName> = { add: 'add', and: 'and', or: 'or', xor: 'xor', xchg: 'xchg', cmpxchg: 'cmpxchg' };

/**
 * Assembles the uBPF / bpf_conformance syntax (`mov %r0, 1`, `ldxdw %r0, [%r1+8]`,
 * `jsgt32 %r1, 5, label`, `lock fetch add [%r10-8], %r1`, `call local fn`). The label `exit` is
 * defined at the first `exit` instruction unless the program defines it.
 *
 * @throws AsmError with the line and column of the first problem.
 * @example
 * ```ts
 * assembleUbpf('mov %r0, 1\nexit').insns.length; // 2
 * ```
 */
export function assembleUbpf(source: string, options: UbpfAsmOptions = {}): AssembledProgram {
  const lines = source.split('\n');
  const b = new AsmBuilder(lines);
  const resolveHelper = options.helpers ?? helperId;
  lines.forEach((raw, idx) => {
    const lineNo = idx + 1;
    const text = stripComment(raw, ['#', '//', ';']);
    const tokens = tokenize(text);
    const c = new Cursor(tokens, lineNo, b, text.length);
    // Labels: `name:` (possibly several, possibly followed by an instruction).
    while (c.peek()?.kind === 'ident' && c.peek(1)?.text === ':') {
      const t = c.next()!;
      c.next();
      b.label(t.text, { line: lineNo, column: t.column });
    }
    if (c.atEnd()) return;
    parseInstruction(c, b, lineNo, resolveHelper);
  });
  return b.finish();
}

function reg(c: Cursor): number {
  return c.register({ percent: 'optional' }).reg;
}

function imm32(c: Cursor, b: AsmBuilder, what = 'an immediate'): number {
  const v = c.integer(what);
  return fitSigned(v.value, 32, { line: c.line, column: v.column }, b, 'immediate');
}

/** `[%rN+off]`, `[%rN-off]` or `[%rN]`. */
function memOperand(c: Cursor, b: AsmBuilder): { reg: number; off: number } {
  c.expect('[', "'[' starting a memory operand such as [%r1+8]");
  const r = reg(c);
  let off = 0;
  if (c.peek()?.text === '+' || c.peek()?.text === '-') {
    const v = c.integer('an offset');
    off = fitSigned(v.value, 16, { line: c.line, column: v.column }, b, 'offset');
  }
  c.expect(']', "']' closing the memory operand");
  return { reg: r, off };
}

function parseInstruction(c: Cursor, b: AsmBuilder, lineNo: number, resolveHelper: (n: string) => number | undefined): void {
  const mt = c.peek()!;
  if (mt.kind !== 'ident') c.fail('E_ASM_SYNTAX', `expected an instruction mnemonic, got ${c.describe(mt)}`);
  c.next();
  const m = mt.text.toLowerCase();
  const pos = { line: lineNo, column: mt.column };

  if (m === '.quad' || m === '.8byte') {
    b.emit(parseRawSlot(c, b), lineNo);
    c.expectEnd();
    return;
  }

  // ALU: add, add32, sdiv32, ...
  const alu = /^([a-z]+?)(32)?$/.exec(m);
  if (alu && ALU[alu[1]] !== undefined) {
    const name = ALU[alu[1]];
    const is64 = alu[2] === undefined;
    const dst = reg(c);
    c.expect(',', "',' then a register or an immediate");
    if (c.atRegister(true)) b.emit(make.alu(name, is64, dst, reg(c)), lineNo);
    else b.emit(make.alu(name, is64, dst, undefined, imm32(c, b, 'a register or an immediate')), lineNo);
    c.expectEnd();
    return;
  }
  if (m === 'neg' || m === 'neg32') {
    b.emit(make.alu('neg', m === 'neg', reg(c), undefined), lineNo);
    c.expectEnd();
    return;
  }
  // movsx{8,16}{32,64} and movsx3264: source width then destination width.
  const sx = /^movsx(8|16|32)(32|64)$/.exec(m);
  if (sx) {
    const ext = Number(sx[1]) as 8 | 16 | 32;
    const is64 = sx[2] === '64';
    if (ext === 32 && !is64) c.fail('E_ASM_UNKNOWN_MNEMONIC', `'${mt.text}' does not exist: a 32-bit move cannot sign-extend 32 bits`, mt.column);
    const dst = reg(c);
    c.expect(',', "',' then a register");
    b.emit(make.alu('movsx', is64, dst, reg(c), 0, ext), lineNo);
    c.expectEnd();
    return;
  }
  const end = /^(be|le|swap|bswap)(16|32|64)$/.exec(m);
  if (end) {
    const to = end[1] === 'be' ? 'be' : end[1] === 'le' ? 'le' : 'swap';
    b.emit(make.end(to, Number(end[2]) as 16 | 32 | 64, reg(c)), lineNo);
    c.expectEnd();
    return;
  }
  if (m === 'lddw') {
    const dst = reg(c);
    c.expect(',', "',' then a 64-bit immediate");
    const v = c.integer('a 64-bit immediate');
    b.emit(lddw(dst, fit64(v.value, { line: lineNo, column: v.column }, b)), lineNo);
    c.expectEnd();
    return;
  }
  const ldx = /^ldx(s?)(b|h|w|dw)$/.exec(m);
  if (ldx) {
    const signed = ldx[1] === 's';
    const size = SIZES[ldx[2]];
    if (signed && size === 8) c.fail('E_ASM_UNKNOWN_MNEMONIC', `'${mt.text}' does not exist: use ldxdw`, mt.column);
    const dst = reg(c);
    c.expect(',', "',' then a memory operand such as [%r1+8]");
    const mem = memOperand(c, b);
    b.emit(make.ldx(size, dst, mem.reg, mem.off, signed), lineNo);
    c.expectEnd();
    return;
  }
  const st = /^(st|stx)(b|h|w|dw)$/.exec(m);
  if (st) {
    const size = SIZES[st[2]];
    const mem = memOperand(c, b);
    c.expect(',', st[1] === 'st' ? "',' then an immediate" : "',' then a register");
    if (st[1] === 'st') b.emit(make.st(size, mem.reg, mem.off, imm32(c, b)), lineNo);
    else b.emit(make.stx(size, mem.reg, mem.off, reg(c)), lineNo);
    c.expectEnd();
    return;
  }
  const ldp = /^ld(abs|ind)(b|h|w)$/.exec(m);
  if (ldp) {
    const size = SIZES[ldp[2]] as 1 | 2 | 4;
    if (ldp[1] === 'abs') {
      b.emit(make.ldPacket(size, undefined, imm32(c, b)), lineNo);
    } else {
      const src = reg(c);
      c.expect(',', "',' then an immediate");
      b.emit(make.ldPacket(size, src, imm32(c, b)), lineNo);
    }
    c.expectEnd();
    return;
  }
  if (m === 'ja' || m === 'ja32') {
    const long = m === 'ja32';
    const field = long ? 'imm' : 'off';
    c.emitJump(make.ja(0, long), field);
    return;
  }
  const jmp = /^([a-z]+?)(32)?$/.exec(m);
  if (jmp && JMP[jmp[1]] !== undefined) {
    const name = JMP[jmp[1]];
    const is32 = jmp[2] !== undefined;
    const dst = reg(c);
    c.expect(',', "',' then a register or an immediate");
    let insn: Insn;
    if (c.atRegister(true)) insn = make.jcond(name, is32, dst, reg(c), 0, 0);
    else insn = make.jcond(name, is32, dst, undefined, imm32(c, b, 'a register or an immediate'), 0);
    c.expect(',', "',' then a jump target");
    c.emitJump(insn, 'off');
    return;
  }
  if (m === 'exit') {
    b.labelIfAbsent('exit', pos);
    b.emit(make.exit(), lineNo);
    c.expectEnd();
    return;
  }
  if (m === 'call') {
    if (c.peek()?.text === 'local') {
      c.next();
      c.emitJump(make.call('local', 0), 'imm');
      return;
    } else if (c.atRegister(true)) {
      b.emit(make.callx(reg(c)), lineNo);
    } else if (c.peek()?.kind === 'ident') {
      const t = c.next()!;
      const id = resolveHelper(t.text);
      if (id === undefined) return c.fail('E_ASM_UNKNOWN_HELPER', `unknown helper '${t.text}' (write 'call local ${t.text}' for a bpf-to-bpf call)`, t.column);
      b.emit(make.call('helper', id), lineNo);
    } else {
      b.emit(make.call('helper', imm32(c, b, 'a helper number, a helper name, local LABEL or a register')), lineNo);
    }
    c.expectEnd();
    return;
  }
  if (m === 'lock') {
    let fetch = false;
    if (c.peek()?.text.toLowerCase() === 'fetch') {
      c.next();
      fetch = true;
    }
    const ot = c.expectIdent('an atomic operation (add, and, or, xor, xchg, cmpxchg)');
    const am = /^([a-z]+?)(32)?$/.exec(ot.text.toLowerCase());
    const name = am ? ATOMICS[am[1]] : undefined;
    if (!name) return c.fail('E_ASM_UNKNOWN_MNEMONIC', `unknown atomic operation '${ot.text}' (expected add, and, or, xor, xchg or cmpxchg, with an optional 32 suffix)`, ot.column);
    const size = am![2] ? 4 : 8;
    const mem = memOperand(c, b);
    c.expect(',', "',' then a register");
    const src = reg(c);
    b.emit(make.atomic(size, name, fetch || name === 'xchg' || name === 'cmpxchg', mem.reg, mem.off, src), lineNo);
    c.expectEnd();
    return;
  }
  c.fail('E_ASM_UNKNOWN_MNEMONIC', `unknown mnemonic '${mt.text}'`, mt.column);
}

