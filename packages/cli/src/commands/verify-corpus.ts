import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { formatRow, formatSummary, parseBtfBlobs, parseCorpus, runCorpus, type CorpusEntry } from '@tsbpf/verifier';
import { ReportedError, type CliIo } from '../io.js';
import { formatError } from '../format.js';

/**
 * `tsbpf verify-corpus`: our verifier against the kernel's verdicts on a verifier corpus file
 * (../shared/verifier-corpus schema). One line per entry, `id verdict kernel`, then the summary.
 */
export function register(program: Command, io: CliIo): void {
  program
    .command('verify-corpus')
    .description("compare the verifier's verdicts with the kernel's on a verifier corpus (.jsonl or .jsonl.gz); bad input exits 2")
    .argument('<file>', 'corpus file; btf_blobs.json beside it is used when present')
    .option('--json', 'one JSON object per entry, then {"summary": ...}')
    .option('--filter <substr>', 'only entries whose id contains SUBSTR')
    .action((file: string, opts: { json?: boolean; filter?: string }) => {
      let entries: CorpusEntry[];
      let btfBlobs: Record<string, string> | undefined;
      const blobsFile = join(dirname(file), 'btf_blobs.json');
      try {
        entries = parseCorpus(io.readFile(file));
      } catch (e) {
        throw new ReportedError(formatError(file, e), 2);
      }
      try {
        btfBlobs = parseBtfBlobs(Buffer.from(io.readFile(blobsFile)).toString('utf8'));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new ReportedError(formatError(blobsFile, e), 2);
      }
      if (opts.filter !== undefined) entries = entries.filter((e) => e.id.includes(opts.filter!));
      const { summary } = runCorpus(entries, undefined, {
        btfBlobs,
        onRow: (row) => io.stdout((opts.json ? JSON.stringify(row) : formatRow(row)) + '\n'),
      });
      if (opts.json) io.stdout(JSON.stringify({ summary }) + '\n');
      else io.stdout(formatSummary(summary).join('\n') + '\n');
    });
}
