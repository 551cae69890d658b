import type { AccessSize, AluName, AtomicName, Insn, JmpName } from '../isa/insn.js';
import { lddw } from '../isa/insn.js';
import { make } from '../isa/make.js';
import { PseudoLd } from '../isa/opcodes.js';
import { helperId } from '../uapi/helper-ids.js';
import { AsmBuilder, fit64, fitSigned, type AssembledProgram } from './common.js';
import { Cursor, type RegOperand } from './cursor.js';
import { stripComment, tokenize, type Token } from './lexer.js';
import { parseRawSlot, rawSlotInsn } from './raw.js';

/** Options of {@link assembleLlvm}. */
export interface LlvmAsmOptions {
  /** Resolves a helper name in `call NAME` (default: the kernel's `enum bpf_func_id`). */
  helpers?: (name: string) => number | undefined;
  /** Reads the file named by `.include "path"`; without it `.include` is an error. */
  readFile?: (path: string) => string;
  /** Symbols for `.ifdef`/`.ifndef` (llvm-mc's `--defsym NAME=VALUE`). */
  defines?: Record<string, bigint | number | boolean>;
}

/** A symbol an `lddw` refers to (`r1 = my_map ll`), left for a loader to resolve. */
export interface AsmRelocation {
  /** Index of the `lddw` in `insns`. */
  insn: number;
  symbol: string;
}

/** The result of {@link assembleLlvm}: the program plus the symbols its `lddw`s name. */
export interface LlvmAssembledProgram extends AssembledProgram {
  relocations: AsmRelocation[];
}

const COMPOUND: Record<string, AluName> = {
  '+=': 'add', '-=': 'sub', '*=': 'mul', '/=': 'div', 's/=': 'sdiv', '%=': 'mod', 's%=': 'smod',
  '|=': 'or', '&=': 'and', '^=': 'xor', '<<=': 'lsh', '>>=': 'rsh', 's>>=': 'arsh',
};
const CONDS: Record<string, JmpName> = {
  '==': 'jeq', '!=': 'jne', '>': 'jgt', '>=': 'jge', '<': 'jlt', '<=': 'jle',
  's>': 'jsgt', 's>=': 'jsge', 's<': 'jslt', 's<=': 'jsle', '&': 'jset',
};
const LOCK_OPS: Record<string, AtomicName> = { '+=': 'add', '&=': 'and', '|=': 'or', '^=': 'xor' };
const TYPES: Record<string, { size: AccessSize; signed: boolean }> = {
  u8: { size: 1, signed: false }, u16: { size: 2, signed: false }, u32: { size: 4, signed: false },
  u64: { size: 8, signed: false }, s8: { size: 1, signed: true }, s16: { size: 2, signed: true },
  s32: { size: 4, signed: true },
};
const PSEUDO_LD: Record<string, { src: number; args: 1 | 2 }> = {
  map_fd: { src: PseudoLd.MAP_FD, args: 1 },
  map_value: { src: PseudoLd.MAP_VALUE, args: 2 },
  btf_id: { src: PseudoLd.BTF_ID, args: 1 },
  func: { src: PseudoLd.FUNC, args: 1 },
  map_idx: { src: PseudoLd.MAP_IDX, args: 1 },
  map_idx_value: { src: PseudoLd.MAP_IDX_VALUE, args: 2 },
};
const IGNORED_DIRECTIVES = new Set([
  '.text', '.data', '.globl', '.global', '.section', '.p2align', '.align', '.type', '.size',
  '.file', '.local', '.weak', '.hidden', '.addrsig', '.addrsig_sym', '.ident', '.cfi_sections',
  '.cfi_startproc', '.cfi_endproc', '.loc', '.file',
]);

interface SourceLine {
  text: string;
  line: number;
}

