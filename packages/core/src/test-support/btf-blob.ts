/**
 * A little-endian BTF blob from its type words and string section, laid out as the kernel's
 * Documentation/bpf/btf.rst gives the header (magic, version 1, 24-byte header, types, strings).
 */
export function btfBlob(words: readonly number[], strings: string): Uint8Array {
  const types = new Uint8Array(words.length * 4);
  const tv = new DataView(types.buffer);
  words.forEach((w, i) => tv.setUint32(i * 4, w >>> 0, true));
  const str = new TextEncoder().encode(strings);
  const out = new Uint8Array(24 + types.length + str.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, true);
  out[2] = 1;
  v.setUint32(4, 24, true);
  v.setUint32(8, 0, true);
  v.setUint32(12, types.length, true);
  v.setUint32(16, types.length, true);
  v.setUint32(20, str.length, true);
  out.set(types, 24);
  out.set(str, 24 + types.length);
  return out;
}
