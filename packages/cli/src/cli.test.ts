import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from './main.js';
import type { CliIo } from './io.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const shared = resolve(repo, '..', 'shared');

function run(argv: string[], stdin = ''): { code: number; out: string; err: string; raw: Buffer } {
  const chunks: Buffer[] = [];
  let err = '';
  const io: CliIo = {
    stdout: (t) => void chunks.push(Buffer.from(t)),
    stderr: (t) => void (err += t),
    readFile: (p) => (p === '-' ? new Uint8Array(Buffer.from(stdin)) : new Uint8Array(readFileSync(p))),
    writeFile: (p, d) => writeFileSync(p, d),
  };
  return main(argv, io).then((code) => ({ code, out: Buffer.concat(chunks).toString(), err, raw: Buffer.concat(chunks) })) as never;
}

describe('tsbpf asm / disasm', () => {
  it('assembles LLVM syntax to hex slots that RFC 9669 encodes by hand', async () => {
    const r = await run(['asm', '-'], 'r0 = *(u32 *)(r1 + 4)\nexit\n');
    expect(r.code).toBe(0);
    expect(r.out).toBe('61 10 04 00 00 00 00 00\n95 00 00 00 00 00 00 00\n');
  });

  it('assembles uBPF syntax, raw output', async () => {
    const r = await run(['asm', '--syntax', 'ubpf', '--format', 'raw', '-'], 'mov %r0, 1\nexit\n');
    expect([...r.raw]).toEqual([0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('disassembles hex text in both syntaxes and as a listing', async () => {
    const hex = '61 10 04 00 00 00 00 00\n95 00 00 00 00 00 00 00\n';
    expect((await run(['disasm', '-'], hex)).out).toBe('  r0 = *(u32 *)(r1 + 4)\n  exit\n');
    expect((await run(['disasm', '--syntax', 'ubpf', '-'], hex)).out).toBe('  ldxw %r0, [%r1+4]\n  exit\n');
    expect((await run(['disasm', '--objdump', '-'], hex)).out).toContain('       0:\t61 10 04 00 00 00 00 00\tr0 = *(u32 *)(r1 + 4)');
  });

  it.runIf(existsSync(shared))('assembles a conformance .data file and a benchmark with .include and -D', async () => {
    const data = await run(['asm', join(shared, 'conformance', 'tests', 'exit.data')]);
    expect(data.code).toBe(0);
    const bench = await run(['asm', '--format', 'raw', '-D', 'KERNEL', join(shared, 'bench', 'csum1500.s')]);
    expect(bench.code).toBe(0);
    // The KERNEL prologue reads data/data_end from struct xdp_md: r6 = *(u32 *)(r1 + 0).
    expect([...bench.raw.subarray(0, 8)]).toEqual([0x61, 0x16, 0, 0, 0, 0, 0, 0]);
  });

  it('reports errors as FILE:LINE:COL with the source line and exits 1; usage errors exit 2', async () => {
    const r = await run(['asm', '-'], 'r0 = 1\nr0 += w1\n');
    expect(r.code).toBe(1);
    expect(r.err).toContain('-:2:7: error: expected an rN register to match r0 [E_ASM_BAD_REGISTER]');
    expect(r.err).toContain('  r0 += w1\n        ^');
    expect((await run(['asm', '--syntax', 'intel', '-'], 'exit')).code).toBe(2);
    expect((await run(['frobnicate'])).code).toBe(2);
    const odd = await run(['disasm', '-'], '61 10 0');
    expect(odd.code).toBe(1);
    expect(odd.err).toContain('E_DECODE_HEX');
  });

  it('run and conformance-plugin on the interpreter (the default backend)', async () => {
    expect((await run(['run', '-'], 'r0 = 42\nexit\n')).out).toBe('0x2a\n');
    expect((await run(['run', '--mem', '00 11 22 33', '-'], 'r0 = r2\nexit\n')).out).toBe('0x4\n');
    const oob = await run(['run', '-'], 'r0 = *(u64 *)(r1 + 0)\nexit\n');
    expect(oob.code).toBe(1);
    expect(oob.err).toContain('insn 0: invalid read of 8 bytes at 0x0');
    // Plugin protocol: memory as the argument, program hex on stdin, r0 hex on stdout.
    expect((await run(['conformance-plugin', '01  02  03  '], 'b7 00 00 00 05 00 00 00 0f 20 00 00 00 00 00 00 95 00 00 00 00 00 00 00\n')).out).toBe('8\n');
    // uBPF's unwind helper 5: r1 = 0 ends the program with r0 = 0.
    expect((await run(['conformance-plugin'], 'b7 01 00 00 00 00 00 00 85 00 00 00 05 00 00 00 b7 00 00 00 02 00 00 00 95 00 00 00 00 00 00 00\n')).out).toBe('0\n');
  });

  it('run and conformance-plugin on the JIT (--backend jit-wasm): the same output and errors', async () => {
    expect((await run(['run', '--backend', 'jit-wasm', '-'], 'r0 = 42\nexit\n')).out).toBe('0x2a\n');
    expect((await run(['run', '-b', 'jit-wasm', '--mem', '00 11 22 33', '-'], 'r0 = r2\nexit\n')).out).toBe('0x4\n');
    const oob = await run(['run', '-b', 'jit-wasm', '-'], 'r0 = *(u64 *)(r1 + 0)\nexit\n');
    expect(oob.code).toBe(1);
    expect(oob.err).toContain('insn 0: invalid read of 8 bytes at 0x0');
    const loop = await run(['run', '-b', 'jit-wasm', '-'], 'l:\ngoto l\n');
    expect(loop.code).toBe(1);
    expect(loop.err).toContain('E_BUDGET');
    expect((await run(['conformance-plugin', '01  02  03  ', '--backend', 'jit-wasm'], 'b7 00 00 00 05 00 00 00 0f 20 00 00 00 00 00 00 95 00 00 00 00 00 00 00\n')).out).toBe('8\n');
    expect((await run(['conformance-plugin', '-b', 'jit-wasm'], 'b7 01 00 00 00 00 00 00 85 00 00 00 05 00 00 00 b7 00 00 00 02 00 00 00 95 00 00 00 00 00 00 00\n')).out).toBe('0\n');
    const unknown = await run(['run', '-b', 'nope', '-'], 'exit\n');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('available: interp, jit-wasm, kernel');
  });

  const bin = join(repo, 'packages', 'cli', 'dist', 'bin.js');
  it.runIf(existsSync(bin))('runs as the built bin (what npx tsbpf runs)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbpf-cli-'));
    writeFileSync(join(dir, 'p.s'), 'r0 = 42\nexit\n');
    const hex = execFileSync(process.execPath, [bin, 'asm', join(dir, 'p.s')]).toString();
    expect(hex).toBe('b7 00 00 00 2a 00 00 00\n95 00 00 00 00 00 00 00\n');
    const back = spawnSync(process.execPath, [bin, 'disasm', '-'], { input: hex });
    expect(back.stdout.toString()).toBe('  r0 = 42\n  exit\n');
    expect(back.status).toBe(0);
  });
});