/** Expands `.include` and `.ifdef`/`.ifndef`/`.else`/`.endif` into the lines to assemble. */
function preprocess(source: string, options: LlvmAsmOptions, b: AsmBuilder, depth = 0): SourceLine[] {
  const out: SourceLine[] = [];
  const stack: { active: boolean; parentActive: boolean; sawElse: boolean; line: number }[] = [];
  const active = () => stack.every((s) => s.active);
  const lines = source.split('\n');
  lines.forEach((raw, idx) => {
    const line = idx + 1;
    const text = stripComment(raw, ['#', '//', ';']);
    const tokens = tokenize(text);
    const head = tokens[0];
    const pos = { line, column: head?.column ?? 1 };
    if (head?.kind === 'ident' && ['.ifdef', '.ifndef', '.else', '.endif'].includes(head.text)) {
      if (head.text === '.ifdef' || head.text === '.ifndef') {
        const name = tokens[1];
        if (!name || name.kind !== 'ident') b.fail('E_ASM_DIRECTIVE', `${head.text} needs a symbol name`, pos);
        const defined = options.defines !== undefined && Object.hasOwn(options.defines, name.text);
        stack.push({ active: head.text === '.ifdef' ? defined : !defined, parentActive: active(), sawElse: false, line });
      } else if (head.text === '.else') {
        const top = stack[stack.length - 1];
        if (!top || top.sawElse) b.fail('E_ASM_DIRECTIVE', '.else without a matching .ifdef', pos);
        top.active = !top.active;
        top.sawElse = true;
      } else {
        if (!stack.pop()) b.fail('E_ASM_DIRECTIVE', '.endif without a matching .ifdef', pos);
      }
      out.push({ text: '', line });
      return;
    }
    if (!active()) {
      out.push({ text: '', line });
      return;
    }
    if (head?.kind === 'ident' && head.text === '.include') {
      const file = tokens[1];
      if (!file || file.kind !== 'string') b.fail('E_ASM_DIRECTIVE', '.include needs a quoted file name', pos);
      if (!options.readFile) b.fail('E_ASM_DIRECTIVE', `.include "${file.text}" needs a readFile option`, pos);
      if (depth > 16) b.fail('E_ASM_DIRECTIVE', '.include nested more than 16 deep', pos);
      let included: string;
      try {
        included = options.readFile(file.text);
      } catch (e) {
        b.fail('E_ASM_DIRECTIVE', `cannot read .include "${file.text}": ${(e as Error).message}`, pos);
      }
      // Included lines are reported at the line of the .include that brought them.
      for (const inner of preprocess(included, options, b, depth + 1)) out.push({ text: inner.text, line });
      return;
    }
    out.push({ text, line });
  });
  if (stack.length > 0) b.fail('E_ASM_DIRECTIVE', `.ifdef at line ${stack[stack.length - 1].line} has no .endif`, { line: lines.length, column: 1 });
  return out;
}

/**
 * Assembles LLVM / kernel BPF syntax, as `llvm-mc -triple=bpfel -mcpu=v4` reads it
 * (`r0 = *(u32 *)(r1 + 4)`, `if w1 s> 5 goto +2`, `lock *(u64 *)(r10 - 8) += r1`, `r1 = 0x1234 ll`,
 * labels, `call bpf_map_lookup_elem`), plus `.include`, `.ifdef`/`.else`/`.endif` and `.quad`.
 * The kernel's pseudo `lddw` forms are written `r1 = map_fd(3) ll`, `r1 = map_value(3, 16) ll`,
 * `r1 = btf_id(7) ll`, `r1 = func(+5) ll`, `r1 = map_idx(0) ll`, `r1 = map_idx_value(0, 8) ll`, and
 * kfunc calls `call kfunc(1234)`, bpf-to-bpf calls `call LABEL` or, as the kernel prints them,
 * `call pc+5`.
 *
 * @throws AsmError with the line and column of the first problem.
 * @example
 * ```ts
 * assembleLlvm('r0 = 1\nexit').insns.length; // 2
 * ```
 */
