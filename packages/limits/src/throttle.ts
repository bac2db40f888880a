import type { Client, Done, Next } from '@mqtt-stack/core'
import type { LimitsState } from './state.js'

/**
 * MQTT 3.1/3.1.1 clients over their publish rate: each one's PUBLISH waits, its chain held open, until its
 * tokens are there. One timer, set for the earliest, serves them all; no timer per connection.
 */
export class Throttle {
  readonly #waiting = new Set<Client>()
  readonly #now: () => number
  #timer: NodeJS.Timeout | undefined = undefined
  #timerAt = Number.POSITIVE_INFINITY

  constructor(now: () => number) {
    this.#now = now
  }

  /** Holds the chain of `client`'s PUBLISH until `wakeAt` (by the clock), then calls `next`. */
  hold(client: Client, state: LimitsState, next: Next, done: Done, wakeAt: number, now: number): void {
    state.next = next
    state.done = done
    state.wakeAt = wakeAt
    this.#waiting.add(client)
    if (wakeAt < this.#timerAt) this.#schedule(wakeAt, now)
  }

  /** The client has closed: its held chain ends (`done`), nothing more is processed for it. */
  release(client: Client, state: LimitsState): void {
    const done = state.done
    if (done === undefined) return
    this.#waiting.delete(client)
    state.next = state.done = undefined
    done()
  }

  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerAt = Number.POSITIVE_INFINITY
  }

  #schedule(at: number, now: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timerAt = at
    this.#timer = setTimeout(this.#wake, Math.max(1, Math.ceil(at - now)))
  }

  /** Chains whose time has come go on; the timer is set again for the earliest of the others. */
  readonly #wake = (): void => {
    this.#timer = undefined
    this.#timerAt = Number.POSITIVE_INFINITY
    const now = this.#now()
    let earliest = Number.POSITIVE_INFINITY
    for (const client of this.#waiting) {
      const state = client.state.limits!
      if (state.wakeAt > now) {
        earliest = Math.min(earliest, state.wakeAt)
        continue
      }
      this.#waiting.delete(client)
      const next = state.next!
      state.next = state.done = undefined
      next()
    }
    if (earliest !== Number.POSITIVE_INFINITY) this.#schedule(earliest, now)
  }
}
