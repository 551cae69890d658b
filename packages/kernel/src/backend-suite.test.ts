import { describeBackendSuite } from '@tsbpf/testkit';
import { KernelOracle } from './oracle.js';
import { probe } from './probe.js';

let oracle: KernelOracle | undefined;
const shiftReason = 'the kernel verifier rejects a shift by an immediate outside 0..width-1 ("invalid shift N"); RFC 9669 masks it';

describeBackendSuite({
  name: 'kernel',
  skipReason: () => (probe().ok ? undefined : probe().reason),
  run(insns, mem) {
    oracle ??= new KernelOracle();
    const r = oracle.run(insns, { mem });
    return r.accepted ? { accepted: true, r0: r.r0 } : { accepted: false, error: r.error };
  },
  createMap(spec, entries) {
    oracle ??= new KernelOracle();
    const m = oracle.createMap(spec);
    for (const [k, v] of entries) m.update(k, v);
    return m.fd;
  },
  backend: () => (oracle ??= new KernelOracle()).backend,
  close: () => oracle?.close(),
  expectedDifferences: {
    'bench/loop1m': 'the user-space build has no may_goto and an unknown trip count: the kernel verifier cannot bound the loop (the KERNEL build adds may_goto; npm run bench runs that one)',
    'bench/loop1m_const': 'the kernel verifier gives up after 1,000,000 processed instructions ("BPF program is too large")',
    'callx.data': 'the kernel verifier has no callx (BPF_JMP | BPF_CALL | BPF_X): "unknown opcode 8d"',
    ...Object.fromEntries(
      ['arsh32', 'arsh64', 'lsh32', 'lsh64', 'rsh32', 'rsh64'].flatMap((op) => [`${op}-imm-high.data`, `${op}-imm-neg.data`]).map((f) => [f, shiftReason]),
    ),
  },
});
