import type { Command } from 'commander';
import { decode } from '@tsbpf/core';
import { CliExit, type CliIo } from '../io.js';
import { openBackend, BACKEND_NAMES } from '../backends.js';
import { parseHexMemory } from '../program-file.js';
import { programBytes } from '../format.js';

/**
 * `tsbpf conformance-plugin`: the bpf_conformance plugin protocol. The optional first argument is
 * the input memory as hex bytes; the program comes as hex text on stdin (8 bytes per instruction,
 * little endian); r0 is printed in hex on stdout with exit 0, or a message on stderr with exit 1.
 */
export function register(program: Command, io: CliIo): void {
  program
    .command('conformance-plugin')
    .description('act as a bpf_conformance plugin: [mem hex] argument, program hex on stdin, r0 hex on stdout')
    .argument('[mem]', 'input memory as hex bytes ("00  01  02  ")')
    .option('-b, --backend <name>', `backend: ${BACKEND_NAMES.join(', ')}`, 'interp')
    .allowExcessArguments(false)
    .action((memArg: string | undefined, opts: { backend: string }) => {
      let mem: Uint8Array;
      let insns;
      try {
        mem = memArg ? parseHexMemory(memArg) : new Uint8Array();
        const text = Buffer.from(io.readFile('-')).toString('latin1').split('\n')[0] ?? '';
        insns = decode(programBytes(new Uint8Array(Buffer.from(text, 'latin1'))));
      } catch (e) {
        throw new CliExit(`bad plugin input: ${(e as Error).message}`, 1);
      }
      const backend = openBackend(opts.backend, { conformance: true });
      try {
        io.stdout(`${backend.run(insns, mem).toString(16)}\n`);
      } finally {
        backend.close();
      }
    });
}
