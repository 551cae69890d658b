import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BtfError } from '../errors.js';
import { Btf, BtfKind } from './btf.js';
import { btfBlob } from '../test-support/btf-blob.js';

/**
 * A BTF blob built by hand from the format in the kernel's Documentation/bpf/btf.rst:
 *   [1] INT 'int' size 4, signed, 32 bits
 *   [2] STRUCT 'pair' size 8 { int a @ bit 0; int b @ bit 32 }
 *   [3] PTR -> [2]
 *   [4] TYPEDEF 'pair_t' -> [2]
 */
function handMade(): Uint8Array {
  const strings = '\0int\0pair\0a\0b\0pair_t\0';
  const s = (name: string) => strings.indexOf(`\0${name}\0`) + 1;
  const words = [
    s('int'), 0x01000000, 4, (1 << 24) | 32, // INT, encoding BTF_INT_SIGNED, 32 bits
    s('pair'), 0x04000002, 8, s('a'), 1, 0, s('b'), 1, 32, // STRUCT, vlen 2
    0, 0x02000000, 2, // PTR -> 2
    s('pair_t'), 0x08000000, 2, // TYPEDEF -> 2
  ];
  return btfBlob(words, strings);
}

describe('BTF', () => {
  it('parses a hand-made blob: kinds, names, members, sizes, typedef resolution', () => {
    const btf = Btf.parse(handMade());
    expect(btf.types.map((t) => BtfKind[t.kind])).toEqual(['Unknown', 'Int', 'Struct', 'Ptr', 'Typedef']);
    expect(btf.type(1).int).toEqual({ offset: 0, bits: 32, signed: true, char: false, bool: false });
    expect(btf.type(2).members).toEqual([
      { name: 'a', type: 1, bitOffset: 0, bitfieldSize: 0 },
      { name: 'b', type: 1, bitOffset: 32, bitfieldSize: 0 },
    ]);
    expect(btf.memberOffset('pair', 'b')).toEqual({ offset: 4, size: 4, type: 1 });
    expect(btf.resolve(4).id).toBe(2);
    expect(btf.sizeOf(3)).toBe(8);
    expect(btf.find('pair_t', BtfKind.Typedef)?.id).toBe(4);
  });

  it('fuzz: >= 100k mutated blobs give a Btf or a typed BtfError, nothing else', () => {
    const base = handMade();
    let runs = 0;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(base.length), (edits, cut) => {
        runs++;
        const b = base.slice(0, Math.max(cut, 1));
        for (const [at, val] of edits) if (at < b.length) b[at] = val;
        try {
          const btf = Btf.parse(b);
          for (const t of btf.types) expect(t.id).toBeGreaterThanOrEqual(0);
        } catch (e) {
          expect(e).toBeInstanceOf(BtfError);
        }
      }),
      { numRuns: 100_000 },
    );
    expect(runs).toBe(100_000);
  });
});