export function assembleLlvm(source: string, options: LlvmAsmOptions = {}): LlvmAssembledProgram {
  const b = new AsmBuilder(source.split('\n'));
  const lines = preprocess(source, options, b);
  const resolveHelper = options.helpers ?? helperId;
  const relocations: AsmRelocation[] = [];
  // Labels are collected first so that `call name` prefers a label of the program over a helper.
  const labelNames = new Set<string>();
  for (const l of lines) {
    const t = tokenize(l.text);
    for (let i = 0; i + 1 < t.length && t[i].kind === 'ident' && t[i + 1].text === ':'; i += 2) labelNames.add(t[i].text);
  }
  let insnCount = 0;
  for (const { text, line } of lines) {
    const c = new Cursor(tokenize(text), line, b, text.length);
    while (c.peek()?.kind === 'ident' && c.peek(1)?.text === ':') {
      const t = c.next()!;
      c.next();
      b.label(t.text, { line, column: t.column });
    }
    if (c.atEnd()) continue;
    const before = b.nextSlot;
    const p = new LineParser(c, b, line, resolveHelper, labelNames, (symbol) => relocations.push({ insn: insnCount, symbol }));
    p.statement();
    if (b.nextSlot !== before) insnCount++;
  }
  return { ...b.finish(), relocations };
}

class LineParser {
  constructor(
    private readonly c: Cursor,
    private readonly b: AsmBuilder,
    private readonly line: number,
    private readonly resolveHelper: (name: string) => number | undefined,
    private readonly labels: ReadonlySet<string>,
    private readonly onSymbol: (symbol: string) => void,
  ) {}

  private emit(insn: Insn): void {
    this.b.emit(insn, this.line);
    this.c.expectEnd();
  }

  private reg(allow32 = true): RegOperand {
    return this.c.register({ allow32 });
  }

  private imm32(what: string): number {
    const v = this.c.integer(what);
    return fitSigned(v.value, 32, { line: this.line, column: v.column }, this.b, 'immediate');
  }

  private off16(): number {
    const c = this.c;
    const t = c.peek();
    if (t?.text !== '+' && t?.text !== '-') c.fail('E_ASM_SYNTAX', `expected '+ offset' or '- offset', got ${c.describe(t)}`);
    const v = c.integer('an offset');
    return fitSigned(v.value, 16, { line: this.line, column: v.column }, this.b, 'offset');
  }

  /** `(rN + off)` / `(rN - off)` / `(rN)`, the address part of memory operands. */
  private address(): { reg: number; off: number } {
    const c = this.c;
    c.expect('(', "'(' starting an address such as (r1 + 4)");
    const r = this.reg(false).reg;
    const off = c.peek()?.text === ')' ? 0 : this.off16();
    c.expect(')', "')' closing the address");
    return { reg: r, off };
  }

  /** `*(u32 *)` : the type of a memory operand. */
  private typeCast(allowSigned: boolean): { size: AccessSize; signed: boolean } {
    const c = this.c;
    c.expect('(', "'(' starting a type such as (u32 *)");
    const t = c.expectIdent('a type: u8, u16, u32 or u64' + (allowSigned ? ' (or s8, s16, s32)' : ''));
    const ty = TYPES[t.text];
    if (!ty || (ty.signed && !allowSigned)) {
      c.fail('E_ASM_BAD_OPERAND', `expected a type u8, u16, u32 or u64${allowSigned ? ' (or s8, s16, s32)' : ''}, got '${t.text}'`, t.column);
    }
    c.expect('*', "'*' after the type");
    c.expect(')', "')' closing the type");
    return ty;
  }

  private emitJump(insn: Insn, field: 'off' | 'imm'): void {
    this.c.emitJump(insn, field);
  }

