import type { Command } from 'commander';
import { CliExit, type CliIo } from '../io.js';
import { withFile } from '../format.js';
import { openBackend, BACKEND_NAMES } from '../backends.js';
import { parseHexMemory, readProgramFile } from '../program-file.js';

/** `tsbpf run`: run a program once and print r0 in hex. */
export function register(program: Command, io: CliIo): void {
  program
    .command('run')
    .description('run a program once (r1 = memory, r2 = its length) and print r0 in hex')
    .argument('<program>', 'raw .bin, hex text, assembly (.s, either syntax) or a bpf_conformance .data file')
    .option('-b, --backend <name>', `backend: ${BACKEND_NAMES.join(', ')}`, 'interp')
    .option('--mem <hex>', 'input memory as hex bytes')
    .option('--mem-file <file>', 'input memory from a file (raw bytes)')
    .action((file: string, opts: { backend: string; mem?: string; memFile?: string }) => {
      const { insns, mem: dataMem } = withFile(file, () => readProgramFile(file, io));
      let mem = dataMem ?? new Uint8Array();
      if (opts.mem !== undefined) {
        try {
          mem = parseHexMemory(opts.mem);
        } catch (e) {
          throw new CliExit(`--mem: ${(e as Error).message}`, 2);
        }
      }
      if (opts.memFile) mem = io.readFile(opts.memFile);
      const backend = openBackend(opts.backend);
      try {
        io.stdout(`0x${backend.run(insns, mem).toString(16)}\n`);
      } finally {
        backend.close();
      }
    });
}
