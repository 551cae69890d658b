/**
 * The verifier's public types: what a caller gives `verify()` and what it gets back.
 */

/** What the verifier knows about a map an `lddw` refers to (by fd, as the kernel sees it). */
export interface VerifierMap {
  /** The fd the program's `lddw src=1/2 imm=fd` (or a raw `imm`) names. */
  fd: number;
  /** Kernel map type number (`BPF_MAP_TYPE_*`). */
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  /** Name, for messages and tooling. */
  name?: string;
  /** Map-in-map: the inner map's template. */
  inner?: Omit<VerifierMap, 'fd'>;
  /** `.rodata`-style map frozen before load: the program may not write it. */
  frozen?: boolean;
  /** Contents of key 0 (for a frozen map the verifier may read constants from it). */
  initialValue?: Uint8Array;
  /** Special fields the map value's BTF declares, by kind, with their offsets. */
  specialFields?: { kind: 'bpf_spin_lock' | 'bpf_timer' | 'kptr' | 'bpf_wq' | 'other'; offset: number; size: number }[];
}

/**
 * What a global function's argument must be (the kernel's `btf_prepare_func_args`): a scalar, the
 * program's context, a pointer to `size` bytes of readable and writable memory (NULL allowed unless
 * tagged `__arg_nonnull`), or a kind this verifier does not model (then the function is analysed
 * at each call site, with the caller's registers, as a static one would be).
 */
export type FuncArg =
  | { kind: 'scalar' }
  | { kind: 'ctx' }
  | { kind: 'mem'; size: number; nullable: boolean }
  | { kind: 'unsupported'; what: string };

/** One function of the program, as its BTF `func_info` describes it. */
export interface FuncFacts {
  /** First slot. */
  insn: number;
  name?: string;
  returnsVoid: boolean;
  /** `BTF_FUNC_GLOBAL` linkage: verified once on its own, for any arguments matching `args`. */
  global?: boolean;
  /** Number of parameters. */
  params?: number;
  /** For a global function: what each argument must be. */
  args?: FuncArg[];
  /** For a global function whose BTF the kernel cannot turn into argument kinds: its message. */
  argsError?: string;
}

/**
 * A `bpf_line_info` record with its strings resolved: the instructions from slot `insnOff` up to the
 * next record come from line `lineNum` of `fileName`, whose text is `line`. `lineInfoOf(program)`
 * gives these for a program of an opened object.
 */
export interface LineInfo {
  /** First slot the record covers (the kernel's `insn_off`, counted in instructions). */
  insnOff: number;
  /** The file as clang recorded it (often a path); the log prints its last component. */
  fileName: string;
  /** The source text of the line. */
  line: string;
  lineNum: number;
  col?: number;
  /**
   * Offset of `fileName` in the BTF string section: the kernel decides "same file" by this offset.
   * Without it, by the name.
   */
  fileNameOff?: number;
}

export interface VerifyOptions {
  /** Program type: kernel number or name (`BPF_PROG_TYPE_XDP`, `xdp`). */
  progType: number | string;
  /** Expected attach type: kernel number or name (`BPF_CGROUP_INET4_CONNECT`). */
  expectedAttachType?: number | string;
  /** Maps the program refers to. */
  maps?: readonly VerifierMap[];
  /** 0: only the error (default), 1: the path to the error and the stats, 2: every instruction. */
  logLevel?: 0 | 1 | 2;
  /** Privileged (CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN, the default) or not. */
  privileged?: boolean;
  /** Program flags (`BPF_F_ANY_ALIGNMENT`, ...); the selftest flags are ignored. */
  progFlags?: number;
  /** Licence string; GPL-only helpers need a GPL-compatible one. Default "GPL". */
  license?: string;
  /** Keep a per-instruction abstract state in the result (for tooling). */
  recordStates?: boolean;
  /** Kernel functions the program calls (`call` with src_reg 2), by slot, as a loader resolved them. */
  kfuncs?: readonly { insn: number; name: string }[];
  /** Functions as the program's BTF func_info describes them ({@link funcsFromBtf} derives these). */
  funcs?: readonly FuncFacts[];
  /**
   * The program's `line_info`, sorted by slot, one record at the first slot of each function (as
   * `BPF_PROG_LOAD` requires). With a log (level 1 or 2) the C source line is printed before the
   * instructions it covers, as the kernel prints it: `; <line> @ <file>:<line number>`.
   */
  lineInfo?: readonly LineInfo[];
  /** Processed-instruction budget (default 1,000,000, the kernel's BPF_COMPLEXITY_LIMIT_INSNS). */
  insnLimit?: number;
}

export interface VerifyStats {
  /** Instructions processed (the kernel's `insn_processed`). */
  processed: number;
  /** States kept for pruning in total and at the peak. */
  totalStates: number;
  peakStates: number;
  /** Stack depth of each subprogram, in bytes (the kernel's `stack depth` line). */
  stackDepths: number[];
  /** Time spent, in microseconds. */
  micros: number;
}

/** Why a program was rejected. */
export interface VerifyError {
  /** Stable code: `E_VERIFIER_REJECT` for a verdict, `E_VERIFIER_INPUT` for an unusable input. */
  code: 'E_VERIFIER_REJECT' | 'E_VERIFIER_INPUT' | 'E_VERIFIER_TOO_COMPLEX';
  /** The slot index the kernel would name (undefined for whole-program problems). */
  insn?: number;
  /** The kernel's message, as its log prints it. */
  message: string;
  /** The errno the kernel's BPF_PROG_LOAD would return (EACCES, EINVAL, E2BIG, ...). */
  errno: number;
}

export interface VerifyResult {
  ok: boolean;
  /** The log, in the kernel's format. */
  log: string;
  error?: VerifyError;
  stats: VerifyStats;
  /** With `recordStates`: per slot, the register state lines the level-2 log prints (first visit). */
  states?: (string | undefined)[];
}
