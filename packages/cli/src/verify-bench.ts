/**
 * Verifier benchmark (part of `npm run bench`): verifies the ~1M-instruction programs of
 * ../shared/verifier-corpus/corpus_large.jsonl.gz with @tsbpf/verifier and, where the kernel is
 * reachable, loads the same programs into it (log level 4, BPF_LOG_STATS: its `processed N insns` and
 * `verification time N usec` lines), then prints processed instructions per second side by side
 * (median of five runs after warm-up runs; our first, cold run is printed too).
 * Also times the whole corpus.jsonl.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VerifierError, decode, type ProgType, type AttachType } from '@tsbpf/core';
import { KernelMap, loadProgram, probe } from '@tsbpf/kernel';
import { parseBtfBlobs, prepareEntry, readCorpus, verify, type CorpusEntry } from '@tsbpf/verifier';

const corpusDir = process.env.TSBPF_VERIFIER_CORPUS ?? resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'shared', 'verifier-corpus');

interface KernelRun {
  verdict: string;
  processed?: number;
  micros?: number;
}

/** Loads one prepared entry into the kernel with real maps (fds patched in), reading its stats lines. */
function kernelRun(entry: CorpusEntry): KernelRun {
  const maps: KernelMap[] = [];
  try {
    const prepared = prepareEntry(entry);
    const bytes = prepared.insns.slice();
    const view = new DataView(bytes.buffer);
    const fdOf = new Map<number, number>();
    for (const m of prepared.options.maps) {
      const km = new KernelMap({ type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, flags: m.flags ?? 0 });
      maps.push(km);
      fdOf.set(m.fd, km.fd);
    }
    for (let at = 0; at + 8 <= bytes.length; at += 8) {
      if (bytes[at] === 0x18 && (bytes[at + 1]! >> 4 === 1 || bytes[at + 1]! >> 4 === 2)) {
        const fd = fdOf.get(view.getInt32(at + 4, true));
        if (fd !== undefined) view.setInt32(at + 4, fd, true);
      }
    }
    let log = '';
    let verdict = 'accept';
    try {
      const p = loadProgram(
        {
          insns: decode(bytes),
          progType: prepared.options.progType as ProgType,
          expectedAttachType: prepared.options.expectedAttachType as AttachType | undefined,
          flags: (prepared.options.progFlags ?? 0) & ~(0x4 | 0x80),
          logLevel: 4, // BPF_LOG_STATS: the processed and verification time lines
        },
        { logSize: 64 << 20 },
      );
      log = p.log;
      p.close();
    } catch (e) {
      if (!(e instanceof VerifierError)) throw e;
      verdict = 'reject';
      log = e.log;
    }
    const processed = /processed (\d+) insns/.exec(log);
    const time = /verification time (\d+) usec/.exec(log);
    return { verdict, processed: processed ? Number(processed[1]) : undefined, micros: time ? Number(time[1]) : undefined };
  } finally {
    for (const m of maps) m.close();
  }
}

const RUNS = 5;
const WARMUPS = 3;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const fmt = (n: number | undefined, digits = 0) => (n === undefined ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: digits }));

function main(): void {
  const large = resolve(corpusDir, 'corpus_large.jsonl.gz');
  if (!existsSync(large)) {
    console.log(`verifier bench skipped: ${large} not found (../shared beside the checkout)`);
    return;
  }
  const kernel = probe();
  if (!kernel.ok) console.log(`kernel column skipped: ${kernel.reason}`);
  const rows: string[][] = [['program', 'insns', 'ours', 'processed', 'cold ms', 'ms', 'insns/s', 'kernel', 'processed', 'ms', 'insns/s', 'ours/kernel rate']];
  for (const entry of readCorpus(large)) {
    const prepared = prepareEntry(entry);
    // ours: the first (cold) run, WARMUPS more to let V8 compile the hot paths, then the median of
    // RUNS (steady state); the kernel: one warm-up load, then the median of RUNS
    const c0 = performance.now();
    let r = verify(prepared.insns, { ...prepared.options, logLevel: 0 });
    const cold = performance.now() - c0;
    for (let i = 1; i < WARMUPS; i++) verify(prepared.insns, { ...prepared.options, logLevel: 0 });
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      r = verify(prepared.insns, { ...prepared.options, logLevel: 0 });
      times.push(performance.now() - t0);
    }
    const ms = median(times);
    const rate = r.stats.processed / (ms / 1000);
    let k: KernelRun | undefined;
    if (kernel.ok) {
      kernelRun(entry);
      const runs = Array.from({ length: RUNS }, () => kernelRun(entry));
      k = { ...runs[0]!, micros: runs.every((x) => x.micros !== undefined) ? median(runs.map((x) => x.micros!)) : undefined };
    }
    const kRate = k?.processed && k.micros ? k.processed / (k.micros / 1e6) : undefined;
    rows.push([
      entry.id,
      fmt(entry.insn_cnt),
      r.ok ? 'accept' : 'reject',
      fmt(r.stats.processed),
      fmt(cold),
      fmt(ms),
      fmt(rate),
      k ? k.verdict : `(${entry.kernel.result})`,
      fmt(k?.processed),
      fmt(k?.micros !== undefined ? k.micros / 1000 : undefined),
      fmt(kRate),
      kRate ? (rate / kRate).toFixed(2) : '-',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  console.log(`verifier: ~1M-instruction programs (corpus_large.jsonl.gz), ours vs the kernel (median of ${RUNS} runs after warm-up; cold = our first run)`);
  for (const row of rows) console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));

  const small = resolve(corpusDir, 'corpus.jsonl');
  if (existsSync(small)) {
    const blobsFile = resolve(corpusDir, 'btf_blobs.json');
    const btfBlobs = existsSync(blobsFile) ? parseBtfBlobs(readFileSync(blobsFile, 'utf8')) : undefined;
    const entries = readCorpus(small);
    let processed = 0;
    const t0 = performance.now();
    for (const e of entries) {
      try {
        const p = prepareEntry(e, { btfBlobs });
        processed += verify(p.insns, { ...p.options, logLevel: 0 }).stats.processed;
      } catch {
        // a malformed entry is the corpus test's business
      }
    }
    const ms = performance.now() - t0;
    console.log(`verifier: corpus.jsonl, ${entries.length} programs in ${fmt(ms)} ms (${fmt(processed)} processed insns, ${fmt(processed / (ms / 1000))} insns/s)`);
  }
}

main();
