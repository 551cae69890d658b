import { AsmError, type AsmErrorCode, type SourcePosition } from '../errors.js';
import type { Insn } from '../isa/insn.js';

/** The result of assembling source text. */
export interface AssembledProgram {
  /** The instructions, `lddw` as one entry of two slots. */
  insns: Insn[];
  /** Label name -> slot index it names. */
  labels: Map<string, number>;
  /** 1-based source line of each instruction (same indexes as `insns`). */
  lines: number[];
}

/** Which field of an instruction a label reference fills. */
export type LabelField = 'off' | 'imm';

interface Pending {
  insn: Insn;
  line: number;
  ref?: { name: string; field: LabelField; pos: SourcePosition };
}

/**
 * Collects instructions and labels while a parser walks the source, then resolves label
 * references into slot-relative offsets (`target - (pc + 1)`, as eBPF jumps count).
 */
export class AsmBuilder {
  private readonly pending: Pending[] = [];
  private readonly labels = new Map<string, number>();
  private readonly labelPos = new Map<string, SourcePosition>();
  private slot = 0;

  constructor(private readonly sourceLines: readonly string[]) {}

  /** The slot index the next instruction will occupy. */
  get nextSlot(): number {
    return this.slot;
  }

  /**
   * Defines `name` at the current position, or at an earlier `slot` (uBPF's implicit `exit`
   * label, placed once the whole source has shown that no explicit `exit:` exists).
   */
  label(name: string, pos: SourcePosition, slot: number = this.slot): void {
    if (this.labels.has(name)) {
      const first = this.labelPos.get(name)!;
      this.fail('E_ASM_DUPLICATE_LABEL', `label '${name}' is already defined at line ${first.line}`, pos);
    }
    this.labels.set(name, slot);
    this.labelPos.set(name, pos);
  }

  /** Whether `name` is defined so far. */
  hasLabel(name: string): boolean {
    return this.labels.has(name);
  }

  /** Defines `name` at the current position unless it already exists (uBPF's implicit `exit`). */
  labelIfAbsent(name: string, pos: SourcePosition): void {
    if (!this.labels.has(name)) this.label(name, pos);
  }

  /** Appends an instruction; `ref` names a label whose relative offset goes into `field`. */
  emit(insn: Insn, line: number, ref?: { name: string; field: LabelField; pos: SourcePosition }): void {
    this.pending.push({ insn, line, ref });
    this.slot += insn.wide ? 2 : 1;
  }

  /** Throws an {@link AsmError} at `pos`, quoting the source line. */
  fail(code: AsmErrorCode, message: string, pos: SourcePosition): never {
    throw new AsmError(code, message, pos, this.sourceLines[pos.line - 1] ?? '');
  }

  /** Resolves label references and returns the program. */
  finish(): AssembledProgram {
    const insns: Insn[] = [];
    const lines: number[] = [];
    let slot = 0;
    for (const p of this.pending) {
      let insn = p.insn;
      if (p.ref) {
        const target = this.labels.get(p.ref.name);
        if (target === undefined) this.fail('E_ASM_UNKNOWN_LABEL', `unknown label '${p.ref.name}'`, p.ref.pos);
        const rel = target - (slot + 1);
        if (p.ref.field === 'off' && (rel < -32768 || rel > 32767)) {
          this.fail('E_ASM_RANGE', `jump to '${p.ref.name}' is ${rel} slots away, beyond the 16-bit offset (use gotol)`, p.ref.pos);
        }
        insn = { ...insn, [p.ref.field]: rel };
      }
      insns.push(insn);
      lines.push(p.line);
      slot += insn.wide ? 2 : 1;
    }
    return { insns, labels: new Map(this.labels), lines };
  }
}

/**
 * Parses an integer literal: decimal, `0x` hex, `0b` binary or `0o`/leading-`0` octal, with an
 * optional sign. Returns a bigint so 64-bit constants survive; `undefined` if it is not a number.
 */
export function parseIntegerLiteral(text: string): bigint | undefined {
  const m = /^([+-]?)\s*(0x[0-9a-f]+|0b[01]+|0o[0-7]+|0[0-7]+|[0-9]+)$/i.exec(text.trim());
  if (!m) return undefined;
  let body = m[2].toLowerCase();
  if (/^0[0-7]+$/.test(body)) body = '0o' + body.slice(1);
  const v = BigInt(body);
  return m[1] === '-' ? -v : v;
}

/**
 * Checks that `v` fits `bits` bits, as a signed or an unsigned value (both are accepted: `0xffffffff`
 * and `-1` are the same 32-bit immediate), and returns it as a signed number of that width.
 */
export function fitSigned(
  v: bigint,
  bits: 16 | 32,
  pos: SourcePosition,
  builder: AsmBuilder,
  what: string,
): number {
  const min = -(1n << BigInt(bits - 1));
  const max = (1n << BigInt(bits)) - 1n;
  if (v < min || v > max) {
    builder.fail('E_ASM_RANGE', `${what} ${v} does not fit in ${bits} bits (expected ${min}..${max})`, pos);
  }
  return Number(BigInt.asIntN(bits, v));
}

/** Checks that `v` fits 64 bits, signed or unsigned. */
export function fit64(v: bigint, pos: SourcePosition, builder: AsmBuilder): bigint {
  if (v < -(1n << 63n) || v > (1n << 64n) - 1n) {
    builder.fail('E_ASM_RANGE', `constant ${v} does not fit in 64 bits`, pos);
  }
  return BigInt.asUintN(64, v);
}
