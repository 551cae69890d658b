import { existsSync, readFileSync } from 'node:fs';
import { Btf, CoreError, ElfError, ObjectError, VerifierError, loadObjectInto, openObject, type Backend, type BpfObject, type LoadObjectOptions } from '@tsbpf/core';
import { InterpBackend } from '@tsbpf/interp';
import { JitBackend } from '@tsbpf/jit-wasm';
import { KernelBackend, kernelConfig, kernelSymbols, probe, vmlinuxBtf } from '@tsbpf/kernel';
import { objectVerifier } from '@tsbpf/verifier';
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

/** The running kernel's BTF, where CO-RE relocations resolve by default. */
export const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';

/**
 * What the CLI loads an object with, as libbpf would on this machine: CO-RE relocations against
 * `btf` (default the running kernel's vmlinux BTF), and `.kconfig` from the running kernel's
 * configuration.
 */
export function objectLoadOptions(file: string, obj: BpfObject, opts: { btf?: string } = {}): LoadObjectOptions {
  const out: LoadObjectOptions = {};
  const needsBtf = obj.programs.some((p) => p.coreRelos.length > 0);
  const path = opts.btf ?? (needsBtf ? VMLINUX_BTF : undefined);
  if (path) {
    if (!existsSync(path)) throw new CliExit(`${file}: the object has CO-RE relocations and there is no target BTF at ${path} (give one with --btf FILE)`, 1);
    try {
      out.targetBtf = path === VMLINUX_BTF ? vmlinuxBtf() : Btf.parse(new Uint8Array(readFileSync(path)));
    } catch (e) {
      throw new CliExit(`${path}: error: ${(e as Error).message}${(e as { code?: string }).code ? ` [${(e as { code?: string }).code}]` : ''}`, 1);
    }
  }
  if (obj.maps.some((m) => m.kconfig)) out.kconfig = kernelConfig();
  return out;
}

/**
 * `tsbpf run FILE.o`: opens the object, creates its maps on a fresh backend (global data from the
 * file), resolves CO-RE relocations against the target BTF, verifies (our verifier on the
 * user-space backends, the kernel's on the kernel) and loads its programs, runs one (`--program`,
 * or the first) once like `BPF_PROG_TEST_RUN` with `mem` as the packet, and returns r0.
 */
export function runObject(file: string, bytes: Uint8Array, opts: { backend: string; program?: string; mem: Uint8Array; btf?: string }): bigint {
  const obj = openObjectFile(file, bytes);
  if (obj.programs.length === 0) throw new CliExit(`${file}: the object has no programs`, 1);
  const prog = opts.program === undefined ? obj.programs[0] : obj.program(opts.program);
  if (!prog) throw new CliExit(`${file}: no program '${opts.program}' (programs: ${obj.programs.map((p) => p.name).join(', ')})`, 2);
  const loadOpts = objectLoadOptions(file, obj, opts);
  const backend = backendFor(opts.backend);
  try {
    const userSpace = opts.backend !== 'kernel';
    let loaded;
    try {
      // The program asked for, and those the object's prog arrays tail-call into (libbpf's autoload).
      const autoload = [prog.name, ...obj.maps.flatMap((m) => (m.initialSlots ?? []).filter((v) => v.kind === 'prog').map((v) => v.target))];
      loaded = loadObjectInto(obj, backend, {
        ...loadOpts,
        autoload: [...new Set(autoload)],
        // __ksym externs and kfuncs: vmlinux BTF ids and kallsyms addresses, for the kernel only.
        ...(userSpace ? {} : { ksyms: kernelSymbols() }),
        ...(userSpace ? { verify: objectVerifier(obj) } : {}),
      });
    } catch (e) {
      if (e instanceof ElfError || e instanceof ObjectError || e instanceof CoreError) throw new CliExit(`${file}: error: ${e.message} [${e.code}]`, 1);
      if (e instanceof VerifierError) throw new CliExit(`${file}: ${e.message}\n${e.log.trimEnd()}`, 1);
      if (e instanceof CliExit) throw e;
      throw new CliExit(`${file}: cannot load: ${(e as Error).message.split('\n')[0]}`, 1);
    }
    try {
      return loaded.program(prog.name).testRun({ data: opts.mem }).retval;
    } catch (e) {
      // The kernel's test run of a packet program wants at least an Ethernet header.
      if (!userSpace && opts.mem.length < 14 && (e as { code?: string }).code === 'EINVAL') {
        throw new CliExit(`${file}: the kernel refused the test run of ${prog.name} (EINVAL): it wants a packet of at least 14 bytes (ETH_HLEN); give one with --mem or --mem-file`, 1);
      }
      throw e;
    }
  } finally {
    backend.close();
  }
}
