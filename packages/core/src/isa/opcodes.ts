/**
 * Opcode building blocks of the eBPF instruction set, numbered as in RFC 9669 and the kernel's
 * `include/uapi/linux/bpf_common.h` / `bpf.h`.
 *
 * An opcode byte is `class | (op or mode) | (source or size)`. These constants are the parts; the
 * `classify` function in `insn.ts` turns a whole instruction into a semantic form.
 */

/** Instruction classes (the low three bits of the opcode). */
export const Class = {
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  JMP32: 0x06,
  ALU64: 0x07,
} as const;

/** Source bit of arithmetic and jump opcodes: K uses `imm`, X uses `src`. */
export const Source = { K: 0x00, X: 0x08 } as const;

/** Arithmetic operations (the high four bits of an ALU/ALU64 opcode). */
export const AluOp = {
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  MOV: 0xb0,
  ARSH: 0xc0,
  END: 0xd0,
} as const;

/** Jump operations (the high four bits of a JMP/JMP32 opcode). */
export const JmpOp = {
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  JNE: 0x50,
  JSGT: 0x60,
  JSGE: 0x70,
  CALL: 0x80,
  EXIT: 0x90,
  JLT: 0xa0,
  JLE: 0xb0,
  JSLT: 0xc0,
  JSLE: 0xd0,
  /** `BPF_JCOND` (kernel 6.9+): `may_goto` when `src` is 0. */
  JCOND: 0xe0,
} as const;

/** Access sizes of load and store opcodes. */
export const Size = { W: 0x00, H: 0x08, B: 0x10, DW: 0x18 } as const;

/** Modes of load and store opcodes. */
export const Mode = {
  IMM: 0x00,
  ABS: 0x20,
  IND: 0x40,
  MEM: 0x60,
  MEMSX: 0x80,
  ATOMIC: 0xc0,
} as const;

/** Operations in the `imm` field of an atomic (`BPF_STX | BPF_ATOMIC`) instruction. */
export const AtomicOp = {
  ADD: 0x00,
  OR: 0x40,
  AND: 0x50,
  XOR: 0xa0,
  FETCH: 0x01,
  XCHG: 0xe0 | 0x01,
  CMPXCHG: 0xf0 | 0x01,
} as const;

/** `src` values of the 16-byte `lddw` (`BPF_LD | BPF_IMM | BPF_DW`), as the kernel defines them. */
export const PseudoLd = {
  /** A plain 64-bit immediate. */
  IMM: 0,
  /** `BPF_PSEUDO_MAP_FD`: imm is a map file descriptor. */
  MAP_FD: 1,
  /** `BPF_PSEUDO_MAP_VALUE`: imm is a map fd, the second imm an offset into its value. */
  MAP_VALUE: 2,
  /** `BPF_PSEUDO_BTF_ID`: imm is a BTF id of a kernel variable. */
  BTF_ID: 3,
  /** `BPF_PSEUDO_FUNC`: imm is the relative offset of a subprogram. */
  FUNC: 4,
  /** `BPF_PSEUDO_MAP_IDX`: imm is an index into the fd_array. */
  MAP_IDX: 5,
  /** `BPF_PSEUDO_MAP_IDX_VALUE`: like MAP_VALUE with an fd_array index. */
  MAP_IDX_VALUE: 6,
} as const;

/** `src` values of `call` (`BPF_JMP | BPF_CALL`). */
export const PseudoCall = {
  /** A helper function by its `enum bpf_func_id` number. */
  HELPER: 0,
  /** `BPF_PSEUDO_CALL`: a bpf-to-bpf call, imm is the relative offset of the callee. */
  LOCAL: 1,
  /** `BPF_PSEUDO_KFUNC_CALL`: imm is the BTF id of a kernel function. */
  KFUNC: 2,
} as const;

/** The `off` value of `BPF_ALU64 | BPF_MOV | BPF_X` that makes it `addr_space_cast` (arena pointers). */
export const ADDR_SPACE_CAST_OFF = 1;

/** Whole opcodes used often enough to deserve a name. */
export const Opcode = {
  LDDW: Class.LD | Mode.IMM | Size.DW,
  CALL: Class.JMP | JmpOp.CALL | Source.K,
  CALLX: Class.JMP | JmpOp.CALL | Source.X,
  EXIT: Class.JMP | JmpOp.EXIT,
  JA: Class.JMP | JmpOp.JA,
  JA32: Class.JMP32 | JmpOp.JA,
  MAY_GOTO: Class.JMP | JmpOp.JCOND,
} as const;

/** Number of general-purpose registers: r0..r10 (r10 is the read-only frame pointer). */
export const REGISTER_COUNT = 11;
/** The frame pointer register (r10), read-only. */
export const FRAME_POINTER = 10;
/** Size of one eBPF stack frame in bytes. */
export const STACK_SIZE = 512;
