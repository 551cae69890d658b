import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MapType, NotSupportedError, ProgType, RuntimeError, assembleLlvm, encode, type Backend, type Insn } from '@tsbpf/core';
import { hasShared, loadConformanceSuite } from './shared.js';
import { describeBackendSuite } from './backend-suite.js';

const asm = (s: string) => assembleLlvm(s).insns;

/** A user-space backend as these suites use it: a `Backend` that also runs uBPF-convention programs. */
export interface RawBackend extends Backend {
  runRaw(insns: readonly Insn[], mem: Uint8Array, opts?: { budget?: number }): { r0: bigint };
}

/** Asserts that `f` throws a {@link RuntimeError} with `code` at slot `pc` (any slot for -1). */
export function expectRuntimeError(f: () => unknown, code: string, pc: number): RuntimeError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(RuntimeError);
  expect((err as RuntimeError).code).toBe(code);
  if (pc >= 0) expect((err as RuntimeError).pc).toBe(pc);
  expect((err as RuntimeError).message).toMatch(/^insn -?\d+: /);
  return err as RuntimeError;
}

/** A socket filter that counts its runs in map[0] and tail-calls prog_array[0] (itself). */
export const selfTailCall = (counts: number, progs: number): Insn[] => asm(`
    r6 = r1
    *(u32 *)(r10 - 4) = 0
    r2 = r10
    r2 += -4
    r1 = map_fd(${counts}) ll
    call bpf_map_lookup_elem
    if r0 == 0 goto out
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
    r1 = r6
    r2 = map_fd(${progs}) ll
    r3 = 0
    call bpf_tail_call
  out:
    r0 = 7
    exit`);

/**
 * What every user-space backend must do with bad programs and edge semantics, with the same
 * codes and instruction indexes: faults, budget, call depth, unknown opcodes and helpers,
 * RFC 9669 division, tail calls (the kernel's 33), bpf_loop callbacks.
 */
