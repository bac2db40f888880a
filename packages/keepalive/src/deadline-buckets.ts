/** Largest delay setTimeout accepts; a longer one would fire at once. */
const MAX_TIMER_DELAY = 2 ** 31 - 1

/**
 * Items grouped by when they are due, one timer for all of them. An item is scheduled with a resolution of
 * its own: its due time is rounded up to a multiple of it, and items that round to the same time share a
 * bucket. The timer is armed for the earliest bucket only and visits only the buckets that are due, so an
 * item costs nothing before its time, whatever happens to it meanwhile. `check` decides what becomes of an
 * item that is due: it may schedule it again, later.
 *
 * The due times of the buckets are kept in a binary min-heap, one entry per bucket. A bucket that empties
 * (its items were deleted) stays until its time comes or the timer is next armed, so that a time is never
 * in the heap twice.
 */
export class DeadlineBuckets<T> {
  /** The items of each bucket, by due time (epoch milliseconds). */
  readonly #buckets = new Map<number, Set<T>>()
  /** The due time of each item's bucket. */
  readonly #slots = new Map<T, number>()
  /** The keys of `#buckets`, as a binary min-heap. */
  readonly #times: number[] = []
  #timer: NodeJS.Timeout | undefined = undefined
  /** The due time the timer is armed for; infinite when it is not armed. */
  #armedFor = Number.POSITIVE_INFINITY
  /** While `#fire` runs, `schedule` leaves the timer alone: `#fire` arms it once it is done. */
  #firing = false
  /** The time `#fire` runs at: what it schedules goes after it, so that no check loops. */
  #firedAt = Number.NEGATIVE_INFINITY
  #checks = 0

  /**
   * @param check called once for each item of a bucket that is due, with the time the timer fired; the item
   * is no longer scheduled then, and stays so unless `check` schedules it again (at a time after `now`: an
   * earlier one is taken as the next multiple of its resolution after `now`). It must not throw.
   */
  constructor(private readonly check: (item: T, now: number) => void) {}

  /** How many items are scheduled. */
  get size(): number {
    return this.#slots.size
  }

  /** Whether the timer is armed: true exactly while some item is scheduled. */
  get armed(): boolean {
    return this.#timer !== undefined
  }

  /** How many times `check` was called since this was created: the work the timer has done. */
  get checks(): number {
    return this.#checks
  }

  /**
   * Schedules `item` (again, if it was) to be checked at `due` rounded up to a multiple of `resolution`
   * (both in milliseconds, `due` on the clock of `Date.now()`): never before `due`, at most `resolution`
   * after it, give or take the lateness of the event loop.
   */
  schedule(item: T, due: number, resolution: number): void {
    this.delete(item)
    let time = Math.ceil(due / resolution) * resolution
    if (time <= this.#firedAt) time = (Math.floor(this.#firedAt / resolution) + 1) * resolution
    let bucket = this.#buckets.get(time)
    if (bucket === undefined) {
      bucket = new Set()
      this.#buckets.set(time, bucket)
      heapPush(this.#times, time)
    }
    bucket.add(item)
    this.#slots.set(item, time)
    if (!this.#firing && time < this.#armedFor) this.#arm(Date.now())
  }

  /** Unschedules `item`; false when it was not scheduled. */
  delete(item: T): boolean {
    const time = this.#slots.get(item)
    if (time === undefined) return false
    this.#slots.delete(item)
    this.#buckets.get(time)?.delete(item)
    if (this.#slots.size === 0 && !this.#firing) this.clear()
    return true
  }

  /** Unschedules everything and stops the timer. */
  clear(): void {
    this.#disarm()
    this.#slots.clear()
    this.#buckets.clear()
    this.#times.length = 0
  }

  readonly #fire = (): void => {
    this.#timer = undefined
    this.#armedFor = Number.POSITIVE_INFINITY
    const now = Date.now()
    const times = this.#times
    this.#firing = true
    this.#firedAt = now
    try {
      while (times.length > 0 && times[0]! <= now) {
        const time = heapPop(times)
        const bucket = this.#buckets.get(time)!
        // An item deleted by an earlier check (a client closed meanwhile) has left the set, and is skipped.
        for (const item of bucket) {
          this.#slots.delete(item)
          this.#checks++
          this.check(item, now)
        }
        this.#buckets.delete(time)
      }
    } finally {
      this.#firing = false
      this.#firedAt = Number.NEGATIVE_INFINITY
      if (this.#slots.size === 0) this.clear()
      else this.#arm(now)
    }
  }

  /** Arms the timer for the earliest bucket that holds an item, dropping the empty ones before it. */
  #arm(now: number): void {
    const times = this.#times
    while (times.length > 0 && this.#buckets.get(times[0]!)!.size === 0) this.#buckets.delete(heapPop(times))
    const time = times[0]
    if (time === undefined || time === this.#armedFor) return
    this.#disarm()
    this.#armedFor = time
    this.#timer = setTimeout(this.#fire, Math.min(Math.max(time - now, 0), MAX_TIMER_DELAY))
    this.#timer.unref()
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#armedFor = Number.POSITIVE_INFINITY
  }
}

function heapPush(heap: number[], value: number): void {
  let i = heap.length
  heap.push(value)
  while (i > 0) {
    const parent = (i - 1) >> 1
    if (heap[parent]! <= value) break
    heap[i] = heap[parent]!
    i = parent
  }
  heap[i] = value
}

function heapPop(heap: number[]): number {
  const top = heap[0]!
  const last = heap.pop()!
  const size = heap.length
  if (size === 0) return top
  let i = 0
  for (;;) {
    let child = 2 * i + 1
    if (child >= size) break
    if (child + 1 < size && heap[child + 1]! < heap[child]!) child++
    if (heap[child]! >= last) break
    heap[i] = heap[child]!
    i = child
  }
  heap[i] = last
  return top
}
