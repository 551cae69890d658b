import { afterAll, describe, expect, it } from 'vitest';
import { MapType, ProgType, PseudoLd, assembleLlvm, imm64, type Backend, type Insn, type MapSpec, type TestRunOptions } from '@tsbpf/core';
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
  /** The backend as a {@link Backend}, for the `BPF_PROG_TEST_RUN` cases (without it they are skipped). */
  backend?(): Backend;
  /** Releases the backend after the suite. */
  close?(): void;
}

/** A `BPF_PROG_TEST_RUN` case: a program of a given type, its input, and what every backend must return. */
interface TestRunCase {
  name: string;
  progType: ProgType;
  /** LLVM-syntax assembly. */
  source: string;
  input: TestRunOptions;
  /** r0, 32 bits as the kernel reports it. */
  retval: bigint;
  /** The packet after the run (default: `input.data`, unchanged). */
  dataOut?: Uint8Array;
}

/** 64 bytes: an Ethernet header with `0x42` as its last byte, then `0x45` (an IPv4 header's first byte) and zeroes. */
const PACKET_64 = Uint8Array.from({ length: 64 }, (_, i) => (i === 13 ? 0x42 : i === 14 ? 0x45 : 0));
/** A `struct __sk_buff` ctx_in with only `mark` (offset 8) set. */
const SKB_MARK_77 = Uint8Array.from({ length: 192 }, (_, i) => (i === 8 ? 0x77 : 0));

/**
 * With r2 = data and r3 = data_end: r0 = pkt[13] << 24 | (data_end - data) << 16 when the packet
 * holds an Ethernet header, then `more`; r0 = 0 otherwise.
 */
const probePacket = (more: string) => `
      r0 = 0
      r4 = r2
      r4 += 14
      if r4 > r3 goto out
      r0 = *(u8 *)(r2 + 13)
      r0 <<= 24
      r3 -= r2
      r3 <<= 16
      r0 |= r3
      ${more}
    out:
      exit`;