  statement(): void {
    const c = this.c;
    const t = c.peek()!;
    if (t.kind === 'ident' && t.text.startsWith('.')) return this.directive(t);
    if (t.text === '*') return this.store();
    if (t.kind === 'ident') {
      switch (t.text) {
        case 'exit': c.next(); return this.emit(make.exit());
        case 'goto': c.next(); return this.emitJump(make.ja(0), 'off');
        case 'gotol': c.next(); return this.emitJump(make.ja(0, true), 'imm');
        case 'may_goto': c.next(); return this.emitJump(make.mayGoto(0), 'off');
        case 'callx': c.next(); return this.emit(make.callx(this.reg(false).reg));
        case 'call': c.next(); return this.call();
        case 'if': c.next(); return this.conditional();
        case 'lock': c.next(); return this.lock();
      }
      if (c.atRegister()) return this.assignment();
    }
    c.fail('E_ASM_SYNTAX', `expected an instruction (such as 'r0 = 1', 'if r1 > r2 goto +1', '*(u32 *)(r1 + 0) = r2', 'call 1' or 'exit'), got ${c.describe(t)}`, t.column);
  }

  private directive(t: Token): void {
    const c = this.c;
    c.next();
    if (t.text === '.quad' || t.text === '.8byte') {
      this.b.emit(parseRawSlot(c, this.b), this.line);
      return c.expectEnd();
    }
    if (t.text === '.byte') return this.bytes(t);
    if (IGNORED_DIRECTIVES.has(t.text)) return;
    c.fail('E_ASM_DIRECTIVE', `unsupported directive '${t.text}' (supported: .include, .ifdef, .ifndef, .else, .endif, .quad, .byte)`, t.column);
  }

  /** `.byte b0, b1, ...`: whole 8-byte slots given byte by byte. */
  private bytes(t: Token): void {
    const c = this.c;
    const bytes: number[] = [];
    do {
      const v = c.integer('a byte value');
      if (v.value < -128n || v.value > 255n) c.fail('E_ASM_RANGE', `.byte value ${v.value} does not fit in a byte`, v.column);
      bytes.push(Number(v.value) & 0xff);
    } while (c.accept(','));
    c.expectEnd();
    if (bytes.length % 8 !== 0) c.fail('E_ASM_DIRECTIVE', `.byte must give whole 8-byte instruction slots, got ${bytes.length} bytes`, t.column);
    for (let i = 0; i < bytes.length; i += 8) {
      let word = 0n;
      for (let j = 7; j >= 0; j--) word = (word << 8n) | BigInt(bytes[i + j]);
      this.b.emit(rawSlotInsn(word), this.line);
    }
  }

  private call(): void {
    const c = this.c;
    const t = c.peek();
    if (t?.kind === 'ident' && t.text === 'kfunc' && c.peek(1)?.text === '(') {
      c.next();
      c.next();
      const id = this.imm32('a BTF id');
      c.expect(')', "')'");
      return this.emit(make.call('kfunc', id));
    }
    // `call pc+N`: a bpf-to-bpf call by relative offset, as the kernel's verifier log prints it.
    if (t?.kind === 'ident' && t.text === 'pc' && (c.peek(1)?.text === '+' || c.peek(1)?.text === '-')) {
      c.next();
      return this.emitJump(make.call('local', 0), 'imm');
    }
    if (t?.kind === 'ident') {
      if (this.labels.has(t.text)) return this.emitJump(make.call('local', 0), 'imm');
      const id = this.resolveHelper(t.text);
      if (id === undefined) return c.fail('E_ASM_UNKNOWN_HELPER', `'${t.text}' is neither a helper nor a label of this program`, t.column);
      c.next();
      return this.emit(make.call('helper', id));
    }
    this.emit(make.call('helper', this.imm32('a helper number or name, or a label')));
  }

  private conditional(): void {
    const c = this.c;
    const dst = this.reg();
    const opTok = c.next();
    const name = opTok ? CONDS[opTok.text] : undefined;
    if (!name) return c.fail('E_ASM_SYNTAX', `expected a comparison (==, !=, >, >=, <, <=, s>, s>=, s<, s<=, &), got ${c.describe(opTok)}`, opTok?.column);
    let insn: Insn;
    if (c.atRegister()) {
      const src = this.reg();
      if (src.is32 !== dst.is32) c.fail('E_ASM_BAD_REGISTER', 'both registers of a comparison must be rN (64 bit) or both wN (32 bit)', src.column);
      insn = make.jcond(name, dst.is32, dst.reg, src.reg, 0, 0);
    } else {
      insn = make.jcond(name, dst.is32, dst.reg, undefined, this.imm32('a register or an immediate'), 0);
    }
    c.expect('goto', "'goto'");
    this.emitJump(insn, 'off');
  }

