import { afterAll, describe, expect, it } from 'vitest';
import { RuntimeError, type Insn } from '@tsbpf/core';
import { InterpBackend } from '@tsbpf/interp';
import { KernelOracle, probe } from '@tsbpf/kernel';
import { randomProgram } from '@tsbpf/testkit';
import { JitBackend } from './backend.js';

const kernel = probe();
if (!kernel.ok) console.log(`jit-wasm differential against the kernel skipped (interp and jit-wasm still compared): ${kernel.reason}`);

/** r0, or the error code, of a run. */
function outcome(run: () => { r0: bigint }): string {
  try {
    return `0x${run().r0.toString(16)}`;
  } catch (e) {
    if (e instanceof RuntimeError) return e.code;
    throw e;
  }
}

describe('jit-wasm against the interpreter and the kernel (differential)', () => {
  let oracle: KernelOracle | undefined;
  afterAll(() => oracle?.close());

  it('gives the same r0 as the interpreter and the kernel for >= 10,000 generated programs', () => {
    if (kernel.ok) oracle = new KernelOracle();
    const interp = new InterpBackend();
    let jit = new JitBackend();
    let compared = 0;
    let withKernel = 0;
    let rejected = 0;
    const diffs: string[] = [];
    const check = (seed: number, prog: Insn[], label: string) => {
      let k: string | undefined;
      if (oracle) {
        const r = oracle.run(prog);
        if (!r.accepted) {
          rejected++;
          return;
        }
        k = `0x${r.r0.toString(16)}`;
        withKernel++;
      }
      const i = outcome(() => interp.runRaw(prog, new Uint8Array()));
      const j = outcome(() => jit.runRaw(prog, new Uint8Array()));
      compared++;
      if ((i !== j || (k !== undefined && k !== j)) && diffs.length < 5) diffs.push(`${label} seed ${seed}: jit ${j}, interp ${i}, kernel ${k ?? '-'}`);
    };
    for (let seed = 1; compared < 10_000; seed++) {
      // Half registers only, half with the stack, atomics and a bpf-to-bpf call.
      check(seed, randomProgram(seed, { memory: seed % 2 === 0 }), seed % 2 === 0 ? 'memory' : 'alu');
      // A fresh backend now and then, so the compiled modules of earlier programs can be collected.
      if (seed % 2000 === 0) jit = new JitBackend();
    }
    console.log(`jit-wasm differential: ${compared} programs, jit-wasm = interp on all but ${diffs.length}; ${withKernel} also run on the kernel (${rejected} rejected by its verifier)`);
    expect(diffs).toEqual([]);
    if (oracle) {
      expect(withKernel).toBeGreaterThanOrEqual(10_000);
      expect(rejected).toBeLessThan(compared / 10);
    }
  });
});
