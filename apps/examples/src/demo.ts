// `npm start`: what tsbpf does today, on real inputs, printing real results.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AsmError, assembleLlvm, decode, disassembleLlvm, disassembleUbpf, encode, objdumpListing,
  parseConformanceData, program, Mov, Add, JLT, Exit, label, R0, R1,
} from '@tsbpf/core';

const shared = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'shared');
const section = (title: string) => console.log(`\n== ${title} ${'='.repeat(Math.max(0, 70 - title.length))}`);

// A program from the bpf_conformance suite (uBPF syntax), or a built-in one without ../shared.
const FALLBACK = `# sum of 1..10
mov %r0, 0
mov %r1, 1
loop:
add %r0, %r1
add %r1, 1
jle %r1, 10, loop
exit
-- result
0x37`;
const file = resolve(shared, 'conformance', 'tests', 'prime.data');
const text = existsSync(file) ? readFileSync(file, 'utf8') : `-- asm\n${FALLBACK}`;
const test = parseConformanceData(text, existsSync(file) ? 'prime.data' : 'sum.data');
const insns = test.program();

section(`${test.name}: assembled from uBPF syntax (${insns.length} instructions, expected r0 = ${test.result})`);
console.log(disassembleUbpf(insns, { labels: true }));

section('the same program in LLVM / kernel syntax');
console.log(disassembleLlvm(insns, { labels: true }));

section('llvm-objdump -d style listing');
console.log(objdumpListing(insns));

section('round trip');
const bytes = encode(insns);
const again = encode(assembleLlvm(disassembleLlvm(insns)).insns);
console.log(`${bytes.length} bytes; decode -> LLVM text -> assemble gives identical bytes: ${Buffer.compare(Buffer.from(bytes), Buffer.from(again)) === 0}`);
console.log(`decode(encode(p)) instructions: ${decode(bytes).length}`);

if (existsSync(resolve(shared, 'conformance', 'tests'))) {
  section('the whole bpf_conformance suite');
  let ok = 0;
  let slots = 0;
  const files = readdirSync(resolve(shared, 'conformance', 'tests')).filter((f) => f.endsWith('.data'));
  for (const f of files) {
    const p = parseConformanceData(readFileSync(resolve(shared, 'conformance', 'tests', f), 'utf8'), f).program();
    const b = encode(p);
    if (Buffer.compare(Buffer.from(encode(assembleLlvm(disassembleLlvm(p)).insns)), Buffer.from(b)) === 0) ok++;
    slots += b.length / 8;
  }
  console.log(`${files.length} programs, ${slots} instruction slots; ${ok} round-trip through LLVM syntax byte for byte`);
}

section('the builder DSL');
const built = program(Mov.imm(R0, 0), Mov.imm(R1, 1), label('loop'), Add.reg(R0, R1), Add.imm(R1, 1), JLT.imm(R1, 11, 'loop'), Exit());
console.log(disassembleLlvm(built, { labels: true }));

section('bad input gets a typed error with a position');
try {
  assembleLlvm('r0 = 1\nif r1 s> w2 goto +1\nexit');
} catch (e) {
  if (!(e instanceof AsmError)) throw e;
  console.log(`${e.code} at ${e.line}:${e.column}: ${e.message}`);
}
