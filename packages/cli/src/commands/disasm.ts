import type { Command } from 'commander';
import { disassemble, objdumpListing, helperName } from '@tsbpf/core';
import { CliExit, type CliIo } from '../io.js';
import { withFile } from '../format.js';
import { readProgram } from '../format.js';

/** `tsbpf disasm`: bytes (raw or hex text) to assembly text or an objdump-style listing. */
export function register(program: Command, io: CliIo): void {
  program
    .command('disasm')
    .description('disassemble a program given as raw bytes or hex text')
    .argument('<file>', 'program file (raw .bin or hex text), or - for standard input')
    .option('-s, --syntax <syntax>', 'llvm or ubpf', 'llvm')
    .option('--objdump', 'llvm-objdump -d style listing with slot numbers and bytes')
    .option('--labels', 'print jump targets as labels instead of +N')
    .option('--helper-names', 'print helper calls by name (call bpf_map_lookup_elem)')
    .action((file: string, opts: { syntax: string; objdump?: boolean; labels?: boolean; helperNames?: boolean }) => {
      withFile(file, () => {
      if (opts.syntax !== 'llvm' && opts.syntax !== 'ubpf') throw new CliExit(`--syntax must be llvm or ubpf, not '${opts.syntax}'`, 2);
      const insns = readProgram(io.readFile(file));
      const names = opts.helperNames ? helperName : undefined;
      if (opts.objdump) io.stdout(objdumpListing(insns, { syntax: opts.syntax, helperNames: names }));
      else io.stdout(disassemble(insns, { syntax: opts.syntax, labels: opts.labels, helperNames: names }));
      });
    });
}
