import type { Command } from 'commander';
import Table from 'cli-table3';
import { CliExit, type CliIo } from '../io.js';
import { BENCH_BACKENDS, BENCH_PROGRAMS, benchBackendReason, benchCompile, benchProgram, defaultBenchDir, readBenchReference, type BenchRow } from '../bench.js';
import { existsSync } from 'node:fs';

/** `tsbpf bench`: ns per execution of the shared benchmark programs on each backend. */
export function register(program: Command, io: CliIo): void {
  program
    .command('bench')
    .description('time the ../shared/bench programs on each backend (the kernel JIT through BPF_PROG_TEST_RUN)')
    .option('-b, --backend <name...>', `backends (${BENCH_BACKENDS.join(', ')}; jit-wasm-verified: the JIT without the NULL checks and loop budget unverified programs need)`, [...BENCH_BACKENDS])
    .option('--json', 'one JSON object per line: {"program","backend","ns_per_exec","insns_per_exec","runs"}')
    .option('--dir <dir>', 'benchmark directory', defaultBenchDir())
    .option('--program <name...>', 'only these programs')
    .option('--target-ms <ms>', 'time per measurement', '100')
    .action((opts: { backend: string[]; json?: boolean; dir: string; program?: string[]; targetMs: string }) => {
      if (!existsSync(opts.dir)) throw new CliExit(`benchmark directory ${opts.dir} does not exist (use --dir)`, 2);
      const ref = readBenchReference(opts.dir);
      const rows: BenchRow[] = [];
      const backends = opts.backend.filter((backend) => {
        const why = benchBackendReason(backend);
        if (why && !BENCH_BACKENDS.includes(backend as never)) throw new CliExit(why, 2);
        if (why) io.stderr(`bench: skipping backend ${backend}: ${why}\n`);
        return !why;
      });
      // Program by program, every backend in a row, so ratios compare measurements of one run.
      for (const name of opts.program ?? BENCH_PROGRAMS) {
        for (const backend of backends) {
          const row = benchProgram(backend, opts.dir, name, ref, { targetMs: Number(opts.targetMs) });
          rows.push(row);
          if (opts.json) io.stdout(JSON.stringify({ program: row.program, backend: row.backend, ns_per_exec: row.ns_per_exec, insns_per_exec: row.insns_per_exec, runs: row.runs, ...(row.note ? { note: row.note } : {}) }) + '\n');
        }
      }
      if (opts.json) return;
      const table = new Table({
        head: ['program', 'backend', 'ns/exec', 'insns/exec', 'ns/insn', 'runs', 'kernel JIT ns (this run)', 'ratio to kernel', 'ref uBPF interp ns/insn', 'ref uBPF JIT ns', 'note'],
        colAligns: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
        style: { head: [], border: [] },
      });
      for (const r of rows) {
        const refRow = ref.timings.get(r.program) ?? {};
        const kernelRow = rows.find((k) => k.backend === 'kernel' && k.program === r.program);
        const kernelNs = kernelRow?.ns_per_exec ?? null;
        const refInsns = ref.insnsPerRun.get(r.program);
        table.push([
          r.program, r.backend,
          r.ns_per_exec === null ? '-' : r.ns_per_exec.toLocaleString('en-US'),
          r.insns_per_exec?.toLocaleString('en-US') ?? '-',
          r.ns_per_exec !== null && r.insns_per_exec ? (r.ns_per_exec / r.insns_per_exec).toFixed(3) : '-',
          r.runs.toLocaleString('en-US'),
          kernelNs?.toLocaleString('en-US') ?? '-',
          kernelNs && r.ns_per_exec !== null ? (r.ns_per_exec / kernelNs).toFixed(2) : '-',
          refRow['uBPF interpreter'] && refInsns ? (refRow['uBPF interpreter'] / refInsns).toFixed(2) : '-',
          refRow['uBPF x86-64 JIT']?.toLocaleString('en-US') ?? '-',
          r.note ?? '',
        ]);
      }
      io.stdout(`${table.toString()}\nkernel: its own per-run duration from BPF_PROG_TEST_RUN (the KERNEL build, as XDP); interp, jit-wasm (with NULL checks and the loop budget, the default for unverified programs), jit-wasm-verified (without them): wall time in process of the user-space build (r1 = packet, r2 = length), after a warm-up; medians of 5. insns/exec: counted by the interpreter (the README's count for jit-wasm). uBPF's numbers are the README's reference (same kind of machine, another run).\n`);
      if (backends.includes('jit-wasm')) {
        const names = (opts.program ?? BENCH_PROGRAMS).filter((n) => n !== 'loop1m_const');
        const ct = new Table({
          head: ['program', 'eBPF slots', 'wasm bytes', 'eBPF -> wasm us', 'wasm -> instance us', 'us per 1000 insns'],
          colAligns: ['left', 'right', 'right', 'right', 'right', 'right'],
          style: { head: [], border: [] },
        });
        const rowsC = benchCompile(opts.dir, names);
        for (const c of rowsC) ct.push([c.program, c.slots, c.wasmBytes.toLocaleString('en-US'), c.emitUs.toFixed(1), c.instantiateUs.toFixed(1), c.usPer1000.toFixed(1)]);
        const big = rowsC.filter((c) => c.slots >= 5000);
        const perK = big.length ? big.reduce((a, c) => a + c.usPer1000, 0) / big.length : NaN;
        const fixed = rowsC.find((c) => c.program === 'null');
        io.stdout(`\njit-wasm compile time (median of 9, after warm-up compiles):\n${ct.toString()}\ncompile time: ${perK.toFixed(0)} us per 1000 instructions (the mean over the programs of 5,000 or more instructions)${fixed ? `, plus about ${(fixed.emitUs + fixed.instantiateUs).toFixed(0)} us per program (null)` : ''}. V8 compiles the module lazily (Liftoff first, TurboFan when a function gets hot), so instantiation is cheap and the optimizing compile happens during the first runs.\n`);
      }
    });
}
