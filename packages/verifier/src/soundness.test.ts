import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MapType, NotSupportedError, TsbpfError, ctxLayout, decode, progTypeName, type CtxLayout } from '@tsbpf/core';
import { InterpBackend, RuntimeError, type InterpTestRunOptions } from '@tsbpf/interp';
import { AddressSpace, type BpfMap } from '@tsbpf/maps';
import { hasShared, mulberry32, sharedPath } from '@tsbpf/testkit';
import { parseBtfBlobs, prepareEntry, readCorpus, type CorpusEntry, type PreparedEntry } from './corpus.js';
import { verify } from './verify.js';

// Soundness: a program our verifier accepts must never touch memory it does not own. Every
// corpus entry with a kernel verdict that verify() accepts runs on the interpreter in strict mode
// (each load, store and helper memory argument checked against the live regions: the stack
// frames, the context, the packet between data_meta and data_end, map values, map structs) over
// seeded random inputs; a single E_MEM_FAULT fails the test.

/** Runs per program, each with fresh random inputs. */
const RUNS = 32;
/** The first runs' packets are 0, 1, 2, ... bytes long, so off-by-one bounds checks meet the length they get wrong. */
const SWEPT_LENGTHS = 24;
/** Instructions per run: verified loops end, but may_goto loops and bpf_loop can run for millions. */
const BUDGET = 250_000;
/** Change it (or set SOUNDNESS_SEED) to explore; the summary prints it so a failure reproduces. */
const SEED = Number(process.env.SOUNDNESS_SEED ?? 0x5eed);
/** Accepted programs that must run (754 today, rounded down): a floor against the runtime silently refusing more. */
const MIN_RUN = 750;
/** Programs both verifiers reject that fault when run anyway (176 today, 174 to 179 with other seeds; rounded down): the check must keep its teeth. */
const MIN_REJECTED_FAULTING = 170;

/**
 * Programs our verifier accepts that really fault, with the reason. Each is a verifier bug to fix
 * in the engine; the test stays green only for these ids. (None today.)
 */
const KNOWN_VERIFIER_BUGS: Readonly<Record<string, string>> = {};

type Rand = () => number;
const randInt = (rand: Rand, n: number) => Math.floor(rand() * n);

/**
 * `n` random bytes, drawn by 32-bit little-endian words biased to the values bounds checks turn on:
 * 0, all ones, small numbers (up to 64, around typical sizes and offsets), the sign bit, or anything.
 */
function randBytes(rand: Rand, n: number): Uint8Array {
  const out = new Uint8Array(n);
  const view = new DataView(out.buffer);
  for (let i = 0; i < n; i += 4) {
    const r = rand();
    const w = r < 0.3 ? 0 : r < 0.4 ? 0xffffffff : r < 0.65 ? randInt(rand, 65) : r < 0.7 ? 0x80000000 : (rand() * 4294967296) >>> 0;
    if (i + 4 <= n) view.setUint32(i, w, true);
    else for (let j = 0; i + j < n; j++) out[i + j] = w >>> (8 * j);
  }
  return out;
}

/** Why an entry cannot run here (a map type the runtime lacks, ...). */
class NotRunnable extends Error {}

const PERCPU = new Set<number>([MapType.PercpuHash, MapType.PercpuArray, MapType.LruPercpuHash]);
const ARRAYS = new Set<number>([MapType.Array, MapType.PercpuArray]);
const RANDOM_CONTENT = new Set<number>([MapType.Hash, MapType.LruHash, ...ARRAYS, ...PERCPU]);

/**
 * Creates the entry's maps in `maps` order in a fresh runtime. Its descriptors start at 3 and count
 * up, as prepareEntry's fake fds do (3, 4, ... in `maps` order), so the lddw imms need no remapping;
 * a mismatch is an error, never a silent mix-up. A type the runtime lacks (map-in-map, sockmap,
 * storage maps, ...) makes the entry not runnable.
 */
function createMaps(backend: InterpBackend, entry: CorpusEntry, prepared: PreparedEntry): BpfMap[] {
  return entry.maps.map((m, i) => {
    const want = prepared.options.maps[i];
    let map: BpfMap;
    try {
      map = backend.runtime.createMap({ type: want.type, keySize: m.key_size, valueSize: m.value_size, maxEntries: m.max_entries, flags: m.map_flags ?? 0, name: m.name });
    } catch (e) {
      if (e instanceof TsbpfError) throw new NotRunnable(`map type ${m.type}`);
      throw e;
    }
    if (map.fd !== want.fd) throw new Error(`${entry.id}: map ${m.name} got fd ${map.fd}, the program names ${want.fd}`);
    if (want.initialValue) {
      const v = new Uint8Array(m.value_size);
      v.set(want.initialValue.subarray(0, m.value_size));
      map.update(new Uint8Array(m.key_size), v);
    }
    return map;
  });
}

