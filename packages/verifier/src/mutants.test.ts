// Mutation fuzz: programs of the corpus that the kernel accepts, mutated one instruction at a time
// (offsets, immediates, registers, access sizes, jump targets), verified by us; every mutant we
// accept is loaded into the live kernel with real maps. A mutant we accept and the kernel rejects
// for memory safety would be a hole in the verifier: there must be none. verify() must never throw.
import { describe, expect, it } from 'vitest';
import { VerifierError, decode, type AttachType, type ProgType } from '@tsbpf/core';
import { KernelMap, loadProgram, probe } from '@tsbpf/kernel';
import { hasShared, mulberry32, sharedPath } from '@tsbpf/testkit';
import { prepareEntry, readCorpus, type PreparedEntry } from './corpus.js';
import { verify } from './verify.js';

const MUTANTS = 100_000;
/** Kernel messages that reject a program for memory safety. */
const MEMORY_SAFETY =
  /invalid (mem )?access|invalid (read|write|variable-offset|indirect)|out of bounds|outside of the|!read_ok|unbounded|min value is negative|invalid bpf_context|misaligned|leaks addr|expected=|invalid size of register|invalid zero-sized|pointer arithmetic|math between|invalid stack|cannot write into|is not a known constant|offset is outside/;

/** One mutation of one slot (never the second slot of an lddw). */
function mutate(bytes: Uint8Array, rand: () => number): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const n = out.length / 8;
  const second = new Uint8Array(n);
  for (let i = 0; i < n; i++) if (out[i * 8] === 0x18) second[i + 1] = 1;
  let pc = Math.floor(rand() * n);
  for (let k = 0; k < n && second[pc]; k++) pc = (pc + 1) % n;
  const at = pc * 8;
  const op = out[at]!;
  const cls = op & 7;
  const pick = Math.floor(rand() * 5);
  const small = () => [-16, -8, -4, -2, -1, 1, 2, 4, 8, 16, 64, 512][Math.floor(rand() * 12)]!;
  if (pick === 0) view.setInt16(at + 2, view.getInt16(at + 2, true) + small(), true);
  else if (pick === 1 && op !== 0x85) view.setInt32(at + 4, view.getInt32(at + 4, true) + small(), true);
  else if (pick === 2 && op !== 0x85 && op !== 0x95) {
    const regs = out[at + 1]!;
    out[at + 1] = rand() < 0.5 ? (regs & 0xf0) | Math.floor(rand() * 11) : (regs & 0x0f) | (Math.floor(rand() * 11) << 4);
  } else if (pick === 3 && cls >= 1 && cls <= 3) out[at] = (op & ~0x18) | (Math.floor(rand() * 4) << 3);
  else view.setInt16(at + 2, view.getInt16(at + 2, true) + (rand() < 0.5 ? 1 : -1), true);
  return out;
}

interface Target {
  id: string;
  prepared: PreparedEntry;
  /** The program with the kernel maps' fds in place of the fake ones. */
  kernelBytes: Uint8Array;
  maps: KernelMap[];
}

const kernel = probe();
const present = hasShared('verifier-corpus', 'corpus.jsonl');
if (!kernel.ok) console.log(`mutation fuzz: kernel comparison skipped: ${kernel.reason}`);

function kernelBytes(bytes: Uint8Array, fdOf: Map<number, number>): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  for (let at = 0; at + 8 <= out.length; at += 8) {
    const src = out[at + 1]! >> 4;
    if (out[at] === 0x18 && (src === 1 || src === 2)) {
      const fd = fdOf.get(view.getInt32(at + 4, true));
      if (fd !== undefined) view.setInt32(at + 4, fd, true);
    }
  }
  return out;
}

