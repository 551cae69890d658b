import { ElfError, loadObjectInto, openObject, type Backend, type BpfObject } from '@tsbpf/core';
import { InterpBackend } from '@tsbpf/interp';
import { JitBackend } from '@tsbpf/jit-wasm';
import { KernelBackend, probe } from '@tsbpf/kernel';
import { verify } from '@tsbpf/verifier';
import { CliExit } from './io.js';

/** Whether the bytes are an ELF file (`\x7fELF`). */
export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

/** Opens an object for the CLI: a malformed one exits 1 with the typed error. */
export function openObjectFile(file: string, bytes: Uint8Array): BpfObject {
  try {
    return openObject(bytes);
  } catch (e) {
    if (e instanceof ElfError) throw new CliExit(`${file}: error: ${e.message} [${e.code}]`, 1);
    throw e;
  }
}

function backendFor(name: string): Backend {
  if (name === 'interp') return new InterpBackend();
  if (name === 'jit-wasm') return new JitBackend();
  if (name !== 'kernel') throw new CliExit(`unknown backend '${name}' (available: interp, jit-wasm, kernel)`, 2);
  const p = probe();
  if (!p.ok) throw new CliExit(`the kernel backend is not usable here: ${p.reason}`, 1);
  return new KernelBackend();
}

/**
 * `tsbpf run FILE.o`: opens the object, creates its maps on a fresh backend (global data from the
 * file), verifies (our verifier on the user-space backends, the kernel's on the kernel) and loads
 * its programs, runs one (`--program`, or the first) once like `BPF_PROG_TEST_RUN` with `mem` as
 * the packet, and returns r0.
 */
export function runObject(file: string, bytes: Uint8Array, opts: { backend: string; program?: string; mem: Uint8Array }): bigint {
  const obj = openObjectFile(file, bytes);
  if (obj.programs.length === 0) throw new CliExit(`${file}: the object has no programs`, 1);
  const prog = opts.program === undefined ? obj.programs[0] : obj.program(opts.program);
  if (!prog) throw new CliExit(`${file}: no program '${opts.program}' (programs: ${obj.programs.map((p) => p.name).join(', ')})`, 2);
  const backend = backendFor(opts.backend);
  try {
    const userSpace = opts.backend !== 'kernel';
    let loaded;
    try {
      loaded = loadObjectInto(obj, backend, userSpace ? {
        verify: (spec, maps) => {
          const r = verify(spec.insns, {
            progType: spec.progType, expectedAttachType: spec.expectedAttachType, license: spec.license,
            maps: maps.map((m) => ({ fd: m.fd, name: m.name, type: m.spec.type, keySize: m.spec.keySize, valueSize: m.spec.valueSize, maxEntries: m.spec.maxEntries, frozen: m.frozen })),
          });
          if (!r.ok) throw new CliExit(`${file}: the verifier rejected ${spec.name}: ${r.error?.message}\n${r.log.trimEnd()}`, 1);
        },
      } : {});
    } catch (e) {
      if (e instanceof ElfError) throw new CliExit(`${file}: error: ${e.message} [${e.code}]`, 1);
      if (e instanceof CliExit) throw e;
      throw new CliExit(`${file}: cannot load: ${(e as Error).message.split('\n')[0]}`, 1);
    }
    return loaded.programs.get(prog.name)!.testRun({ data: opts.mem }).retval;
  } finally {
    backend.close();
  }
}
