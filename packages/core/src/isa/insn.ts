import { DecodeError } from '../errors.js';
import { AluOp, AtomicOp, Class, JmpOp, Mode, Opcode, PseudoCall, Size, Source } from './opcodes.js';

/**
 * One eBPF instruction, as its raw fields (`struct bpf_insn`).
 *
 * The 16-byte `lddw` is one `Insn` that occupies two slots; its second slot is kept in `wide`.
 * Jump and call offsets count 8-byte slots, as in the kernel, so an `lddw` counts two.
 *
 * @example
 * ```ts
 * const exit: Insn = { op: 0x95, dst: 0, src: 0, off: 0, imm: 0 };
 * ```
 */
export interface Insn {
  /** The opcode byte. */
  readonly op: number;
  /** Destination register, 0..15 (a nibble; 11..15 are invalid but kept). */
  readonly dst: number;
  /** Source register, 0..15. */
  readonly src: number;
  /** Signed 16-bit offset. */
  readonly off: number;
  /** Signed 32-bit immediate. */
  readonly imm: number;
  /**
   * The second slot of an `lddw`: `imm` is the upper 32 bits of the constant (signed 32-bit, as
   * stored), `head` the slot's first four bytes (opcode, registers, offset) read as a little-endian
   * u32, which is 0 in a valid program and kept so that decoding is lossless.
   */
  readonly wide?: { readonly imm: number; readonly head: number };
}

/** Number of 8-byte slots an instruction occupies. */
export function insnSlots(insn: Insn): 1 | 2 {
  return insn.wide ? 2 : 1;
}

/** The 64-bit constant of an `lddw` (or the sign-extended `imm` of any other instruction). */
export function imm64(insn: Insn): bigint {
  if (!insn.wide) return BigInt(insn.imm);
  return (BigInt(insn.wide.imm) << 32n) | BigInt(insn.imm >>> 0);
}

/** Builds an `lddw` (`dst = value ll`), optionally with a pseudo `src` such as `PseudoLd.MAP_FD`. */
export function lddw(dst: number, value: bigint, src = 0): Insn {
  const v = BigInt.asUintN(64, value);
  return {
    op: Opcode.LDDW,
    dst,
    src,
    off: 0,
    imm: Number(BigInt.asIntN(32, v & 0xffffffffn)),
    wide: { imm: Number(BigInt.asIntN(32, v >> 32n)), head: 0 },
  };
}

/** Arithmetic operation names, 32 or 64 bit. `sdiv`/`smod`/`movsx` are the cpu-v4 forms. */
export type AluName =
  | 'add' | 'sub' | 'mul' | 'div' | 'sdiv' | 'or' | 'and' | 'lsh' | 'rsh'
  | 'neg' | 'mod' | 'smod' | 'xor' | 'mov' | 'movsx' | 'arsh';

/** Conditional jump names. */
export type JmpName =
  | 'jeq' | 'jgt' | 'jge' | 'jset' | 'jne' | 'jsgt' | 'jsge' | 'jlt' | 'jle' | 'jslt' | 'jsle';

/** Atomic operation names. */
export type AtomicName = 'add' | 'or' | 'and' | 'xor' | 'xchg' | 'cmpxchg';

/** Access width in bytes. */
export type AccessSize = 1 | 2 | 4 | 8;

/**
 * The meaning of an instruction, worked out from its opcode and the fields that select an
 * operation (`off` for sdiv/smod/movsx, `imm` for byte swaps and atomics, `src` for calls and
 * `lddw`). Fields the kernel reserves are not looked at here; see {@link reservedFieldsProblem}.
 */
