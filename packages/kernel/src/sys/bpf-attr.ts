/**
 * `union bpf_attr` encoders for the bpf() commands we use, laid out as in the kernel's
 * `include/uapi/linux/bpf.h`. Each encoder returns the attr bytes plus the buffers its pointer
 * fields refer to, as (offset in attr, buffer) pairs: the native layer writes each buffer's
 * address into the attr right before the syscall, so no raw address is ever kept in JavaScript.
 */

/** bpf() command numbers (`enum bpf_cmd`). */
export const BpfCmd = {
  MAP_CREATE: 0,
  MAP_LOOKUP_ELEM: 1,
  MAP_UPDATE_ELEM: 2,
  MAP_DELETE_ELEM: 3,
  MAP_GET_NEXT_KEY: 4,
  PROG_LOAD: 5,
  OBJ_PIN: 6,
  OBJ_GET: 7,
  PROG_ATTACH: 8,
  PROG_DETACH: 9,
  PROG_TEST_RUN: 10,
  PROG_GET_NEXT_ID: 11,
  MAP_GET_NEXT_ID: 12,
  PROG_GET_FD_BY_ID: 13,
  MAP_GET_FD_BY_ID: 14,
  OBJ_GET_INFO_BY_FD: 15,
  PROG_QUERY: 16,
  RAW_TRACEPOINT_OPEN: 17,
  BTF_LOAD: 18,
  BTF_GET_FD_BY_ID: 19,
  TASK_FD_QUERY: 20,
  MAP_LOOKUP_AND_DELETE_ELEM: 21,
  MAP_FREEZE: 22,
  BTF_GET_NEXT_ID: 23,
  MAP_LOOKUP_BATCH: 24,
  MAP_LOOKUP_AND_DELETE_BATCH: 25,
  MAP_UPDATE_BATCH: 26,
  MAP_DELETE_BATCH: 27,
  LINK_CREATE: 28,
  LINK_UPDATE: 29,
  LINK_GET_FD_BY_ID: 30,
  LINK_GET_NEXT_ID: 31,
  ENABLE_STATS: 32,
  ITER_CREATE: 33,
  LINK_DETACH: 34,
  PROG_BIND_MAP: 35,
} as const;

/** A pointer field of an attr: where it is, and the buffer it must point to (null = NULL). */
export type PtrField = [offset: number, buffer: Uint8Array | null];

/** An encoded attr, ready for the native `bpf(cmd, attr, ptrs)`. */
export interface EncodedAttr {
  attr: Uint8Array;
  ptrs: PtrField[];
}

class AttrWriter {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly ptrs: PtrField[] = [];

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  u32(off: number, v: number): this {
    this.view.setUint32(off, v >>> 0, true);
    return this;
  }

  u64(off: number, v: bigint | number): this {
    this.view.setBigUint64(off, BigInt.asUintN(64, BigInt(v)), true);
    return this;
  }

  ptr(off: number, buf: Uint8Array | null | undefined): this {
    this.ptrs.push([off, buf ?? null]);
    return this;
  }

  /** A fixed char array (`char name[16]`): truncated, NUL-terminated. */
  name(off: number, len: number, s: string | undefined): this {
    if (s) this.bytes.set(new TextEncoder().encode(s).subarray(0, len - 1), off);
    return this;
  }

  done(): EncodedAttr {
    return { attr: this.bytes, ptrs: this.ptrs };
  }
}

/** A NUL-terminated C string. */
export function cString(s: string): Uint8Array {
  const enc = new TextEncoder().encode(s);
  const out = new Uint8Array(enc.length + 1);
  out.set(enc);
  return out;
}

/** `BPF_MAP_CREATE` attr. */
export function mapCreateAttr(o: {
  mapType: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags?: number;
  innerMapFd?: number;
  name?: string;
  btfFd?: number;
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
  mapExtra?: bigint;
}): EncodedAttr {
  return new AttrWriter(80)
    .u32(0, o.mapType)
    .u32(4, o.keySize)
    .u32(8, o.valueSize)
    .u32(12, o.maxEntries)
    .u32(16, o.mapFlags ?? 0)
    .u32(20, o.innerMapFd ?? 0)
    .name(28, 16, o.name)
    .u32(48, o.btfFd ?? 0)
    .u32(52, o.btfKeyTypeId ?? 0)
    .u32(56, o.btfValueTypeId ?? 0)
    .u64(64, o.mapExtra ?? 0n)
    .done();
}

/** Attr of the per-element map commands (`BPF_MAP_*_ELEM`, `BPF_MAP_GET_NEXT_KEY`). */
export function mapElemAttr(o: {
  mapFd: number;
  key: Uint8Array | null;
  /** `value` for lookup/update, `next_key` for get_next_key. */
  value?: Uint8Array | null;
  flags?: number | bigint;
}): EncodedAttr {
  return new AttrWriter(32)
    .u32(0, o.mapFd)
    .ptr(8, o.key)
    .ptr(16, o.value ?? null)
    .u64(24, o.flags ?? 0)
    .done();
}

