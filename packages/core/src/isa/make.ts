import {
  ALU_OPCODE, ATOMIC_IMM, JMP_OPCODE, SIZE_CODE,
  type AccessSize, type AluName, type AtomicName, type Insn, type JmpName,
} from './insn.js';
import { AluOp, AtomicOp, Class, Mode, Opcode, PseudoCall, Source } from './opcodes.js';

/**
 * Instruction constructors shared by the assemblers and the builder DSL. Each returns the raw
 * `Insn` of one form; offsets and immediates are taken as given (already relative, signed).
 */
export const make = {
  /** ALU / ALU64: `src` undefined means the immediate form. `extBits` is movsx's source width. */
  alu(name: AluName, is64: boolean, dst: number, src: number | undefined, imm = 0, extBits?: 8 | 16 | 32): Insn {
    const cls = is64 ? Class.ALU64 : Class.ALU;
    const useImm = src === undefined && name !== 'movsx';
    let off = 0;
    if (name === 'sdiv' || name === 'smod') off = 1;
    if (name === 'movsx') off = extBits ?? 8;
    if (name === 'neg') return { op: cls | AluOp.NEG, dst, src: 0, off: 0, imm: 0 };
    return {
      op: cls | ALU_OPCODE[name] | (useImm ? Source.K : Source.X),
      dst,
      src: useImm ? 0 : (src ?? 0),
      off,
      imm: useImm ? imm | 0 : 0,
    };
  },
  /** Byte swaps: `le`/`be` (ALU class) or the cpu-v4 unconditional `swap` (ALU64). */
  end(to: 'le' | 'be' | 'swap', bits: 16 | 32 | 64, dst: number): Insn {
    const op = to === 'swap' ? Class.ALU64 | AluOp.END : Class.ALU | AluOp.END | (to === 'be' ? Source.X : Source.K);
    return { op, dst, src: 0, off: 0, imm: bits };
  },
  /** `rD = addr_space_cast(rS, dstAs, srcAs)`. */
  addrSpaceCast(dst: number, src: number, dstAs: number, srcAs: number): Insn {
    return { op: Class.ALU64 | AluOp.MOV | Source.X, dst, src, off: 1, imm: ((dstAs & 0xffff) << 16) | (srcAs & 0xffff) };
  },
  /** `goto off` (JMP JA) or, with `long`, `gotol` whose offset is in imm. */
  ja(offset: number, long = false): Insn {
    return long
      ? { op: Opcode.JA32, dst: 0, src: 0, off: 0, imm: offset | 0 }
      : { op: Opcode.JA, dst: 0, src: 0, off: offset, imm: 0 };
  },
  /** Conditional jump: `src` undefined means compare with `imm`. */
  jcond(name: JmpName, is32: boolean, dst: number, src: number | undefined, imm: number, off: number): Insn {
    return {
      op: (is32 ? Class.JMP32 : Class.JMP) | JMP_OPCODE[name] | (src === undefined ? Source.K : Source.X),
      dst,
      src: src ?? 0,
      off,
      imm: src === undefined ? imm | 0 : 0,
    };
  },
  mayGoto(off: number): Insn {
    return { op: Opcode.MAY_GOTO, dst: 0, src: 0, off, imm: 0 };
  },
  call(target: 'helper' | 'local' | 'kfunc', imm: number): Insn {
    const src = target === 'helper' ? PseudoCall.HELPER : target === 'local' ? PseudoCall.LOCAL : PseudoCall.KFUNC;
    return { op: Opcode.CALL, dst: 0, src, off: 0, imm: imm | 0 };
  },
  callx(reg: number): Insn {
    return { op: Opcode.CALLX, dst: reg, src: 0, off: 0, imm: 0 };
  },
  exit(): Insn {
    return { op: Opcode.EXIT, dst: 0, src: 0, off: 0, imm: 0 };
  },
  ldx(size: AccessSize, dst: number, src: number, off: number, signed = false): Insn {
    return { op: Class.LDX | (signed ? Mode.MEMSX : Mode.MEM) | SIZE_CODE[size], dst, src, off, imm: 0 };
  },
  st(size: AccessSize, dst: number, off: number, imm: number): Insn {
    return { op: Class.ST | Mode.MEM | SIZE_CODE[size], dst, src: 0, off, imm: imm | 0 };
  },
  stx(size: AccessSize, dst: number, off: number, src: number): Insn {
    return { op: Class.STX | Mode.MEM | SIZE_CODE[size], dst, src, off, imm: 0 };
  },
  atomic(size: 4 | 8, name: AtomicName, fetch: boolean, dst: number, off: number, src: number): Insn {
    const imm = ATOMIC_IMM[name] | (fetch ? AtomicOp.FETCH : 0);
    return { op: Class.STX | Mode.ATOMIC | SIZE_CODE[size], dst, src, off, imm };
  },
  /** Legacy packet loads: `ld_abs` (`src` undefined) or `ld_ind` (offset `imm` from register `src`). */
  ldPacket(size: 1 | 2 | 4, src: number | undefined, imm: number): Insn {
    const mode = src === undefined ? Mode.ABS : Mode.IND;
    return { op: Class.LD | mode | SIZE_CODE[size], dst: 0, src: src ?? 0, off: 0, imm: imm | 0 };
  },
};