export type InsnForm =
  | { kind: 'alu'; name: AluName; is64: boolean; useImm: boolean; /** movsx: source width */ extBits?: 8 | 16 | 32 }
  | { kind: 'end'; /** le/be: `BPF_ALU | BPF_END`; swap: the cpu-v4 `BPF_ALU64 | BPF_END` */ to: 'le' | 'be' | 'swap'; bits: 16 | 32 | 64 }
  | { kind: 'addr_space_cast' }
  | { kind: 'ja'; /** `gotol`: JMP32 class, target in `imm` */ long: boolean }
  | { kind: 'jcond'; name: JmpName; is32: boolean; useImm: boolean }
  | { kind: 'may_goto' }
  | { kind: 'call'; target: 'helper' | 'local' | 'kfunc' }
  | { kind: 'callx' }
  | { kind: 'exit' }
  | { kind: 'lddw'; pseudo: number }
  | { kind: 'ld_abs' | 'ld_ind'; size: 1 | 2 | 4 }
  | { kind: 'ldx'; size: AccessSize; signed: boolean }
  | { kind: 'st'; size: AccessSize }
  | { kind: 'stx'; size: AccessSize }
  | { kind: 'atomic'; size: 4 | 8; name: AtomicName; fetch: boolean };

const ALU_NAMES: Record<number, AluName> = {
  [AluOp.ADD]: 'add', [AluOp.SUB]: 'sub', [AluOp.MUL]: 'mul', [AluOp.DIV]: 'div',
  [AluOp.OR]: 'or', [AluOp.AND]: 'and', [AluOp.LSH]: 'lsh', [AluOp.RSH]: 'rsh',
  [AluOp.NEG]: 'neg', [AluOp.MOD]: 'mod', [AluOp.XOR]: 'xor', [AluOp.MOV]: 'mov',
  [AluOp.ARSH]: 'arsh',
};

const JMP_NAMES: Record<number, JmpName> = {
  [JmpOp.JEQ]: 'jeq', [JmpOp.JGT]: 'jgt', [JmpOp.JGE]: 'jge', [JmpOp.JSET]: 'jset',
  [JmpOp.JNE]: 'jne', [JmpOp.JSGT]: 'jsgt', [JmpOp.JSGE]: 'jsge', [JmpOp.JLT]: 'jlt',
  [JmpOp.JLE]: 'jle', [JmpOp.JSLT]: 'jslt', [JmpOp.JSLE]: 'jsle',
};

/** Opcode parts of each ALU name, for building instructions. */
export const ALU_OPCODE: Readonly<Record<AluName, number>> = {
  add: AluOp.ADD, sub: AluOp.SUB, mul: AluOp.MUL, div: AluOp.DIV, sdiv: AluOp.DIV,
  or: AluOp.OR, and: AluOp.AND, lsh: AluOp.LSH, rsh: AluOp.RSH, neg: AluOp.NEG,
  mod: AluOp.MOD, smod: AluOp.MOD, xor: AluOp.XOR, mov: AluOp.MOV, movsx: AluOp.MOV,
  arsh: AluOp.ARSH,
};

/** Opcode parts of each conditional jump name. */
export const JMP_OPCODE: Readonly<Record<JmpName, number>> = {
  jeq: JmpOp.JEQ, jgt: JmpOp.JGT, jge: JmpOp.JGE, jset: JmpOp.JSET, jne: JmpOp.JNE,
  jsgt: JmpOp.JSGT, jsge: JmpOp.JSGE, jlt: JmpOp.JLT, jle: JmpOp.JLE, jslt: JmpOp.JSLT,
  jsle: JmpOp.JSLE,
};

/** `imm` of each atomic operation (without `BPF_FETCH` for add/or/and/xor). */
export const ATOMIC_IMM: Readonly<Record<AtomicName, number>> = {
  add: AtomicOp.ADD, or: AtomicOp.OR, and: AtomicOp.AND, xor: AtomicOp.XOR,
  xchg: AtomicOp.XCHG, cmpxchg: AtomicOp.CMPXCHG,
};

/** Size code of each access width. */
export const SIZE_CODE: Readonly<Record<AccessSize, number>> = { 1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW };

function sizeOf(op: number): AccessSize {
  switch (op & 0x18) {
    case Size.B: return 1;
    case Size.H: return 2;
    case Size.W: return 4;
    default: return 8;
  }
}