/** Attr of the batch map commands (`BPF_MAP_LOOKUP_BATCH` ...). `count` is read back at offset 32. */
export function mapBatchAttr(o: {
  mapFd: number;
  inBatch: Uint8Array | null;
  outBatch: Uint8Array | null;
  keys: Uint8Array | null;
  values: Uint8Array | null;
  count: number;
  elemFlags?: number;
  flags?: number;
}): EncodedAttr {
  return new AttrWriter(56)
    .ptr(0, o.inBatch)
    .ptr(8, o.outBatch)
    .ptr(16, o.keys)
    .ptr(24, o.values)
    .u32(32, o.count)
    .u32(36, o.mapFd)
    .u64(40, o.elemFlags ?? 0)
    .u64(48, o.flags ?? 0)
    .done();
}

/** `BPF_PROG_LOAD` attr. */
export function progLoadAttr(o: {
  progType: number;
  insns: Uint8Array;
  license: string;
  logLevel?: number;
  logBuf?: Uint8Array | null;
  kernVersion?: number;
  progFlags?: number;
  name?: string;
  expectedAttachType?: number;
  progBtfFd?: number;
  /** `struct bpf_func_info` records ({@link funcInfoRecords}). */
  funcInfo?: Uint8Array | null;
  /** `struct bpf_line_info` records ({@link lineInfoRecords}). */
  lineInfo?: Uint8Array | null;
  /** `struct bpf_core_relo` records ({@link coreReloRecords}). */
  coreRelos?: Uint8Array | null;
  attachBtfId?: number;
  attachBtfObjFd?: number;
  fdArray?: Uint8Array | null;
}): EncodedAttr {
  const w = new AttrWriter(152)
    .u32(0, o.progType)
    .u32(4, o.insns.length / 8)
    .ptr(8, o.insns)
    .ptr(16, cString(o.license))
    .u32(24, o.logBuf ? (o.logLevel ?? 1) : 0)
    .u32(28, o.logBuf?.length ?? 0)
    .ptr(32, o.logBuf ?? null)
    .u32(40, o.kernVersion ?? 0)
    .u32(44, o.progFlags ?? 0)
    .name(48, 16, o.name)
    .u32(68, o.expectedAttachType ?? 0)
    .u32(72, o.progBtfFd ?? 0)
    .u32(108, o.attachBtfId ?? 0)
    .u32(112, o.attachBtfObjFd ?? 0);
  // Record arrays: rec_size, pointer and count, left all zero when absent (the kernel wants no
  // rec_size without records).
  if (o.funcInfo?.length) w.u32(76, FUNC_INFO_REC_SIZE).ptr(80, o.funcInfo).u32(88, o.funcInfo.length / FUNC_INFO_REC_SIZE);
  if (o.lineInfo?.length) w.u32(92, LINE_INFO_REC_SIZE).ptr(96, o.lineInfo).u32(104, o.lineInfo.length / LINE_INFO_REC_SIZE);
  if (o.fdArray) w.ptr(120, o.fdArray);
  if (o.coreRelos?.length) w.u32(116, o.coreRelos.length / CORE_RELO_REC_SIZE).ptr(128, o.coreRelos).u32(136, CORE_RELO_REC_SIZE);
  return w.done();
}

/** `sizeof(struct bpf_func_info)`: `{ insn_off, type_id }`. */
export const FUNC_INFO_REC_SIZE = 8;
/** `sizeof(struct bpf_line_info)`: `{ insn_off, file_name_off, line_off, line_col }`. */
export const LINE_INFO_REC_SIZE = 16;
/** `sizeof(struct bpf_core_relo)`: `{ insn_off, type_id, access_str_off, kind }`. */
export const CORE_RELO_REC_SIZE = 16;

/** Packs u32 fields, little endian, as the kernel reads the record arrays. */
function u32Records<T>(items: readonly T[], fields: (item: T) => number[], recSize: number): Uint8Array {
  const out = new Uint8Array(items.length * recSize);
  const v = new DataView(out.buffer);
  items.forEach((item, i) => fields(item).forEach((f, j) => v.setUint32(i * recSize + 4 * j, f >>> 0, true)));
  return out;
}

/** `struct bpf_func_info[]` for `BPF_PROG_LOAD`; `insnOff` in instruction slots. */
export function funcInfoRecords(items: readonly { insnOff: number; typeId: number }[]): Uint8Array {
  return u32Records(items, (f) => [f.insnOff, f.typeId], FUNC_INFO_REC_SIZE);
}

