import { KernelOracle, probe } from '@tsbpf/kernel';
import { InterpBackend } from '@tsbpf/interp';
import { JitBackend } from '@tsbpf/jit-wasm';
import { RuntimeError, type Insn } from '@tsbpf/core';
import { CliExit } from './io.js';

/** A backend as the CLI uses it: run a uBPF-convention program (r1 = mem, r2 = length) once. */
export interface CliBackend {
  name: string;
  run(insns: readonly Insn[], mem: Uint8Array): bigint;
  close(): void;
}

/** Backends the CLI knows; the first is the default. */
export const BACKEND_NAMES = ['interp', 'jit-wasm', 'kernel'] as const;

/**
 * Opens a backend by name, or exits with a message saying why it cannot be used here.
 * `conformance` gives helper 5 bpf_conformance's "unwind" meaning (user-space backends only).
 */
export function openBackend(name: string, opts: { conformance?: boolean } = {}): CliBackend {
  if (name === 'interp' || name === 'jit-wasm') {
    const b = name === 'interp' ? new InterpBackend() : new JitBackend();
    return {
      name,
      run(insns, mem) {
        try {
          return b.runRaw(insns, mem, { unwindHelper5: opts.conformance }).r0;
        } catch (e) {
          if (e instanceof RuntimeError) throw new CliExit(`${e.message} (${e.code})`, 1);
          throw e;
        }
      },
      close: () => b.close(),
    };
  }
  if (name !== 'kernel') throw new CliExit(`unknown backend '${name}' (available: ${BACKEND_NAMES.join(', ')})`, 2);
  const p = probe();
  if (!p.ok) throw new CliExit(`the kernel backend is not usable here: ${p.reason}`, 1);
  const oracle = new KernelOracle();
  return {
    name,
    run(insns, mem) {
      const r = oracle.run(insns, { mem });
      if (!r.accepted) throw new CliExit(`the kernel rejected the program: ${r.error}${r.log ? `\n${r.log.trimEnd()}` : ''}`, 1);
      return r.r0;
    },
    close: () => oracle.close(),
  };
}
