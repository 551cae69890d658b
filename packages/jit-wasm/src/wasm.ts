/**
 * A small WebAssembly binary writer: just what the JIT emits (one memory import, function
 * imports, functions with i64/i32 locals, mutable globals, exports, a name section). Opcodes and
 * section layout follow the WebAssembly core specification, binary format (chapter 5).
 */

/** Value types. */
export const I32 = 0x7f;
export const I64 = 0x7e;
export const F64 = 0x7c;
export type ValType = typeof I32 | typeof I64 | typeof F64;

/** Block type of a block, loop or if without results. */
export const VOID = 0x40;

/** The opcodes the JIT uses. */
export const Op = {
  unreachable: 0x00,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  br_if: 0x0d,
  br_table: 0x0e,
  return: 0x0f,
  call: 0x10,
  drop: 0x1a,
  select: 0x1b,
  local_get: 0x20,
  local_set: 0x21,
  local_tee: 0x22,
  global_get: 0x23,
  global_set: 0x24,
  i32_load: 0x28,
  i64_load: 0x29,
  i32_load8_s: 0x2c,
  i32_load8_u: 0x2d,
  i32_load16_s: 0x2e,
  i32_load16_u: 0x2f,
  i64_load8_s: 0x30,
  i64_load8_u: 0x31,
  i64_load16_s: 0x32,
  i64_load16_u: 0x33,
  i64_load32_s: 0x34,
  i64_load32_u: 0x35,
  i32_store: 0x36,
  i64_store: 0x37,
  i32_store8: 0x3a,
  i32_store16: 0x3b,
  i64_store8: 0x3c,
  i64_store16: 0x3d,
  i64_store32: 0x3e,
  i32_const: 0x41,
  i64_const: 0x42,
  i32_eqz: 0x45,
  i32_eq: 0x46,
  i32_ne: 0x47,
  i32_lt_s: 0x48,
  i32_lt_u: 0x49,
  i32_gt_s: 0x4a,
  i32_gt_u: 0x4b,
  i32_le_s: 0x4c,
  i32_le_u: 0x4d,
  i32_ge_s: 0x4e,
  i32_ge_u: 0x4f,
  i64_eqz: 0x50,
  i64_eq: 0x51,
  i64_ne: 0x52,
  i64_lt_s: 0x53,
  i64_lt_u: 0x54,
  i64_gt_s: 0x55,
  i64_gt_u: 0x56,
  i64_le_s: 0x57,
  i64_le_u: 0x58,
  i64_ge_s: 0x59,
  i64_ge_u: 0x5a,
  i32_add: 0x6a,
  i32_sub: 0x6b,
  i32_mul: 0x6c,
  i32_div_s: 0x6d,
  i32_div_u: 0x6e,
  i32_rem_s: 0x6f,
  i32_rem_u: 0x70,
  i32_and: 0x71,
  i32_or: 0x72,
  i32_xor: 0x73,
  i32_shl: 0x74,
  i32_shr_s: 0x75,
  i32_shr_u: 0x76,
  i32_rotl: 0x77,
  i32_rotr: 0x78,
  i64_add: 0x7c,
  i64_sub: 0x7d,
  i64_mul: 0x7e,
  i64_div_s: 0x7f,
  i64_div_u: 0x80,
  i64_rem_s: 0x81,
  i64_rem_u: 0x82,
  i64_and: 0x83,
  i64_or: 0x84,
  i64_xor: 0x85,
  i64_shl: 0x86,
  i64_shr_s: 0x87,
  i64_shr_u: 0x88,
  i64_rotl: 0x89,
  i64_rotr: 0x8a,
  i32_wrap_i64: 0xa7,
  i64_extend_i32_s: 0xac,
  i64_extend_i32_u: 0xad,
  f64_convert_i64_u: 0xba,
  i32_extend8_s: 0xc0,
  i32_extend16_s: 0xc1,
  i64_extend8_s: 0xc2,
  i64_extend16_s: 0xc3,
  i64_extend32_s: 0xc4,
} as const;

const ENCODER = new TextEncoder();

/** A growable byte buffer with the LEB128 encodings of the binary format. */
export class Bytes {
  buf: Uint8Array<ArrayBuffer>;
  len = 0;

