// Test-only: assemble with LLVM's llvm-mc, the independent oracle of the assembler tests.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** llvm-mc 19 (knows every cpu-v4 mnemonic), or `undefined` with a printed reason. */
export const llvmMc: string | undefined = (() => {
  const p = '/usr/lib/llvm-19/bin/llvm-mc';
  if (existsSync(p)) return p;
  console.log(`skipping llvm-mc cross-checks: ${p} is missing (apt-get install -y llvm-19); LLVM 14 lacks cpu-v4 mnemonics`);
  return undefined;
})();

/** The bytes of section `name` of an ELF64 little-endian relocatable object. */
export function elfSection(elf: Uint8Array, name: string): Uint8Array | undefined {
  const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const shoff = Number(v.getBigUint64(0x28, true));
  const shentsize = v.getUint16(0x3a, true);
  const shnum = v.getUint16(0x3c, true);
  const shstrndx = v.getUint16(0x3e, true);
  const sh = (i: number) => shoff + i * shentsize;
  const strOff = Number(v.getBigUint64(sh(shstrndx) + 0x18, true));
  for (let i = 0; i < shnum; i++) {
    const nameOff = v.getUint32(sh(i), true);
    let end = strOff + nameOff;
    while (elf[end] !== 0) end++;
    const secName = Buffer.from(elf.subarray(strOff + nameOff, end)).toString();
    if (secName === name) {
      const off = Number(v.getBigUint64(sh(i) + 0x18, true));
      const size = Number(v.getBigUint64(sh(i) + 0x20, true));
      return elf.slice(off, off + size);
    }
  }
  return undefined;
}

/** Assembles LLVM-syntax source with llvm-mc and returns the `.text` bytes. */
export function llvmAssemble(source: string, defsyms: string[] = []): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-llvm-'));
  try {
    writeFileSync(join(dir, 'p.s'), source);
    execFileSync(llvmMc!, ['-triple=bpfel', '-mcpu=v4', '--filetype=obj', ...defsyms.flatMap((d) => ['--defsym', d]), join(dir, 'p.s'), '-o', join(dir, 'p.o')], { stdio: ['ignore', 'pipe', 'pipe'] });
    return elfSection(new Uint8Array(readFileSync(join(dir, 'p.o'))), '.text') ?? new Uint8Array();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
