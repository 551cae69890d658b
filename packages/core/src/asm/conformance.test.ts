import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConformanceData, type ConformanceTest } from '../conformance.js';
import { disassembleLlvm } from '../disasm/llvm.js';
import { disassembleUbpf } from '../disasm/ubpf.js';
import { encode } from '../isa/insn.js';
import { hasShared, sharedPath } from '../test-support/shared.js';
import { llvmAssemble, llvmMc } from '../test-support/llvm.js';
import { assembleLlvm } from './llvm.js';
import { assembleUbpf } from './ubpf.js';

const present = hasShared('conformance', 'tests');
const tests: ConformanceTest[] = present
  ? readdirSync(sharedPath('conformance', 'tests'))
      .filter((f) => f.endsWith('.data'))
      .sort()
      .map((f) => parseConformanceData(readFileSync(sharedPath('conformance', 'tests', f), 'utf8'), f))
  : [];

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe.runIf(present)('the bpf_conformance suite', () => {
  it('has 313 programs and every one assembles', () => {
    expect(tests).toHaveLength(313);
    for (const t of tests) expect(t.program().length, t.name).toBeGreaterThan(0);
  });

  it('round-trips through both disassemblers and assemblers, with and without labels', () => {
    for (const t of tests) {
      const bytes = hex(encode(t.program()));
      for (const labels of [false, true]) {
        expect(hex(encode(assembleUbpf(disassembleUbpf(t.program(), { labels })).insns)), `${t.name} ubpf`).toBe(bytes);
        expect(hex(encode(assembleLlvm(disassembleLlvm(t.program(), { labels })).insns)), `${t.name} llvm`).toBe(bytes);
      }
    }
  });

  // The independent check: our bytes for each program equal what llvm-mc makes of the same
  // program printed in LLVM syntax by our disassembler.
  it.runIf(llvmMc)('assembles every program to the bytes llvm-mc -mcpu=v4 produces', () => {
    const mismatches: string[] = [];
    let compared = 0;
    for (const t of tests) {
      const insns = t.program();
      const ours = encode(insns);
      const theirs = llvmAssemble(disassembleLlvm(insns, { labels: true }));
      // llvm-mc has no syntax for a bpf-to-bpf call (src_reg = BPF_PSEUDO_CALL): in an object file
      // the linker (libbpf) sets it. It emits the same relative offset with src_reg 0.
      const normalized = Uint8Array.from(theirs);
      insns.forEach((insn, i) => {
        if (insn.op === 0x85 && insn.src === 1) {
          const at = encode(insns.slice(0, i)).length;
          normalized[at + 1] |= 0x10;
        }
      });
      compared++;
      if (hex(normalized) !== hex(ours)) mismatches.push(`${t.name}: ours ${hex(ours)} llvm ${hex(theirs)}`);
    }
    expect(mismatches).toEqual([]);
    expect(compared).toBe(313);
  });
});