describe.runIf(present)('mutation fuzz of accepted corpus programs', () => {
  it(`${MUTANTS} mutants: verify() never throws; no mutant we accept is rejected by the kernel for memory safety`, () => {
    const entries = readCorpus(sharedPath('verifier-corpus', 'corpus.jsonl')).filter(
      (e) => e.kernel.result === 'accept' && !e.attach_btf && !e.relocs.some((r) => r.kind === 'kfunc') && e.maps.every((m) => !m.inner_map && !m.btf_special_fields?.length),
    );
    const targets: Target[] = [];
    try {
      for (const e of entries) {
        // no BTF here: the kernel loads below carry none either, so both sides see static functions
        const prepared = prepareEntry(e);
        if (!verify(prepared.insns, prepared.options).ok) continue;
        const maps: KernelMap[] = [];
        const fdOf = new Map<number, number>();
        let ok = true;
        if (kernel.ok) {
          for (const m of prepared.options.maps) {
            try {
              const km = new KernelMap({ type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, flags: m.flags ?? 0 });
              maps.push(km);
              // global data as the corpus loaded it: the verifier reads constants from frozen maps
              if (m.initialValue) km.update(new Uint8Array(m.keySize), m.initialValue);
              if (m.frozen) km.freeze();
              fdOf.set(m.fd, km.fd);
            } catch {
              ok = false;
            }
          }
        }
        if (!ok) {
          for (const m of maps) m.close();
          continue;
        }
        targets.push({ id: e.id, prepared, kernelBytes: kernelBytes(prepared.insns, fdOf), maps });
      }
      expect(targets.length).toBeGreaterThan(300);
      const rand = mulberry32(20261125);
      let accepted = 0;
      let compared = 0;
      let kernelRejected = 0;
      let kernelOther = 0;
      const unsafe: string[] = [];
      const thrown: string[] = [];
      for (let i = 0; i < MUTANTS; i++) {
        const t = targets[i % targets.length]!;
        const mutant = mutate(t.prepared.insns, rand);
        let ok: boolean;
        try {
          // a lower budget only turns accepts into rejects, so it cannot hide an unsafe accept;
          // it keeps mutants that loop for 1M instructions from dominating the run time
          ok = verify(mutant, { ...t.prepared.options, logLevel: 0, insnLimit: 20_000 }).ok;
        } catch (e) {
          thrown.push(`${t.id}: ${(e as Error).message}`);
          continue;
        }
        if (!ok) continue;
        accepted++;
        if (!kernel.ok) continue;
        // the same mutation applied to the program with real fds
        const diff = mutant.slice();
        const kb = t.kernelBytes.slice();
        for (let at = 0; at < diff.length; at += 8) {
          const same = diff.subarray(at, at + 8).every((b, k) => b === t.prepared.insns[at + k]);
          if (!same) kb.set(diff.subarray(at, at + 8), at);
        }
        compared++;
        try {
          loadProgram({
            insns: decode(kb),
            progType: t.prepared.options.progType as ProgType,
            expectedAttachType: t.prepared.options.expectedAttachType as AttachType | undefined,
            flags: (t.prepared.options.progFlags ?? 0) & ~(0x4 | 0x80),
            license: t.prepared.options.license || 'GPL',
          }).close();
        } catch (e) {
          if (!(e instanceof VerifierError)) {
            // refused before verification (e.g. EPROTO for a malformed attribute): no verdict
            kernelOther++;
            continue;
          }
          kernelRejected++;
          const line = e.log.trim().split('\n').filter((l) => !/^processed|^verification time|^\d+: /.test(l)).pop() ?? e.message;
          if (MEMORY_SAFETY.test(line) && unsafe.length < 1000) unsafe.push(`${t.id} (mutant ${i}): kernel: ${line}`);
        }
      }
      console.log(
        `mutation fuzz: ${MUTANTS} mutants of ${targets.length} programs, ${accepted} accepted by us; ` +
          (kernel.ok ? `${compared} loaded into the kernel, ${kernelRejected} rejected there, ${unsafe.length} of those for memory safety, ${kernelOther} refused without a verdict` : 'kernel comparison skipped'),
      );
      for (const u of unsafe.slice(0, 20)) console.log('  ' + u);
      expect(thrown).toEqual([]);
      expect(unsafe).toEqual([]);
    } finally {
      for (const t of targets) for (const m of t.maps) m.close();
    }
  }, 600_000);
});