  constructor(capacity = 64) {
    this.buf = new Uint8Array(capacity);
  }

  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }

  byte(b: number): this {
    if (this.len === this.buf.length) this.grow(1);
    this.buf[this.len++] = b;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.grow(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** Unsigned LEB128 of a number below 2^32. */
  u32(v: number): this {
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
    return this;
  }

  /** Signed LEB128 of a 32-bit integer. */
  s32(v: number): this {
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }

  /** Signed LEB128 of a 64-bit integer given as its two 32-bit halves. */
  s64(lo: number, hi: number): this {
    lo >>>= 0;
    hi |= 0;
    // Fits in 32 signed bits: the short path.
    if ((hi === 0 && lo < 0x80000000) || (hi === -1 && lo >= 0x80000000)) return this.s32(lo | 0);
    for (;;) {
      const b = lo & 0x7f;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>= 7;
      const done = (hi === 0 && lo === 0 && (b & 0x40) === 0) || (hi === -1 && lo === 0xffffffff && (b & 0x40) !== 0);
      if (done) return this.byte(b);
      this.byte(b | 0x80);
    }
  }

  name(s: string): this {
    // The JIT's names are ASCII: no encoder needed (it costs more than the whole name).
    if (/^[\x00-\x7f]*$/.test(s)) {
      this.u32(s.length);
      for (let i = 0; i < s.length; i++) this.byte(s.charCodeAt(i));
      return this;
    }
    const b = ENCODER.encode(s);
    return this.u32(b.length).bytes(b);
  }

  /** A length-prefixed copy of `inner` (sections, function bodies). */
  sized(inner: Bytes): this {
    return this.u32(inner.len).bytes(inner.view());
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/** A function signature. */
export interface FuncType {
  params: ValType[];
  results: ValType[];
}

/** One function of a module under construction. */
export interface FuncDef {
  type: FuncType;
  /** Declared locals beyond the parameters, as (count, type) runs. */
  locals: [number, ValType][];
  /** The body's instructions, ending with `end`. */
  code: Bytes;
  name: string;
  /** Export name, if exported. */
  exportAs?: string;
}

/** A module: one imported memory, imported functions, mutable globals, functions. */
export class ModuleBuilder {
  private readonly types: FuncType[] = [];
  private readonly imports: { module: string; name: string; type: number }[] = [];
  private readonly globals: { type: ValType; init: number; exportAs?: string }[] = [];
  readonly funcs: FuncDef[] = [];

  constructor(readonly moduleName: string) {}

  typeIndex(t: FuncType): number {
    const i = this.types.findIndex((u) => u.params.length === t.params.length && u.results.length === t.results.length && u.params.every((p, k) => p === t.params[k]) && u.results.every((r, k) => r === t.results[k]));
    if (i >= 0) return i;
    this.types.push(t);
    return this.types.length - 1;
  }

  /** Declares an imported function; returns its function index (imports come first). */
  importFunc(module: string, name: string, type: FuncType): number {
    if (this.funcs.length) throw new Error('imports must be declared before functions');
    this.imports.push({ module, name, type: this.typeIndex(type) });
    return this.imports.length - 1;
  }

  /** Declares a mutable global with an i32/i64 initial value; returns its index. */
  global(type: ValType, init: number, exportAs?: string): number {
    this.globals.push({ type, init, exportAs });
    return this.globals.length - 1;
  }

  /** The function index the next {@link addFunc} gets. */
  get nextFuncIndex(): number {
    return this.imports.length + this.funcs.length;
  }

  addFunc(f: FuncDef): number {
    this.typeIndex(f.type);
    this.funcs.push(f);
    return this.imports.length + this.funcs.length - 1;
  }

  /**
   * The module's bytes, and for each function the module offset at which its body's
   * instructions start (what engines report as the position of a trap).
   */
  build(): { bytes: Uint8Array<ArrayBuffer>; bodyOffsets: number[] } {
    const out = new Bytes();
    out.bytes(Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00));
    const section = (id: number, fill: (b: Bytes) => void) => {
      const b = new Bytes();
      fill(b);
      out.byte(id).sized(b);
    };
    section(1, (b) => {
      b.u32(this.types.length);
      for (const t of this.types) {
        b.byte(0x60).u32(t.params.length);
        for (const p of t.params) b.byte(p);
        b.u32(t.results.length);
        for (const r of t.results) b.byte(r);
      }
    });
    section(2, (b) => {
      b.u32(this.imports.length + 1);
      b.name('env').name('memory').byte(0x02).byte(0x00).u32(1); // memory, min 1 page, no max
      for (const i of this.imports) b.name(i.module).name(i.name).byte(0x00).u32(i.type);
    });
    section(3, (b) => {
      b.u32(this.funcs.length);
      for (const f of this.funcs) b.u32(this.typeIndex(f.type));
    });
    if (this.globals.length) {
      section(6, (b) => {
        b.u32(this.globals.length);
        for (const g of this.globals) {
          b.byte(g.type).byte(0x01);
          if (g.type === I64) b.byte(Op.i64_const).s64(g.init, g.init < 0 ? -1 : 0);
          else b.byte(Op.i32_const).s32(g.init);
          b.byte(Op.end);
        }
      });
    }
    const exports: [string, number, number][] = [];
    this.funcs.forEach((f, i) => f.exportAs && exports.push([f.exportAs, 0x00, this.imports.length + i]));
    this.globals.forEach((g, i) => g.exportAs && exports.push([g.exportAs, 0x03, i]));
    section(7, (b) => {
      b.u32(exports.length);
      for (const [name, kind, index] of exports) b.name(name).byte(kind).u32(index);
    });
    // The code section, written in place so the offset of every body is known.
    const code = new Bytes();
    code.u32(this.funcs.length);
    const bodyStarts: number[] = [];
    for (const f of this.funcs) {
      const body = new Bytes();
      body.u32(f.locals.length);
      for (const [n, t] of f.locals) body.u32(n).byte(t);
      const header = body.len;
      body.bytes(f.code.view());
      const sizeLen = new Bytes().u32(body.len).len;
      bodyStarts.push(code.len + sizeLen + header);
      code.sized(body);
    }
    out.byte(10);
    const codeSizeLen = new Bytes().u32(code.len).len;
    const codeStart = out.len + codeSizeLen;
    out.sized(code);
    // The name section: module and function names, for stack traces.
    section(0, (b) => {
      b.name('name');
      const mod = new Bytes().name(this.moduleName);
      b.byte(0).sized(mod);
      const fn = new Bytes();
      fn.u32(this.funcs.length);
      this.funcs.forEach((f, i) => fn.u32(this.imports.length + i).name(f.name));
      b.byte(1).sized(fn);
    });
    return { bytes: out.view().slice(), bodyOffsets: bodyStarts.map((s) => codeStart + s) };
  }
}
