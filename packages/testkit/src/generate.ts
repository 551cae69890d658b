import { lddw, make, type AccessSize, type AluName, type AtomicName, type Insn, type JmpName } from '@tsbpf/core';

/** xorshift32: deterministic programs for every run. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
  return { next, int: (n: number) => next() % n, pick: <T>(a: readonly T[]) => a[next() % a.length] };
}

const EDGE = [0, 1, -1, 2, 7, 0x7fffffff, -0x80000000, 0x12345678, -2, 255, 65535, 31, 32, 63];
const ALU: AluName[] = ['add', 'sub', 'mul', 'div', 'sdiv', 'mod', 'smod', 'or', 'and', 'xor', 'lsh', 'rsh', 'arsh', 'mov', 'neg', 'movsx'];
const JMP: JmpName[] = ['jeq', 'jne', 'jgt', 'jge', 'jlt', 'jle', 'jsgt', 'jsge', 'jslt', 'jsle', 'jset'];
const ATOMIC: AtomicName[] = ['add', 'or', 'and', 'xor', 'xchg', 'cmpxchg'];
/** Stack slots the prologue initializes (r10 - 8 .. r10 - 64), so every later read is defined. */
const SLOTS = 8;

/** Options of {@link randomProgram}. */
export interface RandomProgramOptions {
  /**
   * Also use the stack (stores, loads of every size, sign-extending loads, atomics) and a
   * bpf-to-bpf call. Off, the program is registers only (the interpreter's original generator).
   */
  memory?: boolean;
}

/**
 * A random program the kernel verifier accepts: every register set from a random 64-bit value,
 * then ALU64/ALU32 operations (register and immediate, edge values included) with forward
 * conditional jumps (JMP and JMP32) and one bounded loop, and all registers folded into r0.
 * With `memory`, the program also stores to, loads from and atomically updates 8 stack slots
 * (initialized first, so no read sees undefined bytes) and calls a subprogram that mixes its
 * arguments.
 */
