import { Opcode, PseudoCall, classify, type Insn } from '@tsbpf/core';

/** A structural rejection, worded as the kernel's verifier words it. */
export interface StructureError {
  /** Slot index the kernel names (or the last slot for whole-program problems). */
  insn: number;
  message: string;
}

/** The program's subprograms: the slot each starts at (the main program starts at 0). */
export function subprogStarts(slots: readonly SlotView[]): number[] {
  const starts = new Set<number>([0]);
  slots.forEach((s, pc) => {
    if (!s) return;
    const localCall = s.op === Opcode.CALL && s.src === PseudoCall.LOCAL;
    const funcRef = s.op === Opcode.LDDW && s.src === 4;
    if (localCall || funcRef) starts.add(pc + 1 + s.imm);
  });
  return [...starts].sort((a, b) => a - b);
}

/** One 8-byte slot (an lddw's second slot is `undefined`). */
export interface SlotView {
  op: number;
  src: number;
  dst: number;
  off: number;
  imm: number;
  insn: Insn;
}

/** Flattens instructions into slots, as the kernel indexes them. */
export function toSlots(insns: readonly Insn[]): (SlotView | undefined)[] {
  const out: (SlotView | undefined)[] = [];
  for (const insn of insns) {
    out.push({ op: insn.op, src: insn.src, dst: insn.dst, off: insn.off, imm: insn.imm, insn });
    if (insn.wide) out.push(undefined);
  }
  return out;
}

/** Jump targets of the slot at `pc` (empty for non-jumps), as offsets are counted in slots. */
function jumpTargets(s: SlotView, pc: number): number[] {
  const form = classify(s.insn);
  if (!form) return [];
  if (form.kind === 'ja') return [pc + 1 + (form.long ? s.imm : s.off)];
  if (form.kind === 'jcond' || form.kind === 'may_goto') return [pc + 1, pc + 1 + s.off];
  return [];
}

/**
 * The kernel's structural checks, in its order: `lddw` pairs (resolve_pseudo_ldimm64), jumps
 * staying inside their subprogram and every subprogram ending in `exit` or a jump
 * (check_subprogs), then reachability (check_cfg). Returns the first error, or undefined.
 * Bounded loops are left to the abstract interpretation, as in a privileged kernel.
 */
export function checkStructure(insns: readonly Insn[]): StructureError | undefined {
  const slots = toSlots(insns);
  const n = slots.length;
  // resolve_pseudo_ldimm64: an lddw needs its whole second slot, and that slot's head must be 0.
  for (let pc = 0; pc < n; pc++) {
    const s = slots[pc];
    if (s?.op === Opcode.LDDW && (!s.insn.wide || s.insn.wide.head !== 0 || pc === n - 1)) {
      return { insn: pc, message: 'invalid bpf_ld_imm64 insn' };
    }
  }
  // check_subprogs
  const starts = subprogStarts(slots.map((s) => s ?? ({ op: 0, src: 0, dst: 0, off: 0, imm: 0, insn: { op: 0, dst: 0, src: 0, off: 0, imm: 0 } } as SlotView)));
  for (const t of starts) if (t < 0 || t >= n) return { insn: 0, message: `call to invalid destination` };
  for (let si = 0; si < starts.length; si++) {
    const start = starts[si];
    const end = si + 1 < starts.length ? starts[si + 1] : n;
    for (let pc = start; pc < end; pc++) {
      const s = slots[pc];
      if (!s) continue;
      const cls = s.op & 7;
      if (cls !== 5 && cls !== 6) continue;
      const code = s.op & 0xf0;
      if (code === 0x80 || code === 0x90) continue; // call, exit
      const form = classify(s.insn);
      if (!form || (form.kind !== 'ja' && form.kind !== 'jcond' && form.kind !== 'may_goto')) continue;
      const to = form.kind === 'ja' ? pc + 1 + (form.long ? s.imm : s.off) : pc + 1 + s.off;
      if (to < start || to >= end) return { insn: pc, message: `jump out of range from insn ${pc} to ${to}` };
    }
    // The last slot of the subprogram (the first slot of a trailing lddw pair counts).
    let last = end - 1;
    if (!slots[last] && last > start) last--;
    const ls = slots[last];
    const lf = ls && classify(ls.insn);
    const ok = lf && (lf.kind === 'exit' || lf.kind === 'ja');
    if (!ok) return { insn: last, message: 'last insn is not an exit or jmp' };
  }
  // check_cfg: every slot reachable from the entry or a subprogram entry.
  const seen = new Uint8Array(n);
  const stack = [...starts];
  while (stack.length) {
    const pc = stack.pop()!;
    if (pc < 0 || pc >= n || seen[pc]) continue;
    seen[pc] = 1;
    const s = slots[pc];
    if (!s) continue;
    if (s.insn.wide) seen[pc + 1] = 1;
    const form = classify(s.insn);
    if (form?.kind === 'exit') continue;
    const targets = jumpTargets(s, pc);
    if (form?.kind === 'ja') stack.push(targets[0]);
    else if (targets.length) stack.push(...targets);
    else stack.push(pc + (s.insn.wide ? 2 : 1));
  }
  for (let pc = 0; pc < n; pc++) if (!seen[pc]) return { insn: pc, message: `unreachable insn ${pc}` };
  return undefined;
}
