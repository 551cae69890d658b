import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hasShared, sharedPath } from '@tsbpf/testkit';
import { formatSummary, parseBtfBlobs, readCorpus, runCorpus } from './corpus.js';
import { verify } from './verify.js';

/** The bar: agreement with the kernel on at least 97% of the entries with a kernel verdict. */
const MIN_AGREEMENT_RATE = 0.97;
/** ... and false accepts (we accept, the kernel rejects) on at most 0.5% of them. */
const MAX_FALSE_ACCEPT_RATE = 0.005;
/** For the rejects we agree on that carry expected messages: the kernel's messages appear in our log for at least 80%. */
const MIN_MESSAGE_RATE = 0.8;

// The whole kernel verifier corpus through verify(): the summary line and the table by program
// type are printed; only what holds today is asserted.
describe('corpus agreement (../shared/verifier-corpus/corpus.jsonl)', () => {
  it.runIf(hasShared('verifier-corpus', 'corpus.jsonl'))('verify() never throws, and agrees at least as much as recorded', () => {
    const entries = readCorpus(sharedPath('verifier-corpus', 'corpus.jsonl'));
    const blobsFile = sharedPath('verifier-corpus', 'btf_blobs.json');
    const btfBlobs = hasShared('verifier-corpus', 'btf_blobs.json') ? parseBtfBlobs(readFileSync(blobsFile, 'utf8')) : undefined;
    const { rows, summary } = runCorpus(entries, verify, { btfBlobs });
    console.log(formatSummary(summary).join('\n'));

    const thrown = rows.filter((r) => r.cause === 'exception').map((r) => `${r.id}: ${r.error}`);
    const badEntries = rows.filter((r) => r.cause === 'bad-entry').map((r) => `${r.id}: ${r.error}`);
    expect(thrown).toEqual([]);
    expect(badEntries).toEqual([]);
    expect(summary.total).toBe(entries.length);
    expect(summary.agree / summary.compared).toBeGreaterThanOrEqual(MIN_AGREEMENT_RATE);
    expect(summary.falseAccept / summary.compared).toBeLessThanOrEqual(MAX_FALSE_ACCEPT_RATE);
    expect(summary.messages.agreed / summary.messages.withExpected).toBeGreaterThanOrEqual(MIN_MESSAGE_RATE);
  }, 600_000);
});
