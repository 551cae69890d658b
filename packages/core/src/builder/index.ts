/**
 * A builder DSL for writing programs in TypeScript, in the spirit of cilium/ebpf's `asm` package:
 * each operation is an object with `.imm(...)` and `.reg(...)` forms, jumps take symbolic labels,
 * and {@link program} resolves them.
 *
 * @example
 * ```ts
 * import { program, Mov, Add, JEq, Ld, Call, Exit, label, R0, R1 } from '@tsbpf/core';
 * const insns = program(
 *   Mov.imm(R0, 0),
 *   label('loop'),
 *   Add.imm(R0, 1),
 *   JEq.imm(R0, 10, 'out'),
 *   Ja('loop'),
 *   label('out'),
 *   Exit(),
 * );
 * ```
 */
import { TsbpfError } from '../errors.js';
import { lddw, type AccessSize, type AluName, type AtomicName, type Insn, type JmpName } from '../isa/insn.js';
import { make } from '../isa/make.js';
import { PseudoLd } from '../isa/opcodes.js';
import { helperId } from '../uapi/helper-ids.js';

/** A register number. */
export type Reg = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;
export const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5, R6 = 6, R7 = 7, R8 = 8, R9 = 9, R10 = 10;

/** Access widths by C type name, as in `*(u32 *)`. */
export type Width = 'u8' | 'u16' | 'u32' | 'u64';
const WIDTH: Record<Width, AccessSize> = { u8: 1, u16: 2, u32: 4, u64: 8 };

/** One item of a program: an instruction (with an optional unresolved target) or a label. */
export type Item =
  | { kind: 'insn'; insn: Insn; target?: { label: string; field: 'off' | 'imm' } }
  | { kind: 'label'; name: string };

/** A jump target: a label name or a relative slot offset. */
export type Target = string | number;

function withTarget(insn: Insn, target: Target, field: 'off' | 'imm'): Item {
  if (typeof target === 'number') return { kind: 'insn', insn: { ...insn, [field]: target } };
  return { kind: 'insn', insn, target: { label: target, field } };
}

const insn = (i: Insn): Item => ({ kind: 'insn', insn: i });

function aluOp(name: AluName, is64: boolean) {
  return {
    /** `dst op= imm` */
    imm: (dst: Reg, imm: number): Item => insn(make.alu(name, is64, dst, undefined, imm)),
    /** `dst op= src` */
    reg: (dst: Reg, src: Reg): Item => insn(make.alu(name, is64, dst, src)),
  };
}

function jmpOp(name: JmpName, is32: boolean) {
  return {
    /** `if dst op imm goto target` */
    imm: (dst: Reg, imm: number, target: Target): Item => withTarget(make.jcond(name, is32, dst, undefined, imm, 0), target, 'off'),
    /** `if dst op src goto target` */
    reg: (dst: Reg, src: Reg, target: Target): Item => withTarget(make.jcond(name, is32, dst, src, 0, 0), target, 'off'),
  };
}

// 64-bit arithmetic (ALU64) and its 32-bit twin (ALU, zero-extending).
export const Add = aluOp('add', true), Add32 = aluOp('add', false);
export const Sub = aluOp('sub', true), Sub32 = aluOp('sub', false);
export const Mul = aluOp('mul', true), Mul32 = aluOp('mul', false);
export const Div = aluOp('div', true), Div32 = aluOp('div', false);
export const SDiv = aluOp('sdiv', true), SDiv32 = aluOp('sdiv', false);
export const Mod = aluOp('mod', true), Mod32 = aluOp('mod', false);
export const SMod = aluOp('smod', true), SMod32 = aluOp('smod', false);
export const Or = aluOp('or', true), Or32 = aluOp('or', false);
export const And = aluOp('and', true), And32 = aluOp('and', false);
export const Xor = aluOp('xor', true), Xor32 = aluOp('xor', false);
export const LSh = aluOp('lsh', true), LSh32 = aluOp('lsh', false);
export const RSh = aluOp('rsh', true), RSh32 = aluOp('rsh', false);
export const ArSh = aluOp('arsh', true), ArSh32 = aluOp('arsh', false);
export const Mov = aluOp('mov', true), Mov32 = aluOp('mov', false);

