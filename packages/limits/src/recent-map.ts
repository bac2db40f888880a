/**
 * A Map of at most `max` entries that forgets the least recently used one past it: what is kept per IP
 * address, client id or username (rates, failure counts) stays bounded whatever a flood sends.
 */
export class RecentMap<V> {
  readonly #map = new Map<string, V>()
  readonly #max: number

  constructor(max: number) {
    this.#max = max
  }

  get size(): number {
    return this.#map.size
  }

  /** The entry of `key`, now the most recently used. */
  get(key: string): V | undefined {
    const value = this.#map.get(key)
    if (value !== undefined) {
      this.#map.delete(key)
      this.#map.set(key, value)
    }
    return value
  }

  set(key: string, value: V): void {
    this.#map.delete(key)
    this.#map.set(key, value)
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value!)
  }

  delete(key: string): void {
    this.#map.delete(key)
  }

  clear(): void {
    this.#map.clear()
  }
}

/** Events counted in a window that starts at the first of them and lasts `window` ms. */
export interface Window {
  start: number
  count: number
}

/** Counts one event of `key` at `now`; returns the count in its window, this one included. */
export function countEvent(map: RecentMap<Window>, key: string, now: number, window: number): number {
  const seen = map.get(key)
  if (seen === undefined || now - seen.start >= window) {
    map.set(key, { start: now, count: 1 })
    return 1
  }
  return ++seen.count
}

/** A token bucket, refilled lazily when it is used: no timer. */
export interface Bucket {
  tokens: number
  at: number
}

/** Takes one token from the bucket of `key` if it has one; false when it is empty. */
export function takeToken(
  map: RecentMap<Bucket>,
  key: string,
  now: number,
  perSecond: number,
  burst: number,
): boolean {
  const bucket = map.get(key)
  if (bucket === undefined) {
    map.set(key, { tokens: burst - 1, at: now })
    return true
  }
  const elapsed = now - bucket.at
  if (elapsed > 0) {
    bucket.tokens = Math.min(burst, bucket.tokens + (elapsed * perSecond) / 1000)
    bucket.at = now
  }
  if (bucket.tokens < 1) return false
  bucket.tokens -= 1
  return true
}
