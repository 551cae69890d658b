// Differential test: generated programs that probe the verifier's memory-safety rules (stack,
// map values, packets, pointer arithmetic, bounds from branches and masks, uninitialised
// registers), each verified by us and loaded by the live kernel; the verdicts must agree.
import { describe, expect, it } from 'vitest';
import { assembleLlvm, MapType, ProgType, VerifierError } from '@tsbpf/core';
import { KernelMap, loadProgram, probe } from '@tsbpf/kernel';
import { mulberry32 } from '@tsbpf/testkit';
import { verify } from './index.js';

const kernel = probe();
const skip = kernel.ok ? undefined : `generated-program differential skipped: ${kernel.reason}`;
if (skip) console.log(skip);

/** Deterministic draws (mulberry32). */
function rng(seed: number) {
  const next = mulberry32(seed);
  return {
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    chance: (p: number) => next() < p,
  };
}

type R = ReturnType<typeof rng>;
const SIZES = ['u8', 'u16', 'u32', 'u64'] as const;
const BYTES: Record<string, number> = { u8: 1, u16: 2, u32: 4, u64: 8 };

interface Gen {
  text: string;
  progType: ProgType;
}

function stackProgram(r: R): Gen {
  const lines: string[] = [];
  const n = r.int(1, 3);
  for (let i = 0; i < n; i++) {
    const sz = r.pick(SIZES);
    const off = r.chance(0.8) ? -BYTES[sz]! * r.int(1, 66) : r.int(-520, 8);
    if (r.chance(0.5)) lines.push(`*(${sz} *)(r10 ${off < 0 ? '-' : '+'} ${Math.abs(off)}) = ${r.int(-3, 3)}`);
    else lines.push(`r1 = ${r.int(0, 9)}`, `*(${sz} *)(r10 ${off < 0 ? '-' : '+'} ${Math.abs(off)}) = r1`);
  }
  const sz = r.pick(SIZES);
  const off = r.chance(0.8) ? -BYTES[sz]! * r.int(1, 66) : r.int(-520, 8);
  lines.push(`r0 = *(${sz} *)(r10 ${off < 0 ? '-' : '+'} ${Math.abs(off)})`, 'r0 = 0', 'exit');
  return { text: lines.join('\n'), progType: ProgType.SocketFilter };
}

function mapProgram(r: R, arrFd: number, hashFd: number): Gen {
  const useHash = r.chance(0.5);
  const fd = useHash ? hashFd : arrFd;
  const keySize = useHash ? 8 : 4;
  const valueSize = useHash ? 16 : 48;
  const lines = [`*(u${keySize * 8} *)(r10 - 8) = 0`, 'r2 = r10', 'r2 += -8', `r1 = map_fd(${fd}) ll`];
  // patched to a map fd below
  lines.push('call 1');
  const check = r.chance(0.85);
  if (check) lines.push('if r0 == 0 goto +LBL');
  const sz = r.pick(SIZES);
  const mode = r.int(0, 3);
  if (mode === 0) {
    const off = r.chance(0.7) ? BYTES[sz]! * r.int(0, Math.ceil(valueSize / BYTES[sz]!)) : r.int(-4, valueSize + 4);
    lines.push(`r1 = *(${sz} *)(r0 + ${off})`);
  } else {
    // variable index bounded by a mask or a branch
    lines.push('r1 = *(u32 *)(r0 + 0)');
    if (mode === 1) lines.push(`r1 &= ${r.pick([7, 15, 31, 63, 255])}`);
    else if (mode === 2) lines.push(`if r1 > ${r.int(0, valueSize + 8)} goto +LBL`);
    else if (r.chance(0.5)) lines.push(`if r1 s> ${r.int(0, valueSize)} goto +LBL`);
    lines.push('r0 += r1', `r1 = *(${sz} *)(r0 + ${r.int(0, 8)})`);
  }
  lines.push('r0 = 0', 'exit');
  // resolve +LBL to the final "r0 = 0"
  const target = lines.length - 2;
  const out = lines.map((l, i) => {
    if (!l.includes('+LBL')) return l;
    let slots = 0;
    for (let k = i + 1; k < target; k++) slots += lines[k]!.includes(' ll') ? 2 : 1;
    return l.replace('+LBL', `+${slots}`);
  });
  return { text: out.join('\n'), progType: ProgType.SocketFilter };
}

