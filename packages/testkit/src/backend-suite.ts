import { afterAll, describe, expect, it } from 'vitest';
import { MapType, PseudoLd, assembleLlvm, imm64, type Insn, type MapSpec } from '@tsbpf/core';
import { benchPacket, loadBenchPrograms, loadConformanceSuite } from './shared.js';
import { evalAlu200, evalCsum, evalLoop } from './bench-expected.js';

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
  /** Creates a map filled with `entries` and returns the descriptor programs put in `lddw map_fd`. */
  createMap(spec: MapSpec, entries: [Uint8Array, Uint8Array][]): number;
  /** Releases the backend after the suite. */
  close?(): void;
}

/** What a benchmark program must return, worked out independently (see bench-expected.ts). */
function benchExpected(name: string, source: string, packet: Uint8Array): bigint {
  switch (name) {
    case 'null': return 0n;
    case 'alu200': return evalAlu200(source);
    case 'csum1500': return evalCsum(packet);
    case 'hash1000': return 499_500n; // sum of the values of keys 0..999; the suite stores value = key
    case 'loop100k': return evalLoop(100_000);
    case 'loop1m': return evalLoop(new DataView(packet.buffer, packet.byteOffset).getUint32(0, true));
    case 'loop1m_const': return evalLoop(1_000_000);
    default: throw new Error(`no expected value for benchmark ${name}`);
  }
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
    afterAll(() => backend.close?.());
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
        // released in afterAll, once both parts of the suite ran
      }
      console.log(`backend suite on ${backend.name}:\n${report.filter((l) => !l.startsWith('PASS')).join('\n')}\n${backend.name}: ${passed}/${tests.length} conformance programs pass, ${tests.length - passed} listed differences`);
      expect(unexpected).toEqual([]);
      expect(stillDiffer).toEqual([]);
      expect(passed + Object.keys(expected).filter((k) => k.endsWith('.data')).length).toBe(tests.length);
    });

    const bench = loadBenchPrograms();
    it.runIf(bench.length > 0)(`runs the ${bench.length} benchmark programs (user-space builds) with the expected r0`, () => {
      const expected = backend.expectedDifferences ?? {};
      const packet = benchPacket();
      const report: string[] = [];
      const unexpected: string[] = [];
      for (const b of bench) {
        let insns = assembleLlvm(b.source, { readFile: b.readFile }).insns;
        if (b.usesHashMap) {
          const entries: [Uint8Array, Uint8Array][] = [];
          for (let i = 0; i < 1024; i++) {
            const k = new Uint8Array(4);
            const v = new Uint8Array(8);
            new DataView(k.buffer).setUint32(0, i, true);
            new DataView(v.buffer).setBigUint64(0, BigInt(i), true);
            entries.push([k, v]);
          }
          const fd = backend.createMap({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 1024 }, entries);
          insns = insns.map((i) => (i.wide && imm64(i) === 0x5a5a5a5an ? { ...i, src: PseudoLd.MAP_FD, imm: fd, wide: { imm: 0, head: 0 } } : i));
        }
        const want = benchExpected(b.name, b.source, packet);
        const r = backend.run(insns, packet);
        const ok = r.accepted && r.r0 === want;
        const key = `bench/${b.name}`;
        report.push(`${ok ? 'PASS' : 'FAIL'} ${key}${ok ? '' : r.accepted ? `: r0=0x${r.r0.toString(16)} expected 0x${want.toString(16)}` : `: REJECTED ${r.error}`}${expected[key] ? ` (expected difference: ${expected[key]})` : ''}`);
        if (!ok && !expected[key]) unexpected.push(report[report.length - 1]);
        if (ok && expected[key]) unexpected.push(`${key} now passes; remove it from the expected differences`);
      }
      console.log(`benchmark programs on ${backend.name}:\n${report.join('\n')}`);
      expect(unexpected).toEqual([]);
    });
  });
}