/** `dst = -dst` */
export const Neg = (dst: Reg): Item => insn(make.alu('neg', true, dst, undefined));
/** `wdst = -wdst` */
export const Neg32 = (dst: Reg): Item => insn(make.alu('neg', false, dst, undefined));
/** `dst = (s8|s16|s32)src` (cpu v4 movsx). */
export const MovSX = (dst: Reg, src: Reg, bits: 8 | 16 | 32): Item => insn(make.alu('movsx', true, dst, src, 0, bits));
/** `wdst = (s8|s16)wsrc` */
export const MovSX32 = (dst: Reg, src: Reg, bits: 8 | 16): Item => insn(make.alu('movsx', false, dst, src, 0, bits));
/** Byte swaps: `ToLE`/`ToBE` convert from host order; `BSwap` swaps unconditionally (cpu v4). */
export const ToLE = (dst: Reg, bits: 16 | 32 | 64): Item => insn(make.end('le', bits, dst));
export const ToBE = (dst: Reg, bits: 16 | 32 | 64): Item => insn(make.end('be', bits, dst));
export const BSwap = (dst: Reg, bits: 16 | 32 | 64): Item => insn(make.end('swap', bits, dst));

// Conditional jumps, 64-bit (JMP) and 32-bit (JMP32).
export const JEq = jmpOp('jeq', false), JEq32 = jmpOp('jeq', true);
export const JNe = jmpOp('jne', false), JNe32 = jmpOp('jne', true);
export const JGT = jmpOp('jgt', false), JGT32 = jmpOp('jgt', true);
export const JGE = jmpOp('jge', false), JGE32 = jmpOp('jge', true);
export const JLT = jmpOp('jlt', false), JLT32 = jmpOp('jlt', true);
export const JLE = jmpOp('jle', false), JLE32 = jmpOp('jle', true);
export const JSGT = jmpOp('jsgt', false), JSGT32 = jmpOp('jsgt', true);
export const JSGE = jmpOp('jsge', false), JSGE32 = jmpOp('jsge', true);
export const JSLT = jmpOp('jslt', false), JSLT32 = jmpOp('jslt', true);
export const JSLE = jmpOp('jsle', false), JSLE32 = jmpOp('jsle', true);
export const JSet = jmpOp('jset', false), JSet32 = jmpOp('jset', true);

/** `goto target` */
export const Ja = (target: Target): Item => withTarget(make.ja(0), target, 'off');
/** `gotol target` (cpu v4: 32-bit offset in imm). */
export const JaL = (target: Target): Item => withTarget(make.ja(0, true), target, 'imm');
/** `may_goto target` */
export const MayGoto = (target: Target): Item => withTarget(make.mayGoto(0), target, 'off');
/** `exit` */
export const Exit = (): Item => insn(make.exit());

/** Calls. */
export const Call = {
  /** A helper by id or name (`'bpf_map_lookup_elem'`, `'map_lookup_elem'`). */
  helper(fn: number | string): Item {
    const id = typeof fn === 'number' ? fn : helperId(fn);
    if (id === undefined) throw new TsbpfError('E_BUILDER_UNKNOWN_HELPER', `unknown helper '${fn}'`);
    return insn(make.call('helper', id));
  },
  /** A bpf-to-bpf call to a label (or relative offset). */
  local: (target: Target): Item => withTarget(make.call('local', 0), target, 'imm'),
  /** A kernel function by BTF id. */
  kfunc: (btfId: number): Item => insn(make.call('kfunc', btfId)),
  /** `callx reg` */
  reg: (reg: Reg): Item => insn(make.callx(reg)),
};

/** Loads. */
export const Ld = {
  /** `dst = *(width *)(src + off)` */
  mem: (dst: Reg, src: Reg, off: number, width: Width): Item => insn(make.ldx(WIDTH[width], dst, src, off)),
  /** `dst = *(s8|s16|s32 *)(src + off)` (cpu v4) */
  memSX: (dst: Reg, src: Reg, off: number, width: 'u8' | 'u16' | 'u32'): Item => insn(make.ldx(WIDTH[width], dst, src, off, true)),
  /** Legacy `r0 = *(width *)skb[imm]` */
  abs: (imm: number, width: 'u8' | 'u16' | 'u32'): Item => insn(make.ldPacket(WIDTH[width] as 1 | 2 | 4, undefined, imm)),
  /** Legacy `r0 = *(width *)skb[src + imm]` */
  ind: (src: Reg, imm: number, width: 'u8' | 'u16' | 'u32'): Item => insn(make.ldPacket(WIDTH[width] as 1 | 2 | 4, src, imm)),
};