  /** `lock *(u64 *)(r10 - 8) += r1` */
  private lock(): void {
    const c = this.c;
    c.expect('*', "'*' starting a memory operand such as *(u64 *)(r10 - 8)");
    const ty = this.typeCast(false);
    if (ty.size !== 4 && ty.size !== 8) c.fail('E_ASM_BAD_OPERAND', 'atomic operations are 32 or 64 bit (u32 or u64)');
    const addr = this.address();
    const opTok = c.next();
    const name = opTok ? LOCK_OPS[opTok.text] : undefined;
    if (!name) return c.fail('E_ASM_SYNTAX', `expected +=, &=, |= or ^=, got ${c.describe(opTok)}`, opTok?.column);
    const src = this.reg();
    this.emit(make.atomic(ty.size as 4 | 8, name, false, addr.reg, addr.off, src.reg));
  }

  /** `*(u32 *)(r1 + 4) = r2` / `= 7` */
  private store(): void {
    const c = this.c;
    c.next();
    const ty = this.typeCast(false);
    const addr = this.address();
    c.expect('=', "'='");
    if (c.atRegister()) return this.emit(make.stx(ty.size, addr.reg, addr.off, this.reg().reg));
    this.emit(make.st(ty.size, addr.reg, addr.off, this.imm32('a register or an immediate')));
  }

