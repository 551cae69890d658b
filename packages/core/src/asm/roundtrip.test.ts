import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { disassembleLlvm } from '../disasm/llvm.js';
import { disassembleUbpf } from '../disasm/ubpf.js';
import { objdumpListing } from '../disasm/objdump.js';
import { AsmError } from '../errors.js';
import { classify, decode, encode, type Insn } from '../isa/insn.js';
import { unprintableReason } from '../disasm/common.js';
import { arbInsn } from '../test-support/arb.js';
import { hasShared, sharedPath } from '../test-support/shared.js';
import { llvmAssemble, llvmMc } from '../test-support/llvm.js';
import { assembleLlvm } from './llvm.js';
import { assembleUbpf } from './ubpf.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Instructions LLVM has a spelling for: known, no reserved field set, registers r0..r10. */
function llvmExpressible(insn: Insn): boolean {
  const form = classify(insn);
  if (!form || unprintableReason(insn, form)) return false;
  if (form.kind === 'call' && form.target !== 'helper') return false; // pseudo calls: set by the linker
  if (form.kind === 'lddw' && form.pseudo !== 0) return false; // pseudo lddw: set by the loader
  if (form.kind === 'ld_ind' && insn.imm !== 0) return false; // llvm-mc reads only skb[rN]
  // llvm-mc reads a numeric gotol offset as 16 bits (labels get all 32).
  if (form.kind === 'ja' && form.long && (insn.imm < -32768 || insn.imm > 32767)) return false;
  return true;
}

/** Raw instructions biased towards valid ones: opcodes that exist, fields often 0 or small. */
const field = (min: number, max: number) =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.integer({ min: -8, max: 64 }).filter((v) => v >= min && v <= max), fc.integer({ min, max }));
const arbLikelyValid: fc.Arbitrary<Insn> = fc
  .record({
    op: fc.integer({ min: 0, max: 255 }).filter((op) => classify({ op, dst: 0, src: 0, off: 0, imm: 0 }) !== undefined || (op & 7) === 3 || (op & 7) === 4 || (op & 7) === 7),
    dst: fc.integer({ min: 0, max: 10 }),
    src: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 10 })),
    off: field(-32768, 32767),
    imm: fc.oneof(field(-0x80000000, 0x7fffffff), fc.constantFrom(16, 32, 64, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1)),
    hi: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  })
  .map(({ hi, ...f }) => (f.op === 0x18 ? { ...f, wide: { imm: hi, head: 0 } } : f));

describe('assemble(disassemble(p)) == p', () => {
  it('for >= 100k generated raw instructions, in both syntaxes (unknown slots as .quad)', () => {
    let count = 0;
    fc.assert(
      fc.property(fc.array(arbInsn, { minLength: 100, maxLength: 200 }), (insns) => {
        count += insns.length;
        const bytes = hex(encode(insns));
        expect(hex(encode(assembleLlvm(disassembleLlvm(insns)).insns))).toBe(bytes);
        expect(hex(encode(assembleUbpf(disassembleUbpf(insns)).insns))).toBe(bytes);
      }),
      { numRuns: 700 },
    );
    expect(count).toBeGreaterThanOrEqual(100_000);
  });
});

