import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MapError, MapType, NotSupportedError, ProgType, RuntimeError, assembleLlvm, decode, make, lddw, type Insn } from '@tsbpf/core';
import { Runtime } from '@tsbpf/helpers';
import { InterpBackend } from '@tsbpf/interp';
import { describePluginSuite, describeRuntimeSuite, expectRuntimeError, mulberry32 } from '@tsbpf/testkit';
import { JitBackend } from './backend.js';
import { buildCfg } from './cfg.js';
import { compileProgram, slotProgram } from './compile.js';
import { Bytes, I64, ModuleBuilder, Op } from './wasm.js';

const asm = (s: string) => assembleLlvm(s).insns;

describeRuntimeSuite('jit-wasm', () => new JitBackend());
describePluginSuite('jit-wasm', ['--backend', 'jit-wasm']);

/** r0 or the error code and slot of a run. */
function outcome(run: () => { r0: bigint }): string {
  try {
    return `0x${run().r0.toString(16)}`;
  } catch (e) {
    if (e instanceof RuntimeError) return `${e.code}@${e.pc}`;
    if (e instanceof NotSupportedError || e instanceof MapError) return e.code;
    throw e;
  }
}

describe('control flow', () => {
  it('an irreducible loop (two entries) runs through the dispatch fallback, with the interpreter\'s result', () => {
    // Both L1 and L2 are reachable from the entry, and each jumps to the other: no header dominates.
    const prog = asm(`
      r0 = 0
      r3 = 20
      if r1 == 0 goto L2
    L1:
      r0 += 3
      r3 -= 1
      if r3 == 0 goto out
    L2:
      r0 += 5
      r3 -= 1
      if r3 != 0 goto L1
    out:
      exit`);
    const cfg = buildCfg(slotProgram(prog), 0, new Uint8Array(prog.length), new Uint8Array(prog.length));
    expect(cfg.reducible).toBe(false);
    const c = compileProgram(slotProgram(prog), { scratch: 8192, stackLimit: 1 << 16, moduleName: 't' });
    expect(c.dispatched).toEqual([0]);
    const j = new JitBackend();
    const i = new InterpBackend();
    for (const mem of [new Uint8Array(), Uint8Array.of(1)]) {
      expect(j.runRaw(prog, mem).r0).toBe(i.runRaw(prog, mem).r0);
    }
    // r1 = 0 enters at L2: 10 rounds of +5 and 10 of +3; otherwise starts at L1: the same sums.
    expect(j.runRaw(prog, new Uint8Array()).r0).toBe(80n);
    expect(expectRuntimeError(() => j.runRaw(asm('r0 = 0\nif r1 == 0 goto +1\nl:\nr0 += 1\ngoto l'), new Uint8Array(), { budget: 1000 }), 'E_BUDGET', -1)).toBeTruthy();
  });

  it('nested loops, a loop whose exit is a merge, and a diamond inside a loop match the interpreter', () => {
    const prog = asm(`
      r0 = 0
      r6 = 0
    outer:
      r7 = 0
    inner:
      r8 = r7
      r8 &= 1
      if r8 == 0 goto even
      r0 += r7
      goto next
    even:
      r0 ^= r6
    next:
      r7 += 1
      if r7 < 10 goto inner
      r6 += 1
      if r6 == 3 goto done
      if r6 < 7 goto outer
    done:
      exit`);
    expect(new JitBackend().runRaw(prog, new Uint8Array()).r0).toBe(new InterpBackend().runRaw(prog, new Uint8Array()).r0);
  });

  it('a program of 100,000 instructions in one straight line and one of 4,000 if-then diamonds compile and run', () => {
    const line: Insn[] = [make.alu('mov', true, 0, undefined, 0)];
    for (let i = 0; i < 100_000; i++) line.push(make.alu('add', true, 0, undefined, i & 7));
    line.push(make.exit());
    expect(new JitBackend().runRaw(line, new Uint8Array()).r0).toBe(BigInt(12_500 * 28));
    const diamonds: Insn[] = [make.alu('mov', true, 0, undefined, 0)];
    for (let i = 0; i < 4000; i++) {
      diamonds.push(make.jcond('jeq', false, 1, undefined, 0, 1), make.alu('add', true, 0, undefined, 1), make.alu('add', true, 0, undefined, 2));
    }
    diamonds.push(make.exit());
    // r1 = 0 (no memory): every jump is taken, so only the +2s run.
    expect(new JitBackend().runRaw(diamonds, new Uint8Array()).r0).toBe(8000n);
  });
});

