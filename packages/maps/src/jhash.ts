/**
 * Bob Jenkins' lookup3 hash as the kernel's include/linux/jhash.h defines it (`jhash` over bytes,
 * `jhash2` over u32 words), in 32-bit arithmetic. The bloom filter hashes with it, so a filter
 * made with `BPF_F_ZERO_SEED` sets the same bits as the kernel's and gives the same false positives.
 */

/** `JHASH_INITVAL`. */
const INITVAL = 0xdeadbeef;

const rol = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/** The state (a, b, c) between rounds. */
type State = [number, number, number];

/** `__jhash_mix`: mixes three words reversibly. */
function mix(s: State): void {
  let [a, b, c] = s;
  a = (a - c) | 0; a ^= rol(c, 4); c = (c + b) | 0;
  b = (b - a) | 0; b ^= rol(a, 6); a = (a + c) | 0;
  c = (c - b) | 0; c ^= rol(b, 8); b = (b + a) | 0;
  a = (a - c) | 0; a ^= rol(c, 16); c = (c + b) | 0;
  b = (b - a) | 0; b ^= rol(a, 19); a = (a + c) | 0;
  c = (c - b) | 0; c ^= rol(b, 4); b = (b + a) | 0;
  s[0] = a; s[1] = b; s[2] = c;
}

/** `__jhash_final`: the last mixing of (a, b, c) into c. */
function final(s: State): number {
  let [a, b, c] = s;
  c ^= b; c = (c - rol(b, 14)) | 0;
  a ^= c; a = (a - rol(c, 11)) | 0;
  b ^= a; b = (b - rol(a, 25)) | 0;
  c ^= b; c = (c - rol(b, 16)) | 0;
  a ^= c; a = (a - rol(c, 4)) | 0;
  b ^= a; b = (b - rol(a, 14)) | 0;
  c ^= b; c = (c - rol(b, 24)) | 0;
  return c >>> 0;
}

/** `jhash(key, length, initval)`: the hash of `len` bytes at `key[at]` (words read little endian, as on x86). */
export function jhash(key: Uint8Array, initval: number, at = 0, len = key.length - at): number {
  const start = (INITVAL + len + initval) | 0;
  const s: State = [start, start, start];
  const word = (i: number) => key[i] | (key[i + 1] << 8) | (key[i + 2] << 16) | (key[i + 3] << 24);
  let k = at;
  let n = len;
  while (n > 12) {
    s[0] = (s[0] + word(k)) | 0;
    s[1] = (s[1] + word(k + 4)) | 0;
    s[2] = (s[2] + word(k + 8)) | 0;
    mix(s);
    n -= 12;
    k += 12;
  }
  if (n === 0) return s[2] >>> 0;
  // the last 1..12 bytes, byte by byte into the low end of a, b, c
  for (let i = n - 1; i >= 0; i--) {
    const w = i >> 2;
    s[w] = (s[w] + (key[k + i] << (8 * (i & 3)))) | 0;
  }
  return final(s);
}

/** `jhash2(k, length, initval)`: the hash of `words` u32 words at `key[at]` (little endian). */
export function jhash2(key: Uint8Array, words: number, initval: number, at = 0): number {
  const start = (INITVAL + (words << 2) + initval) | 0;
  const s: State = [start, start, start];
  const word = (i: number) => key[at + 4 * i] | (key[at + 4 * i + 1] << 8) | (key[at + 4 * i + 2] << 16) | (key[at + 4 * i + 3] << 24);
  let k = 0;
  let n = words;
  while (n > 3) {
    s[0] = (s[0] + word(k)) | 0;
    s[1] = (s[1] + word(k + 1)) | 0;
    s[2] = (s[2] + word(k + 2)) | 0;
    mix(s);
    n -= 3;
    k += 3;
  }
  if (n === 0) return s[2] >>> 0;
  for (let i = 0; i < n; i++) s[i] = (s[i] + word(k + i)) | 0;
  return final(s);
}
