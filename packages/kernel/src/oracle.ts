import {
  MapType, PseudoLd, ProgType, AttachType, VerifierError, classify, lddw,
  make, slotIndexes, type Insn, type MapSpec,
} from '@tsbpf/core';
import { KernelBackend } from './backend.js';
import type { KernelMap } from './map.js';

/** What the kernel made of a program: its 64-bit r0, or the verifier's rejection. */
export type OracleResult =
  | { accepted: true; r0: bigint; durationNs: number }
  | { accepted: false; error: string; log: string };

/** Extra slots the wrapper adds before the program. */
const PROLOGUE_SLOTS = 8;

/**
 * Finds where the main function ends: the first slot that a bpf-to-bpf call or a `BPF_PSEUDO_FUNC`
 * lddw targets (subprograms follow the main function, as in the kernel).
 */
function mainEnd(insns: readonly Insn[]): number {
  const slots = slotIndexes(insns);
  const total = insns.length ? slots[insns.length - 1] + (insns[insns.length - 1].wide ? 2 : 1) : 0;
  let end = total;
  insns.forEach((insn, i) => {
    const form = classify(insn);
    const isCall = form?.kind === 'call' && form.target === 'local';
    const isFunc = form?.kind === 'lddw' && form.pseudo === PseudoLd.FUNC;
    if (isCall || isFunc) {
      const to = slots[i] + 1 + insn.imm;
      if (to > 0 && to < end) end = to;
    }
  });
  return end;
}

/**
 * Rewrites a program written for the uBPF / bpf_conformance convention (r1 = input memory,
 * r2 = its length, any 64-bit r0) into an XDP program the kernel can test-run:
 * - a prologue loads `data`/`data_end` from `struct xdp_md`, proves to the verifier that `memLen`
 *   bytes are there, and sets r1 = data, r2 = memLen;
 * - each `exit` of the main function jumps to an epilogue that stores the full 64-bit r0 into an
 *   array map (XDP's own return value is only 32 bits) before exiting.
 */
export function wrapForXdp(insns: readonly Insn[], memLen: number, resultMapFd: number): Insn[] {
  const end = mainEnd(insns);
  const slots = slotIndexes(insns);
  const epilogue: Insn[] = [
    { ...lddw(1, 0n, PseudoLd.MAP_VALUE), imm: resultMapFd, wide: { imm: 0, head: 0 } },
    make.stx(8, 1, 0, 0),
    make.exit(),
  ];
  const epiSlots = 4;
  const body: Insn[] = [];
  let epilogueAt = -1;
  insns.forEach((insn, i) => {
    const slot = slots[i];
    if (slot === end) epilogueAt = body.length;
    const form = classify(insn);
    if (slot < end && form?.kind === 'exit') {
      // A jump to the epilogue, which sits at `end` (in slots of the original program).
      body.push(make.ja(end - (slot + 1)));
      return;
    }
    const isCall = form?.kind === 'call' && form.target === 'local';
    const isFunc = form?.kind === 'lddw' && form.pseudo === PseudoLd.FUNC;
    if ((isCall || isFunc) && slot < end && slot + 1 + insn.imm >= end) {
      body.push({ ...insn, imm: insn.imm + epiSlots });
      return;
    }
    body.push(insn);
  });
  if (epilogueAt < 0) epilogueAt = body.length;
  body.splice(epilogueAt, 0, ...epilogue);
  const prologue: Insn[] = [
    make.ldx(4, 2, 1, 4), // r2 = data_end
    make.ldx(4, 1, 1, 0), // r1 = data
    make.alu('mov', true, 3, 1), // r3 = r1
    make.alu('add', true, 3, undefined, memLen), // r3 += memLen
    make.jcond('jle', false, 3, 2, 0, 2), // if r3 <= r2 goto +2
    make.alu('mov', true, 0, undefined, 0),
    make.exit(),
    make.alu('mov', true, 2, undefined, memLen), // r2 = memLen
  ];
  return [...prologue, ...body];
}

/**
 * The kernel as a test oracle: later differential tests (maps, interpreter, verifier, JIT) ask it
 * what the real kernel does. One instance holds its maps; `close()` releases everything.
 *
 * @example
 * ```ts
 * const oracle = new KernelOracle();
 * oracle.run(assemble('mov %r0, 7\nexit').insns);   // { accepted: true, r0: 7n, ... }
 * oracle.close();
 * ```
 */
export class KernelOracle {
  readonly backend = new KernelBackend();
  private readonly result: KernelMap;

  constructor() {
    this.result = this.backend.createMap({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1, name: 'tsbpf_r0' });
  }

  /** Creates a kernel map (for programs that reference it with `lddw rX, map_fd(fd)`). */
  createMap(spec: MapSpec): KernelMap {
    return this.backend.createMap(spec);
  }

  /**
   * Runs a uBPF-convention program once (r1 = `mem`, r2 = its length) as XDP through
   * `BPF_PROG_TEST_RUN`, returning its full 64-bit r0, or the verifier's rejection.
   */
  run(insns: readonly Insn[], opts: { mem?: Uint8Array; repeat?: number } = {}): OracleResult {
    const mem = opts.mem ?? new Uint8Array();
    const wrapped = wrapForXdp(insns, mem.length, this.result.fd);
    // XDP test runs need at least an Ethernet header of data.
    const data = new Uint8Array(Math.max(mem.length, 14));
    data.set(mem);
    let prog;
    try {
      prog = this.backend.load({ insns: wrapped, progType: ProgType.Xdp, expectedAttachType: AttachType.Xdp, license: 'GPL', name: 'tsbpf_oracle' });
    } catch (e) {
      if (e instanceof VerifierError) return { accepted: false, error: e.message, log: e.log };
      const err = e as Error;
      return { accepted: false, error: err.message, log: '' };
    }
    try {
      const zero = new Uint8Array(4);
      this.result.update(zero, new Uint8Array(8));
      const r = prog.testRun({ data, repeat: opts.repeat ?? 1 });
      const value = this.result.lookup(zero)!;
      return { accepted: true, r0: new DataView(value.buffer).getBigUint64(0, true), durationNs: r.durationNs ?? 0 };
    } finally {
      prog.close();
    }
  }

  close(): void {
    this.backend.close();
  }
}
