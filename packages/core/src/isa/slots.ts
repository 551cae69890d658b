import { classify, type Insn } from './insn.js';
import { PseudoLd } from './opcodes.js';

/**
 * A program laid out one entry per 8-byte slot in typed arrays, as the execution backends read
 * it (the interpreter's run loop, the JIT's compiler): numbers, never objects. The second slot of
 * an `lddw` is an entry of its own with opcode 0, so a jump into it finds no instruction.
 */
export interface SlotLayout {
  /** Number of slots. */
  n: number;
  op: Uint8Array;
  dst: Uint8Array;
  src: Uint8Array;
  off: Int32Array;
  imm: Int32Array;
  /** For an `lddw`: the low and high 32 bits of the value it loads, pseudo forms resolved. */
  lo: Int32Array;
  hi: Int32Array;
  /**
   * 1 where the slot holds a known instruction with registers in range (r0..r10; the source
   * field of `lddw` and `call` selects a form instead) whose pseudo `lddw`, if any, resolved.
   */
  valid: Uint8Array;
}

/**
 * Lays out `insns` slot by slot. `resolveLddw` gives the value of a pseudo `lddw` (map fd, map
 * value); one it cannot resolve makes the slot invalid. `BPF_PSEUDO_FUNC` loads the callback's
 * absolute slot, which `bpf_loop` and friends hand back to the backend.
 */
export function layoutSlots(insns: readonly Insn[], resolveLddw?: (insn: Insn) => number | undefined): SlotLayout {
  let n = 0;
  for (const i of insns) n += i.wide ? 2 : 1;
  const p: SlotLayout = {
    n,
    op: new Uint8Array(n), dst: new Uint8Array(n), src: new Uint8Array(n),
    off: new Int32Array(n), imm: new Int32Array(n), lo: new Int32Array(n), hi: new Int32Array(n),
    valid: new Uint8Array(n),
  };
  let s = 0;
  for (const insn of insns) {
    p.op[s] = insn.op;
    p.dst[s] = insn.dst;
    p.src[s] = insn.src;
    p.off[s] = insn.off;
    p.imm[s] = insn.imm;
    const form = classify(insn);
    let valid = !!form && insn.dst <= 10 && (insn.src <= 10 || form.kind === 'lddw' || form.kind === 'call');
    if (insn.wide) {
      p.lo[s] = insn.imm;
      p.hi[s] = insn.wide.imm;
      if (form?.kind === 'lddw' && form.pseudo === PseudoLd.FUNC) {
        p.lo[s] = s + 1 + insn.imm;
        p.hi[s] = 0;
      } else if (form?.kind === 'lddw' && form.pseudo !== 0) {
        const v = resolveLddw?.(insn);
        if (v === undefined) valid = false;
        else {
          p.lo[s] = v | 0;
          p.hi[s] = Math.floor(v / 0x100000000) | 0;
        }
      }
    }
    p.valid[s] = valid ? 1 : 0;
    s += insn.wide ? 2 : 1;
  }
  return p;
}
