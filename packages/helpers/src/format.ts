/**
 * The printf subset the kernel accepts in `bpf_trace_printk` and `bpf_snprintf` (kernel/bpf/helpers.c
 * `bpf_bprintf_prepare`): `%d %i %u %x %X` with optional `l`/`ll` (and `h`/`hh` for snprintf), `%c`,
 * `%s`, `%p`/`%pK`/`%px`, `%%`, an optional `-`/`0` flag and width. Anything else is `-EINVAL`.
 */

/** A conversion of the format. */
export interface Conversion {
  spec: string;
  kind: 'int' | 'uint' | 'hex' | 'HEX' | 'char' | 'str' | 'ptr';
  /** 32 or 64: `%d` reads 32 bits, `%ld`/`%lld` 64. */
  bits: 32 | 64;
  pad: string;
  width: number;
  left: boolean;
}

/** Splits a format into literal text and conversions, or returns an error message. */
export function parseFormat(fmt: string, opts: { allowShort?: boolean } = {}): (string | Conversion)[] | string {
  const out: (string | Conversion)[] = [];
  let lit = '';
  for (let i = 0; i < fmt.length; i++) {
    const ch = fmt[i];
    if (ch !== '%') {
      lit += ch;
      continue;
    }
    if (fmt[i + 1] === '%') {
      lit += '%';
      i++;
      continue;
    }
    const m = /^%(-?)(0?)(\d*)(hh|h|ll|l)?([diuxXcsp])(K|x)?/.exec(fmt.slice(i));
    if (!m) return `unsupported conversion at offset ${i} in '${fmt}'`;
    if ((m[4] === 'h' || m[4] === 'hh') && !opts.allowShort) return `unsupported length modifier '${m[4]}'`;
    if (lit) out.push(lit);
    lit = '';
    const conv = m[5];
    const kind = conv === 'd' || conv === 'i' ? 'int' : conv === 'u' ? 'uint' : conv === 'x' ? 'hex' : conv === 'X' ? 'HEX' : conv === 'c' ? 'char' : conv === 's' ? 'str' : 'ptr';
    out.push({ spec: m[0], kind, bits: m[4] === 'l' || m[4] === 'll' || conv === 'p' ? 64 : 32, pad: m[2] === '0' ? '0' : ' ', width: Number(m[3] || 0), left: m[1] === '-' });
    i += m[0].length - 1;
  }
  if (lit) out.push(lit);
  return out;
}

/** Formats one value for a conversion; `str` is the string already read for `%s`. */
export function formatValue(c: Conversion, v: bigint, str?: string): string {
  let s: string;
  const n = c.bits === 32 ? BigInt.asUintN(32, v) : BigInt.asUintN(64, v);
  switch (c.kind) {
    case 'int': s = (c.bits === 32 ? BigInt.asIntN(32, v) : BigInt.asIntN(64, v)).toString(); break;
    case 'uint': s = n.toString(); break;
    case 'hex': s = n.toString(16); break;
    case 'HEX': s = n.toString(16).toUpperCase(); break;
    case 'char': s = String.fromCharCode(Number(v & 0xffn)); break;
    case 'str': s = str ?? ''; break;
    default: s = c.spec === '%px' ? BigInt.asUintN(64, v).toString(16).padStart(16, '0') : `0x${BigInt.asUintN(64, v).toString(16)}`;
  }
  if (s.length < c.width) s = c.left ? s.padEnd(c.width) : c.pad === '0' && c.kind !== 'str' ? s.padStart(c.width, '0') : s.padStart(c.width);
  return s;
}