describe.runIf(llvmMc)('against llvm-mc', () => {
  it('encodes 20k generated instructions exactly as llvm-mc does', () => {
    const insns = fc
      .sample(arbLikelyValid.filter(llvmExpressible), { numRuns: 20_000, seed: 42 });
    const text = disassembleLlvm(insns);
    const ours = encode(assembleLlvm(text).insns);
    const back = assembleLlvm(text).insns;
    insns.forEach((insn, i) => expect(hex(encode([back[i]])), text.split('\n')[i]).toBe(hex(encode([insn]))));
    const theirs = llvmAssemble(text);
    // Report the first differing instruction, not a 300 KB hex string.
    const lines = text.trim().split('\n');
    let slot = 0;
    for (let i = 0; i < insns.length; i++) {
      const n = insns[i].wide ? 16 : 8;
      expect(hex(theirs.subarray(slot * 8, slot * 8 + n)), lines[i]).toBe(hex(ours.subarray(slot * 8, slot * 8 + n)));
      slot += n / 8;
    }
    expect(theirs.length).toBe(ours.length);
  });

  it.runIf(hasShared('bench'))('assembles every benchmark program as llvm-mc does, with and without KERNEL', () => {
    const dir = sharedPath('bench');
    const readFile = (p: string) => readFileSync(`${dir}/${p}`, 'utf8');
    for (const name of ['null', 'alu200', 'csum1500', 'hash1000', 'loop100k', 'loop1m', 'loop1m_const']) {
      const src = readFile(`${name}.s`);
      for (const kernel of [false, true]) {
        const ours = encode(assembleLlvm(src, { readFile, defines: kernel ? { KERNEL: 1 } : {} }).insns);
        const theirs = llvmAssemble(src.replace(/\.include "prologue.inc"/, readFile('prologue.inc')), kernel ? ['KERNEL=1'] : []);
        expect(hex(ours), `${name} KERNEL=${kernel}`).toBe(hex(theirs));
      }
      // bench/bin holds the user-space builds, assembled by the suite's authors.
      expect(hex(encode(assembleLlvm(src, { readFile }).insns)), name).toBe(hex(readFileSync(`${dir}/bin/${name}.bin`)));
    }
  });
});

describe.runIf(hasShared('verifier-corpus', 'corpus.jsonl'))('the verifier corpus', () => {
  it('disassembles every program, in both syntaxes and as a listing, without an unknown line, and reassembles it', () => {
    const lines = readFileSync(sharedPath('verifier-corpus', 'corpus.jsonl'), 'utf8').trim().split('\n');
    let programs = 0;
    for (const line of lines) {
      const entry = JSON.parse(line) as { id: string; insns_hex: string };
      const bytes = Uint8Array.from(Buffer.from(entry.insns_hex, 'hex'));
      const insns = decode(bytes);
      const llvm = disassembleLlvm(insns, { labels: true });
      const ubpf = disassembleUbpf(insns, { labels: true });
      const listing = objdumpListing(insns);
      for (const text of [llvm, ubpf, listing]) expect(text, entry.id).not.toMatch(/unknown/i);
      expect(hex(encode(assembleLlvm(llvm).insns)), entry.id).toBe(entry.insns_hex);
      expect(hex(encode(assembleUbpf(ubpf).insns)), entry.id).toBe(entry.insns_hex);
      programs++;
    }
    expect(programs).toBe(1440);
  });
});

