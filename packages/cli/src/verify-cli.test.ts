import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { assembleLlvm, encode } from '@tsbpf/core';
import { hasShared, sharedPath } from '@tsbpf/testkit';
import { main } from './main.js';
import type { CliIo } from './io.js';

async function run(argv: string[], stdin = '') {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: (t) => void (out += Buffer.from(t).toString()),
    stderr: (t) => void (err += t),
    readFile: (p) => (p === '-' ? new Uint8Array(Buffer.from(stdin)) : new Uint8Array(readFileSync(p))),
    writeFile: (p, d) => writeFileSync(p, d),
  };
  const code = await main(argv, io);
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'tsbpf-verify-'));
const file = (name: string, data: string | Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};
const hexOf = (src: string) => Buffer.from(encode(assembleLlvm(src).insns)).toString('hex');

describe('tsbpf verify', () => {
  it('accepts a program: the log, then "verdict: accept", exit 0', async () => {
    const r = await run(['verify', file('ok.s', 'r0 = 0\nexit\n')]);
    expect(r.code).toBe(0);
    expect(r.out.endsWith('verdict: accept\n')).toBe(true);
    // Raw bytecode, and a program type by kernel name.
    const bin = await run(['verify', '--prog-type', 'BPF_PROG_TYPE_XDP', file('ok.bin', encode(assembleLlvm('r0 = 2\nexit').insns))]);
    expect(bin.code).toBe(0);
    expect(bin.out).toContain('verdict: accept');
  });

  it('rejects a program with the kernel\'s message, exit 1', async () => {
    const r = await run(['verify', '--log-level', '0', file('dead.s', 'r0 = 0\ngoto +1\nr0 = 1\nexit\n')]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('unreachable insn 2\n');
    expect(r.out.endsWith('verdict: reject\n')).toBe(true);
  });

  it('--json prints one object', async () => {
    const r = await run(['verify', '--json', file('dead.s', 'r0 = 0\ngoto +1\nr0 = 1\nexit\n')]);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ verdict: 'reject', error: { code: 'E_VERIFIER_REJECT', message: 'unreachable insn 2', insn: 2 } });
    expect(typeof j.log).toBe('string');
    expect(typeof j.stats.processed).toBe('number');
    expect(r.out.trim().split('\n')).toHaveLength(1);
  });

  it('maps named in assembly come from --map', async () => {
    const src = file('map.s', 'r1 = counters ll\nr0 = 0\nexit\n');
    const ok = await run(['verify', '--map', 'counters:hash:4:8:16', src]);
    expect(ok.code).toBe(0);
    const missing = await run(['verify', src]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("loads map 'counters'; describe it with --map counters:");
    expect((await run(['verify', '--map', 'counters:hash:4', src])).code).toBe(2);
  });

  it('bad input exits 2', async () => {
    const asm = await run(['verify', file('bad.s', 'r0 = 0\nr0 += w1\nexit\n')]);
    expect(asm.code).toBe(2);
    expect(asm.err).toContain('bad.s:2:7: error:');
    expect((await run(['verify', '--prog-type', 'no_such_type', file('ok.s', 'r0 = 0\nexit\n')])).code).toBe(2);
    expect((await run(['verify', '--log-level', '7', file('ok.s', 'r0 = 0\nexit\n')])).code).toBe(2);
    expect((await run(['verify', join(dir, 'does-not-exist.bin')])).code).toBe(2);
    // Five raw bytes are not a program.
    const short = await run(['verify', file('short.bin', Uint8Array.from([0xb7, 0, 0, 0, 0x80]))]);
    expect(short.code).toBe(2);
    expect(short.out).toContain('verdict: reject');
  });
});

