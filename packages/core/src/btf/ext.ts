import { BtfError } from '../errors.js';
import type { Btf } from './btf.js';

/** A `bpf_func_info` record of `.BTF.ext`: the function (a BTF FUNC) starting at `insnOff`. */
export interface BtfExtFuncInfo {
  /** Byte offset of the function's first instruction in its section (as in the object file). */
  insnOff: number;
  typeId: number;
}

/** A `bpf_line_info` record: the C source line the instruction at `insnOff` comes from. */
export interface BtfExtLineInfo {
  /** Byte offset of the instruction in its section. */
  insnOff: number;
  fileNameOff: number;
  lineOff: number;
  /** The raw `line_col` (line << 10 | column). */
  lineCol: number;
  fileName: string;
  /** The source text of the line, as clang recorded it. */
  line: string;
  lineNum: number;
  col: number;
}

/** `minimal.bpf.c:47: if (t) *t += scale(packets);`: where a line_info record points, for messages. */
export function sourceLocation(li: BtfExtLineInfo): string {
  return `${li.fileName.replace(/^.*\//, '')}:${li.lineNum}: ${li.line.trim()}`;
}

/** A `bpf_core_relo` record: the instruction at `insnOff` needs a CO-RE relocation. */
export interface BtfExtCoreRelo {
  /** Byte offset of the instruction in its section. */
  insnOff: number;
  /** The local (object) BTF type the access string starts from. */
  typeId: number;
  accessStrOff: number;
  /** `"0:1:2"`: the member and array indices clang recorded. */
  accessStr: string;
  /** `enum bpf_core_relo_kind`. */
  kind: number;
}

/** The records of one program section (by section name). */
export interface BtfExtSection<T> {
  section: string;
  records: T[];
}

/** A parsed `.BTF.ext` section. */
export interface BtfExt {
  funcInfo: BtfExtSection<BtfExtFuncInfo>[];
  lineInfo: BtfExtSection<BtfExtLineInfo>[];
  coreRelos: BtfExtSection<BtfExtCoreRelo>[];
}

const MAGIC = 0xeb9f;
/** The smallest record each kind may have (the kernel's and libbpf's current layouts). */
const MIN_RECORD = { func: 8, line: 16, core: 16 } as const;
/** Bounds the work a hostile header can ask for: no object has more records than bytes / 8. */
const MAX_RECORDS = 1 << 24;

/**
 * Parses `.BTF.ext` (the func_info, line_info and CO-RE relocation records clang emits with `-g`),
 * resolving its string offsets in `btf`, the object's `.BTF`. Record sizes larger than the known
 * layout are accepted (the format allows growth) and their tails ignored, as libbpf does.
 *
 * @throws BtfError with the byte offset in the section for anything malformed.
 */
export function parseBtfExt(bytes: Uint8Array, btf: Btf, littleEndian = btf.littleEndian): BtfExt {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (off: number) => {
    if (off < 0 || off + 4 > bytes.length) throw new BtfError('E_BTF_EXT_TRUNCATED', '.BTF.ext ends in the middle of a field', off);
    return v.getUint32(off, littleEndian);
  };
  if (bytes.length < 8) throw new BtfError('E_BTF_EXT_HEADER', `.BTF.ext is ${bytes.length} bytes, shorter than its header`, 0);
  if (v.getUint16(0, littleEndian) !== MAGIC) throw new BtfError('E_BTF_EXT_MAGIC', `bad .BTF.ext magic 0x${v.getUint16(0, littleEndian).toString(16)}`, 0);
  if (bytes[2] !== 1) throw new BtfError('E_BTF_EXT_VERSION', `unsupported .BTF.ext version ${bytes[2]}`, 2);
  const hdrLen = u32(4);
  if (hdrLen < 24 || hdrLen > bytes.length) throw new BtfError('E_BTF_EXT_HEADER', `.BTF.ext header length ${hdrLen} is not within 24..${bytes.length}`, 4);
  const str = (off: number, at: number): string => {
    if (off >= btf.stringsLength) throw new BtfError('E_BTF_EXT_STRING', `string offset ${off} is outside the BTF string section (${btf.stringsLength} bytes)`, at);
    return btf.string(off);
  };

  /** Walks one info area: `rec_size`, then per section `sec_name_off`, `num_info`, records. */
  const area = <T>(offField: number, kind: keyof typeof MIN_RECORD, read: (at: number) => T): BtfExtSection<T>[] => {
    if (hdrLen < offField + 8) return [];
    const off = u32(offField);
    const len = u32(offField + 4);
    if (len === 0) return [];
    const start = hdrLen + off;
    const end = start + len;
    if (end > bytes.length || end < start) throw new BtfError('E_BTF_EXT_BOUNDS', `${kind} info (${off}+${len}) exceeds the ${bytes.length}-byte section`, offField);
    const recSize = u32(start);
    if (recSize < MIN_RECORD[kind] || recSize % 4 !== 0) throw new BtfError('E_BTF_EXT_RECORD', `${kind} info record size ${recSize} is below ${MIN_RECORD[kind]} or unaligned`, start);
    const out: BtfExtSection<T>[] = [];
    let at = start + 4;
    while (at < end) {
      if (at + 8 > end) throw new BtfError('E_BTF_EXT_TRUNCATED', `${kind} info ends inside a section header`, at);
      const section = str(u32(at), at);
      const n = u32(at + 4);
      if (n === 0) throw new BtfError('E_BTF_EXT_RECORD', `${kind} info of ${section} has no records`, at);
      if (n > MAX_RECORDS || at + 8 + n * recSize > end) throw new BtfError('E_BTF_EXT_BOUNDS', `${n} ${kind} records of ${recSize} bytes for ${section} run past the end of the area`, at);
      at += 8;
      const records: T[] = [];
      for (let i = 0; i < n; i++, at += recSize) records.push(read(at));
      out.push({ section, records });
    }
    return out;
  };

  const funcInfo = area(8, 'func', (at) => ({ insnOff: u32(at), typeId: u32(at + 4) }));
  const lineInfo = area(16, 'line', (at) => {
    const lineCol = u32(at + 12);
    const fileNameOff = u32(at + 4);
    const lineOff = u32(at + 8);
    return { insnOff: u32(at), fileNameOff, lineOff, lineCol, fileName: str(fileNameOff, at + 4), line: str(lineOff, at + 8), lineNum: lineCol >>> 10, col: lineCol & 0x3ff };
  });
  const coreRelos = area(24, 'core', (at) => {
    const accessStrOff = u32(at + 8);
    return { insnOff: u32(at), typeId: u32(at + 4), accessStrOff, accessStr: str(accessStrOff, at + 8), kind: u32(at + 12) };
  });
  for (const s of [...funcInfo, ...lineInfo, ...coreRelos]) {
    for (const r of s.records) {
      if (r.insnOff % 8 !== 0) throw new BtfError('E_BTF_EXT_RECORD', `a record of ${s.section} points at byte ${r.insnOff}, not at an instruction`, 0);
    }
  }
  return { funcInfo, lineInfo, coreRelos };
}
