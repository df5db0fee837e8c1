/**
 * Small deterministic pseudo-random numbers for the mock and the benchmarks: a seeded stream
 * (mulberry32) and a keyed draw that depends only on its inputs, not on call order.
 */

/** mulberry32: small, fast, deterministic PRNG in [0, 1). */
export function createRng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** One draw in [0, 1) determined by `seed` and `keys` alone (murmur3 finaliser over the keys). */
export function keyedDraw (seed: number, ...keys: readonly number[]): number {
  let h = seed >>> 0
  for (const k of keys) {
    h = Math.imul(h ^ (k >>> 0), 0x85ebca6b) >>> 0
    h ^= h >>> 13
    h = Math.imul(h, 0xc2b2ae35) >>> 0
    h ^= h >>> 16
  }
  return createRng(h)()
}
