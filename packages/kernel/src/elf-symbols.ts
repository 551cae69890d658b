import { readFileSync } from 'node:fs';
import { TsbpfError } from '@tsbpf/core';

/**
 * Finds a function symbol in an ELF64 little-endian executable or shared library and returns the
 * file offset uprobes take (the symbol's address translated through the PT_LOAD segment holding it).
 *
 * @throws TsbpfError `E_ELF_SYMBOL` when the file is not ELF64 LE or has no such symbol.
 */
export function uprobeOffset(path: string, symbol: string): number {
  const buf = readFileSync(path);
  const fail = (msg: string): never => {
    throw new TsbpfError('E_ELF_SYMBOL', `${path}: ${msg}`);
  };
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) fail('not an ELF file');
  if (buf[4] !== 2 || buf[5] !== 1) fail('only 64-bit little-endian ELF files are supported');
  const phoff = Number(buf.readBigUInt64LE(0x20));
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const phentsize = buf.readUInt16LE(0x36);
  const phnum = buf.readUInt16LE(0x38);
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const within = (off: number, len: number) => off >= 0 && off + len <= buf.length;
  if (!within(shoff, shnum * shentsize) || !within(phoff, phnum * phentsize)) fail('section or program headers out of bounds');
  let addr: bigint | undefined;
  for (let i = 0; i < shnum && addr === undefined; i++) {
    const sh = shoff + i * shentsize;
    const type = buf.readUInt32LE(sh + 4);
    if (type !== 2 && type !== 11) continue; // SHT_SYMTAB, SHT_DYNSYM
    const off = Number(buf.readBigUInt64LE(sh + 0x18));
    const size = Number(buf.readBigUInt64LE(sh + 0x20));
    const link = buf.readUInt32LE(sh + 0x28);
    const entsize = Number(buf.readBigUInt64LE(sh + 0x38)) || 24;
    const strSh = shoff + link * shentsize;
    const strOff = Number(buf.readBigUInt64LE(strSh + 0x18));
    if (!within(off, size)) fail('symbol table out of bounds');
    for (let s = off; s + entsize <= off + size; s += entsize) {
      const nameOff = buf.readUInt32LE(s);
      const info = buf[s + 4];
      const value = buf.readBigUInt64LE(s + 8);
      if ((info & 0xf) !== 2 || value === 0n) continue; // STT_FUNC, defined
      const start = strOff + nameOff;
      const end = buf.indexOf(0, start);
      if (end > start && buf.toString('latin1', start, end) === symbol) {
        addr = value;
        break;
      }
    }
  }
  if (addr === undefined) return fail(`no function symbol '${symbol}'`);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (buf.readUInt32LE(ph) !== 1) continue; // PT_LOAD
    const pOffset = buf.readBigUInt64LE(ph + 0x08);
    const vaddr = buf.readBigUInt64LE(ph + 0x10);
    const memsz = buf.readBigUInt64LE(ph + 0x28);
    if (addr >= vaddr && addr < vaddr + memsz) return Number(addr - vaddr + pOffset);
  }
  return fail(`symbol '${symbol}' is not in a loadable segment`);
}
