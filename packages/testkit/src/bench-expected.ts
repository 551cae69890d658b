/**
 * Expected r0 of the benchmark programs of ../shared/bench, computed here from what each program
 * does (its comments and source), independently of any backend.
 */

const M64 = (1n << 64n) - 1n;
const M32 = (1n << 32n) - 1n;

/** Byte-swaps the low `bits` of `v` (as `be16/32/64` does on a little-endian machine). */
function bswap(v: bigint, bits: number): bigint {
  let out = 0n;
  for (let i = 0; i < bits / 8; i++) out = (out << 8n) | ((v >> BigInt(i * 8)) & 0xffn);
  return out;
}

/**
 * Evaluates alu200.s statement by statement (the forms gen_alu200.py writes: `rD = imm`,
 * `pD = pS`, `rD = -rD`, `rD = beN rD`, `pD op= pS|imm`) with RFC 9669 semantics.
 */
export function evalAlu200(source: string): bigint {
  const r = new Array<bigint>(11).fill(0n);
  for (const raw of source.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line || line === 'exit') continue;
    let m = /^r(\d+) = -r\1$/.exec(line);
    if (m) { r[+m[1]] = (-r[+m[1]]) & M64; continue; }
    m = /^r(\d+) = be(16|32|64) r\1$/.exec(line);
    if (m) { r[+m[1]] = bswap(r[+m[1]], +m[2]); continue; }
    m = /^([rw])(\d+) (=|\+=|-=|\*=|&=|\|=|\^=|<<=|>>=|s>>=) ([rw](\d+)|-?\d+)$/.exec(line);
    if (!m) throw new Error(`alu200: unexpected line '${line}'`);
    const w = m[1] === 'w';
    const d = +m[2];
    const mask = w ? M32 : M64;
    const bits = w ? 32n : 64n;
    const src = m[5] !== undefined ? r[+m[5]] & mask : BigInt(m[4]) & M64 & mask;
    const dst = r[d] & mask;
    const signed = (v: bigint) => BigInt.asIntN(Number(bits), v);
    let v: bigint;
    switch (m[3]) {
      case '=': v = m[5] !== undefined ? src : w ? BigInt(m[4]) & M32 : BigInt.asUintN(64, BigInt(m[4])); break;
      case '+=': v = dst + src; break;
      case '-=': v = dst - src; break;
      case '*=': v = dst * src; break;
      case '&=': v = dst & src; break;
      case '|=': v = dst | src; break;
      case '^=': v = dst ^ src; break;
      case '<<=': v = dst << (src & (bits - 1n)); break;
      case '>>=': v = dst >> (src & (bits - 1n)); break;
      default: v = BigInt.asUintN(Number(bits), signed(dst) >> (src & (bits - 1n)));
    }
    r[d] = v & mask; // 32-bit results are zero-extended
  }
  return r[0];
}

/** csum1500.s: two running sums over the bytes of the packet (at most 1500). */
export function evalCsum(packet: Uint8Array): bigint {
  let r0 = 0n;
  let r4 = 0n;
  for (let i = 0; i < Math.min(1500, packet.length); i++) {
    r0 = (r0 + BigInt(packet[i])) & M64;
    r4 = (r4 + r0) & M64;
  }
  return (r0 ^ ((r4 << 16n) & M64)) & M64;
}

/** loop100k.s / loop1m*.s: `r0 += r1 << 3; r0 ^= r1` for r1 in 0..n-1. */
export function evalLoop(n: number): bigint {
  // 64-bit arithmetic with two 32-bit halves would be faster; BigInt is fine for 1M steps in tests.
  let r0 = 0n;
  for (let i = 0n; i < BigInt(n); i++) r0 = (((r0 + (i << 3n)) & M64) ^ i) & M64;
  return r0;
}
