import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AttachType, MapType, ProgType, PseudoLd, assembleLlvm, imm64, type Insn } from '@tsbpf/core';
import { KernelBackend, probe } from '@tsbpf/kernel';
import { InterpBackend } from '@tsbpf/interp';
import { JitBackend } from '@tsbpf/jit-wasm';

/** One benchmark measurement (the `--json` line). */
export interface BenchRow {
  program: string;
  backend: string;
  ns_per_exec: number | null;
  insns_per_exec: number | null;
  runs: number;
  note?: string;
}

/** The programs of ../shared/bench, in the README's order. */
export const BENCH_PROGRAMS = ['null', 'alu200', 'csum1500', 'hash1000', 'loop100k', 'loop1m', 'loop1m_const'];

/** `../shared/bench` beside the repository (or `TSBPF_BENCH_DIR`). */
export function defaultBenchDir(): string {
  return process.env.TSBPF_BENCH_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'shared', 'bench');
}

/** Reference numbers from the bench README: instructions per run and the measured timings. */
export interface BenchReference {
  insnsPerRun: Map<string, number>;
  /** ns per run: program -> { 'uBPF interpreter', 'uBPF x86-64 JIT', 'Linux kernel JIT' } */
  timings: Map<string, Record<string, number>>;
}

function parseNs(cell: string): number | undefined {
  const m = /([\d,.]+)\s*(ms|us|µs|ns)?/.exec(cell.trim());
  if (!m) return undefined;
  const v = Number(m[1].replace(/,/g, ''));
  return m[2] === 'ms' ? v * 1e6 : m[2] === 'us' || m[2] === 'µs' ? v * 1e3 : v;
}