  private assignment(): void {
    const c = this.c;
    const dst = this.reg();
    const is64 = !dst.is32;
    const opTok = c.next();
    if (opTok && COMPOUND[opTok.text]) {
      const name = COMPOUND[opTok.text];
      if (c.atRegister()) {
        const src = this.reg();
        if (src.is32 !== dst.is32) c.fail('E_ASM_BAD_REGISTER', `expected ${dst.is32 ? 'a wN' : 'an rN'} register to match ${dst.is32 ? 'w' : 'r'}${dst.reg}`, src.column);
        return this.emit(make.alu(name, is64, dst.reg, src.reg));
      }
      return this.emit(make.alu(name, is64, dst.reg, undefined, this.imm32('a register or an immediate')));
    }
    if (opTok?.text !== '=') c.fail('E_ASM_SYNTAX', `expected '=' or a compound assignment such as '+=', got ${c.describe(opTok)}`, opTok?.column);
    const t = c.peek();
    // r1 = -r1
    if (t?.text === '-' && c.peek(1)?.kind === 'ident') {
      c.next();
      const src = this.reg();
      if (src.reg !== dst.reg || src.is32 !== dst.is32) c.fail('E_ASM_BAD_OPERAND', `negation is in place: write ${dst.is32 ? 'w' : 'r'}${dst.reg} = -${dst.is32 ? 'w' : 'r'}${dst.reg}`, src.column);
      return this.emit(make.alu('neg', is64, dst.reg, undefined));
    }
    // r1 = *(u32 *)(r2 + 4)  /  r0 = *(u8 *)skb[4]
    if (t?.text === '*') {
      c.next();
      const ty = this.typeCast(true);
      if (c.peek()?.text === 'skb') return this.packetLoad(dst, ty);
      const addr = this.address();
      if (ty.signed && dst.is32) c.fail('E_ASM_BAD_REGISTER', 'sign-extending loads write a 64-bit register: use rN', dst.column);
      return this.emit(make.ldx(ty.size, dst.reg, addr.reg, addr.off, ty.signed));
    }
    // r1 = (s8)r2
    if (t?.text === '(' && c.peek(1)?.kind === 'ident' && /^s(8|16|32)$/.test(c.peek(1)!.text)) {
      c.next();
      const bits = Number(c.next()!.text.slice(1)) as 8 | 16 | 32;
      c.expect(')', "')'");
      const src = this.reg();
      if (src.is32 !== dst.is32) c.fail('E_ASM_BAD_REGISTER', 'both registers of a sign-extending move must be rN or both wN', src.column);
      if (bits === 32 && dst.is32) c.fail('E_ASM_BAD_OPERAND', 'a 32-bit move cannot sign-extend 32 bits', t.column);
      return this.emit(make.alu('movsx', is64, dst.reg, src.reg, 0, bits));
    }
    if (t?.kind === 'ident') {
      const fn = t.text;
      const end = /^(be|le|bswap)(16|32|64)$/.exec(fn);
      if (end) {
        c.next();
        const src = this.reg();
        if (src.reg !== dst.reg || dst.is32 || src.is32) c.fail('E_ASM_BAD_OPERAND', `byte swaps are in place on a 64-bit register: write r${dst.reg} = ${fn} r${dst.reg}`, src.column);
        return this.emit(make.end(end[1] === 'bswap' ? 'swap' : (end[1] as 'be' | 'le'), Number(end[2]) as 16 | 32 | 64, dst.reg));
      }
      if (c.peek(1)?.text === '(') {
        if (fn === 'addr_space_cast') return this.addrSpaceCast(dst);
        if (PSEUDO_LD[fn]) return this.pseudoLd(dst, fn);
        if (/^(atomic_fetch_(add|and|or|xor)|xchg_64|xchg32_32|cmpxchg_64|cmpxchg32_32)$/.test(fn)) return this.atomicCall(dst, fn);
      }
      if (c.atRegister()) {
        const src = this.reg();
        if (src.is32 !== dst.is32) c.fail('E_ASM_BAD_REGISTER', `expected ${dst.is32 ? 'a wN' : 'an rN'} register to match ${dst.is32 ? 'w' : 'r'}${dst.reg}`, src.column);
        return this.emit(make.alu('mov', is64, dst.reg, src.reg));
      }
      // r1 = symbol ll
      c.next();
      if (c.peek()?.text !== 'll') c.fail('E_ASM_SYNTAX', `expected a register, a number, or 'SYMBOL ll', got '${fn}'`, t.column);
      c.next();
      if (dst.is32) c.fail('E_ASM_BAD_REGISTER', 'lddw writes a 64-bit register: use rN', dst.column);
      this.onSymbol(fn);
      return this.emit(lddw(dst.reg, 0n));
    }
    // r1 = 5  /  r1 = 0x1234 ll
    const v = c.integer('a register, a number or a memory operand');
    if (c.peek()?.text === 'll') {
      c.next();
      if (dst.is32) c.fail('E_ASM_BAD_REGISTER', 'lddw writes a 64-bit register: use rN', dst.column);
      return this.emit(lddw(dst.reg, fit64(v.value, { line: this.line, column: v.column }, this.b)));
    }
    this.emit(make.alu('mov', is64, dst.reg, undefined, fitSigned(v.value, 32, { line: this.line, column: v.column }, this.b, 'immediate')));
  }

  /** `r0 = *(u16 *)skb[4]`, `r0 = *(u16 *)skb[r1]`, `r0 = *(u16 *)skb[r1 + 4]` */
  private packetLoad(dst: RegOperand, ty: { size: AccessSize; signed: boolean }): void {
    const c = this.c;
    c.next();
    if (dst.reg !== 0 || dst.is32) c.fail('E_ASM_BAD_REGISTER', 'legacy packet loads always write r0', dst.column);
    if (ty.signed || ty.size === 8) c.fail('E_ASM_BAD_OPERAND', 'legacy packet loads read u8, u16 or u32');
    c.expect('[', "'['");
    let insn: Insn;
    if (c.atRegister()) {
      const src = this.reg(false).reg;
      const imm = c.peek()?.text === ']' ? 0 : (() => {
        const v = c.integer('an offset');
        return fitSigned(v.value, 32, { line: this.line, column: v.column }, this.b, 'offset');
      })();
      insn = make.ldPacket(ty.size as 1 | 2 | 4, src, imm);
    } else {
      insn = make.ldPacket(ty.size as 1 | 2 | 4, undefined, this.imm32('an offset or a register'));
    }
    c.expect(']', "']'");
    this.emit(insn);
  }

