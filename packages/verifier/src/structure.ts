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

/**
 * A program as columns of its slots' fields (typed arrays, no object per slot: the passes over a
 * 1M-instruction program stay in cache and the garbage collector has nothing to trace). `tail` is 1
 * on the second slot of an `lddw`, whose own fields are kept in `imm2` / `head2` of the first.
 */
export class Code {
  readonly op: Uint8Array;
  readonly dst: Uint8Array;
  readonly src: Uint8Array;
  readonly off: Int16Array;
  readonly imm: Int32Array;
  readonly imm2: Int32Array;
  readonly head2: Uint32Array;
  readonly tail: Uint8Array;

  constructor(readonly length: number) {
    this.op = new Uint8Array(length);
    this.dst = new Uint8Array(length);
    this.src = new Uint8Array(length);
    this.off = new Int16Array(length);
    this.imm = new Int32Array(length);
    this.imm2 = new Int32Array(length);
    this.head2 = new Uint32Array(length);
    this.tail = new Uint8Array(length);
  }

  /** The slot at `pc` as an object (a fresh one each time), or undefined for the second slot of an `lddw`. */
  at(pc: number): SlotView | undefined {
    return this.load(pc, { op: 0, dst: 0, src: 0, off: 0, imm: 0, imm2: 0, head2: 0 });
  }

  /** {@link at} into an object the caller reuses (no allocation), or undefined for an `lddw` tail. */
  load(pc: number, into: SlotView): SlotView | undefined {
    if (pc < 0 || pc >= this.length || this.tail[pc]) return undefined;
    into.op = this.op[pc]!;
    into.dst = this.dst[pc]!;
    into.src = this.src[pc]!;
    into.off = this.off[pc]!;
    into.imm = this.imm[pc]!;
    into.imm2 = this.imm2[pc]!;
    into.head2 = this.head2[pc]!;
    return into;
  }

  /** Reads slots straight from the kernel's encoding (8 bytes each, little endian). */
  static fromBytes(bytes: Uint8Array): Code {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = bytes.length >> 3;
    const c = new Code(n);
    for (let pc = 0; pc < n; pc++) {
      const at = pc * 8;
      const op = bytes[at]!;
      const regs = bytes[at + 1]!;
      c.op[pc] = op;
      c.dst[pc] = regs & 0xf;
      c.src[pc] = regs >> 4;
      c.off[pc] = view.getInt16(at + 2, true);
      c.imm[pc] = view.getInt32(at + 4, true);
      if (op === Opcode.LDDW && pc + 1 < n) {
        c.imm2[pc] = view.getInt32(at + 12, true);
        c.head2[pc] = view.getUint32(at + 8, true);
        c.tail[++pc] = 1;
      }
    }
    return c;
  }

  /** Slots of decoded instructions (an `lddw` takes two). */
  static fromInsns(insns: readonly Insn[]): Code {
    let n = 0;
    for (const i of insns) n += i.wide ? 2 : 1;
    const c = new Code(n);
    let pc = 0;
    for (const i of insns) {
      c.op[pc] = i.op;
      c.dst[pc] = i.dst;
      c.src[pc] = i.src;
      c.off[pc] = i.off;
      c.imm[pc] = i.imm;
      if (i.wide) {
        c.imm2[pc] = i.wide.imm;
        c.head2[pc] = i.wide.head >>> 0;
        c.tail[++pc] = 1;
      }
      pc++;
    }
    return c;
  }

  /** Slots given as objects (`undefined` for the second slot of an `lddw`). */
  static fromSlots(slots: readonly (SlotView | undefined)[]): Code {
    const c = new Code(slots.length);
    slots.forEach((s, pc) => {
      if (!s) {
        c.tail[pc] = 1;
        return;
      }
      c.op[pc] = s.op;
      c.dst[pc] = s.dst;
      c.src[pc] = s.src;
      c.off[pc] = s.off;
      c.imm[pc] = s.imm;
      c.imm2[pc] = s.imm2;
      c.head2[pc] = (s.head2 ?? 0) >>> 0;
    });
    return c;
  }
}

/** Flattens instructions into slot objects, as the kernel indexes them. */
export function toSlots(insns: readonly Insn[]): (SlotView | undefined)[] {
  const c = Code.fromInsns(insns);
  return Array.from({ length: c.length }, (_, pc) => c.at(pc));
}

