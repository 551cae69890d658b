// `npm start`: what tsbpf does today, on real inputs, printing real results.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InterpBackend } from '@tsbpf/interp';
import { JitBackend } from '@tsbpf/jit-wasm';
import { verify } from '@tsbpf/verifier';
import { RingBufMap, TypedMap, struct, u32, u64 } from '@tsbpf/maps';
import {
  AsmError, MapType, ProgType, assembleLlvm, decode, disassembleLlvm, disassembleUbpf, encode, objdumpListing,
  parseConformanceData, program, Mov, Add, JLT, Exit, label, R0, R1, openObject, loadObjectInto, sourceLocation,
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

section('running it on the embedded backend (the interpreter)');
const interp = new InterpBackend({ context: { pid: 4242, tgid: 4242, comm: 'demo' } });
const prime = interp.runRaw(insns, test.mem);
console.log(`${test.name}: r0 = 0x${prime.r0.toString(16)} (expected 0x${test.result?.toString(16)}), ${prime.insns} instructions executed`);

// A packet program with maps: counts packets by their first byte into a hash map and sends an
// event for each to a ring buffer, like a small BCC tool.
const counts = interp.createMap({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 64, name: 'counts' });
const events = interp.createMap({ type: MapType.Ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096, name: 'events' }) as RingBufMap;
const counter = interp.load({
  progType: ProgType.Xdp,
  name: 'count_first_byte',
  insns: assembleLlvm(`
    r6 = *(u32 *)(r1 + 0)          # data
    r7 = *(u32 *)(r1 + 4)          # data_end
    r2 = r6
    r2 += 1
    if r2 > r7 goto pass
    r8 = *(u8 *)(r6 + 0)
    *(u32 *)(r10 - 4) = r8
    r2 = r10
    r2 += -4
    r1 = map_fd(${counts.fd}) ll
    call bpf_map_lookup_elem
    if r0 != 0 goto bump
    *(u64 *)(r10 - 16) = 0
    r1 = map_fd(${counts.fd}) ll
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 0
    call bpf_map_update_elem
    r2 = r10
    r2 += -4
    r1 = map_fd(${counts.fd}) ll
    call bpf_map_lookup_elem
    if r0 == 0 goto pass
  bump:
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
    r1 = map_fd(${events.fd}) ll
    r2 = 16
    r3 = 0
    call bpf_ringbuf_reserve
    if r0 == 0 goto pass
    *(u32 *)(r0 + 0) = r8
    r9 = r0
    call bpf_get_current_pid_tgid
    *(u32 *)(r9 + 4) = r0
    call bpf_ktime_get_ns
    *(u64 *)(r9 + 8) = r0
    r1 = r9
    r2 = 0
    call bpf_ringbuf_submit
  pass:
    r0 = 2                          # XDP_PASS
    exit`).insns,
});
for (const first of [1, 2, 2, 3, 3, 3]) counter.testRun({ data: Uint8Array.of(first, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) });
const typed = new TypedMap(counts, u32, u64);
console.log('counts (first byte -> packets):', [...typed.entries()].map(([k, v]) => `${k}:${v}`).join(' '));
const evt = struct({ first: u32, pid: u32, ts: u64 });
const records = events.consume().map((r) => evt.decode(new DataView(r.buffer), 0));
console.log(`ring buffer: ${records.length} events, first ${JSON.stringify(records[0], (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`);

section('the same programs on the WebAssembly JIT (jit-wasm)');
{
  // The JIT shares the interpreter's runtime: the same address space, maps and helpers.
  const jit = new JitBackend({ runtime: interp.runtime });
  const onJit = jit.runRaw(insns, test.mem);
  console.log(`${test.name}: r0 = 0x${onJit.r0.toString(16)} on jit-wasm (interpreter: 0x${prime.r0.toString(16)})`);
  const jitCounter = jit.load({ insns: counter.spec.insns, progType: ProgType.Xdp, name: 'count_first_byte' });
  jitCounter.testRun({ data: Uint8Array.of(3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) });
  console.log('counts after one more packet on the JIT, read from the same map:', [...typed.entries()].map(([k, v]) => `${k}:${v}`).join(' '));
  // A loop of 1,000,000 iterations (6M instructions), timed on both backends.
  const loop = assembleLlvm('r0 = 0\nr1 = 0\nl:\nr2 = r1\nr2 <<= 3\nr0 += r2\nr0 ^= r1\nr1 += 1\nif r1 < 1000000 goto l\nexit').insns;
  const time = (f: () => bigint) => {
    const t0 = process.hrtime.bigint();
    const r0 = f();
    return { r0, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  };
  const prog = jit.load({ insns: loop, progType: ProgType.SocketFilter });
  console.log(`compiled ${prog.stats.slots} instructions to ${prog.stats.wasmBytes} bytes of WebAssembly in ${((prog.stats.emitNs + prog.stats.instantiateNs) / 1e3).toFixed(0)} us`);
  prog.run();
  const a = time(() => interp.runRaw(loop, new Uint8Array()).r0);
  const b = time(() => prog.run().r0);
  console.log(`6M instructions: interpreter ${a.ms.toFixed(1)} ms, jit-wasm ${b.ms.toFixed(2)} ms (${(a.ms / b.ms).toFixed(0)}x), same r0: ${a.r0 === b.r0}`);
  try {
    jit.runRaw(assembleLlvm('r0 = 0\nr1 = 0x7ffffff0\nr0 = *(u64 *)(r1 + 0x7ff0)\nexit').insns, new Uint8Array());
  } catch (e) {
    console.log(`an out-of-memory load on the JIT: ${(e as Error).name} ${(e as { code: string }).code}: ${(e as Error).message}`);
  }
}

section('a clang-built BPF object (ELF): opened like libbpf, run on the JIT');
{
  const file = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'packages', 'core', 'test', 'fixtures', 'elf', 'minimal.bpfel.o');
  const obj = openObject(readFileSync(file));
  console.log(`programs: ${obj.programs.map((p) => `${p.name} (SEC("${p.section}"), ${p.code.length / 8} slots linked)`).join(', ')}`);
  console.log(`maps: ${obj.maps.map((m) => `${m.name} (${m.kind === 'data' ? 'global data' : `${m.spec.keySize}/${m.spec.valueSize}/${m.spec.maxEntries}`})`).join(', ')}`);
  const call = obj.program('on_openat')!;
  const callSlot = call.funcInfo[1]?.slot ?? 0;
  const line = call.sourceLine(12);
  console.log(`.BTF.ext: on_openat's call at insn 12 is ${line ? sourceLocation(line) : '?'} -- scale() linked at insn ${callSlot}`);
  const { programs, maps } = loadObjectInto(obj, new JitBackend());
  for (const first of [1, 2, 2]) programs.get('count_first_byte')!.testRun({ data: Uint8Array.of(first, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) });
  programs.get('on_openat')!.testRun({});
  const le64 = (b?: Uint8Array) => (b ? new DataView(b.buffer, b.byteOffset).getBigUint64(0, true) : undefined);
  console.log(`after 3 packets on jit-wasm: .bss packets = ${le64(maps.get('.bss')!.lookup(new Uint8Array(4)))}, totals[0] = packets * factor + seed = ${le64(maps.get('totals')!.lookup(new Uint8Array(4)))}`);
}

section('the verifier: the kernel\'s verdict and log, without a kernel');
{
  // a map lookup used without its NULL check, then with it
  const lookup = (check: boolean) =>
    assembleLlvm(`
      *(u32 *)(r10 - 4) = 0
      r2 = r10
      r2 += -4
      r1 = map_fd(3) ll
      call bpf_map_lookup_elem
      ${check ? 'if r0 == 0 goto out' : ''}
      r0 = *(u64 *)(r0 + 0)
    out:
      r0 = 0
      exit`).insns;
  const maps = [{ fd: 3, type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 }];
  const bad = verify(lookup(false), { progType: 'socket_filter', maps, logLevel: 1 });
  console.log(`without the check: ${bad.ok ? 'accepted' : `rejected at insn ${bad.error?.insn}: ${bad.error?.message}`}`);
  console.log(bad.log.trimEnd().split('\n').map((l) => `  | ${l}`).join('\n'));
  const good = verify(lookup(true), { progType: 'socket_filter', maps });
  console.log(`with it: ${good.ok ? 'accepted' : 'rejected'}, ${good.stats.processed} instructions processed, ${good.stats.totalStates} states kept`);
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
