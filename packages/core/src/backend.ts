import type { Insn } from './isa/insn.js';
import type { AttachType } from './uapi/attach-types.js';
import type { MapType } from './uapi/map-types.js';
import type { ProgType } from './uapi/prog-types.js';

/**
 * What a map is made of, in libbpf's terms (`bpf_map_create` options). The same spec creates a map
 * on any backend: a real kernel map on `kernel`, a guest-memory map on the user-space backends.
 */
export interface MapSpec {
  /** Map type, kernel numbering. */
  type: MapType;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** `BPF_F_*` map flags. */
  flags?: number;
  /** Name (the kernel keeps the first 15 bytes). */
  name?: string;
  /** Inner map for map-in-map types. */
  innerMap?: MapSpec;
  /** `map_extra` of `BPF_MAP_CREATE`: a bloom filter's number of hash functions (low 4 bits; 0: 5). */
  mapExtra?: number | bigint;
}

/** A map as a backend holds it: a descriptor programs reference with `lddw rX, map_fd`. */
export interface BackendMap {
  /** The descriptor to put in a `BPF_PSEUDO_MAP_FD` lddw (a real fd on the kernel). */
  readonly fd: number;
  readonly spec: Readonly<MapSpec>;
  /** The value for `key`, or `undefined` when there is none (`ENOENT`). */
  lookup(key: Uint8Array): Uint8Array | undefined;
  /** Inserts or replaces; `flags` is `BPF_ANY`, `BPF_NOEXIST` or `BPF_EXIST` (and `BPF_F_LOCK`). */
  update(key: Uint8Array, value: Uint8Array, flags?: number): void;
  /** Deletes `key`; throws when it is absent (`ENOENT`). */
  delete(key: Uint8Array): void;
  /** The key after `key` (the first key without one), or `undefined` at the end. */
  nextKey(key?: Uint8Array): Uint8Array | undefined;
  /** Releases the map. */
  close(): void;
  /** Pins the map at `path` so it outlives the process (the kernel's bpffs); absent where there is no such store. */
  pin?(path: string): void;
  /** `BPF_MAP_FREEZE`: no more writes from user space; the kernel's verifier then treats the value as constant. */
  freeze?(): void;
}

/** A program ready to be loaded: instructions plus what the kernel's `BPF_PROG_LOAD` needs. */
export interface ProgramSpec {
  insns: readonly Insn[];
  progType: ProgType;
  expectedAttachType?: AttachType;
  /** `"GPL"` unless said otherwise: GPL-only helpers need a GPL-compatible license. */
  license?: string;
  /** Program name (the kernel keeps the first 15 bytes). */
  name?: string;
  /** `BPF_F_*` program load flags. */
  flags?: number;
  /** Verifier log level when loading (the log is always captured on failure). */
  logLevel?: number;
  /**
   * The object's BTF and the program's BTF.ext records, as `BPF_PROG_LOAD` takes them
   * (`prog_btf_fd`, `func_info`, `line_info`, `core_relos`). Backends that do not use them ignore them;
   * the kernel backend loads the BTF and passes the records, so its verifier log names C source
   * lines and, with `coreRelos`, the kernel itself resolves the CO-RE relocations.
   */
  btf?: ProgramBtf;
}

/** `struct bpf_func_info`: the function whose code starts at instruction slot `insnOff`. */
export interface ProgramFuncInfo { insnOff: number; typeId: number }
/** `struct bpf_line_info`: slot `insnOff` comes from this line; offsets into the BTF string section. */
export interface ProgramLineInfo { insnOff: number; fileNameOff: number; lineOff: number; lineNum: number; lineCol: number }
/** `struct bpf_core_relo`: note `insnOff` is in bytes (slot * 8), as the UAPI has it. */
export interface ProgramCoreRelo { insnOff: number; typeId: number; accessStrOff: number; kind: number }

/** What {@link ProgramSpec.btf} carries. */
export interface ProgramBtf {
  /** The raw `.BTF` blob (little endian), loaded with `BPF_BTF_LOAD`. */
  data: Uint8Array;
  funcInfo?: readonly ProgramFuncInfo[];
  lineInfo?: readonly ProgramLineInfo[];
  /** Unresolved CO-RE relocations for the kernel to apply (the instructions keep clang's local values). */
  coreRelos?: readonly ProgramCoreRelo[];
}

/** Options of {@link LoadedProgram.testRun}, as the kernel's `BPF_PROG_TEST_RUN` takes them. */
export interface TestRunOptions {
  /** Packet data (`data_in`). */
  data?: Uint8Array;
  /** Context (`ctx_in`), for program types that accept one. */
  ctx?: Uint8Array;
  /** Runs in a row; the reported duration is the mean per run. */
  repeat?: number;
  /** Bytes to reserve for `data_out` (default: the input size). */
  dataSizeOut?: number;
}

/** What one test run returns. */
export interface TestRunResult {
  /** r0 at exit. The kernel reports 32 bits; user-space backends report all 64. */
  retval: bigint;
  /** Mean nanoseconds per run as the backend measured it (the kernel's own `duration`). */
  durationNs?: number;
  /** Packet data after the run. */
  dataOut?: Uint8Array;
  /** Context after the run. */
  ctxOut?: Uint8Array;
}

/** A loaded program. */
export interface LoadedProgram {
  readonly name: string;
  /** The descriptor a `BPF_MAP_TYPE_PROG_ARRAY` slot holds to tail-call this program. */
  readonly fd: number;
  /** The verifier log, when one was asked for. */
  readonly log: string;
  /** Runs the program once (or `repeat` times) on the given input. */
  testRun(options?: TestRunOptions): TestRunResult;
  /** Unloads the program. */
  close(): void;
}

/**
 * An execution backend: the interpreter, the WebAssembly JIT, the real kernel, or one of your own.
 * The backend test suite runs unchanged against anything that implements this.
 */
export interface Backend {
  /** Short name used by the CLI and the benchmarks: `interp`, `jit-wasm`, `kernel`. */
  readonly name: string;
  createMap(spec: MapSpec): BackendMap;
  load(spec: ProgramSpec): LoadedProgram;
  /** Releases everything the backend created. */
  close(): void;
  /**
   * Backends with a persistent object store (the kernel's bpffs): the map pinned at `path`, or
   * `undefined` when nothing is pinned there. The object loader uses it, with
   * {@link BackendMap.pin}, for `LIBBPF_PIN_BY_NAME` maps.
   */
  openPinnedMap?(path: string): BackendMap | undefined;
}