/**
 * `struct bpf_line_info[]` for `BPF_PROG_LOAD`; `insnOff` in slots, the two string offsets into the
 * program's BTF, and `line_col` packed as the UAPI has it (`line << 10 | col`).
 */
export function lineInfoRecords(items: readonly { insnOff: number; fileNameOff: number; lineOff: number; lineNum: number; lineCol: number }[]): Uint8Array {
  return u32Records(items, (l) => [l.insnOff, l.fileNameOff, l.lineOff, (l.lineNum << 10) | (l.lineCol & 0x3ff)], LINE_INFO_REC_SIZE);
}

/** `struct bpf_core_relo[]` for `BPF_PROG_LOAD`; `insnOff` in bytes, as the UAPI has it. */
export function coreReloRecords(items: readonly { insnOff: number; typeId: number; accessStrOff: number; kind: number }[]): Uint8Array {
  return u32Records(items, (r) => [r.insnOff, r.typeId, r.accessStrOff, r.kind], CORE_RELO_REC_SIZE);
}

/** Offsets of the fields `BPF_PROG_TEST_RUN` writes back. */
export const TestRunOut = { RETVAL: 4, DATA_SIZE_OUT: 12, DURATION: 36, CTX_SIZE_OUT: 44 } as const;

/** `BPF_PROG_TEST_RUN` attr. */
export function testRunAttr(o: {
  progFd: number;
  dataIn?: Uint8Array | null;
  dataOut?: Uint8Array | null;
  repeat?: number;
  ctxIn?: Uint8Array | null;
  ctxOut?: Uint8Array | null;
  flags?: number;
  cpu?: number;
}): EncodedAttr {
  return new AttrWriter(80)
    .u32(0, o.progFd)
    .u32(8, o.dataIn?.length ?? 0)
    .u32(12, o.dataOut?.length ?? 0)
    .ptr(16, o.dataIn ?? null)
    .ptr(24, o.dataOut ?? null)
    .u32(32, o.repeat ?? 1)
    .u32(40, o.ctxIn?.length ?? 0)
    .u32(44, o.ctxOut?.length ?? 0)
    .ptr(48, o.ctxIn ?? null)
    .ptr(56, o.ctxOut ?? null)
    .u32(64, o.flags ?? 0)
    .u32(68, o.cpu ?? 0)
    .done();
}

/** `BPF_OBJ_PIN` / `BPF_OBJ_GET` attr. */
export function objPinAttr(o: { path: string; fd?: number; fileFlags?: number }): EncodedAttr {
  return new AttrWriter(24).ptr(0, cString(o.path)).u32(8, o.fd ?? 0).u32(12, o.fileFlags ?? 0).done();
}

/** `BPF_RAW_TRACEPOINT_OPEN` attr (also attaches tp_btf programs, with a NULL name). */
export function rawTracepointOpenAttr(o: { name: string | null; progFd: number }): EncodedAttr {
  return new AttrWriter(24).ptr(0, o.name === null ? null : cString(o.name)).u32(8, o.progFd).done();
}

/** `BPF_LINK_CREATE` attr for the simple targets (perf events, tracing programs). */
export function linkCreateAttr(o: {
  progFd: number;
  targetFd: number;
  attachType: number;
  flags?: number;
  /** perf_event links: `bpf_cookie`. */
  cookie?: bigint;
}): EncodedAttr {
  return new AttrWriter(64)
    .u32(0, o.progFd)
    .u32(4, o.targetFd)
    .u32(8, o.attachType)
    .u32(12, o.flags ?? 0)
    .u64(16, o.cookie ?? 0n)
    .done();
}

/** Offset of `btf_log_true_size`, which `BPF_BTF_LOAD` writes back: the log size it needed, NUL included. */
export const BtfLoadOut = { LOG_TRUE_SIZE: 28 } as const;

/** `BPF_BTF_LOAD` attr. */
export function btfLoadAttr(o: { btf: Uint8Array; logBuf?: Uint8Array | null; logLevel?: number }): EncodedAttr {
  return new AttrWriter(32)
    .ptr(0, o.btf)
    .ptr(8, o.logBuf ?? null)
    .u32(16, o.btf.length)
    .u32(20, o.logBuf?.length ?? 0)
    .u32(24, o.logBuf ? (o.logLevel ?? 1) : 0)
    .done();
}

/** `BPF_MAP_FREEZE` / `BPF_LINK_DETACH`-style attrs that carry a single fd at offset 0. */
export function fdAttr(fd: number): EncodedAttr {
  return new AttrWriter(8).u32(0, fd).done();
}

/** `BPF_OBJ_GET_INFO_BY_FD` attr. */
export function infoByFdAttr(o: { fd: number; info: Uint8Array }): EncodedAttr {
  return new AttrWriter(16).u32(0, o.fd).u32(4, o.info.length).ptr(8, o.info).done();
}
