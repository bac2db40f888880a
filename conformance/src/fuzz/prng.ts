/**
 * A small seeded PRNG (sfc32, seeded through splitmix32), so that a fuzz run is reproduced from its seed.
 * Each connection draws from its own generator, derived from the run's seed and the connection's index:
 * what a connection sends does not depend on how the others were scheduled.
 */
export class Prng {
  #a: number
  #b: number
  #c: number
  #d: number

  constructor(seed: number, stream = 0) {
    let state = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0
    const next = (): number => {
      state = (state + 0x9e3779b9) >>> 0
      let z = state
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.#a = next()
    this.#b = next()
    this.#c = next()
    this.#d = next()
    // The first outputs of sfc32 are poorly mixed: skip them.
    for (let i = 0; i < 12; i++) this.uint32()
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0
    this.#d = (this.#d + 1) | 0
    this.#a = this.#b ^ (this.#b >>> 9)
    this.#b = (this.#c + (this.#c << 3)) | 0
    this.#c = (this.#c << 21) | (this.#c >>> 11)
    this.#c = (this.#c + t) | 0
    return t >>> 0
  }

  /** A float in [0, 1). */
  float(): number {
    return this.uint32() / 4294967296
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n)
  }

  /** An integer in [min, max]. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1)
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick() from an empty list')
    return items[this.int(items.length)]!
  }

  /** One of `choices`, with probability proportional to its weight. */
  weighted<T>(choices: readonly (readonly [T, number])[]): T {
    let total = 0
    for (const [, weight] of choices) total += weight
    let r = this.float() * total
    for (const [value, weight] of choices) {
      r -= weight
      if (r < 0) return value
    }
    return choices[choices.length - 1]![0]
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n)
    for (let i = 0; i < n; i++) out[i] = this.uint32() & 0xff
    return out
  }
}

/** A seed for a run when none is given: printed, so the run can be repeated. */
export function randomSeed(): number {
  return (Math.random() * 4294967296) >>> 0
}
