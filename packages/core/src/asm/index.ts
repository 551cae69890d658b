import type { Insn } from '../isa/insn.js';
import type { AssembledProgram } from './common.js';
import { assembleLlvm, type LlvmAsmOptions } from './llvm.js';
import { assembleUbpf } from './ubpf.js';
import { disassembleLlvm, type LlvmDisasmOptions } from '../disasm/llvm.js';
import { disassembleUbpf } from '../disasm/ubpf.js';
import { stripComment } from './lexer.js';

/** The two assembly syntaxes: LLVM / kernel (`r0 = 1`) and uBPF / bpf_conformance (`mov %r0, 1`). */
export type AsmSyntax = 'llvm' | 'ubpf';

/** Options of {@link assemble}. */
export interface AssembleOptions extends LlvmAsmOptions {
  /** Which syntax the source is in; `auto` (the default) guesses from the first instruction. */
  syntax?: AsmSyntax | 'auto';
}

/**
 * Guesses the syntax of assembly source: uBPF when an instruction line starts with a mnemonic
 * followed by operands (`mov %r0, 1`, `exit` alone is ambiguous), LLVM when it has an assignment
 * or `if ... goto`.
 */
export function detectSyntax(source: string): AsmSyntax {
  for (const raw of source.split('\n')) {
    const line = stripComment(raw, ['#', '//', ';']).replace(/^\s*[A-Za-z_.$][\w.$]*:/, '').trim();
    if (!line || line === 'exit' || line.startsWith('.')) continue;
    if (line.includes('%r') || /^(lock\s+(fetch\s+)?\w+\s*\[|[a-z0-9]+\s+(%?r\d+\s*,|\[))/i.test(line) || /^(ja|ja32|call\s+local)\b/.test(line)) return 'ubpf';
    return 'llvm';
  }
  return 'llvm';
}

/**
 * Assembles either syntax.
 *
 * @example
 * ```ts
 * assemble('r0 = 1\nexit').insns;            // LLVM syntax
 * assemble('mov %r0, 1\nexit').insns;        // uBPF syntax, detected
 * ```
 */
export function assemble(source: string, options: AssembleOptions = {}): AssembledProgram {
  const syntax = !options.syntax || options.syntax === 'auto' ? detectSyntax(source) : options.syntax;
  return syntax === 'ubpf' ? assembleUbpf(source, options) : assembleLlvm(source, options);
}

/** Options of {@link disassemble}. */
export interface DisassembleOptions extends LlvmDisasmOptions {
  syntax?: AsmSyntax;
}

/** Disassembles into either syntax (LLVM by default). */
export function disassemble(insns: readonly Insn[], options: DisassembleOptions = {}): string {
  return options.syntax === 'ubpf' ? disassembleUbpf(insns, options) : disassembleLlvm(insns, options);
}
