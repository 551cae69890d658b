import { describe, expect, it } from 'vitest';
import type { Insn } from '@tsbpf/core';
import { loadConformanceSuite } from './shared.js';

/** What a backend under test made of one program. */
export type SuiteResult = { accepted: true; r0: bigint } | { accepted: false; error: string };

/** A backend as the suite sees it: run a uBPF-convention program (r1 = mem, r2 = length). */
export interface SuiteBackend {
  name: string;
  /** Why this backend cannot run here (printed, and the suite skips), or `undefined`. */
  skipReason(): string | undefined;
  run(insns: readonly Insn[], mem: Uint8Array): SuiteResult;
  /**
   * Programs this backend is known to treat differently, with the reason. They are reported and
   * checked to still differ (so a fixed difference is noticed), never hidden.
   */
  expectedDifferences?: Record<string, string>;
  /** Releases the backend after the suite. */
  close?(): void;
}

/**
 * The backend test suite: the 313 bpf_conformance programs, each run once with its input memory,
 * r0 compared with the expected value. Prints a per-test report and a summary line.
 */
export function describeBackendSuite(backend: SuiteBackend): void {
  const tests = loadConformanceSuite();
  const skip = tests.length === 0 ? '../shared/conformance is not present' : backend.skipReason();
  describe(`backend suite on ${backend.name}`, () => {
    if (skip) {
      console.log(`skipping the backend suite on ${backend.name}: ${skip}`);
      it.skip(`313 conformance programs (${skip})`, () => {});
      return;
    }
    it(`runs the ${tests.length} bpf_conformance programs`, () => {
      const expected = backend.expectedDifferences ?? {};
      const report: string[] = [];
      let passed = 0;
      const unexpected: string[] = [];
      const stillDiffer: string[] = [];
      try {
        for (const t of tests) {
          const r = backend.run(t.program(), t.mem);
          const ok = r.accepted && r.r0 === t.result;
          const outcome = ok ? 'PASS' : r.accepted ? `WRONG r0=0x${r.r0.toString(16)} expected 0x${t.result!.toString(16)}` : `REJECTED ${r.error}`;
          report.push(`${ok ? 'PASS' : 'FAIL'} ${t.name}${ok ? '' : `: ${outcome}`}${expected[t.name] ? ` (expected difference: ${expected[t.name]})` : ''}`);
          if (ok) passed++;
          if (ok && expected[t.name]) stillDiffer.push(`${t.name} now passes; remove it from the expected differences`);
          if (!ok && !expected[t.name]) unexpected.push(`${t.name}: ${outcome}`);
        }
      } finally {
        backend.close?.();
      }
      console.log(`backend suite on ${backend.name}:\n${report.filter((l) => !l.startsWith('PASS')).join('\n')}\n${backend.name}: ${passed}/${tests.length} conformance programs pass, ${tests.length - passed} listed differences`);
      expect(unexpected).toEqual([]);
      expect(stillDiffer).toEqual([]);
      expect(passed + Object.keys(expected).length).toBe(tests.length);
    });
  });
}
