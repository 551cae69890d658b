import { Opcode, PseudoCall, type Insn } from '@tsbpf/core';

/** A structural rejection, worded as the kernel's verifier words it. */
export interface StructureError {
  /** Slot index the kernel names (or the last slot for whole-program problems). */
  insn: number;
  message: string;
}

/** One 8-byte slot as the kernel indexes it; the second slot of an `lddw` is `undefined`. */
export interface SlotView {
  op: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  /** Second imm of an `lddw`. */
  imm2: number;
  /**
   * Of an `lddw`: the first four bytes of its second slot (opcode, registers, offset) as a
   * little-endian u32, 0 in a valid program.
   */
  head2?: number;
}

/** Flattens instructions into slots, as the kernel indexes them. */
export function toSlots(insns: readonly Insn[]): (SlotView | undefined)[] {
  const out: (SlotView | undefined)[] = [];
  for (const insn of insns) {
    if (insn.wide) {
      out.push({ op: insn.op, dst: insn.dst, src: insn.src, off: insn.off, imm: insn.imm, imm2: insn.wide.imm, head2: insn.wide.head });
      out.push(undefined);
    } else out.push({ op: insn.op, dst: insn.dst, src: insn.src, off: insn.off, imm: insn.imm, imm2: 0 });
  }
  return out;
}

/**
 * Reads slots straight from the kernel's encoding (8 bytes each, little endian), without building
 * instruction objects. An `lddw` takes its second slot when there is one.
 */
export function slotsFromBytes(bytes: Uint8Array): (SlotView | undefined)[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length >> 3;
  const out = new Array<SlotView | undefined>(n);
  for (let pc = 0; pc < n; pc++) {
    const at = pc * 8;
    const regs = bytes[at + 1]!;
    const s: SlotView = { op: bytes[at]!, dst: regs & 0xf, src: regs >> 4, off: view.getInt16(at + 2, true), imm: view.getInt32(at + 4, true), imm2: 0 };
    out[pc] = s;
    if (s.op === Opcode.LDDW && pc + 1 < n) {
      s.imm2 = view.getInt32(at + 12, true);
      s.head2 = view.getUint32(at + 8, true);
      out[++pc] = undefined;
    }
  }
  return out;
}

/** The program's subprograms: the slot each starts at (the main program starts at 0). */
export function subprogStarts(slots: readonly (SlotView | undefined)[]): number[] {
  const starts = new Set<number>([0]);
  for (let pc = 0; pc < slots.length; pc++) {
    const s = slots[pc];
    if (!s) continue;
    const localCall = s.op === Opcode.CALL && s.src === PseudoCall.LOCAL;
    const funcRef = s.op === Opcode.LDDW && s.src === 4;
    if (localCall || funcRef) starts.add(pc + 1 + s.imm);
  }
  return [...starts].sort((a, b) => a - b);
}

/** Jump kinds by the bits the kernel looks at: 0 none (or a call), 1 `ja`, 2 conditional, 3 exit. */
function jumpKind(op: number): 0 | 1 | 2 | 3 {
  const cls = op & 7;
  if (cls !== 5 && cls !== 6) return 0;
  const code = op & 0xf0;
  return code === 0x00 ? 1 : code === 0x90 ? 3 : code === 0x80 ? 0 : 2;
}

/** Where a jump slot goes (bpf_jmp_offset: `gotol`, the JMP32 ja, counts in imm). */
const jumpTarget = (s: SlotView, pc: number): number => pc + 1 + (s.op === 0x06 ? s.imm : s.off);

/**
 * The kernel's structural checks, in its order (bpf_check): call targets (add_subprog), jumps
 * staying inside their subprogram and every subprogram ending in `exit` or a jump
 * (check_subprogs), `lddw` pairs (resolve_pseudo_ldimm64), then reachability (check_cfg).
 * Returns the first error, or undefined. Bounded loops are left to the abstract interpretation,
 * as in a privileged kernel.
 */
export function checkStructure(insns: readonly Insn[]): StructureError | undefined {
  return checkSlots(toSlots(insns));
}

/** {@link checkStructure} on slots ({@link toSlots}, {@link slotsFromBytes}). */
export function checkSlots(slots: readonly (SlotView | undefined)[], starts = subprogStarts(slots)): StructureError | undefined {
  const n = slots.length;
  // add_subprog
  for (const t of starts) if (t < 0 || t >= n) return { insn: 0, message: `call to invalid destination` };
  // check_subprogs
  for (let si = 0; si < starts.length; si++) {
    const start = starts[si]!;
    const end = si + 1 < starts.length ? starts[si + 1]! : n;
    for (let pc = start; pc < end; pc++) {
      const s = slots[pc];
      if (!s) continue;
      const k = jumpKind(s.op);
      if (k !== 1 && k !== 2) continue;
      const to = jumpTarget(s, pc);
      if (to < start || to >= end) return { insn: pc, message: `jump out of range from insn ${pc} to ${to}` };
    }
    // The last slot of the subprogram, as raw bytes: when it is the second slot of an lddw, its own
    // opcode byte decides (the lddw check comes later)
    const last = end - 1;
    const ls = slots[last];
    const rawOp = ls ? ls.op : (slots[last - 1]?.head2 ?? 0) & 0xff;
    const ok = rawOp === 0x95 || rawOp === 0x05 || rawOp === 0x06;
    if (!ok) return { insn: ls ? last : last - 1, message: 'last insn is not an exit or jmp' };
  }
  // resolve_pseudo_ldimm64: an lddw needs its whole second slot, and that slot's head must be 0.
  for (let pc = 0; pc < n; pc++) {
    const s = slots[pc];
    if (s?.op === Opcode.LDDW && (pc === n - 1 || slots[pc + 1] !== undefined || (s.head2 ?? 0) !== 0)) {
      return { insn: pc, message: 'invalid bpf_ld_imm64 insn' };
    }
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
    const wide = s.op === Opcode.LDDW && pc + 1 < n && slots[pc + 1] === undefined;
    if (wide) seen[pc + 1] = 1;
    const k = jumpKind(s.op);
    if (k === 3) continue;
    if (k === 1) stack.push(jumpTarget(s, pc));
    else if (k === 2) stack.push(pc + 1, jumpTarget(s, pc));
    else stack.push(pc + (wide ? 2 : 1));
  }
  for (let pc = 0; pc < n; pc++) if (!seen[pc]) return { insn: pc, message: `unreachable insn ${pc}` };
  return undefined;
}
