import { Command, CommanderError } from 'commander';
import { register as registerAsm } from './commands/asm.js';
import { register as registerDisasm } from './commands/disasm.js';
import { register as registerRun } from './commands/run.js';
import { register as registerPlugin } from './commands/conformance-plugin.js';
import { register as registerBench } from './commands/bench.js';
import { register as registerVerify } from './commands/verify.js';
import { register as registerVerifyCorpus } from './commands/verify-corpus.js';
import { register as registerObjdump } from './commands/objdump.js';
import { formatError } from './format.js';
import { CliExit, ExitCode, ReportedError, processIo, type CliIo } from './io.js';

/** Every subcommand registers itself here. */
const COMMANDS = [registerAsm, registerDisasm, registerRun, registerPlugin, registerBench, registerVerify, registerVerifyCorpus, registerObjdump];

/** The CLI program, with its subcommands. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('tsbpf')
    .description('tsbpf: an eBPF SDK in TypeScript')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
  for (const reg of COMMANDS) reg(program, io);
  for (const cmd of program.commands) cmd.exitOverride().configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
  return program;
}

/**
 * Runs the CLI with `argv` (without the node and script paths) and returns the exit code:
 * 0 success, 1 bad input (typed error printed), 2 usage; `verify` uses 1 for a rejection and 2
 * for bad input.
 */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof ExitCode) return e.exitCode;
    if (e instanceof CliExit) {
      io.stderr(formatError('', e));
      return e.exitCode;
    }
    if (e instanceof ReportedError) {
      io.stderr(e.text);
      return e.exitCode;
    }
    io.stderr(formatError('tsbpf', e));
    return 1;
  }
}