/** Stores. */
export const St = {
  /** `*(width *)(dst + off) = src` */
  mem: (dst: Reg, off: number, src: Reg, width: Width): Item => insn(make.stx(WIDTH[width], dst, off, src)),
  /** `*(width *)(dst + off) = imm` */
  memImm: (dst: Reg, off: number, imm: number, width: Width): Item => insn(make.st(WIDTH[width], dst, off, imm)),
};

/** Atomic read-modify-write on `*(width *)(dst + off)` with `src`. */
export const Atomic = {
  add: (dst: Reg, off: number, src: Reg, width: 'u32' | 'u64', o: { fetch?: boolean } = {}) => atomic('add', dst, off, src, width, o.fetch ?? false),
  and: (dst: Reg, off: number, src: Reg, width: 'u32' | 'u64', o: { fetch?: boolean } = {}) => atomic('and', dst, off, src, width, o.fetch ?? false),
  or: (dst: Reg, off: number, src: Reg, width: 'u32' | 'u64', o: { fetch?: boolean } = {}) => atomic('or', dst, off, src, width, o.fetch ?? false),
  xor: (dst: Reg, off: number, src: Reg, width: 'u32' | 'u64', o: { fetch?: boolean } = {}) => atomic('xor', dst, off, src, width, o.fetch ?? false),
  /** `src = xchg(dst + off, src)` */
  xchg: (dst: Reg, off: number, src: Reg, width: 'u32' | 'u64') => atomic('xchg', dst, off, src, width, true),
  /** `r0 = cmpxchg(dst + off, r0, src)` */
  cmpxchg: (dst: Reg, off: number, src: Reg, width: 'u32' | 'u64') => atomic('cmpxchg', dst, off, src, width, true),
};

function atomic(name: AtomicName, dst: Reg, off: number, src: Reg, width: 'u32' | 'u64', fetch: boolean): Item {
  return insn(make.atomic(width === 'u32' ? 4 : 8, name, fetch, dst, off, src));
}

/** `dst = value ll` */
export const LdImm64 = (dst: Reg, value: bigint | number): Item => insn(lddw(dst, BigInt(value)));
/** `dst = map_fd(fd) ll` (`BPF_PSEUDO_MAP_FD`) */
export const LdMapFd = (dst: Reg, fd: number): Item => insn(lddw(dst, BigInt(fd), PseudoLd.MAP_FD));
/** `dst = map_value(fd, off) ll` (`BPF_PSEUDO_MAP_VALUE`): a pointer into an array map's value. */
export const LdMapValue = (dst: Reg, fd: number, off: number): Item =>
  insn({ ...lddw(dst, 0n, PseudoLd.MAP_VALUE), imm: fd, wide: { imm: off, head: 0 } });

/** Marks the position of the next instruction. */
export const label = (name: string): Item => ({ kind: 'label', name });

/**
 * Resolves labels and returns the instructions. Jump offsets count 8-byte slots from the next
 * instruction (an `lddw` counts two), as in the kernel.
 *
 * @throws TsbpfError `E_BUILDER_UNKNOWN_LABEL` / `E_BUILDER_DUPLICATE_LABEL`.
 */
export function program(...items: (Item | Item[])[]): Insn[] {
  const flat = items.flat();
  const labels = new Map<string, number>();
  let slot = 0;
  for (const it of flat) {
    if (it.kind === 'label') {
      if (labels.has(it.name)) throw new TsbpfError('E_BUILDER_DUPLICATE_LABEL', `label '${it.name}' is defined twice`);
      labels.set(it.name, slot);
    } else {
      slot += it.insn.wide ? 2 : 1;
    }
  }
  const out: Insn[] = [];
  slot = 0;
  for (const it of flat) {
    if (it.kind === 'label') continue;
    let i = it.insn;
    if (it.target) {
      const to = labels.get(it.target.label);
      if (to === undefined) throw new TsbpfError('E_BUILDER_UNKNOWN_LABEL', `unknown label '${it.target.label}'`);
      i = { ...i, [it.target.field]: to - (slot + 1) };
    }
    out.push(i);
    slot += i.wide ? 2 : 1;
  }
  return out;
}