/** Reads the tables of ../shared/bench/README.md. */
export function readBenchReference(dir: string): BenchReference {
  const ref: BenchReference = { insnsPerRun: new Map(), timings: new Map() };
  const file = resolve(dir, 'README.md');
  if (!existsSync(file)) return ref;
  let header: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('|')) {
      header = [];
      continue;
    }
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    if (cells.every((c) => /^-+:?$|^:?-+:?$/.test(c))) continue;
    if (header.length === 0) {
      header = cells;
      continue;
    }
    const name = cells[0].replace(/`|\.s$/g, '');
    if (header[header.length - 1] === 'instructions per run') {
      ref.insnsPerRun.set(name.replace(/\.s$/, ''), Number(cells[cells.length - 1].replace(/,/g, '')));
    } else if (header[0] === 'program') {
      const row: Record<string, number> = {};
      header.slice(1).forEach((h, i) => {
        const v = parseNs(cells[i + 1] ?? '');
        if (v !== undefined) row[h.replace(/\s*\(.*$/, '')] = v;
      });
      ref.timings.set(name, row);
    }
  }
  return ref;
}

/** Fills hash1000's map: keys 0..1023, value = key (u64); returns its descriptor. */
function fillBenchHash(m: { fd: number; update(k: Uint8Array, v: Uint8Array): void }): number {
  const k = new Uint8Array(4);
  const v = new Uint8Array(8);
  for (let i = 0; i < 1024; i++) {
    new DataView(k.buffer).setUint32(0, i, true);
    new DataView(v.buffer).setBigUint64(0, BigInt(i), true);
    m.update(k, v);
  }
  return m.fd;
}

/** Replaces hash1000's marker (`lddw 0x5a5a5a5a`) by a map reference. */
function patchMapMarker(insns: Insn[], fd: number): Insn[] {
  return insns.map((i) => (i.wide && imm64(i) === 0x5a5a5a5an ? { ...i, src: PseudoLd.MAP_FD, imm: fd, wide: { imm: 0, head: 0 } } : i));
}

/**
 * Runs one benchmark program on the kernel through BPF_PROG_TEST_RUN as XDP (the `KERNEL` build
 * of the program), with the packet as data. The kernel measures: `duration` is its mean per run.
 */
export function benchKernel(dir: string, name: string, ref: BenchReference, opts: { targetMs?: number } = {}): BenchRow {
  const readFile = (p: string) => readFileSync(resolve(dir, p), 'utf8');
  const backend = new KernelBackend();
  try {
    let insns = assembleLlvm(readFile(`${name}.s`), { readFile, defines: { KERNEL: 1 } }).insns;
    if (name === 'hash1000') {
      insns = patchMapMarker(insns, fillBenchHash(backend.createMap({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 1024, name: 'bench_hash' })));
    }
    const data = new Uint8Array(readFileSync(resolve(dir, 'packet.bin')));
    let prog;
    try {
      prog = backend.load({ insns, progType: ProgType.Xdp, expectedAttachType: AttachType.Xdp, name: `bench_${name}`.slice(0, 15) });
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0].replace(/^.*program rejected: /, '').slice(0, 60);
      return { program: name, backend: 'kernel', ns_per_exec: null, insns_per_exec: ref.insnsPerRun.get(name) ?? null, runs: 0, note: `rejected: ${msg}` };
    }
    // Calibrate the repeat count so one measurement takes about targetMs, then take the median of 5.
    const target = (opts.targetMs ?? 100) * 1e6;
    const probeRun = prog.testRun({ data, repeat: 10 });
    const repeat = Math.max(1, Math.min(10_000_000, Math.round(target / Math.max(1, probeRun.durationNs ?? 1))));
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) samples.push(prog.testRun({ data, repeat }).durationNs ?? 0);
    samples.sort((a, b) => a - b);
    return { program: name, backend: 'kernel', ns_per_exec: samples[2], insns_per_exec: ref.insnsPerRun.get(name) ?? null, runs: repeat * 5 };
  } finally {
    backend.close();
  }
}

/**
 * Runs one benchmark program on a user-space backend (the interpreter or the JIT): the user-space
 * build (r1 = packet, r2 = its length), timed in-process (median of 5 measurements of about
 * `targetMs` each, after a warm-up of the same length, so the JIT's code is the optimizing tier).
 * Instructions per execution are counted by the interpreter.
 */
export function benchUserSpace(backendName: UserSpaceBench, dir: string, name: string, ref: BenchReference, opts: { targetMs?: number } = {}): BenchRow {
  const readFile = (p: string) => readFileSync(resolve(dir, p), 'utf8');
  // jit-wasm-verified: what a program the verifier accepted runs as, without the JIT's NULL
  // checks and loop budget (which exist for unverified programs).
  const backend = backendName === 'interp' ? new InterpBackend() : new JitBackend(backendName === 'jit-wasm' ? {} : { nullChecks: false, budget: false });
  let insns = assembleLlvm(readFile(`${name}.s`), { readFile }).insns;
  if (name === 'hash1000') {
    insns = patchMapMarker(insns, fillBenchHash(backend.createMap({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 1024 })));
  }
  const data = new Uint8Array(readFileSync(resolve(dir, 'packet.bin')));
  const space = backend.runtime.space;
  const mem = space.alloc(data.length, 'packet');
  space.write(mem, data);
  const args = [mem, data.length];
  const budget = 1e9;
  let repeatRun: (n: number) => void;
  let counted: number | null = null;
  if (backend instanceof InterpBackend) {
    const prog = backend.load({ insns, progType: ProgType.SocketFilter, name });
    counted = prog.run({ args, budget }).insns;
    repeatRun = (n) => {
      for (let i = 0; i < n; i++) prog.run({ args, budget });
    };
  } else {
    const prog = backend.load({ insns, progType: ProgType.SocketFilter, name });
    counted = ref.insnsPerRun.get(name) ?? null;
    repeatRun = (n) => prog.runRepeat(args, n, { budget });
  }
  const target = (opts.targetMs ?? 100) * 1e6;
  const t0 = process.hrtime.bigint();
  repeatRun(1);
  const one = Math.max(1, Number(process.hrtime.bigint() - t0));
  let repeat = Math.max(1, Math.min(10_000_000, Math.round(target / one)));
  // Warm up for about targetMs (the JIT's module tiers up to optimized code), then recalibrate.
  const w = process.hrtime.bigint();
  repeatRun(repeat);
  const warm = Math.max(1, Number(process.hrtime.bigint() - w) / repeat);
  repeat = Math.max(1, Math.min(10_000_000, Math.round(target / warm)));
  const samples: number[] = [];
  for (let s = 0; s < 5; s++) {
    const t = process.hrtime.bigint();
    repeatRun(repeat);
    samples.push(Number(process.hrtime.bigint() - t) / repeat);
  }
  samples.sort((a, b) => a - b);
  return { program: name, backend: backendName, ns_per_exec: Math.round(samples[2] * 10) / 10, insns_per_exec: counted, runs: repeat * 5 };
}

/** The interpreter's row (see {@link benchUserSpace}). */
export function benchInterp(dir: string, name: string, ref: BenchReference, opts: { targetMs?: number } = {}): BenchRow {
  return benchUserSpace('interp', dir, name, ref, opts);
}

/** The user-space rows of the benchmark. */
export type UserSpaceBench = 'interp' | 'jit-wasm' | 'jit-wasm-verified';

/** The rows `tsbpf bench` can print: the backends, and the JIT without its checks for unverified programs. */
export const BENCH_BACKENDS = ['interp', 'jit-wasm', 'jit-wasm-verified', 'kernel'] as const;

/** Runs a benchmark program on the named backend. */
export function benchProgram(backend: string, dir: string, name: string, ref: BenchReference, opts: { targetMs?: number } = {}): BenchRow {
  return backend === 'kernel' ? benchKernel(dir, name, ref, opts) : benchUserSpace(backend as UserSpaceBench, dir, name, ref, opts);
}

/** Compile time of the JIT for one program: eBPF to wasm bytes, and bytes to an instance. */
export interface CompileRow {
  program: string;
  slots: number;
  wasmBytes: number;
  emitUs: number;
  instantiateUs: number;
  usPer1000: number;
}

/**
 * Programs for the compile-time table: the benchmark programs, and two large ones made from them
 * so the cost per instruction is not hidden by the fixed cost of a module: alu200's body 50 times
 * in a row (10,000 straight-line instructions) and 3,000 if-then diamonds (9,000 instructions,
 * 3,000 merge points for the structuring).
 */
function compilePrograms(dir: string, names: string[], fd: number): { name: string; insns: Insn[] }[] {
  const readFile = (p: string) => readFileSync(resolve(dir, p), 'utf8');
  const out = names.map((name) => {
    const insns = assembleLlvm(readFile(`${name}.s`), { readFile }).insns;
    return { name, insns: name === 'hash1000' ? patchMapMarker(insns, fd) : insns };
  });
  const alu = assembleLlvm(readFile('alu200.s'), { readFile }).insns;
  const body = alu.slice(0, -1);
  out.push({ name: 'alu200 x50', insns: [...Array.from({ length: 50 }, () => body).flat(), alu[alu.length - 1]] });
  const diamonds = assembleLlvm(`r0 = 0\n${'if r1 == 0 goto +1\nr0 += 1\nr0 += 2\n'.repeat(3000)}exit`).insns;
  out.push({ name: 'diamonds 3000', insns: diamonds });
  return out;
}

/**
 * Compiles each program `rounds` times on the JIT (after warm-up compiles of all of them, so the
 * compiler itself runs optimized) and reports the median times: eBPF -> WebAssembly bytes, and
 * bytes -> instantiated module.
 */
export function benchCompile(dir: string, names: string[], rounds = 9): CompileRow[] {
  const backend = new JitBackend();
  const fd = fillBenchHash(backend.createMap({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 1024 }));
  const programs = compilePrograms(dir, names, fd);
  let w0 = 0;
  for (let w = 0; w < 5; w++) for (const p of programs) backend.load({ insns: [{ op: 0xb7, dst: 9, src: 0, off: 0, imm: w0++ }, ...p.insns], progType: ProgType.SocketFilter, name: p.name });
  const rows: CompileRow[] = [];
  for (const { name, insns } of programs) {
    const emit: number[] = [];
    const inst: number[] = [];
    let slots = 0;
    let bytes = 0;
    for (let i = 0; i < rounds; i++) {
      // A different first instruction each round: V8 reuses the compiled code of byte-identical
      // modules, and this table is about compiling a new program.
      const fresh = [{ op: 0xb7, dst: 9, src: 0, off: 0, imm: 1000 * (i + 1) + w0++ }, ...insns];
      const p = backend.load({ insns: fresh, progType: ProgType.SocketFilter, name });
      emit.push(p.stats.emitNs);
      inst.push(p.stats.instantiateNs);
      slots = p.stats.slots;
      bytes = p.stats.wasmBytes;
    }
    const med = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1] / 1000;
    const e = med(emit);
    const n = med(inst);
    rows.push({ program: name, slots, wasmBytes: bytes, emitUs: e, instantiateUs: n, usPer1000: ((e + n) * 1000) / slots });
  }
  return rows;
}

/** Whether a backend can run benchmarks here, or why not. */
export function benchBackendReason(name: string): string | undefined {
  if (name === 'interp' || name === 'jit-wasm' || name === 'jit-wasm-verified') return undefined;
  if (name !== 'kernel') return `unknown backend '${name}'`;
  const p = probe();
  return p.ok ? undefined : p.reason;
}