describe('the sandbox', () => {
  it('without NULL checks a NULL read stays inside the memory (reads the never-allocated first page), and past the end still traps with its slot', () => {
    const b = new JitBackend({ nullChecks: false });
    expect(b.runRaw(asm('r0 = *(u64 *)(r1 + 0)\nexit'), new Uint8Array()).r0).toBe(0n);
    expectRuntimeError(() => b.runRaw(asm('r0 = 1\nr1 += 0x7ffffff0\nr0 = *(u32 *)(r1 + 4)\nexit'), new Uint8Array(4)), 'E_MEM_FAULT', 2);
    expectRuntimeError(() => b.runRaw(asm('r0 = 1\nr1 += -0x7ffffff0\nr0 = *(u32 *)(r1 - 8)\nexit'), new Uint8Array(4)), 'E_MEM_FAULT', 2);
  });

  it('a trap in a subprogram names the subprogram\'s instruction', () => {
    const e = expectRuntimeError(() => new JitBackend().runRaw(asm('call f\nexit\nf:\nr1 = 0x7ffffff0\n*(u64 *)(r1 + 0x7fff) = r1\nexit'), new Uint8Array()), 'E_MEM_FAULT', 3);
    expect(e.message).toContain('invalid write of 8 bytes outside guest memory');
  });

  it('garbage programs (10,000 of random instruction words) never crash the host and fail or succeed exactly like the interpreter', () => {
    const rand = mulberry32(0x5eed);
    // The two lay their regions out differently (the JIT keeps its stack, the interpreter
    // allocates one per run); 64 KiB of padding first in both keeps r1 and r10 plus any 16-bit
    // offset away from the NULL page, so a fault depends on the program, not on the layout.
    const padded = () => {
      const rt = new Runtime();
      rt.space.alloc(65536, 'padding');
      return rt;
    };
    const jit = new JitBackend({ runtime: padded() });
    const interp = new InterpBackend({ runtime: padded() });
    let compared = 0;
    let faults = 0;
    const diffs: string[] = [];
    for (let n = 0; n < 10_000; n++) {
      // Mostly valid opcodes with random registers and fields, sometimes pure noise.
      const bytes = new Uint8Array(8 * (1 + Math.floor(rand() * 12)));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
      for (let s = 0; s < bytes.length; s += 8) {
        if (rand() < 0.8) bytes[s] = [0x07, 0xb7, 0xbf, 0x0f, 0x15, 0x05, 0x61, 0x79, 0x7b, 0x63, 0x95, 0x18, 0x85, 0x34, 0x3c, 0xdb, 0xc3, 0xd4, 0xdc, 0x2d, 0xa6][Math.floor(rand() * 21)];
        if (rand() < 0.7) bytes[s + 1] &= 0xaa; // registers mostly in range
        if (rand() < 0.5) bytes[s + 3] = rand() < 0.5 ? 0 : 0xff; // short jumps, small offsets
        if (rand() < 0.3) bytes[s + 2] = Math.floor(rand() * 4) - 1;
      }
      const insns = decode(bytes);
      const mem = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
      const i = outcome(() => interp.runRaw(insns, mem, { budget: 100_000 }));
      const j = outcome(() => jit.runRaw(insns, mem, { budget: 100_000 }));
      if (i.startsWith('E_BUDGET') || j.startsWith('E_BUDGET')) continue; // the budgets count differently
      compared++;
      if (i.startsWith('E_')) faults++;
      if (i !== j && diffs.length < 5) diffs.push(`program ${Buffer.from(bytes).toString('hex')}: jit ${j}, interp ${i}`);
    }
    console.log(`garbage programs: ${compared} compared (${faults} fault on both), ${diffs.length} differences`);
    expect(diffs).toEqual([]);
    expect(faults).toBeGreaterThan(1000);
    // And the backend still works.
    expect(jit.runRaw(asm('r0 = 7\nexit'), new Uint8Array()).r0).toBe(7n);
  });
});

