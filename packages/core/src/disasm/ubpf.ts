import { classify, imm64, type Insn, type InsnForm } from '../isa/insn.js';
import { PseudoLd } from '../isa/opcodes.js';
import { disassembleWith, signed, unprintableReason, type DisasmOptions } from './common.js';

const SIZE_SUFFIX: Record<number, string> = { 1: 'b', 2: 'h', 4: 'w', 8: 'dw' };

function mem(reg: number, off: number): string {
  return off === 0 ? `[%r${reg}]` : `[%r${reg}${off < 0 ? '-' : '+'}${Math.abs(off)}]`;
}

function formatForm(insn: Insn, form: InsnForm, target: string | undefined): string | undefined {
  const { dst, src, off, imm } = insn;
  switch (form.kind) {
    case 'alu': {
      const sfx = form.is64 ? '' : '32';
      if (form.name === 'neg') return `neg${sfx} %r${dst}`;
      if (form.name === 'movsx') return `movsx${form.extBits}${form.is64 ? '64' : '32'} %r${dst}, %r${src}`;
      return `${form.name}${sfx} %r${dst}, ${form.useImm ? imm : `%r${src}`}`;
    }
    case 'end':
      return `${form.to === 'swap' ? 'bswap' : form.to}${form.bits} %r${dst}`;
    case 'ja':
      return `${form.long ? 'ja32' : 'ja'} ${target ?? signed(form.long ? imm : off)}`;
    case 'jcond':
      return `${form.name}${form.is32 ? '32' : ''} %r${dst}, ${form.useImm ? imm : `%r${src}`}, ${target ?? signed(off)}`;
    case 'call':
      if (form.target === 'local') return `call local ${target ?? signed(imm)}`;
      if (form.target === 'helper') return `call ${imm}`;
      return `call runtime ${imm}`; // kfunc, as bpf_conformance spells it
    case 'callx':
      return `call %r${dst}`;
    case 'exit':
      return 'exit';
    case 'lddw':
      if (form.pseudo !== PseudoLd.IMM) return undefined;
      return `lddw %r${dst}, 0x${BigInt.asUintN(64, imm64(insn)).toString(16)}`;
    case 'ld_abs':
      return `ldabs${SIZE_SUFFIX[form.size]} ${imm}`;
    case 'ld_ind':
      return `ldind${SIZE_SUFFIX[form.size]} %r${src}, ${imm}`;
    case 'ldx':
      return `ldx${form.signed ? 's' : ''}${SIZE_SUFFIX[form.size]} %r${dst}, ${mem(src, off)}`;
    case 'st':
      return `st${SIZE_SUFFIX[form.size]} ${mem(dst, off)}, ${imm}`;
    case 'stx':
      return `stx${SIZE_SUFFIX[form.size]} ${mem(dst, off)}, %r${src}`;
    case 'atomic': {
      const fetch = form.fetch && (form.name === 'add' || form.name === 'and' || form.name === 'or' || form.name === 'xor');
      return `lock ${fetch ? 'fetch ' : ''}${form.name}${form.size === 4 ? '32' : ''} ${mem(dst, off)}, %r${src}`;
    }
    // No uBPF spelling: printed as raw slots.
    case 'may_goto':
    case 'addr_space_cast':
      return undefined;
  }
}

/**
 * Prints one instruction in uBPF syntax, or `undefined` when that syntax cannot express it
 * (unknown opcodes, reserved or unused fields set, registers above r10, and kernel-only forms
 * such as `may_goto`, `addr_space_cast` or pseudo `lddw`); {@link disassembleUbpf} prints those
 * as `.quad` lines. Jump and local-call targets are printed as `+N` / `-N` slots.
 *
 * @example
 * ```ts
 * formatInsnUbpf({ op: 0x61, dst: 0, src: 1, off: 4, imm: 0 }); // 'ldxw %r0, [%r1+4]'
 * ```
 */
export function formatInsnUbpf(insn: Insn): string | undefined {
  const form = classify(insn);
  if (unprintableReason(insn, form)) return undefined;
  return formatForm(insn, form!, undefined);
}

/**
 * Disassembles into the uBPF / bpf_conformance syntax, which {@link assembleUbpf} reads back to
 * the same bytes. What the syntax cannot express prints as `.quad` with a comment saying why.
 *
 * @example
 * ```ts
 * disassembleUbpf(assembleUbpf('mov %r0, 1\nexit').insns); // '  mov %r0, 1\n  exit\n'
 * ```
 */
export function disassembleUbpf(insns: readonly Insn[], options: DisasmOptions = {}): string {
  return disassembleWith(insns, formatForm, options, '#');
}