/**
 * Empties the hash maps and writes up to three random entries into each hash and array map (keys
 * mostly small integers, so programs find them). Frozen maps keep their contents, which the
 * verifier may read as constants; special fields (spin locks, timers, kptrs) stay zero, as user
 * space cannot write them.
 */
function randomizeMaps(rand: Rand, maps: BpfMap[], prepared: PreparedEntry, cpus: number): void {
  maps.forEach((map, i) => {
    const spec = prepared.options.maps[i];
    if (spec.frozen || !RANDOM_CONTENT.has(spec.type)) return;
    if (!ARRAYS.has(spec.type)) for (const k of [...map.keys()]) map.delete(k);
    const copies = PERCPU.has(spec.type) ? cpus : 1;
    const stride = copies > 1 ? Math.ceil(spec.valueSize / 8) * 8 : spec.valueSize;
    for (let n = randInt(rand, 4); n > 0; n--) {
      const key = new Uint8Array(spec.keySize);
      if (ARRAYS.has(spec.type) || rand() < 0.8) key[0] = randInt(rand, Math.min(spec.maxEntries, 8)); // a small little-endian index
      else key.set(randBytes(rand, spec.keySize));
      const value = randBytes(rand, stride * copies);
      for (let c = 0; c < copies; c++) {
        for (const f of spec.specialFields ?? []) value.fill(0, c * stride + f.offset, c * stride + f.offset + f.size);
      }
      try {
        map.update(key, value);
      } catch {
        // a full hash map keeps what it has
      }
    }
  });
}

/**
 * The input of run `i`: a random context (its pointer fields are the run's, and NULL half the time
 * where the verifier makes programs test them), and for the program types that have one a random
 * packet, `i` bytes long in the first {@link SWEPT_LENGTHS} runs, up to 128 bytes after.
 */
function randomInput(rand: Rand, layout: CtxLayout, i: number): InterpTestRunOptions {
  const input: InterpTestRunOptions = { ctx: randBytes(rand, layout.size), nullPointers: rand() < 0.5 };
  if (layout.packet) input.data = randBytes(rand, i < SWEPT_LENGTHS ? i : randInt(rand, 129));
  return input;
}

type Outcome =
  | { kind: 'ok' }
  | { kind: 'fault'; pc: number; message: string }
  | { kind: 'not-runnable'; reason: string }
  | { kind: 'bad-state'; message: string };

