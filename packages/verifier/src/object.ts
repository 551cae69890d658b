import { VerifierError, sourceLocation, type BpfObject, type LoadedMapInfo, type ProgramSpec } from '@tsbpf/core';
import { funcsFromBtf } from './func-info.js';
import { lineInfoOf } from './line-info.js';
import type { VerifierMap, VerifyOptions } from './types.js';
import { verify } from './verify.js';

/** The maps of a loaded object as the verifier needs them: flags, frozen constants, inner maps. */
function verifierMaps(maps: readonly LoadedMapInfo[]): VerifierMap[] {
  return maps.map((m) => ({
    fd: m.fd, name: m.name, type: m.spec.type, keySize: m.spec.keySize, valueSize: m.spec.valueSize, maxEntries: m.spec.maxEntries,
    ...(m.spec.flags ? { flags: m.spec.flags } : {}), frozen: m.frozen,
    ...(m.frozen && m.initial ? { initialValue: m.initial } : {}),
    ...(m.spec.innerMap ? { inner: { type: m.spec.innerMap.type, keySize: m.spec.innerMap.keySize, valueSize: m.spec.innerMap.valueSize, maxEntries: m.spec.innerMap.maxEntries } } : {}),
  }));
}

/**
 * Our verifier as the `verify` hook of an object load, told what the kernel is told: the maps with
 * their flags and the constants of frozen ones, global functions from the object's func_info, and
 * line_info, so the log prints the C source lines as the kernel's does. A rejection is verified
 * again at log level 1 (libbpf retries a failed load with a log) and thrown as a `VerifierError`
 * whose message names the C line.
 *
 * @example
 * ```ts
 * const obj = loadObject(bytes);
 * obj.load(new JitBackend(), { verify: objectVerifier(obj) });
 * ```
 */
export function objectVerifier(obj: BpfObject): (spec: ProgramSpec, maps: LoadedMapInfo[]) => void {
  return (spec, maps) => {
    const p = obj.programs.find((q) => q.name.slice(0, 15) === spec.name);
    const funcInfo = spec.btf?.funcInfo;
    const options: VerifyOptions = {
      progType: spec.progType, expectedAttachType: spec.expectedAttachType, license: spec.license, maps: verifierMaps(maps),
      ...(spec.flags ? { progFlags: spec.flags } : {}),
      ...(funcInfo?.length && obj.btf ? { funcs: funcsFromBtf(obj.btf, funcInfo.map((f) => [f.insnOff, f.typeId] as const), spec.progType) } : {}),
      ...(spec.btf?.lineInfo?.length && p ? { lineInfo: lineInfoOf(p) } : {}),
    };
    if (verify(spec.insns, options).ok) return;
    const r = verify(spec.insns, { ...options, logLevel: 1 });
    const li = r.error?.insn !== undefined ? p?.sourceLine(r.error.insn) : undefined;
    const at = li ? ` at ${sourceLocation(li)}` : '';
    throw new VerifierError(`the verifier rejected ${spec.name}${at}: ${r.error?.message}`, r.log, r.error?.errno ?? 13, r.error?.insn);
  };
}