describe('arithmetic (property tests against the interpreter)', () => {
  const jit = new JitBackend();
  const interp = new InterpBackend();
  const ops = ['add', 'sub', 'mul', 'div', 'sdiv', 'mod', 'smod', 'or', 'and', 'xor', 'lsh', 'rsh', 'arsh', 'mov', 'neg', 'movsx'] as const;
  const edge = fc.oneof(fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n }), fc.constantFrom(0n, 1n, -1n, 1n << 63n, (1n << 63n) - 1n, 1n << 32n, 0xffffffffn, 0x80000000n, 63n, 64n, 32n));
  it('every ALU operation, 32 and 64 bit, register and immediate operand, gives the interpreter\'s result', () => {
    fc.assert(fc.property(fc.constantFrom(...ops), fc.boolean(), fc.boolean(), edge, edge, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (op, is64, useImm, a, b, imm) => {
      const body: Insn = op === 'neg' ? make.alu('neg', is64, 0, undefined)
        : op === 'movsx' ? make.alu('movsx', is64, 0, 1, 0, is64 ? 16 : 8)
          : useImm ? make.alu(op, is64, 0, undefined, imm) : make.alu(op, is64, 0, 1);
      const prog = [lddw(0, a), lddw(1, b), body, make.exit()];
      expect(jit.runRaw(prog, new Uint8Array()).r0).toBe(interp.runRaw(prog, new Uint8Array()).r0);
    }), { numRuns: 3000 });
  });

  it('an add of a register just shifted left (compiled as a subtraction of its negation) adds', () => {
    fc.assert(fc.property(edge, edge, fc.integer({ min: 1, max: 3 }), (a, b, k) => {
      const prog = [lddw(0, a), lddw(1, b), make.alu('lsh', true, 1, undefined, k), make.alu('add', true, 0, 1), make.exit()];
      expect(jit.runRaw(prog, new Uint8Array()).r0).toBe(BigInt.asUintN(64, a + BigInt.asUintN(64, b << BigInt(k))));
    }), { numRuns: 500 });
  });

  it('every conditional jump, JMP and JMP32, register and immediate, branches as the interpreter does', () => {
    const jmps = ['jeq', 'jne', 'jgt', 'jge', 'jlt', 'jle', 'jsgt', 'jsge', 'jslt', 'jsle', 'jset'] as const;
    fc.assert(fc.property(fc.constantFrom(...jmps), fc.boolean(), fc.boolean(), edge, edge, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (j, is32, useImm, a, b, imm) => {
      const prog = [lddw(2, a), lddw(3, b), make.alu('mov', true, 0, undefined, 1), useImm ? make.jcond(j, is32, 2, undefined, imm, 1) : make.jcond(j, is32, 2, 3, 0, 1), make.alu('mov', true, 0, undefined, 2), make.exit()];
      expect(jit.runRaw(prog, new Uint8Array()).r0).toBe(interp.runRaw(prog, new Uint8Array()).r0);
    }), { numRuns: 2000 });
  });

  it('byte swaps and loads/stores of every size round-trip as the interpreter does', () => {
    fc.assert(fc.property(edge, fc.constantFrom('le', 'be', 'swap'), fc.constantFrom(16, 32, 64), fc.constantFrom(1, 2, 4, 8), fc.boolean(), (a, to, bits, size, signed) => {
      const prog = [lddw(0, a), make.end(to as 'le', bits as 16, 0), make.stx(8, 10, -8, 0), make.ldx(size as 1, 0, 10, -8 + (size === 8 ? 0 : 8 - size), signed && size !== 8), make.exit()];
      expect(jit.runRaw(prog, new Uint8Array()).r0).toBe(interp.runRaw(prog, new Uint8Array()).r0);
    }), { numRuns: 1500 });
  });
});