function classifyAlu(insn: Insn, is64: boolean): InsnForm | undefined {
  const code = insn.op & 0xf0;
  const useImm = (insn.op & Source.X) === 0;
  if (code === AluOp.END) {
    if (![16, 32, 64].includes(insn.imm)) return undefined;
    const bits = insn.imm as 16 | 32 | 64;
    if (is64) return useImm ? { kind: 'end', to: 'swap', bits } : undefined;
    return { kind: 'end', to: useImm ? 'le' : 'be', bits };
  }
  const name = ALU_NAMES[code];
  if (name === undefined) return undefined;
  if (name === 'neg') return useImm ? { kind: 'alu', name, is64, useImm } : undefined;
  if (name === 'div' || name === 'mod') {
    if (insn.off === 0) return { kind: 'alu', name, is64, useImm };
    if (insn.off === 1) return { kind: 'alu', name: name === 'div' ? 'sdiv' : 'smod', is64, useImm };
    return undefined;
  }
  if (name === 'mov' && !useImm) {
    if (insn.off === 0) return { kind: 'alu', name, is64, useImm };
    if (insn.off === 8 || insn.off === 16 || (is64 && insn.off === 32)) {
      return { kind: 'alu', name: 'movsx', is64, useImm, extBits: insn.off };
    }
    if (is64 && insn.off === 1) return { kind: 'addr_space_cast' };
    return undefined;
  }
  return { kind: 'alu', name, is64, useImm };
}

function classifyJmp(insn: Insn, is32: boolean): InsnForm | undefined {
  const code = insn.op & 0xf0;
  const useImm = (insn.op & Source.X) === 0;
  switch (code) {
    case JmpOp.JA:
      return useImm ? { kind: 'ja', long: is32 } : undefined;
    case JmpOp.CALL:
      if (is32) return undefined;
      if (!useImm) return { kind: 'callx' };
      if (insn.src === PseudoCall.HELPER) return { kind: 'call', target: 'helper' };
      if (insn.src === PseudoCall.LOCAL) return { kind: 'call', target: 'local' };
      if (insn.src === PseudoCall.KFUNC) return { kind: 'call', target: 'kfunc' };
      return undefined;
    case JmpOp.EXIT:
      return !is32 && useImm ? { kind: 'exit' } : undefined;
    case JmpOp.JCOND:
      return !is32 && useImm && insn.src === 0 ? { kind: 'may_goto' } : undefined;
    default: {
      const name = JMP_NAMES[code];
      return name ? { kind: 'jcond', name, is32, useImm } : undefined;
    }
  }
}

/**
 * Works out what an instruction does, or `undefined` for an opcode (or operation-selecting
 * field) that is not part of the instruction set.
 */
export function classify(insn: Insn): InsnForm | undefined {
  const op = insn.op;
  switch (op & 0x07) {
    case Class.ALU: return classifyAlu(insn, false);
    case Class.ALU64: return classifyAlu(insn, true);
    case Class.JMP: return classifyJmp(insn, false);
    case Class.JMP32: return classifyJmp(insn, true);
    case Class.LD: {
      const mode = op & 0xe0;
      const size = sizeOf(op);
      if (mode === Mode.IMM) return size === 8 && insn.src <= 6 ? { kind: 'lddw', pseudo: insn.src } : undefined;
      if ((mode === Mode.ABS || mode === Mode.IND) && size !== 8) {
        return { kind: mode === Mode.ABS ? 'ld_abs' : 'ld_ind', size };
      }
      return undefined;
    }
    case Class.LDX: {
      const mode = op & 0xe0;
      const size = sizeOf(op);
      if (mode === Mode.MEM) return { kind: 'ldx', size, signed: false };
      if (mode === Mode.MEMSX && size !== 8) return { kind: 'ldx', size, signed: true };
      return undefined;
    }
    case Class.ST:
      return (op & 0xe0) === Mode.MEM ? { kind: 'st', size: sizeOf(op) } : undefined;
    default: {
      // Class.STX
      const mode = op & 0xe0;
      const size = sizeOf(op);
      if (mode === Mode.MEM) return { kind: 'stx', size };
      if (mode !== Mode.ATOMIC || (size !== 4 && size !== 8)) return undefined;
      const fetch = (insn.imm & AtomicOp.FETCH) !== 0;
      switch (insn.imm) {
        case AtomicOp.ADD: case AtomicOp.ADD | AtomicOp.FETCH:
          return { kind: 'atomic', size, name: 'add', fetch };
        case AtomicOp.OR: case AtomicOp.OR | AtomicOp.FETCH:
          return { kind: 'atomic', size, name: 'or', fetch };
        case AtomicOp.AND: case AtomicOp.AND | AtomicOp.FETCH:
          return { kind: 'atomic', size, name: 'and', fetch };
        case AtomicOp.XOR: case AtomicOp.XOR | AtomicOp.FETCH:
          return { kind: 'atomic', size, name: 'xor', fetch };
        case AtomicOp.XCHG: return { kind: 'atomic', size, name: 'xchg', fetch: true };
        case AtomicOp.CMPXCHG: return { kind: 'atomic', size, name: 'cmpxchg', fetch: true };
        default: return undefined;
      }
    }
  }
}