function packetProgram(r: R): Gen {
  const n = r.int(0, 40);
  const sz = r.pick(SIZES);
  const off = r.int(-2, n + 2);
  const cmp = r.pick(['>', '>=', '<', '<=']);
  const lines = ['r2 = *(u32 *)(r1 + 0)', 'r3 = *(u32 *)(r1 + 4)', 'r4 = r2', `r4 += ${n}`];
  // jump to "exit" when out of bounds, for each comparison form
  const slotsToExit = 2;
  if (cmp === '>') lines.push(`if r4 > r3 goto +${slotsToExit}`);
  else if (cmp === '>=') lines.push(`if r4 >= r3 goto +${slotsToExit}`);
  else if (cmp === '<') lines.push(`if r3 < r4 goto +${slotsToExit}`);
  else lines.push(`if r3 <= r4 goto +${slotsToExit}`);
  lines.push(`r0 = *(${sz} *)(r2 + ${off})`, 'r0 = 0', 'r0 = 2', 'exit');
  return { text: lines.join('\n'), progType: ProgType.Xdp };
}

function arithProgram(r: R): Gen {
  const lines = ['r0 = 0', 'r1 = r10', 'r2 = 0'];
  lines.push(`r2 = ${r.int(-600, 40)}`);
  if (r.chance(0.5)) lines.push(`r2 &= ${r.pick([7, 15, 63, 511, 4095])}`);
  if (r.chance(0.3)) lines.push(`r2 ${r.pick(['+=', '-=', '*=', '<<=', '>>=', '|=', '^='])} ${r.int(0, 5)}`);
  lines.push(`r1 ${r.pick(['+=', '-='])} r2`);
  const sz = r.pick(SIZES);
  lines.push(`*(${sz} *)(r1 ${r.chance(0.5) ? '-' : '+'} ${r.int(0, 64)}) = 1`, 'exit');
  return { text: lines.join('\n'), progType: ProgType.SocketFilter };
}

function uninitProgram(r: R): Gen {
  const lines: string[] = [];
  for (let i = 0; i < r.int(0, 3); i++) lines.push(`r${r.int(0, 9)} = ${r.int(0, 5)}`);
  const op = r.int(0, 3);
  const a = r.int(0, 9);
  const b = r.int(0, 9);
  if (op === 0) lines.push(`r${a} += r${b}`);
  else if (op === 1) lines.push(`if r${a} > r${b} goto +0`);
  else if (op === 2) lines.push(`r${a} = r${b}`);
  else lines.push(`call 5`);
  lines.push('exit');
  return { text: lines.join('\n'), progType: ProgType.SocketFilter };
}

describe.skipIf(!!skip)('verifier vs kernel on generated programs', () => {
  it('agrees with the kernel on 3000 generated programs', () => {
    const arr = new KernelMap({ type: MapType.Array, keySize: 4, valueSize: 48, maxEntries: 4 });
    const hash = new KernelMap({ type: MapType.Hash, keySize: 8, valueSize: 16, maxEntries: 4 });
    const maps = [
      { fd: arr.fd, type: MapType.Array, keySize: 4, valueSize: 48, maxEntries: 4 },
      { fd: hash.fd, type: MapType.Hash, keySize: 8, valueSize: 16, maxEntries: 4 },
    ];
    const r = rng(12345);
    const diffs: string[] = [];
    let n = 0;
    let accepted = 0;
    try {
      for (let i = 0; i < 3000; i++) {
        const kind = i % 5;
        const g =
          kind === 0 ? stackProgram(r) : kind === 1 ? mapProgram(r, arr.fd, hash.fd) : kind === 2 ? packetProgram(r) : kind === 3 ? arithProgram(r) : uninitProgram(r);
        let insns;
        try {
          insns = assembleLlvm(g.text).insns;
        } catch {
          continue;
        }
        n++;
        const ours = verify(insns, { progType: g.progType, maps });
        let kernelOk = true;
        let kernelMsg = '';
        try {
          loadProgram({ insns, progType: g.progType }).close();
        } catch (e) {
          if (!(e instanceof VerifierError)) throw e;
          kernelOk = false;
          kernelMsg = e.message;
        }
        if (kernelOk) accepted++;
        if (ours.ok !== kernelOk) diffs.push(`${g.text.replace(/\n/g, '; ')} => ours ${ours.ok ? 'accept' : 'reject: ' + ours.error?.message} kernel ${kernelOk ? 'accept' : 'reject: ' + kernelMsg}`);
      }
    } finally {
      arr.close();
      hash.close();
    }
    console.log(`generated: ${n} programs, kernel accepted ${accepted}, ${diffs.length} verdict differences`);
    for (const d of diffs.slice(0, 20)) console.log('  ' + d);
    expect(n).toBeGreaterThan(2500);
    expect(diffs).toEqual([]);
  });
});