export function randomProgram(seed: number, opts: RandomProgramOptions = {}): Insn[] {
  const r = rng(seed);
  const imm = () => (r.int(3) === 0 ? r.pick(EDGE) : r.next() | 0);
  const out: Insn[] = [];
  for (let reg = 0; reg <= 9; reg++) out.push(lddw(reg, (BigInt(r.next()) << 32n) | BigInt(r.next())));
  if (opts.memory) for (let k = 1; k <= SLOTS; k++) out.push(make.stx(8, 10, -8 * k, r.int(10)));
  const body: Insn[] = [];
  const len = 20 + r.int(40);
  const aluInsn = (): Insn => {
    const name = r.pick(ALU);
    const is64 = r.int(2) === 0;
    const d = r.int(9); // r9 is the loop counter
    const s = r.int(10);
    if (name === 'neg') return make.alu('neg', is64, d, undefined);
    if (name === 'movsx') return make.alu('movsx', is64, d, s, 0, is64 ? r.pick([8, 16, 32] as const) : r.pick([8, 16] as const));
    if (r.int(6) === 0) return make.end(r.pick(['le', 'be', 'swap'] as const), r.pick([16, 32, 64] as const), d);
    const useImm = r.int(2) === 0;
    if (!useImm) return make.alu(name, is64, d, s);
    let k = imm();
    if (name === 'lsh' || name === 'rsh' || name === 'arsh') k = r.int(is64 ? 64 : 32); // the verifier refuses larger shift immediates
    if ((name === 'div' || name === 'sdiv' || name === 'mod' || name === 'smod') && k === 0) k = 3; // and a division by an immediate 0
    return make.alu(name, is64, d, undefined, k);
  };
  const memInsn = (): Insn => {
    const size = r.pick([1, 2, 4, 8] as const) as AccessSize;
    // An offset inside the initialized slots, aligned to the access size.
    const off = -8 * (1 + r.int(SLOTS)) + size * r.int(8 / size);
    const d = r.int(9);
    switch (r.int(5)) {
      case 0: return make.stx(size, 10, off, r.int(10));
      case 1: return make.st(size, 10, off, imm());
      case 2: return make.ldx(size, d, 10, off, size !== 8 && r.int(2) === 0);
      case 3: return make.ldx(size, d, 10, off);
      default: {
        const asize = r.pick([4, 8] as const);
        const name = r.pick(ATOMIC);
        const aoff = -8 * (1 + r.int(SLOTS)) + (asize === 4 ? 4 * r.int(2) : 0);
        // cmpxchg compares with r0 and writes r0: keep r0 out of the source.
        return make.atomic(asize, name, name === 'xchg' || name === 'cmpxchg' || r.int(2) === 0, 10, aoff, name === 'cmpxchg' ? 1 + r.int(8) : r.int(9));
      }
    }
  };
  for (let i = 0; i < len; i++) {
    const insn = opts.memory && r.int(4) === 0 ? memInsn() : aluInsn();
    body.push(insn);
    // RFC 9669: a 32-bit cmpxchg zero-extends r0. Linux 6.18's x86-64 JIT relies on the verifier
    // to add that zero-extension and, on some pruned paths, does not (r0 keeps its upper half;
    // seed 4156 of this generator without this line). An explicit `w0 = w0` keeps the programs
    // on what the specification defines.
    if (insn.op === 0xc3 && insn.imm === 0xf1) body.push(make.alu('mov', false, 0, 0));
  }
  // Forward conditional jumps (and an unconditional one) to later instructions of the body.
  const jumps = 3 + r.int(6);
  for (let j = 0; j < jumps; j++) {
    const at = r.int(body.length);
    const dist = r.int(Math.max(1, body.length - at));
    const d = r.int(10);
    // An unconditional jump may only skip nothing: the verifier refuses unreachable instructions.
    const insn = r.int(8) === 0
      ? make.ja(0)
      : r.int(2) === 0
        ? make.jcond(r.pick(JMP), r.int(2) === 0, d, undefined, imm(), dist)
        : make.jcond(r.pick(JMP), r.int(2) === 0, d, r.int(10), 0, dist);
    body.splice(at, 0, insn);
  }
  // A bounded loop: r9 counts down from 1..8 around a straight-line block.
  const loopBody = Array.from({ length: 3 + r.int(5) }, aluInsn);
  out.push(make.alu('mov', true, 9, undefined, 1 + r.int(8)));
  out.push(...loopBody);
  out.push(make.alu('sub', true, 9, undefined, 1));
  out.push(make.jcond('jne', false, 9, undefined, 0, -(loopBody.length + 2)));
  out.push(...body);
  if (opts.memory) {
    // Fold the stack into r0, then call a subprogram with r1..r5 and mix its result in.
    for (let k = 1; k <= SLOTS; k++) {
      out.push(make.ldx(8, 1, 10, -8 * k));
      out.push(make.alu('xor', true, 0, 1));
    }
    for (let reg = 1; reg <= 5; reg++) out.push(make.alu('mov', true, reg, 5 + reg <= 9 ? 5 + reg : 0));
    out.push(make.alu('mov', true, 6, 0));
    out.push(make.call('local', 0)); // patched below: the subprogram follows the main function's exit
    const callAt = out.length - 1;
    out.push(make.alu('xor', true, 0, 6));
    for (let reg = 7; reg <= 9; reg++) out.push(make.alu('xor', true, 0, reg));
    out.push(make.exit());
    // The subprogram: r0 = f(r1..r5) with its own stack slot, straight-line.
    const sub: Insn[] = [make.stx(8, 10, -8, 1), make.alu('mov', true, 0, 2)];
    for (let i = 0; i < 4 + r.int(6); i++) {
      const name = r.pick(['add', 'sub', 'mul', 'xor', 'or', 'and', 'lsh', 'rsh', 'arsh'] as const);
      const s = 1 + r.int(5);
      sub.push(name === 'lsh' || name === 'rsh' || name === 'arsh' ? make.alu(name, r.int(2) === 0, 0, undefined, r.int(32)) : make.alu(name, r.int(2) === 0, 0, s));
    }
    sub.push(make.ldx(8, 1, 10, -8), make.alu('add', true, 0, 1), make.exit());
    const callSlot = slotOf(out, callAt);
    out[callAt] = make.call('local', slotOf(out, out.length) - callSlot - 1);
    out.push(...sub);
    return out;
  }
  for (let reg = 1; reg <= 9; reg++) out.push(make.alu('xor', true, 0, reg));
  out.push(make.exit());
  return out;
}

/** The slot index of instruction `i` (lddw takes two). */
function slotOf(insns: readonly Insn[], i: number): number {
  let s = 0;
  for (let k = 0; k < i; k++) s += insns[k].wide ? 2 : 1;
  return s;
}