export function describeRuntimeSuite(name: string, make: () => RawBackend): void {
  describe(`${name}: bad programs give typed runtime errors with the instruction index; the runtime stays usable`, () => {
    const b = make();

    it('out-of-bounds and NULL accesses', () => {
      expectRuntimeError(() => b.runRaw(asm('r0 = *(u64 *)(r1 + 0)\nexit'), new Uint8Array()), 'E_MEM_FAULT', 0); // r1 = 0: NULL
      expectRuntimeError(() => b.runRaw(asm('r1 += 0x7ffffff0\nr0 = *(u32 *)(r1 + 4)\nexit'), new Uint8Array(4)), 'E_MEM_FAULT', 1); // past the address space
      expectRuntimeError(() => b.runRaw(asm('r1 = 0x100000000 ll\n*(u8 *)(r1 + 0) = 1\nexit'), new Uint8Array()), 'E_MEM_FAULT', 2);
      expectRuntimeError(() => b.runRaw(asm('r2 = -8\nr0 = *(u64 *)(r2 + 0)\nexit'), new Uint8Array()), 'E_MEM_FAULT', 1); // 2^64 - 8
      expectRuntimeError(() => b.runRaw(asm('r1 += 0x7ffffff0\nlock *(u64 *)(r1 + 0) += r2\nexit'), new Uint8Array(4)), 'E_MEM_FAULT', 1);
    });

    it('division tricks follow RFC 9669 instead of trapping', () => {
      expect(b.runRaw(asm('r0 = 7\nr1 = 0\nr0 /= r1\nexit'), new Uint8Array()).r0).toBe(0n);
      expect(b.runRaw(asm('r0 = 7\nr1 = 0\nr0 %= r1\nexit'), new Uint8Array()).r0).toBe(7n);
      expect(b.runRaw(asm('r0 = -0x8000000000000000 ll\nr1 = -1\nr0 s/= r1\nexit'), new Uint8Array()).r0).toBe(0x8000000000000000n);
      expect(b.runRaw(asm('w0 = -0x80000000\nw0 s%= -1\nexit'), new Uint8Array()).r0).toBe(0n);
      expect(b.runRaw(asm('r0 = -1\nw1 = 0\nw0 %= w1\nexit'), new Uint8Array()).r0).toBe(0xffffffffn); // 32-bit: zero-extended
    });

    it('call depth over 8 frames, an exhausted budget, unknown opcodes and helpers, running off the end', () => {
      expectRuntimeError(() => b.runRaw(asm('f:\ncall f\nexit'), new Uint8Array()), 'E_CALL_DEPTH', 0);
      expectRuntimeError(() => b.runRaw(asm('r0 = 0\nl:\nr0 += 1\ngoto l'), new Uint8Array(), { budget: 10_000 }), 'E_BUDGET', -1);
      expectRuntimeError(() => b.runRaw(asm('r0 = 0\n.quad 0xff\nexit'), new Uint8Array()), 'E_UNKNOWN_OPCODE', 1);
      expectRuntimeError(() => b.runRaw(asm('r2 = 9999\ncallx r2\nexit'), new Uint8Array()), 'E_UNKNOWN_HELPER', 1);
      expect(() => b.runRaw(asm('call bpf_get_current_task\nexit'), new Uint8Array())).toThrow(NotSupportedError);
      expectRuntimeError(() => b.runRaw(asm('r0 = 0'), new Uint8Array()), 'E_FELL_OFF', 1);
      expectRuntimeError(() => b.runRaw(asm('r0 = 0\ngoto +5\nexit'), new Uint8Array()), 'E_FELL_OFF', 7);
      expectRuntimeError(() => b.runRaw(asm('r0 = 0\ngoto -3\nexit'), new Uint8Array()), 'E_BAD_JUMP', -1);
      // A jump into the middle of an lddw lands on its second half, which is no instruction.
      expectRuntimeError(() => b.runRaw(asm('if r1 == 0 goto +1\nr0 = 5 ll\nexit'), new Uint8Array()), 'E_UNKNOWN_OPCODE', 2);
      // Still usable, and no stack or memory region leaked by the failed runs.
      expect(b.runRaw(asm('r0 = 42\nexit'), new Uint8Array()).r0).toBe(42n);
    });

    it('an infinite loop stops at the budget even with calls inside it', () => {
      expectRuntimeError(() => b.runRaw(asm('l:\ncall f\ngoto l\nf:\nr0 = 1\nexit'), new Uint8Array(), { budget: 100_000 }), 'E_BUDGET', -1);
      expectRuntimeError(() => b.runRaw(asm('r1 = 1\nl:\nr1 += 1\nif r1 != 0 goto l\nexit'), new Uint8Array(), { budget: 1_000_000 }), 'E_BUDGET', -1);
    });
  });

  describe(`${name}: tail calls and callbacks`, () => {
    it('a self tail call runs 1 + 33 times, the kernel\'s limit', () => {
      const b = make();
      const counts = b.createMap({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 });
      const progs = b.createMap({ type: MapType.ProgArray, keySize: 4, valueSize: 4, maxEntries: 1 });
      const p = b.load({ insns: selfTailCall(counts.fd, progs.fd), progType: ProgType.SocketFilter });
      progs.update(new Uint8Array(4), Uint8Array.of((p as unknown as { fd: number }).fd, 0, 0, 0));
      expect(p.testRun({ data: new Uint8Array(64) }).retval).toBe(7n);
      expect(new DataView(counts.lookup(new Uint8Array(4))!.buffer).getBigUint64(0, true)).toBe(34n);
    });

    it('bpf_loop runs the callback: 0 + 1 + ... + 9, and a callback can stop the loop', () => {
      // Sums 0..9 with bpf_loop: the callback adds its index to *ctx (a stack slot of the caller).
      const loopSum = (stopAt: number) => asm(`
        *(u64 *)(r10 - 8) = 0
        r1 = 10
        r2 = func(+9) ll
        r3 = r10
        r3 += -8
        r4 = 0
        call bpf_loop
        r1 = *(u64 *)(r10 - 8)
        r0 <<= 32
        r0 |= r1
        exit
        r3 = *(u64 *)(r2 + 0)
        r3 += r1
        *(u64 *)(r2 + 0) = r3
        r0 = 0
        if r1 != ${stopAt} goto +1
        r0 = 1
        exit`);
      // (The kernel would need BTF func_info for the callback; the expected values are the sums.)
      expect(make().runRaw(loopSum(100), new Uint8Array()).r0).toBe((10n << 32n) | 45n);
      expect(make().runRaw(loopSum(3), new Uint8Array()).r0).toBe((4n << 32n) | 6n);
    });
  });
}