/** Sorts what a run threw. Anything but the runtime's typed errors means the runtime itself went wrong: `bad-state`. */
function classify(e: unknown): Outcome {
  if (e instanceof RuntimeError) {
    if (e.code === 'E_MEM_FAULT') return { kind: 'fault', pc: e.pc, message: e.message };
    if (e.code === 'E_UNKNOWN_HELPER') return { kind: 'not-runnable', reason: /kfunc/.test(e.message) ? 'kfunc call' : e.message.replace(/^insn \d+: /, '') };
    return { kind: 'not-runnable', reason: `runtime ${e.code}` };
  }
  if (e instanceof NotSupportedError) return { kind: 'not-runnable', reason: e.message.replace(/^insn \d+: /, '').replace(/ is not (available|implemented).*/, '') };
  if (e instanceof NotRunnable) return { kind: 'not-runnable', reason: e.message };
  if (e instanceof TsbpfError) return { kind: 'not-runnable', reason: `${e.name} ${e.code}` };
  return { kind: 'bad-state', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
}

/** A u32 for `bpf_get_prandom_u32` and a u64 for the clocks, from the test's PRNG (biased like the other inputs). */
const randU32 = (rand: Rand) => new DataView(randBytes(rand, 4).buffer).getUint32(0, true);
const randU64 = (rand: Rand) => new DataView(randBytes(rand, 8).buffer).getBigUint64(0, true);

/**
 * Loads one entry on a fresh strict interpreter and runs it `RUNS` times; one outcome per run (one
 * in all when it cannot load). The helpers' randomness and clocks come from `rand` too, so a run
 * reproduces from the seed.
 */
function runEntry(entry: CorpusEntry, prepared: PreparedEntry, rand: Rand): Outcome[] {
  const progType = prepared.options.progType;
  const layout = ctxLayout(progType);
  if (!layout) return [{ kind: 'not-runnable', reason: `no context layout for ${progTypeName(progType)}` }];
  const backend = new InterpBackend({ space: new AddressSpace({ strict: true }), random: () => randU32(rand), clock: () => randU64(rand) });
  const outcomes: Outcome[] = [];
  try {
    const maps = createMaps(backend, entry, prepared);
    const prog = backend.load({ insns: decode(prepared.insns), progType, expectedAttachType: prepared.options.expectedAttachType, license: entry.license ?? '' });
    for (let i = 0; i < RUNS; i++) {
      randomizeMaps(rand, maps, prepared, backend.runtime.cpus);
      try {
        prog.testRun({ ...randomInput(rand, layout, i), budget: BUDGET });
        outcomes.push({ kind: 'ok' });
      } catch (e) {
        outcomes.push(classify(e));
      }
    }
  } catch (e) {
    outcomes.push(classify(e));
  }
  return outcomes;
}

/** The corpus entries with a kernel verdict, prepared and verified once for both tests. */
let verdicts: { entry: CorpusEntry; prepared: PreparedEntry; ok: boolean }[] | undefined;
function corpusVerdicts() {
  if (verdicts) return verdicts;
  const entries = readCorpus(sharedPath('verifier-corpus', 'corpus.jsonl'));
  const btfBlobs = hasShared('verifier-corpus', 'btf_blobs.json') ? parseBtfBlobs(readFileSync(sharedPath('verifier-corpus', 'btf_blobs.json'), 'utf8')) : undefined;
  verdicts = entries
    .filter((entry) => entry.kernel.result === 'accept' || entry.kernel.result === 'reject')
    .map((entry) => {
      const prepared = prepareEntry(entry, { btfBlobs });
      return { entry, prepared, ok: verify(prepared.insns, prepared.options).ok };
    });
  return verdicts;
}

const haveCorpus = hasShared('verifier-corpus', 'corpus.jsonl');

describe('soundness: accepted corpus programs run without memory faults (strict interpreter)', () => {
  it.runIf(haveCorpus)('no program our verifier accepts touches memory outside its live regions', () => {
    const rand = mulberry32(SEED);
    let accepted = 0;
    let ran = 0;
    let runs = 0;
    const notRunnable = new Map<string, string[]>();
    const stopped = new Map<string, number>();
    const violations: string[] = [];
    const known: string[] = [];
    const badStates: string[] = [];
    for (const { entry, prepared, ok } of corpusVerdicts()) {
      if (!ok) continue;
      accepted++;
      const outcomes = runEntry(entry, prepared, rand);
      const good = outcomes.filter((o) => o.kind === 'ok').length;
      const fault = outcomes.find((o) => o.kind === 'fault');
      if (fault) {
        const line = `${entry.id} (${entry.prog_type}, kernel ${entry.kernel.result}) pc ${fault.pc}: ${fault.message}`;
        (KNOWN_VERIFIER_BUGS[entry.id] ? known : violations).push(line);
      }
      for (const o of outcomes) if (o.kind === 'bad-state') badStates.push(`${entry.id}: ${o.message}`);
      for (const o of outcomes) if (o.kind === 'not-runnable' && good > 0) stopped.set(o.reason, (stopped.get(o.reason) ?? 0) + 1);
      if (good > 0) ran++;
      else if (!fault) {
        const first = outcomes.find((o) => o.kind === 'not-runnable');
        if (first) notRunnable.set(first.reason, [...(notRunnable.get(first.reason) ?? []), entry.id]);
      }
      runs += good;
    }
    const reasons = [...notRunnable].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]));
    const skipped = reasons.reduce((n, [, ids]) => n + ids.length, 0);
    const top = reasons.slice(0, 4).map(([r, ids]) => `${r} ${ids.length}`).join(', ');
    console.log(`soundness: ${accepted} accepted, ${ran} run (${runs} runs), ${violations.length} memory violations, ${skipped} not runnable (top reasons: ${top}); seed 0x${SEED.toString(16)}`);
    console.log(`not runnable:\n${reasons.map(([r, ids]) => `  ${ids.length} ${r}: ${ids.slice(0, 3).join(', ')}${ids.length > 3 ? ', ...' : ''}`).join('\n')}`);
    if (stopped.size) console.log(`runs of runnable programs stopped early: ${[...stopped].map(([r, n]) => `${r} ${n}`).join(', ')}`);
    if (known.length) console.log(`known verifier bugs (excluded):\n  ${known.join('\n  ')}`);
    if (violations.length) console.log(`memory violations:\n  ${violations.join('\n  ')}`);
    expect(violations).toEqual([]);
    expect(badStates).toEqual([]);
    expect(ran).toBeGreaterThanOrEqual(MIN_RUN);
  }, 600_000);

  // The same runs for programs the kernel and our verifier both reject: many of them really do
  // reach outside their memory, and strict mode must say so, or the test above proves nothing.
  it.runIf(haveCorpus)('strict mode catches the faults of programs both verifiers reject', () => {
    const rand = mulberry32(SEED);
    let rejected = 0;
    let faulting = 0;
    const badStates: string[] = [];
    for (const { entry, prepared, ok } of corpusVerdicts()) {
      if (ok || entry.kernel.result !== 'reject') continue;
      rejected++;
      const outcomes = runEntry(entry, prepared, rand);
      if (outcomes.some((o) => o.kind === 'fault')) faulting++;
      for (const o of outcomes) if (o.kind === 'bad-state') badStates.push(`${entry.id}: ${o.message}`);
    }
    console.log(`soundness check has teeth: ${faulting} of ${rejected} programs both verifiers reject fault when run anyway`);
    expect(badStates).toEqual([]);
    expect(faulting).toBeGreaterThanOrEqual(MIN_REJECTED_FAULTING);
  }, 600_000);
});
