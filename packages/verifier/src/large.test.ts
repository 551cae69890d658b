// The three ~1M-instruction programs of the kernel's verifier corpus (test_verifier's fill
// helpers): our verdict must be the live kernel's, and so must the processed-instruction count
// the kernel recorded (pruning that works like the kernel's, not just a lucky verdict).
import { describe, expect, it } from 'vitest';
import { hasShared, sharedPath } from '@tsbpf/testkit';
import { prepareEntry, readCorpus } from './corpus.js';
import { verify } from './verify.js';

const present = hasShared('verifier-corpus', 'corpus_large.jsonl.gz');
if (!present) console.log('large-program test skipped: ../shared/verifier-corpus/corpus_large.jsonl.gz not found');

describe.runIf(present)('~1M-instruction programs (corpus_large.jsonl.gz)', () => {
  it('get the kernel verdict and the kernel processed-instruction count', () => {
    const entries = readCorpus(sharedPath('verifier-corpus', 'corpus_large.jsonl.gz'));
    expect(entries.length).toBe(3);
    for (const e of entries) {
      const p = prepareEntry(e);
      const r = verify(p.insns, { ...p.options, logLevel: 0 });
      console.log(`${e.id}: ${r.ok ? 'accept' : 'reject'} (kernel ${e.kernel.result}), processed ${r.stats.processed} (kernel ${e.kernel.insns_processed}), ${Math.round(r.stats.micros / 1000)} ms`);
      expect(r.ok ? 'accept' : 'reject').toBe(e.kernel.result);
      expect(r.stats.processed).toBe(e.kernel.insns_processed);
    }
  }, 120_000);
});