/**
 * bpf_conformance's runner starts one plugin process per test; so does this suite, for all 313,
 * through the built CLI's `tsbpf-conformance-plugin` with `pluginArgs` (e.g. `--backend jit-wasm`).
 */
export function describePluginSuite(name: string, pluginArgs: string[]): void {
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const plugin = join(repo, 'packages', 'cli', 'bin', 'tsbpf-conformance-plugin.js');
  const built = existsSync(join(repo, 'packages', 'cli', 'dist', 'main.js'));
  if (!built) console.log(`plugin test on ${name} skipped: the CLI is not built (npm run build)`);
  describe.runIf(built && hasShared('conformance', 'tests'))(`tsbpf conformance-plugin on ${name}`, () => {
    const hex = (b: Uint8Array) => Array.from(b, (x) => `${x.toString(16).padStart(2, '0')}  `).join('');
    it('passes the conformance programs, each in its own process, through the plugin protocol', async () => {
      const tests = loadConformanceSuite();
      const results: string[] = [];
      let next = 0;
      const worker = async () => {
        while (next < tests.length) {
          const t = tests[next++];
          const args = t.mem.length ? [plugin, hex(t.mem), ...pluginArgs] : [plugin, ...pluginArgs];
          const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((res) => {
            const child = spawn(process.execPath, args);
            let stdout = '';
            let stderr = '';
            child.stdout.on('data', (d) => (stdout += d));
            child.stderr.on('data', (d) => (stderr += d));
            child.on('close', (code) => res({ code, stdout, stderr }));
            child.stdin.end(`${hex(encode(t.program()))}\n`);
          });
          const got = out.code === 0 ? BigInt(`0x${out.stdout.trim()}`) : undefined;
          if (got !== t.result) results.push(`${t.name}: exit ${out.code} ${out.stdout.trim()} ${out.stderr.trim()}`);
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      console.log(`conformance-plugin (${name}): ${tests.length - results.length}/${tests.length} pass as separate processes`);
      expect(results).toEqual([]);
      expect(tests.length).toBe(313);
    }, 600_000);
  });
}

/** A user-space backend the conformance suite runs: `runRaw` with bpf_conformance's unwind helper. */
export interface ConformanceBackend extends Backend {
  runRaw(insns: readonly Insn[], mem: Uint8Array, opts?: { unwindHelper5?: boolean }): { r0: bigint };
}

/**
 * The backend suite ({@link describeBackendSuite}) on a user-space backend: one instance for all
 * programs, runtime errors reported as rejections, maps created on the same instance.
 */
export function describeUserSpaceBackendSuite(name: string, make: () => ConformanceBackend): void {
  let backend: ConformanceBackend | undefined;
  const get = () => (backend ??= make());
  describeBackendSuite({
    name,
    skipReason: () => undefined,
    run(insns, mem) {
      try {
        // bpf_conformance's only helper is uBPF's "unwind" (helper 5), as its plugins provide it.
        return { accepted: true, r0: get().runRaw(insns, mem, { unwindHelper5: true }).r0 };
      } catch (e) {
        if (e instanceof RuntimeError) return { accepted: false, error: e.message };
        throw e;
      }
    },
    backend: get,
    createMap(spec, entries) {
      const m = get().createMap(spec);
      for (const [k, v] of entries) m.update(k, v);
      return m.fd;
    },
    expectedDifferences: {},
  });
}