  private addrSpaceCast(dst: RegOperand): void {
    const c = this.c;
    c.next();
    c.expect('(', "'('");
    const src = this.reg(false);
    c.expect(',', "','");
    const dstAs = this.imm32('an address space number');
    c.expect(',', "','");
    const srcAs = this.imm32('an address space number');
    c.expect(')', "')'");
    this.emit(make.addrSpaceCast(dst.reg, src.reg, dstAs, srcAs));
  }

  private pseudoLd(dst: RegOperand, fn: string): void {
    const c = this.c;
    const spec = PSEUDO_LD[fn];
    c.next();
    c.expect('(', "'('");
    const first = c.integer('a number');
    const imm = fitSigned(first.value, 32, { line: this.line, column: first.column }, this.b, 'immediate');
    let hi = 0;
    if (spec.args === 2) {
      c.expect(',', "',' then an offset");
      const second = c.integer('an offset');
      hi = fitSigned(second.value, 32, { line: this.line, column: second.column }, this.b, 'offset');
    }
    c.expect(')', "')'");
    c.expect('ll', "'ll'");
    if (dst.is32) c.fail('E_ASM_BAD_REGISTER', 'lddw writes a 64-bit register: use rN', dst.column);
    this.emit({ ...lddw(dst.reg, 0n, spec.src), imm, wide: { imm: hi, head: 0 } });
  }

  /** `r1 = atomic_fetch_add((u64 *)(r10 - 8), r1)`, `r1 = xchg_64(r10 - 8, r1)`, `r0 = cmpxchg_64(r10 - 8, r0, r1)` */
  private atomicCall(dst: RegOperand, fn: string): void {
    const c = this.c;
    c.next();
    c.expect('(', "'('");
    let size: 4 | 8;
    let addr: { reg: number; off: number };
    let name: AtomicName;
    if (fn.startsWith('atomic_fetch_')) {
      name = fn.slice('atomic_fetch_'.length) as AtomicName;
      const ty = this.typeCast(false);
      if (ty.size !== 4 && ty.size !== 8) c.fail('E_ASM_BAD_OPERAND', 'atomic operations are 32 or 64 bit (u32 or u64)');
      size = ty.size as 4 | 8;
      addr = this.address();
    } else {
      name = fn.startsWith('xchg') ? 'xchg' : 'cmpxchg';
      size = fn.endsWith('_64') ? 8 : 4;
      const r = this.reg(false).reg;
      const off = c.peek()?.text === ',' ? 0 : this.off16();
      addr = { reg: r, off };
    }
    c.expect(',', "','");
    if (name === 'cmpxchg') {
      const r0 = this.reg();
      if (r0.reg !== 0 || dst.reg !== 0) c.fail('E_ASM_BAD_REGISTER', 'cmpxchg compares with and writes r0', r0.column);
      c.expect(',', "','");
    }
    const src = this.reg();
    c.expect(')', "')'");
    if (name !== 'cmpxchg' && src.reg !== dst.reg) c.fail('E_ASM_BAD_REGISTER', `the result goes to the source register: write ${dst.is32 ? 'w' : 'r'}${src.reg} = ${fn}(...)`, dst.column);
    if ((size === 4) !== dst.is32 || (size === 4) !== src.is32) {
      c.fail('E_ASM_BAD_REGISTER', size === 4 ? 'a 32-bit atomic uses wN registers' : 'a 64-bit atomic uses rN registers', dst.column);
    }
    this.emit(make.atomic(size, name, true, addr.reg, addr.off, src.reg));
  }
}