describe('bad input', () => {
  const vocabulary = [
    'r0', 'r1', 'w1', 'r10', 'r11', '%r1', '%r', '=', '+=', 's>>=', '*', '(', ')', '[', ']', 'u32', 's8', 'u64',
    'if', 'goto', 'gotol', 'call', 'exit', 'lock', 'll', '-', '+', ',', ':', 'mov', 'add32', 'ldxdw', 'stb',
    'jsgt32', 'lddw', 'fetch', 'xchg', 'cmpxchg32', 'local', '0x', '0xffffffffffffffffff', '-2147483649',
    '4294967295', '65536', '-32769', '.quad', '.include', '.ifdef', '.endif', '.else', '"x"', 'skb', 'be16',
    'atomic_fetch_add', 'xchg_64', 'cmpxchg_64', 'addr_space_cast', 'map_fd', 'kfunc', 'label', 'label:', '\n',
    'may_goto', 'callx', '#', ';', 's/=', '&', '==', 'bpf_map_lookup_elem', 'bswap64', 'movsx832', '(s8)',
  ];
  const arbText = fc.oneof(
    fc.array(fc.constantFrom(...vocabulary), { maxLength: 12 }).map((t) => t.join(' ')),
    fc.string({ maxLength: 40 }),
    fc.array(fc.constantFrom(...vocabulary), { maxLength: 12 }).map((t) => t.join('')),
  );

  it('fuzz: >= 100k random texts give programs or a typed AsmError with a position', () => {
    let runs = 0;
    fc.assert(
      fc.property(arbText, fc.boolean(), (text, llvm) => {
        runs++;
        try {
          if (llvm) assembleLlvm(text);
          else assembleUbpf(text);
        } catch (e) {
          if (!(e instanceof AsmError)) throw e;
          expect(e.code).toMatch(/^E_ASM_/);
          expect(e.line).toBeGreaterThanOrEqual(1);
          expect(e.column).toBeGreaterThanOrEqual(1);
        }
      }),
      { numRuns: 100_000 },
    );
    expect(runs).toBe(100_000);
  });

  // Each row: syntax, source, expected code, line, column, and a fragment of the message.
  const cases: Array<[string, string, string, number, number, string]> = [
    ['llvm', 'r0 = 1\nr11 = 2', 'E_ASM_SYNTAX', 2, 1, 'expected an instruction'],
    ['llvm', 'r0 = *(u32 *)(x1 + 4)', 'E_ASM_BAD_REGISTER', 1, 15, 'expected a register such as r1'],
    ['llvm', 'if w1 s> 5 goto nowhere\nexit', 'E_ASM_UNKNOWN_LABEL', 1, 17, "unknown label 'nowhere'"],
    ['llvm', 'r1 = 4294967296', 'E_ASM_RANGE', 1, 6, 'does not fit in 32 bits'],
    ['llvm', '*(u32 *)(r1 + 70000) = r2', 'E_ASM_RANGE', 1, 15, 'does not fit in 16 bits'],
    ['llvm', 'call bpf_no_such_helper', 'E_ASM_UNKNOWN_HELPER', 1, 6, 'neither a helper nor a label'],
    ['llvm', 'a:\na:\nexit', 'E_ASM_DUPLICATE_LABEL', 2, 1, 'already defined at line 1'],
    ['llvm', 'if r1 => r2 goto +1', 'E_ASM_SYNTAX', 1, 7, 'expected a comparison'],
    ['llvm', 'w1 += r2', 'E_ASM_BAD_REGISTER', 1, 7, 'expected a wN register'],
    ['llvm', '.ifdef X\nr0 = 0', 'E_ASM_DIRECTIVE', 2, 1, 'has no .endif'],
    ['llvm', '.include "p.inc"', 'E_ASM_DIRECTIVE', 1, 1, 'needs a readFile option'],
    ['ubpf', 'mov %r0, 1\nfoo %r1, 2', 'E_ASM_UNKNOWN_MNEMONIC', 2, 1, "unknown mnemonic 'foo'"],
    ['ubpf', 'ldxw %r0, %r1+4', 'E_ASM_SYNTAX', 1, 11, "expected '[' starting a memory operand"],
    ['ubpf', 'jeq %r1, 0, nowhere', 'E_ASM_UNKNOWN_LABEL', 1, 13, "unknown label 'nowhere'"],
    ['ubpf', 'mov32 %r12, 1', 'E_ASM_BAD_REGISTER', 1, 7, 'expected a register such as'],
    ['ubpf', 'lock fetch nand [%r10-8], %r1', 'E_ASM_UNKNOWN_MNEMONIC', 1, 12, 'unknown atomic operation'],
    ['ubpf', 'lddw %r0, 0x10000000000000000', 'E_ASM_RANGE', 1, 11, 'does not fit in 64 bits'],
    ['ubpf', 'movsx3232 %r0, %r1', 'E_ASM_UNKNOWN_MNEMONIC', 1, 1, 'cannot sign-extend 32 bits'],
  ];
  it.each(cases)('%s: %j -> %s at %i:%i', (syntax, source, code, line, column, fragment) => {
    const run = () => (syntax === 'llvm' ? assembleLlvm(source) : assembleUbpf(source));
    expect(run).toThrow(AsmError);
    try {
      run();
    } catch (e) {
      const err = e as AsmError;
      expect({ code: err.code, line: err.line, column: err.column }).toEqual({ code, line, column });
      expect(err.message).toContain(fragment);
      expect(err.message.startsWith(`${line}:${column}: `)).toBe(true);
    }
  });
});