const TEST_RUN_CASES: TestRunCase[] = [
  {
    // r0 = pkt[13] << 24 | (data_end - data) << 16 | mark << 8 | len
    name: 'sched_cls reads skb->len, skb->mark (from ctx_in) and skb->data/data_end at their __sk_buff offsets',
    progType: ProgType.SchedCls,
    source: `
      r6 = *(u32 *)(r1 + 0)
      r7 = *(u32 *)(r1 + 8)
      r2 = *(u32 *)(r1 + 76)
      r3 = *(u32 *)(r1 + 80)
      ${probePacket('r7 <<= 8\nr0 |= r7\nr0 |= r6')}`,
    input: { data: PACKET_64, ctx: SKB_MARK_77 },
    retval: 0x42n << 24n | 64n << 16n | 0x77n << 8n | 64n,
  },
  {
    // r0 = skb[0] << 16 | (skb->sk != NULL) << 8 | len
    name: 'socket_filter sees the packet from the network header (len and skb[0] after the Ethernet header) and a socket in skb->sk',
    progType: ProgType.SocketFilter,
    source: `
      r6 = r1
      r7 = *(u32 *)(r6 + 0)
      r8 = *(u64 *)(r6 + 168)
      r0 = *(u8 *)skb[0]
      r0 <<= 16
      if r8 == 0 goto out
      r0 |= 0x100
    out:
      r0 |= r7
      exit`,
    input: { data: PACKET_64 },
    retval: 0x45n << 16n | 0x100n | 50n,
    // the kernel pushes the Ethernet header back, zeroed
    dataOut: Uint8Array.from(PACKET_64, (b, i) => (i < 14 ? 0 : b)),
  },
  {
    name: 'sched_cls bpf_skb_store_bytes writes at an offset from skb->data, bpf_skb_load_bytes reads it back',
    progType: ProgType.SchedCls,
    source: `
      r6 = r1
      *(u32 *)(r10 - 4) = 0x44332211
      r2 = 20
      r3 = r10
      r3 += -4
      r4 = 4
      r5 = 0
      call bpf_skb_store_bytes
      r7 = r0
      r1 = r6
      r2 = 19
      r3 = r10
      r3 += -8
      r4 = 2
      call bpf_skb_load_bytes
      r0 = *(u16 *)(r10 - 8)
      r0 |= r7
      exit`,
    input: { data: PACKET_64 },
    retval: 0x1100n,
    dataOut: Uint8Array.from(PACKET_64, (b, i) => (i >= 20 && i < 24 ? 0x11 * (i - 19) : b)),
  },
  {
    name: 'sched_cls bpf_csum_diff: csum(to) - csum(from) + seed, and pulling from the seed, folded to 16 bits',
    progType: ProgType.SchedCls,
    source: `
      *(u32 *)(r10 - 8) = 0x04030201
      *(u32 *)(r10 - 4) = 0x08070605
      *(u32 *)(r10 - 16) = 0x0c0b0a09
      *(u32 *)(r10 - 12) = 0x100f0e0d
      r1 = r10
      r1 += -8
      r2 = 8
      r3 = r10
      r3 += -16
      r4 = 8
      r5 = 0x1234
      call bpf_csum_diff
      r6 = r0
      r1 = r10
      r1 += -8
      r2 = 8
      r3 = 0
      r4 = 0
      r5 = 0x1234
      call bpf_csum_diff
      r0 <<= 16
      r0 |= r6
      exit`,
    input: { data: PACKET_64 },
    retval: 0xfe23n << 16n | 0x3254n,
  },
  {
    // r0 = (sk_fullsock(sk) != NULL) | (tcp_sock(sk) == NULL) << 1: the dummy socket is full, and not TCP
    name: 'sched_cls bpf_sk_fullsock and bpf_tcp_sock on the test run\'s socket',
    progType: ProgType.SchedCls,
    source: `
      r1 = *(u64 *)(r1 + 168)
      r0 = 0
      if r1 == 0 goto out
      r6 = r1
      call bpf_sk_fullsock
      r7 = 0
      if r0 == 0 goto tcp
      r7 = 1
    tcp:
      r1 = r6
      call bpf_tcp_sock
      r8 = 2
      if r0 == 0 goto done
      r8 = 0
    done:
      r0 = r7
      r0 |= r8
    out:
      exit`,
    input: { data: PACKET_64 },
    retval: 3n,
  },
  {
    // r0 = pkt[13] << 24 | (data_end - data) << 16 | (data - data_meta)
    name: 'xdp reads xdp_md->data, data_end and data_meta',
    progType: ProgType.Xdp,
    source: `
      r2 = *(u32 *)(r1 + 0)
      r3 = *(u32 *)(r1 + 4)
      r5 = *(u32 *)(r1 + 8)
      ${probePacket('r2 -= r5\nr0 |= r2')}`,
    input: { data: PACKET_64 },
    retval: 0x42n << 24n | 64n << 16n,
  },
];

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
 * `BPF_PROG_TEST_RUN` cases, the same on every backend: the context layout of each program type
 * (where `data`, `data_end` and `len` are) and the packet must be what the kernel gives.
 */
function describeTestRuns(backend: SuiteBackend): void {
  const skip = backend.backend ? backend.skipReason() : 'the backend has no Backend for test runs';
  describe.skipIf(skip !== undefined)(`test runs on ${backend.name}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    it.each(TEST_RUN_CASES)('$name', (c) => {
      const prog = backend.backend!().load({ insns: assembleLlvm(c.source).insns, progType: c.progType, license: 'GPL' });
      try {
        const out = prog.testRun(c.input);
        expect(BigInt.asUintN(32, out.retval)).toBe(c.retval);
        expect(out.dataOut).toEqual(c.dataOut ?? c.input.data);
      } finally {
        prog.close();
      }
    });
  });
}

/**
 * The backend test suite: the 313 bpf_conformance programs, each run once with its input memory,
 * r0 compared with the expected value, the benchmark programs, and the test-run cases. Prints a
 * per-test report and a summary line.
 */
export function describeBackendSuite(backend: SuiteBackend): void {
  describeTestRuns(backend);
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
