import type { Command } from 'commander';
import { CliExit, type CliIo } from '../io.js';
import { withFile } from '../format.js';
import { openBackend, BACKEND_NAMES } from '../backends.js';
import { parseHexMemory, readProgramFile } from '../program-file.js';
import { isElf, runObject } from '../object-run.js';

/** `tsbpf run`: run a program once and print r0 in hex. */
export function register(program: Command, io: CliIo): void {
  program
    .command('run')
    .description('run a program once (r1 = memory, r2 = its length) and print r0 in hex')
    .argument('<program>', 'raw .bin, hex text, assembly (.s, either syntax), a bpf_conformance .data file, or a BPF ELF object (.o)')
    .option('-b, --backend <name>', `backend: ${BACKEND_NAMES.join(', ')}`, 'interp')
    .option('-p, --program <name>', 'ELF objects: the program to run (default: the first)')
    .option('--mem <hex>', 'input memory as hex bytes')
    .option('--mem-file <file>', 'input memory from a file (raw bytes)')
    .option('--btf <file>', 'ELF objects: the BTF CO-RE relocations resolve against (default: /sys/kernel/btf/vmlinux)')
    .action((file: string, opts: { backend: string; mem?: string; memFile?: string; program?: string; btf?: string }) => {
      /** `--mem` or `--mem-file`, else `fallback`. */
      const memory = (fallback: Uint8Array): Uint8Array => {
        let mem = fallback;
        if (opts.mem !== undefined) {
          try {
            mem = parseHexMemory(opts.mem);
          } catch (e) {
            throw new CliExit(`--mem: ${(e as Error).message}`, 2);
          }
        }
        return opts.memFile ? io.readFile(opts.memFile) : mem;
      };
      const raw = io.readFile(file);
      if (isElf(raw)) {
        // An object: its maps and programs on a fresh backend; `--mem` is the packet of a test run.
        io.stdout(`0x${runObject(file, raw, { backend: opts.backend, program: opts.program, mem: memory(new Uint8Array()), ...(opts.btf ? { btf: opts.btf } : {}) }).toString(16)}\n`);
        return;
      }
      const { insns, mem: dataMem } = withFile(file, () => readProgramFile(file, io));
      const mem = memory(dataMem ?? new Uint8Array());
      const backend = openBackend(opts.backend);
      try {
        io.stdout(`0x${backend.run(insns, mem).toString(16)}\n`);
      } finally {
        backend.close();
      }
    });
}