describe('the WebAssembly writer', () => {
  /** What the engine reads back from `i64.const v`: an independent decoder of our LEB128. */
  function roundTrip(v: bigint): bigint {
    const m = new ModuleBuilder('leb');
    const code = new Bytes();
    const u = BigInt.asUintN(64, v);
    code.byte(Op.i64_const).s64(Number(u & 0xffffffffn), Number(BigInt.asIntN(32, u >> 32n))).byte(Op.end);
    m.addFunc({ type: { params: [], results: [I64] }, locals: [], code, name: 'f', exportAs: 'f' });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(m.build().bytes), { env: { memory: new WebAssembly.Memory({ initial: 1 }) } });
    return (inst.exports.f as () => bigint)();
  }
  it('signed LEB128 of every 64-bit value decodes to the value (the engine is the decoder)', () => {
    fc.assert(fc.property(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), (v) => {
      expect(roundTrip(v)).toBe(v);
    }), { numRuns: 500 });
    for (const v of [0n, -1n, 63n, 64n, -64n, -65n, (1n << 31n) - 1n, -(1n << 31n), 1n << 32n, (1n << 63n) - 1n, -(1n << 63n)]) expect(roundTrip(v)).toBe(v);
  });
});

describe('map lookups', () => {
  it('a lookup whose map is loaded in the same block calls the map directly, with the generic helper\'s results', () => {
    const b = new JitBackend();
    const m = b.createMap({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 8 });
    for (const k of [1, 2, 3]) m.update(Uint8Array.of(k, 0, 0, 0), Uint8Array.of(k * 10, 0, 0, 0, 0, 0, 0, 0));
    // Sum of the values of keys 0..4 (absent keys count 0); `direct` loads the map right before
    // the call, the other copies it through r6 first (r1 comes from another block: generic path).
    const prog = (direct: boolean) => asm(`
      r6 = map_fd(${m.fd}) ll
      r7 = 0
      r8 = 0
    l:
      *(u32 *)(r10 - 4) = r8
      ${direct ? `r1 = map_fd(${m.fd}) ll` : 'r1 = r6'}
      r2 = r10
      r2 += -4
      call bpf_map_lookup_elem
      if r0 == 0 goto skip
      r3 = *(u64 *)(r0 + 0)
      r7 += r3
    skip:
      r8 += 1
      if r8 < 5 goto l
      r0 = r7
      exit`);
    const fast = b.load({ insns: prog(true), progType: ProgType.SocketFilter });
    const slow = b.load({ insns: prog(false), progType: ProgType.SocketFilter });
    expect(fast.compiled.mapLookups).toEqual([m.fd]);
    expect(fast.run().r0).toBe(60n);
    expect(slow.run().r0).toBe(60n);
    expect(new InterpBackend({ runtime: b.runtime }).load({ insns: prog(true), progType: ProgType.SocketFilter }).run().r0).toBe(60n);
  });
});

describe('test runs', () => {
  it('a packet program through testRun: the same context, packet and result as the interpreter', () => {
    const src = 'r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr0 = r3\nr0 -= r2\nr4 = r2\nr4 += 1\nif r4 > r3 goto out\n*(u8 *)(r2 + 0) = 0x99\nout:\nexit';
    const data = Uint8Array.of(1, 2, 3, 4, 5);
    const j = new JitBackend().load({ insns: asm(src), progType: ProgType.Xdp }).testRun({ data, repeat: 3 });
    const i = new InterpBackend().load({ insns: asm(src), progType: ProgType.Xdp }).testRun({ data });
    expect(j.retval).toBe(5n);
    expect(j.dataOut).toEqual(i.dataOut);
    expect(j.dataOut![0]).toBe(0x99);
  });
});
