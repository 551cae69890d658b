import { rawSlotWord } from '../asm/raw.js';
import { branchOffset, classify, reservedFieldsProblem, slotIndexes, type Insn, type InsnForm } from '../isa/insn.js';
import { Opcode } from '../isa/opcodes.js';

/** Options shared by the disassemblers. */
export interface DisasmOptions {
  /** Print jump and local-call targets as generated labels (`L5:`) instead of `+N`. */
  labels?: boolean;
}

/** How a syntax prints one instruction; `target` is a label name or `undefined` for `+N` form. */
export type InsnFormatter = (insn: Insn, form: InsnForm, target: string | undefined) => string | undefined;

/** `.quad 0x...` lines that reproduce an instruction's bytes exactly. */
export function rawLines(insn: Insn, why: string, comment: string): string[] {
  const first = `.quad 0x${rawSlotWord(insn).toString(16).padStart(16, '0')} ${comment} ${why}`;
  if (!insn.wide) return [first];
  const head = insn.wide.head >>> 0;
  const second = rawSlotWord({ op: head & 0xff, dst: (head >>> 8) & 0xf, src: (head >>> 12) & 0xf, off: (head >>> 16) << 16 >> 16, imm: insn.wide.imm });
  return [first, `.quad 0x${second.toString(16).padStart(16, '0')} ${comment} second slot of lddw`];
}

/**
 * Why an instruction cannot be printed as text that assembles back to the same bytes, or
 * `undefined` when it can.
 */
export function unprintableReason(insn: Insn, form: InsnForm | undefined): string | undefined {
  // A truncated lddw (decode's last slot) classifies as lddw, but its text would assemble to two slots.
  if (insn.op === Opcode.LDDW && !insn.wide) return 'lddw without its second slot';
  if (!form) return `opcode 0x${insn.op.toString(16).padStart(2, '0')} is not an eBPF instruction`;
  const problem = reservedFieldsProblem(insn, form);
  if (problem) return `reserved field set (${problem})`;
  const unused = unusedFieldSet(insn, form);
  if (unused) return `${unused} is set but unused by this instruction`;
  if (insn.dst > 10 || insn.src > 10) return `register r${Math.max(insn.dst, insn.src)} does not exist`;
  return undefined;
}

/**
 * Names a field that the instruction's text form cannot show because the form does not use it,
 * so that such an instruction is printed as raw bytes instead of losing the field.
 */
export function unusedFieldSet(insn: Insn, form: InsnForm): string | undefined {
  const used = { dst: false, src: false, off: false, imm: false };
  switch (form.kind) {
    case 'alu':
      used.dst = true;
      used.src = !form.useImm;
      used.imm = form.useImm && form.name !== 'neg';
      used.off = form.name === 'sdiv' || form.name === 'smod' || form.name === 'movsx';
      break;
    case 'end': used.dst = used.imm = true; break;
    case 'addr_space_cast': used.dst = used.src = used.off = used.imm = true; break;
    case 'ja': used[form.long ? 'imm' : 'off'] = true; break;
    case 'jcond': used.dst = used.off = true; used[form.useImm ? 'imm' : 'src'] = true; break;
    case 'may_goto': used.off = true; break;
    case 'call': used.src = used.imm = true; break;
    case 'callx': used.dst = true; break;
    case 'exit': break;
    case 'lddw': used.dst = used.src = used.imm = true; break;
    case 'ld_abs': used.imm = true; break;
    case 'ld_ind': used.src = used.imm = true; break;
    case 'ldx': case 'stx': used.dst = used.src = used.off = true; break;
    case 'st': used.dst = used.off = used.imm = true; break;
    case 'atomic': used.dst = used.src = used.off = used.imm = true; break;
  }
  for (const f of ['dst', 'src', 'off', 'imm'] as const) if (!used[f] && insn[f] !== 0) return f;
  if (insn.wide && insn.wide.head !== 0) return 'the second slot head';
  return undefined;
}

/** Prints a whole program with a per-syntax formatter, adding labels when asked. */
export function disassembleWith(
  insns: readonly Insn[],
  format: InsnFormatter,
  options: DisasmOptions,
  comment: string,
): string {
  const slots = slotIndexes(insns);
  const total = insns.length === 0 ? 0 : slots[insns.length - 1] + (insns[insns.length - 1].wide ? 2 : 1);
  const labelAt = new Map<number, string>();
  const targets: (string | undefined)[] = [];
  const slotSet = new Set(slots);
  insns.forEach((insn, i) => {
    const form = classify(insn);
    const off = branchOffset(insn, form);
    let name: string | undefined;
    if (options.labels && off !== undefined && !unprintableReason(insn, form)) {
      const to = slots[i] + 1 + off;
      if (to >= 0 && to <= total && (slotSet.has(to) || to === total)) {
        name = labelAt.get(to) ?? `L${to}`;
        labelAt.set(to, name);
      }
    }
    targets.push(name);
  });
  const out: string[] = [];
  insns.forEach((insn, i) => {
    const label = labelAt.get(slots[i]);
    if (label) out.push(`${label}:`);
    const form = classify(insn);
    const why = unprintableReason(insn, form);
    const text = why ? undefined : format(insn, form!, targets[i]);
    if (text === undefined) out.push(...rawLines(insn, why ?? 'has no syntax here', comment).map((l) => `  ${l}`));
    else out.push(`  ${text}`);
  });
  const endLabel = labelAt.get(total);
  if (endLabel) out.push(`${endLabel}:`);
  return out.join('\n') + (out.length ? '\n' : '');
}

/** `+N` / `-N`. */
export function signed(n: number): string {
  return n >= 0 ? `+${n}` : `${n}`;
}
