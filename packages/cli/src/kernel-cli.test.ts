import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { encode } from '@tsbpf/core';
import { probe } from '@tsbpf/kernel';
import { hasShared, loadConformanceSuite } from '@tsbpf/testkit';
import { main } from './main.js';
import type { CliIo } from './io.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const bin = join(repo, 'packages', 'cli', 'bin', 'tsbpf-conformance-plugin.js');
const kernel = probe();
if (!kernel.ok) console.log(`kernel CLI tests skipped: ${kernel.reason}`);

async function run(argv: string[], stdin = '') {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: (t) => void (out += Buffer.from(t).toString()),
    stderr: (t) => void (err += t),
    readFile: (p) => (p === '-' ? new Uint8Array(Buffer.from(stdin)) : new Uint8Array(readFileSync(p))),
    writeFile: () => {},
  };
  const code = await main(argv, io);
  return { code, out, err };
}

/** The runner's encoding: two lowercase hex digits and two spaces per byte. */
const runnerHex = (b: Uint8Array) => Array.from(b, (x) => `${x.toString(16).padStart(2, '0')}  `).join('');

describe.skipIf(!kernel.ok)('tsbpf run / conformance-plugin / bench on the kernel', () => {
  it('run prints r0 in hex for assembly, hex and .data programs', async () => {
    expect((await run(['run', '--backend', 'kernel', '-'], 'r0 = 42\nexit\n')).out).toBe('0x2a\n');
    expect((await run(['run', '--backend', 'kernel', '--mem', '00 11 22 33', '-'], 'r0 = r2\nexit\n')).out).toBe('0x4\n');
    expect((await run(['run', '--backend', 'kernel', '-'], 'b7 00 00 00 07 00 00 00\n95 00 00 00 00 00 00 00\n')).out).toBe('0x7\n');
    const rejected = await run(['run', '--backend', 'kernel', '-'], 'exit\n');
    expect(rejected.code).toBe(1);
    expect(rejected.err).toContain('R0 !read_ok');
    expect((await run(['run', '--backend', 'nope', '-'], 'exit\n')).code).toBe(2);
  });

  // The bpf_conformance protocol, one process per test as its runner does (a sample of the 313 to
  // keep CI short; the in-process backend suite runs all of them).
  const tests = loadConformanceSuite().filter((_, i) => i % 8 === 0);
  it.runIf(existsSync(join(repo, 'packages', 'cli', 'dist', 'main.js')) && tests.length > 0)(
    `conformance-plugin passes ${tests.length} programs driven as separate processes`,
    () => {
      const failures: string[] = [];
      for (const t of tests) {
        const args = t.mem.length ? [bin, runnerHex(t.mem), '--backend', 'kernel'] : [bin, '--backend', 'kernel'];
        const r = spawnSync(process.execPath, args, { input: `${runnerHex(encode(t.program()))}\n` });
        const expectReject = /imm-(high|neg)|callx/.test(t.name);
        if (expectReject) {
          if (r.status === 0) failures.push(`${t.name}: accepted, but the kernel rejects it`);
          continue;
        }
        const got = r.status === 0 ? BigInt(`0x${r.stdout.toString().trim()}`) : undefined;
        if (got !== t.result) failures.push(`${t.name}: exit ${r.status} out ${r.stdout} err ${r.stderr}`);
      }
      expect(failures).toEqual([]);
    },
  );

  it.runIf(hasShared('bench'))('bench --json prints one object per program with the kernel timing', async () => {
    const r = await run(['bench', '--json', '--backend', 'kernel', '--program', 'null', 'alu200', 'loop1m_const', '--target-ms', '5']);
    const rows = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => [x.program, x.backend])).toEqual([['null', 'kernel'], ['alu200', 'kernel'], ['loop1m_const', 'kernel']]);
    expect(rows[1].ns_per_exec).toBeGreaterThan(0);
    expect(rows[1].insns_per_exec).toBe(200);
    expect(rows[1].runs).toBeGreaterThan(0);
    expect(rows[2].ns_per_exec).toBeNull(); // the kernel verifier rejects it: too many processed insns
  });
});
