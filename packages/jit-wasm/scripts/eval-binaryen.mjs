// The binaryen evaluation of the README: binaryen -O2 on the JIT's modules, its latency and what
// it changes at run time. Needs the built packages (npm run build) and binaryen, which is not a
// dependency: npm install --no-save binaryen && node packages/jit-wasm/scripts/eval-binaryen.mjs
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { assembleLlvm, ProgType } from '@tsbpf/core';
import { JitBackend } from '@tsbpf/jit-wasm';
let binaryen;
try {
  binaryen = (await import('binaryen')).default;
} catch {
  console.error('binaryen is not installed: npm install --no-save binaryen (it is not a dependency of tsbpf)');
  process.exit(2);
}
const dir = process.env.TSBPF_BENCH_DIR ?? new URL('../../../../shared/bench', import.meta.url).pathname;
const readFile = (p) => readFileSync(resolve(dir, p), 'utf8');
const alu = assembleLlvm(readFile('alu200.s'), { readFile }).insns;
const progs = {
  csum1500: assembleLlvm(readFile('csum1500.s'), { readFile }).insns,
  loop100k: assembleLlvm(readFile('loop100k.s'), { readFile }).insns,
  alu200: alu,
  'alu200 x50': [...Array.from({ length: 50 }, () => alu.slice(0, -1)).flat(), alu[alu.length - 1]],
  'diamonds 3000': assembleLlvm(`r0 = 0\n${'if r1 == 0 goto +1\nr0 += 1\nr0 += 2\n'.repeat(3000)}exit`).insns,
};
const b = new JitBackend();
const data = new Uint8Array(readFileSync(resolve(dir, 'packet.bin')));
const mem = b.runtime.space.alloc(data.length); b.runtime.space.write(mem, data);
for (const [name, insns] of Object.entries(progs)) {
  // Our compile: the median of 5 loads of distinct copies (V8 reuses identical modules).
  const ours = [];
  for (let i = 0; i < 6; i++) {
    const q = b.load({ insns: [{ op: 0xb7, dst: 9, src: 0, off: 0, imm: i + 1 }, ...insns], progType: ProgType.SocketFilter });
    if (i > 0) ours.push((q.stats.emitNs + q.stats.instantiateNs) / 1000);
  }
  ours.sort((x, y) => x - y);
  const p = b.load({ insns, progType: ProgType.SocketFilter });
  const bytes = p.compiled.bytes;
  binaryen.setOptimizeLevel(2);
  const times = [];
  let out;
  try {
    for (let i = 0; i < (bytes.length > 20000 ? 1 : 5); i++) {
      const t = process.hrtime.bigint();
      const m = binaryen.readBinary(bytes);
      m.optimize();
      out = m.emitBinary();
      m.dispose();
      times.push(Number(process.hrtime.bigint() - t) / 1000);
    }
  } catch (e) {
    console.log(`${name}: ${bytes.length} bytes; binaryen failed: ${e.message}`);
    continue;
  }
  times.sort((x, y) => x - y);
  const own = ours[2];
  let speed = '';
  if (name === 'csum1500' || name === 'loop100k' || name === 'alu200') {
    // Same imports, optimized module: time it the way the bench does.
    const imp = { env: { memory: b.runtime.space.memory, ldpkt() { return 0; }, callx() { return 0; } } };
    const fast = new WebAssembly.Instance(new WebAssembly.Module(out), imp).exports.run;
    const slow = new WebAssembly.Instance(new WebAssembly.Module(bytes), imp).exports.run;
    const regs = new Uint32Array(b.runtime.space.memory.buffer, b.scratch, 12);
    const n = name === 'loop100k' ? 400 : name === 'csum1500' ? 30000 : 2000000;
    const time = (f) => { for (let i = 0; i < n; i++) { regs[2] = mem; regs[3] = 0; regs[4] = data.length; regs[5] = 0; f(1e9, b.stack + 512); } const t = process.hrtime.bigint(); for (let i = 0; i < n; i++) { regs[2] = mem; regs[3] = 0; regs[4] = data.length; regs[5] = 0; f(1e9, b.stack + 512); } return Number(process.hrtime.bigint() - t) / n; };
    speed = `run ns: ours ${time(slow).toFixed(0)}, binaryen -O2 ${time(fast).toFixed(0)}`;
  }
  console.log(`${name}: ${bytes.length} -> ${out.length} bytes; binaryen read+O2+emit ${times[times.length >> 1].toFixed(0)} us (our whole compile ${own.toFixed(0)} us) ${speed}`);
}
