/**
 * mulberry32: a small seeded PRNG giving uniform floats in [0, 1), so that randomized tests
 * (mutation fuzzing, generated programs, soundness runs) reproduce from their seed.
 *
 * @example
 * ```ts
 * const rand = mulberry32(42);
 * const byte = Math.floor(rand() * 256);
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