describe('tsbpf verify-corpus', () => {
  // Three synthetic entries in the corpus schema: the kernel accepts one, rejects one, and one has no verdict.
  const base = { suite: 'test_progs', expected_attach_type: null, attach_btf: null, prog_flags: 0, log_level: 0, license: 'GPL', relocs: [], maps: [] };
  const entries = [
    { ...base, id: 'synthetic/accept', prog_type: 'BPF_PROG_TYPE_SOCKET_FILTER', insns_hex: hexOf('r0 = 0\nexit'), expect: { result: 'accept', msg: [] }, kernel: { result: 'accept' } },
    {
      ...base, id: 'synthetic/unreachable', prog_type: 'BPF_PROG_TYPE_XDP', insns_hex: hexOf('r0 = 0\ngoto +1\nr0 = 1\nexit'),
      expect: { result: 'reject', msg: ['unreachable insn {{[0-9]+}}'] }, kernel: { result: 'reject', msg_match: true },
    },
    { ...base, id: 'synthetic/refused', prog_type: 'BPF_PROG_TYPE_LSM', insns_hex: hexOf('r0 = 0\nexit'), expect: { result: 'accept', msg: [] }, kernel: { result: 'env_refused' } },
  ];
  const jsonl = entries.map((e) => JSON.stringify(e)).join('\n') + '\n';

  it('one line per entry, the summary, the table by program type and the message line', async () => {
    const r = await run(['verify-corpus', file('three.jsonl', jsonl)]);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toBe('synthetic/accept accept accept');
    expect(lines[1]).toBe('synthetic/unreachable reject reject');
    expect(lines[2]).toMatch(/^synthetic\/refused (accept|reject) \(no kernel verdict: env_refused\)$/);
    expect(lines[3]).toBe('agree 2 of 2 (accept-agree 1, reject-agree 1, false-accept 0, false-reject 0)');
    expect(lines).toContain('no kernel verdict: 1 (env_refused 1; not compared)');
    expect(lines).toContain('by program type:');
    expect(lines.some((l) => /^ {2}XDP +1 +1 +0 +1 +0 +0 +0$/.test(l))).toBe(true);
    expect(lines.at(-1)).toBe('messages: 1 of 1 agreed rejects with expected messages');
  });

  it('gzip, --filter and --json', async () => {
    const gz = file('three.jsonl.gz', gzipSync(jsonl));
    const all = await run(['verify-corpus', gz]);
    expect(all.out).toContain('agree 2 of 2 (');
    const one = await run(['verify-corpus', '--filter', 'unreachable', gz]);
    expect(one.out.split('\n')[0]).toBe('synthetic/unreachable reject reject');
    expect(one.out).toContain('agree 1 of 1 (accept-agree 0, reject-agree 1, false-accept 0, false-reject 0)');
    const json = await run(['verify-corpus', '--json', gz]);
    const objs = json.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(objs).toHaveLength(4);
    expect(objs[1]).toMatchObject({ id: 'synthetic/unreachable', verdict: 'reject', kernel: 'reject', agree: true, messages: { ok: true } });
    expect(objs[3].summary).toMatchObject({ compared: 2, agree: 2, noKernelVerdict: 1, messages: { withExpected: 1, agreed: 1 } });
  });

  it('a file of one entry', async () => {
    const r = await run(['verify-corpus', file('one.jsonl', JSON.stringify(entries[0]))]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('agree 1 of 1 (accept-agree 1, reject-agree 0, false-accept 0, false-reject 0)');
  });

  it('a malformed file or btf_blobs.json exits 2 with the line', async () => {
    const bad = await run(['verify-corpus', file('bad.jsonl', `${JSON.stringify(entries[0])}\n{"id": 1}\n`)]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('line 2, id: must be a non-empty string [E_CORPUS_FIELD]');
    const sub = mkdtempSync(join(dir, 'blobs-'));
    writeFileSync(join(sub, 'btf_blobs.json'), '{"verifier_x": 5}');
    writeFileSync(join(sub, 'c.jsonl'), jsonl);
    const blobs = await run(['verify-corpus', join(sub, 'c.jsonl')]);
    expect(blobs.code).toBe(2);
    expect(blobs.err).toContain('btf_blobs.json: error: blob verifier_x is not a hex string [E_CORPUS_BTF]');
  });

  // btf_blobs.json beside the corpus places the spin locks of verifier_spin_lock's maps.
  it.runIf(hasShared('verifier-corpus', 'corpus.jsonl'))('the shared corpus, with btf_blobs.json beside it', async () => {
    const r = await run(['verify-corpus', '--filter', 'verifier_spin_lock/', sharedPath('verifier-corpus', 'corpus.jsonl')]);
    expect(r.code).toBe(0);
    expect(r.out).not.toContain('bad-entry');
    expect(r.out).toMatch(/^agree \d+ of \d+ \(accept-agree \d+, reject-agree \d+, false-accept \d+, false-reject \d+\)$/m);
    expect(r.out).toMatch(/^messages: \d+ of \d+ agreed rejects with expected messages\n$/m);
  });
});
