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
  close: () => oracle?.close(),
  expectedDifferences: {
    'callx.data': 'the kernel verifier has no callx (BPF_JMP | BPF_CALL | BPF_X): "unknown opcode 8d"',
    ...Object.fromEntries(
      ['arsh32', 'arsh64', 'lsh32', 'lsh64', 'rsh32', 'rsh64'].flatMap((op) => [`${op}-imm-high.data`, `${op}-imm-neg.data`]).map((f) => [f, shiftReason]),
    ),
  },
});