/** The program's subprograms: the slot each starts at (the main program starts at 0). */
export function subprogStarts(code: Code): number[] {
  const starts = new Set<number>([0]);
  for (let pc = 0; pc < code.length; pc++) {
    if (code.tail[pc]) continue;
    const op = code.op[pc]!;
    const src = code.src[pc]!;
    const localCall = op === Opcode.CALL && src === PseudoCall.LOCAL;
    const funcRef = op === Opcode.LDDW && src === 4;
    if (localCall || funcRef) starts.add(pc + 1 + code.imm[pc]!);
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
const jumpTarget = (c: Code, pc: number): number => pc + 1 + (c.op[pc] === 0x06 ? c.imm[pc]! : c.off[pc]!);

/**
 * The kernel's structural checks, in its order (bpf_check): call targets (add_subprog), jumps
 * staying inside their subprogram and every subprogram ending in `exit` or a jump
 * (check_subprogs), `lddw` pairs (resolve_pseudo_ldimm64), then reachability (check_cfg).
 * Returns the first error, or undefined. Bounded loops are left to the abstract interpretation,
 * as in a privileged kernel.
 */
export function checkStructure(insns: readonly Insn[]): StructureError | undefined {
  return checkCode(Code.fromInsns(insns));
}

/** {@link checkStructure} on a {@link Code}. */
export function checkCode(code: Code, starts = subprogStarts(code)): StructureError | undefined {
  const n = code.length;
  const { op, tail } = code;
  // add_subprog
  for (const t of starts) if (t < 0 || t >= n) return { insn: 0, message: `call to invalid destination` };
  // check_subprogs
  for (let si = 0; si < starts.length; si++) {
    const start = starts[si]!;
    const end = si + 1 < starts.length ? starts[si + 1]! : n;
    for (let pc = start; pc < end; pc++) {
      if (tail[pc]) continue;
      const k = jumpKind(op[pc]!);
      if (k !== 1 && k !== 2) continue;
      const to = jumpTarget(code, pc);
      if (to < start || to >= end) return { insn: pc, message: `jump out of range from insn ${pc} to ${to}` };
    }
    // The last slot of the subprogram, as raw bytes: when it is the second slot of an lddw, its own
    // opcode byte decides (the lddw check comes later)
    const last = end - 1;
    const rawOp = tail[last] ? code.head2[last - 1]! & 0xff : op[last]!;
    const ok = rawOp === 0x95 || rawOp === 0x05 || rawOp === 0x06;
    if (!ok) return { insn: tail[last] ? last - 1 : last, message: 'last insn is not an exit or jmp' };
  }
  // resolve_pseudo_ldimm64: an lddw needs its whole second slot, and that slot's head must be 0.
  for (let pc = 0; pc < n; pc++) {
    if (!tail[pc] && op[pc] === Opcode.LDDW && (pc === n - 1 || !tail[pc + 1] || code.head2[pc] !== 0)) {
      return { insn: pc, message: 'invalid bpf_ld_imm64 insn' };
    }
  }
  const unreachable = firstUnreachable(code, starts);
  return unreachable < 0 ? undefined : { insn: unreachable, message: `unreachable insn ${unreachable}` };
}

/**
 * check_cfg: the first slot not reachable from the entry or a subprogram entry, or -1. Straight
 * runs are followed in a loop; only branch targets wait on the stack.
 */
function firstUnreachable(code: Code, starts: readonly number[]): number {
  const n = code.length;
  const { op, tail } = code;
  const seen = new Uint8Array(n);
  const stack = new Int32Array(n + starts.length + 1);
  let top = 0;
  for (const st of starts) stack[top++] = st;
  while (top > 0) {
    let pc = stack[--top]!;
    while (pc >= 0 && pc < n && !seen[pc]) {
      seen[pc] = 1;
      if (tail[pc]) break;
      const wide = op[pc] === Opcode.LDDW && pc + 1 < n && tail[pc + 1] === 1;
      if (wide) seen[pc + 1] = 1;
      const k = jumpKind(op[pc]!);
      if (k === 3) break;
      if (k === 1) pc = jumpTarget(code, pc);
      else if (k === 2) {
        if (top < stack.length) stack[top++] = jumpTarget(code, pc);
        pc += 1;
      } else pc += wide ? 2 : 1;
    }
  }
  for (let pc = 0; pc < n; pc++) if (!seen[pc]) return pc;
  return -1;
}