/**
 * Says which reserved field of a known instruction is set, as the kernel's `check_*` functions
 * would refuse it (`BPF_ALU uses reserved fields`), or `undefined` when none is.
 */
export function reservedFieldsProblem(insn: Insn, form: InsnForm | undefined = classify(insn)): string | undefined {
  if (!form) return undefined;
  const used = (cond: boolean, field: string) => (cond ? `${field} is reserved and must be 0` : undefined);
  switch (form.kind) {
    case 'alu':
      if (form.name === 'neg') return used(insn.src !== 0 || insn.off !== 0 || insn.imm !== 0, 'src, off and imm');
      {
        // off selects sdiv/smod (1) and movsx (8/16/32); for every other operation it is reserved.
        const offUsed = form.name === 'sdiv' || form.name === 'smod' || form.name === 'movsx';
        if (form.useImm) return used(insn.src !== 0 || (insn.off !== 0 && !offUsed), 'src/off');
        return used(insn.imm !== 0 || (insn.off !== 0 && !offUsed), 'imm/off');
      }
    case 'end': return used(insn.src !== 0 || insn.off !== 0, 'src/off');
    case 'ja': return used(insn.src !== 0 || insn.dst !== 0 || (form.long ? insn.off !== 0 : insn.imm !== 0), 'dst/src and the unused offset field');
    case 'jcond': return used(form.useImm && insn.src !== 0, 'src');
    case 'call': return used(insn.dst !== 0 || insn.off !== 0, 'dst/off');
    case 'exit': return used(insn.src !== 0 || insn.dst !== 0 || insn.off !== 0 || insn.imm !== 0, 'dst/src/off/imm');
    case 'lddw': return used(insn.off !== 0 || (insn.wide?.head ?? 0) !== 0, 'off and the second slot head');
    case 'ldx': return used(insn.imm !== 0, 'imm');
    case 'st': return used(insn.src !== 0, 'src');
    case 'stx': return used(insn.imm !== 0, 'imm');
    default: return undefined;
  }
}

/** A problem found while decoding: the instruction is kept, the problem reported. */
export interface DecodeIssue {
  /** Slot index of the instruction. */
  index: number;
  code: 'E_DECODE_UNKNOWN_OPCODE' | 'E_DECODE_TRUNCATED_LDDW';
  message: string;
}

/** Options of {@link decode}. */
export interface DecodeOptions {
  /** Throw a {@link DecodeError} at the first unknown instruction instead of reporting it. */
  strict?: boolean;
  /** Receives each problem found; the instruction itself is still returned. */
  onIssue?: (issue: DecodeIssue) => void;
}

function readSlot(view: DataView, at: number): Insn {
  const regs = view.getUint8(at + 1);
  return {
    op: view.getUint8(at),
    dst: regs & 0x0f,
    src: regs >> 4,
    off: view.getInt16(at + 2, true),
    imm: view.getInt32(at + 4, true),
  };
}

