import { classify, imm64, type Insn, type InsnForm } from '../isa/insn.js';
import { PseudoLd } from '../isa/opcodes.js';
import { disassembleWith, signed, unprintableReason, type DisasmOptions } from './common.js';

const COMPOUND: Record<string, string> = {
  add: '+=', sub: '-=', mul: '*=', div: '/=', sdiv: 's/=', mod: '%=', smod: 's%=', or: '|=',
  and: '&=', xor: '^=', lsh: '<<=', rsh: '>>=', arsh: 's>>=',
};
const CONDS: Record<string, string> = {
  jeq: '==', jne: '!=', jgt: '>', jge: '>=', jlt: '<', jle: '<=', jsgt: 's>', jsge: 's>=',
  jslt: 's<', jsle: 's<=', jset: '&',
};
const LOCK_OPS: Record<string, string> = { add: '+=', and: '&=', or: '|=', xor: '^=' };
const PSEUDO_NAMES: Record<number, string> = {
  [PseudoLd.MAP_FD]: 'map_fd', [PseudoLd.MAP_VALUE]: 'map_value', [PseudoLd.BTF_ID]: 'btf_id',
  [PseudoLd.FUNC]: 'func', [PseudoLd.MAP_IDX]: 'map_idx', [PseudoLd.MAP_IDX_VALUE]: 'map_idx_value',
};

/** Options of {@link disassembleLlvm}. */
export interface LlvmDisasmOptions extends DisasmOptions {
  /** Print `call bpf_map_lookup_elem` instead of `call 1` (llvm-mc knows no helper names). */
  helperNames?: (id: number) => string | undefined;
}

function addr(reg: number, off: number): string {
  return `(r${reg} ${off < 0 ? '-' : '+'} ${Math.abs(off)})`;
}

function lddwConst(insn: Insn): string {
  const v = BigInt.asUintN(64, imm64(insn));
  return v < 10n ? `${v}` : `0x${v.toString(16)}`;
}

function formatForm(insn: Insn, form: InsnForm, target: string | undefined, options: LlvmDisasmOptions): string | undefined {
  const { dst, src, off, imm } = insn;
  switch (form.kind) {
    case 'alu': {
      const p = form.is64 ? 'r' : 'w';
      const rhs = form.useImm ? `${imm}` : `${p}${src}`;
      if (form.name === 'neg') return `${p}${dst} = -${p}${dst}`;
      if (form.name === 'mov') return `${p}${dst} = ${rhs}`;
      if (form.name === 'movsx') return `${p}${dst} = (s${form.extBits})${p}${src}`;
      return `${p}${dst} ${COMPOUND[form.name]} ${rhs}`;
    }
    case 'end':
      return `r${dst} = ${form.to === 'swap' ? 'bswap' : form.to}${form.bits} r${dst}`;
    case 'addr_space_cast':
      return `r${dst} = addr_space_cast(r${src}, ${imm >>> 16}, ${imm & 0xffff})`;
    case 'ja':
      return `${form.long ? 'gotol' : 'goto'} ${target ?? signed(form.long ? imm : off)}`;
    case 'may_goto':
      return `may_goto ${target ?? signed(off)}`;
    case 'jcond': {
      const p = form.is32 ? 'w' : 'r';
      const rhs = form.useImm ? `${imm}` : `${p}${src}`;
      return `if ${p}${dst} ${CONDS[form.name]} ${rhs} goto ${target ?? signed(off)}`;
    }
    case 'call':
      if (form.target === 'local') return `call ${target ?? `pc${signed(imm)}`}`;
      if (form.target === 'kfunc') return `call kfunc(${imm})`;
      return `call ${options.helperNames?.(imm) ?? imm}`;
    case 'callx':
      return `callx r${dst}`;
    case 'exit':
      return 'exit';
    case 'lddw':
      if (form.pseudo === PseudoLd.IMM) return `r${dst} = ${lddwConst(insn)} ll`;
      if (form.pseudo === PseudoLd.MAP_VALUE || form.pseudo === PseudoLd.MAP_IDX_VALUE) {
        return `r${dst} = ${PSEUDO_NAMES[form.pseudo]}(${imm}, ${insn.wide?.imm ?? 0}) ll`;
      }
      // A pseudo form with a nonzero upper half has no text form; keep its bytes.
      if ((insn.wide?.imm ?? 0) !== 0) return undefined;
      return `r${dst} = ${PSEUDO_NAMES[form.pseudo]}(${imm}) ll`;
    case 'ld_abs':
      return `r0 = *(u${form.size * 8} *)skb[${imm}]`;
    case 'ld_ind':
      return `r0 = *(u${form.size * 8} *)skb[r${src}${imm === 0 ? '' : imm < 0 ? ` - ${-imm}` : ` + ${imm}`}]`;
    case 'ldx':
      return `r${dst} = *(${form.signed ? 's' : 'u'}${form.size * 8} *)${addr(src, off)}`;
    case 'st':
      return `*(u${form.size * 8} *)${addr(dst, off)} = ${imm}`;
    case 'stx':
      return `*(u${form.size * 8} *)${addr(dst, off)} = r${src}`;
    case 'atomic': {
      const p = form.size === 8 ? 'r' : 'w';
      const ty = `u${form.size * 8}`;
      if (form.name === 'xchg') return `${p}${src} = ${form.size === 8 ? 'xchg_64' : 'xchg32_32'}(r${dst} ${off < 0 ? '-' : '+'} ${Math.abs(off)}, ${p}${src})`;
      if (form.name === 'cmpxchg') return `${p}0 = ${form.size === 8 ? 'cmpxchg_64' : 'cmpxchg32_32'}(r${dst} ${off < 0 ? '-' : '+'} ${Math.abs(off)}, ${p}0, ${p}${src})`;
      if (form.fetch) return `${p}${src} = atomic_fetch_${form.name}((${ty} *)${addr(dst, off)}, ${p}${src})`;
      return `lock *(${ty} *)${addr(dst, off)} ${LOCK_OPS[form.name]} ${p}${src}`;
    }
  }
}

/**
 * Prints one instruction in LLVM syntax, or `undefined` when it has no text form that assembles
 * back to the same bytes (unknown opcode, reserved field set).
 *
 * @example
 * ```ts
 * formatInsnLlvm({ op: 0x61, dst: 0, src: 1, off: 4, imm: 0 }); // 'r0 = *(u32 *)(r1 + 4)'
 * ```
 */
export function formatInsnLlvm(insn: Insn, options: LlvmDisasmOptions = {}): string | undefined {
  const form = classify(insn);
  if (unprintableReason(insn, form)) return undefined;
  return formatForm(insn, form!, undefined, options);
}

/**
 * Disassembles into LLVM / kernel syntax that `llvm-mc -triple=bpfel -mcpu=v4` (and
 * {@link assembleLlvm}) read back to the same bytes. Slots that are not instructions print as
 * `.quad` with a comment saying why.
 *
 * @example
 * ```ts
 * disassembleLlvm(assembleLlvm('r0 = 1\nexit').insns); // '  r0 = 1\n  exit\n'
 * ```
 */
export function disassembleLlvm(insns: readonly Insn[], options: LlvmDisasmOptions = {}): string {
  return disassembleWith(insns, (insn, form, target) => formatForm(insn, form, target, options), options, '#');
}
