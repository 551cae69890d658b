import { readFileSync, writeFileSync } from 'node:fs';

/** What a command may touch, so tests can run the CLI in-process. */
export interface CliIo {
  stdout: (text: string | Uint8Array) => void;
  stderr: (text: string) => void;
  /** Reads a file (`-` = standard input). */
  readFile: (path: string) => Uint8Array;
  writeFile: (path: string, data: Uint8Array | string) => void;
}

/** The real process I/O. */
export const processIo: CliIo = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
  readFile: (p) => new Uint8Array(readFileSync(p === '-' ? 0 : p)),
  writeFile: (p, d) => writeFileSync(p, d),
};

/** An error that ends the command with a message and an exit code (1: bad input, 2: usage). */
export class CliExit extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** A typed error already formatted against its input file (exit code 1 unless said otherwise). */
export class ReportedError extends Error {
  constructor(readonly text: string, readonly exitCode = 1) {
    super(text);
  }
}

/** Ends the command with an exit code after it has printed its output (`verify`: 1 = rejected). */
export class ExitCode extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}