/**
 * Decodes little-endian instruction bytes. Lossless: `encode(decode(b))` equals `b` for any input
 * whose length is a multiple of 8. Unknown opcodes come back as instructions with their raw fields
 * (and are reported through `onIssue`, or thrown with `strict`); an `lddw` in the last slot comes
 * back as a one-slot instruction.
 *
 * @throws DecodeError `E_DECODE_LENGTH` when the length is not a multiple of 8.
 * @example
 * ```ts
 * decode(Uint8Array.of(0x95, 0, 0, 0, 0, 0, 0, 0)); // [{ op: 0x95, ... }]: exit
 * ```
 */
export function decode(bytes: Uint8Array, options: DecodeOptions = {}): Insn[] {
  if (bytes.length % 8 !== 0) {
    throw new DecodeError('E_DECODE_LENGTH', `program length ${bytes.length} is not a multiple of 8 bytes`, bytes.length);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Insn[] = [];
  const report = (issue: DecodeIssue) => {
    if (options.strict) throw new DecodeError(issue.code, issue.message, issue.index);
    options.onIssue?.(issue);
  };
  const slots = bytes.length / 8;
  for (let i = 0; i < slots; i++) {
    const insn = readSlot(view, i * 8);
    if (insn.op === Opcode.LDDW) {
      if (i + 1 >= slots) {
        report({ index: i, code: 'E_DECODE_TRUNCATED_LDDW', message: `insn ${i}: lddw is missing its second slot` });
        out.push(insn);
        continue;
      }
      const at = (i + 1) * 8;
      out.push({ ...insn, wide: { imm: view.getInt32(at + 4, true), head: view.getUint32(at, true) } });
      i++;
    } else {
      out.push(insn);
    }
    if (!classify(out[out.length - 1])) {
      report({
        index: i,
        code: 'E_DECODE_UNKNOWN_OPCODE',
        message: `insn ${i}: unknown opcode 0x${insn.op.toString(16).padStart(2, '0')}`,
      });
    }
  }
  return out;
}

/** Total size in 8-byte slots of a program. */
export function programSlots(insns: readonly Insn[]): number {
  let n = 0;
  for (const insn of insns) n += insn.wide ? 2 : 1;
  return n;
}

/**
 * Encodes instructions into little-endian bytes (the kernel's `struct bpf_insn` layout). Field
 * values are truncated to their widths (a register nibble, 16-bit off, 32-bit imm).
 */
export function encode(insns: readonly Insn[]): Uint8Array {
  const bytes = new Uint8Array(programSlots(insns) * 8);
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (const insn of insns) {
    view.setUint8(at, insn.op & 0xff);
    view.setUint8(at + 1, ((insn.src & 0xf) << 4) | (insn.dst & 0xf));
    view.setInt16(at + 2, (insn.off << 16) >> 16, true);
    view.setInt32(at + 4, insn.imm | 0, true);
    at += 8;
    if (insn.wide) {
      view.setUint32(at, insn.wide.head >>> 0, true);
      view.setInt32(at + 4, insn.wide.imm | 0, true);
      at += 8;
    }
  }
  return bytes;
}

/** Maps each instruction index to its slot index (the unit of jump offsets). */
export function slotIndexes(insns: readonly Insn[]): number[] {
  const out = new Array<number>(insns.length);
  let slot = 0;
  for (let i = 0; i < insns.length; i++) {
    out[i] = slot;
    slot += insns[i].wide ? 2 : 1;
  }
  return out;
}

/** Whether the instruction transfers control with a relative offset (jumps and local calls). */
export function branchOffset(insn: Insn, form: InsnForm | undefined = classify(insn)): number | undefined {
  if (!form) return undefined;
  if (form.kind === 'ja') return form.long ? insn.imm : insn.off;
  if (form.kind === 'jcond' || form.kind === 'may_goto') return insn.off;
  if (form.kind === 'call' && form.target === 'local') return insn.imm;
  return undefined;
}
