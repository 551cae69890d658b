import { encode, slotIndexes, type Insn } from '../isa/insn.js';
import { formatInsnLlvm, type LlvmDisasmOptions } from './llvm.js';
import { formatInsnUbpf } from './ubpf.js';
import { rawLines, unprintableReason } from './common.js';
import { classify } from '../isa/insn.js';

/** Options of {@link objdumpListing}. */
export interface ObjdumpOptions extends LlvmDisasmOptions {
  /** Syntax of the instruction column (default `llvm`). */
  syntax?: 'llvm' | 'ubpf';
  /** Section name for the header line (default `.text`). */
  section?: string;
  /** Extra lines to print before the instruction at a slot (source lines, symbols). */
  annotate?: (slot: number) => readonly string[] | undefined;
}

function hexBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/**
 * An `llvm-objdump -d` style listing: slot number, the instruction's bytes, and its text; an
 * `lddw` shows all 16 bytes on one line, as llvm-objdump does.
 *
 * @example
 * ```ts
 * objdumpListing(assembleLlvm('r0 = 1\nexit').insns);
 * //        0:	b7 00 00 00 01 00 00 00	r0 = 1
 * //        1:	95 00 00 00 00 00 00 00	exit
 * ```
 */
export function objdumpListing(insns: readonly Insn[], options: ObjdumpOptions = {}): string {
  const slots = slotIndexes(insns);
  const out: string[] = [`Disassembly of section ${options.section ?? '.text'}:`, ''];
  insns.forEach((insn, i) => {
    for (const note of options.annotate?.(slots[i]) ?? []) out.push(note);
    const form = classify(insn);
    const why = unprintableReason(insn, form);
    let text: string | undefined;
    if (!why) text = options.syntax === 'ubpf' ? formatInsnUbpf(insn) : formatInsnLlvm(insn, options);
    if (text === undefined) text = rawLines(insn, why ?? 'has no uBPF syntax', '#')[0];
    out.push(`${String(slots[i]).padStart(8)}:\t${hexBytes(encode([insn]))}\t${text}`);
  });
  return out.join('\n') + '\n';
}
