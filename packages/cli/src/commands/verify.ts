import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { assemble, attachTypeFromName, mapTypeFromName, parseConformanceData, progTypeFromName, type Insn } from '@tsbpf/core';
import { verify, type VerifierMap } from '@tsbpf/verifier';
import { CliExit, ExitCode, ReportedError, type CliIo } from '../io.js';
import { formatError, looksLikeHexText, programBytes } from '../format.js';

/** A program as `verify` reads it: bytes go to verify() undecoded, so it reports bad opcodes as the kernel does. */
type VerifyInput = { bytes: Uint8Array } | { insns: Insn[]; relocations: { insn: number; symbol: string }[] };

/**
 * `tsbpf verify`: the static verifier on one program. Prints the log and `verdict: accept|reject`;
 * exits 0 on accept, 1 on reject, 2 on bad input.
 */
export function register(program: Command, io: CliIo): void {
  program
    .command('verify')
    .description('verify a program as the kernel would load it; exit 0 accept, 1 reject, 2 bad input')
    .argument('<program>', 'raw .bin, hex text, assembly (.s/.asm, LLVM or uBPF syntax) or a bpf_conformance .data file')
    .option('-t, --prog-type <type>', 'program type: kernel name or number (BPF_PROG_TYPE_XDP, xdp, 6)', 'socket_filter')
    .option('-a, --attach-type <type>', 'expected attach type: kernel name or number (BPF_CGROUP_INET4_CONNECT)')
    .option('-l, --log-level <n>', 'log level: 0 the error only, 1 the path to it and the stats, 2 every instruction', '1')
    .option('-m, --map <spec>', 'a map an `r1 = NAME ll` refers to: NAME:TYPE:KEY_SIZE:VALUE_SIZE:MAX_ENTRIES[:FLAGS] (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--json', 'print one JSON object: {"verdict","log","error","stats"}')
    .action((file: string, opts: { progType: string; attachType?: string; logLevel: string; map: string[]; json?: boolean }) => {
      const progType = enumOption('--prog-type', opts.progType, progTypeFromName);
      const expectedAttachType = opts.attachType === undefined ? undefined : enumOption('--attach-type', opts.attachType, attachTypeFromName);
      const logLevel = Number(opts.logLevel);
      if (logLevel !== 0 && logLevel !== 1 && logLevel !== 2) throw new CliExit(`--log-level must be 0, 1 or 2, not '${opts.logLevel}'`, 2);
      const maps = opts.map.map((spec, i) => parseMapSpec(spec, 3 + i));

      let input: VerifyInput;
      try {
        input = readVerifyInput(file, io);
      } catch (e) {
        throw new ReportedError(formatError(file, e), 2);
      }
      let programArg: Uint8Array | Insn[];
      if ('bytes' in input) programArg = input.bytes;
      else {
        for (const r of input.relocations) {
          const m = maps.find((x) => x.name === r.symbol);
          if (!m) throw new CliExit(`${file}: the program loads map '${r.symbol}'; describe it with --map ${r.symbol}:TYPE:KEY_SIZE:VALUE_SIZE:MAX_ENTRIES`, 2);
          const insn = input.insns[r.insn]!;
          input.insns[r.insn] = { ...insn, src: 1, imm: m.fd };
        }
        programArg = input.insns;
      }

      const result = verify(programArg, { progType, expectedAttachType, logLevel, maps });
      const verdict = result.ok ? 'accept' : 'reject';
      if (opts.json) {
        io.stdout(JSON.stringify({ verdict, log: result.log, error: result.error ?? null, stats: result.stats }) + '\n');
      } else {
        if (result.log) io.stdout(result.log.endsWith('\n') ? result.log : `${result.log}\n`);
        io.stdout(`verdict: ${verdict}\n`);
      }
      if (!result.ok) throw new ExitCode(result.error?.code === 'E_VERIFIER_INPUT' ? 2 : 1);
    });
}

function enumOption(flag: string, value: string, fromName: (name: string) => number | undefined): number {
  const n = /^\d+$/.test(value) ? Number(value) : fromName(value);
  if (n === undefined) throw new CliExit(`${flag}: unknown name '${value}'`, 2);
  return n;
}

/** `NAME:TYPE:KEY_SIZE:VALUE_SIZE:MAX_ENTRIES[:FLAGS]`, TYPE a map type name (`hash`, `BPF_MAP_TYPE_ARRAY`) or number. */
function parseMapSpec(spec: string, fd: number): VerifierMap {
  const parts = spec.split(':');
  const nums = parts.slice(2).map(Number);
  if (parts.length < 5 || parts.length > 6 || !parts[0] || nums.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new CliExit(`--map '${spec}': expected NAME:TYPE:KEY_SIZE:VALUE_SIZE:MAX_ENTRIES[:FLAGS]`, 2);
  }
  const type = enumOption(`--map '${spec}'`, parts[1]!, mapTypeFromName);
  return { fd, name: parts[0], type, keySize: nums[0]!, valueSize: nums[1]!, maxEntries: nums[2]!, flags: nums[3] ?? 0 };
}

/** Reads PROGRAM as `tsbpf run` does (`.data`, assembly, hex text or raw bytes), keeping map symbols. */
function readVerifyInput(file: string, io: CliIo): VerifyInput {
  const bytes = io.readFile(file);
  if (file.endsWith('.data')) return { insns: parseConformanceData(Buffer.from(bytes).toString('utf8'), file).program(), relocations: [] };
  const isText = /^[\x09\x0a\x0d\x20-\x7e]*$/.test(Buffer.from(bytes).toString('latin1'));
  if (file.endsWith('.s') || file.endsWith('.asm') || (isText && !looksLikeHexText(bytes))) {
    const base = file === '-' ? process.cwd() : dirname(resolve(file));
    const prog = assemble(Buffer.from(bytes).toString('utf8'), { readFile: (p) => Buffer.from(io.readFile(resolve(base, p))).toString('utf8') });
    const relocations = 'relocations' in prog ? (prog.relocations as { insn: number; symbol: string }[]) : [];
    return { insns: prog.insns, relocations };
  }
  return { bytes: programBytes(bytes) };
}
