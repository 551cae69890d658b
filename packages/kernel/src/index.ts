export { KernelBackend } from './backend.js';
export { KernelMap, isPerCpu } from './map.js';
export { KernelProgram, loadProgram, type KernelLoadOptions } from './program.js';
export { available, probe, type KernelProbe } from './probe.js';
export { loadNative, addonPath, type NativeApi } from './native.js';
export { possibleCpus, onlineCpus } from './sys/cpus.js';
export * from './sys/bpf-attr.js';
export { KernelOracle, wrapForXdp, type OracleResult } from './oracle.js';
