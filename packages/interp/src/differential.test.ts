import { describe, expect, it, afterAll } from 'vitest';
import { lddw, make, type AluName, type Insn, type JmpName } from '@tsbpf/core';
import { KernelOracle, probe } from '@tsbpf/kernel';
import { InterpBackend } from './backend.js';

const kernel = probe();
if (!kernel.ok) console.log(`interpreter differential test skipped: ${kernel.reason}`);

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

/**
 * A random program the kernel verifier accepts: every register set from a random 64-bit value,
 * then ALU64/ALU32 operations (register and immediate, edge values included) with forward
 * conditional jumps (JMP and JMP32) and one bounded loop, and all registers folded into r0.
 */
export function randomProgram(seed: number): Insn[] {
  const r = rng(seed);
  const imm = () => (r.int(3) === 0 ? r.pick(EDGE) : r.next() | 0);
  const out: Insn[] = [];
  for (let reg = 0; reg <= 9; reg++) out.push(lddw(reg, (BigInt(r.next()) << 32n) | BigInt(r.next())));
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
  for (let i = 0; i < len; i++) body.push(aluInsn());
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
  for (let reg = 1; reg <= 9; reg++) out.push(make.alu('xor', true, 0, reg));
  out.push(make.exit());
  return out;
}

describe.skipIf(!kernel.ok)('interpreter against the kernel (differential)', () => {
  // Created in the test, not while collecting: describe.skipIf still runs this body.
  let oracle: KernelOracle | undefined;
  const interp = new InterpBackend();
  afterAll(() => oracle?.close());

  it('gives the kernel\'s r0 for >= 10,000 generated programs', () => {
    const o = (oracle = new KernelOracle());
    let compared = 0;
    let rejected = 0;
    const diffs: string[] = [];
    for (let seed = 1; compared < 10_000; seed++) {
      const prog = randomProgram(seed);
      const k = o.run(prog);
      if (!k.accepted) {
        rejected++;
        continue;
      }
      const ours = interp.runRaw(prog, new Uint8Array()).r0;
      compared++;
      if (ours !== k.r0 && diffs.length < 5) diffs.push(`seed ${seed}: interp 0x${ours.toString(16)}, kernel 0x${k.r0.toString(16)}`);
    }
    console.log(`interpreter differential: ${compared} programs compared with the kernel (${rejected} rejected by its verifier), ${diffs.length} differences`);
    expect(diffs).toEqual([]);
    expect(rejected).toBeLessThan(compared / 10);
  });
});
