import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assembleLlvm, decode } from '@tsbpf/core';
import { hasShared, sharedPath } from '@tsbpf/testkit';
import { checkStructure } from './structure.js';

describe('structural checks (the kernel\'s check_subprogs / check_cfg, in its words)', () => {
  it.each([
    ['r0 = 0\ngoto +1\nexit', 'jump out of range from insn 1 to 3'],
    ['r0 = 0\ngoto +1\nr0 = 1\nexit', 'unreachable insn 2'],
    ['r0 = 0', 'last insn is not an exit or jmp'],
    // check_subprogs runs before the lddw checks: a lone first slot ends the program badly
    ['.quad 0x0000000000000018\n', 'last insn is not an exit or jmp'],
  ])('%j -> %s', (src, message) => {
    expect(checkStructure(assembleLlvm(src).insns)?.message).toBe(message);
  });

  it('accepts well-formed programs with subprograms and loops', () => {
    expect(checkStructure(assembleLlvm('r1 = 3\nl:\nr1 -= 1\nif r1 != 0 goto l\ncall f\nexit\nf:\nr0 = 0\nexit').insns)).toBeUndefined();
  });

  // Against the kernel's verdicts: never a structural rejection of a program the kernel accepts,
  // and where the kernel's first error is structural, the same words.
  it.runIf(hasShared('verifier-corpus', 'corpus.jsonl'))('agrees with the kernel on the verifier corpus', () => {
    let ours = 0;
    let same = 0;
    const wrong: string[] = [];
    for (const line of readFileSync(sharedPath('verifier-corpus', 'corpus.jsonl'), 'utf8').trim().split('\n')) {
      const e = JSON.parse(line) as { id: string; insns_hex: string; kernel?: { result?: string; first_error_line?: string } };
      const err = checkStructure(decode(Uint8Array.from(Buffer.from(e.insns_hex, 'hex'))));
      if (!err) continue;
      ours++;
      if (e.kernel?.result !== 'reject') wrong.push(`${e.id}: we reject (${err.message}), the kernel accepts`);
      else if (e.kernel.first_error_line === err.message) same++;
      else if (/unreachable insn|jump out of range|last insn is not|invalid bpf_ld_imm64/.test(e.kernel.first_error_line ?? '')) {
        wrong.push(`${e.id}: ours '${err.message}', kernel '${e.kernel.first_error_line}'`);
      }
    }
    console.log(`structural checks: ${ours} corpus programs rejected, ${same} with the kernel's exact first error line`);
    expect(wrong).toEqual([]);
    expect(same).toBeGreaterThanOrEqual(20);
  });
});
