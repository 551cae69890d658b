import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { assemble, encode, parseConformanceData, disassembleLlvm, type AsmSyntax } from '@tsbpf/core';
import { CliExit, type CliIo } from '../io.js';
import { withFile } from '../format.js';
import { toHexLines } from '../format.js';

/** `tsbpf asm`: assembly text (either syntax, or a bpf_conformance `.data` file) to bytes. */
export function register(program: Command, io: CliIo): void {
  program
    .command('asm')
    .description('assemble LLVM-syntax (r0 = 1) or uBPF-syntax (mov %r0, 1) source, or a bpf_conformance .data file')
    .argument('<file>', 'source file, or - for standard input')
    .option('-s, --syntax <syntax>', 'llvm, ubpf or auto', 'auto')
    .option('-f, --format <format>', 'hex (one 8-byte slot per line), raw (binary) or json', 'hex')
    .option('-o, --output <file>', 'write to a file instead of standard output')
    .option('-D, --define <name[=value]>', 'define a symbol for .ifdef (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .action((file: string, opts: { syntax: string; format: string; output?: string; define: string[] }) => {
      withFile(file, () => {
      if (!['llvm', 'ubpf', 'auto'].includes(opts.syntax)) throw new CliExit(`--syntax must be llvm, ubpf or auto, not '${opts.syntax}'`, 2);
      if (!['hex', 'raw', 'json'].includes(opts.format)) throw new CliExit(`--format must be hex, raw or json, not '${opts.format}'`, 2);
      const text = Buffer.from(io.readFile(file)).toString('utf8');
      const defines: Record<string, bigint> = {};
      for (const d of opts.define) {
        const [name, value] = d.split('=', 2);
        defines[name] = value === undefined ? 1n : BigInt(value);
      }
      const base = file === '-' ? process.cwd() : dirname(resolve(file));
      const insns = file.endsWith('.data')
        ? parseConformanceData(text, file).program()
        : assemble(text, {
            syntax: opts.syntax as AsmSyntax | 'auto',
            defines,
            readFile: (p) => Buffer.from(io.readFile(resolve(base, p))).toString('utf8'),
          }).insns;
      const bytes = encode(insns);
      let out: string | Uint8Array;
      if (opts.format === 'raw') out = bytes;
      else if (opts.format === 'json') {
        out = JSON.stringify({ bytes: Buffer.from(bytes).toString('hex'), insns: insns.length, slots: bytes.length / 8, text: disassembleLlvm(insns).trimEnd().split('\n').map((l) => l.trim()) }, null, 2) + '\n';
      } else out = toHexLines(bytes);
      if (opts.output) io.writeFile(opts.output, out);
      else io.stdout(out);
      });
    });
}
