import type { Done, Next } from './callbacks.js'
import type { Packet } from './packets.js'

/**
 * A packet chain a middleware holds open while its client's later packets are processed: an AUTH exchange
 * holds its CONNECT's chain until it ends. `client.hold(next, done)` makes one; `next()` or `done()` goes on
 * with the held chain exactly as the handler's own would have, and `after` runs once that chain has ended,
 * so that the chain which continued it (the AUTH's) ends only then, and later packets wait for it.
 */
export class HeldChain {
  readonly packet: Packet
  readonly #next: Next
  readonly #done: Done
  #after: Done | undefined = undefined
  #continued = false

  constructor(packet: Packet, next: Next, done: Done) {
    this.packet = packet
    this.#next = next
    this.#done = done
  }

  /** Goes on to the middleware after the holder; `after()` runs when the held chain has ended. */
  next(after?: Done): void {
    this.#continue(false, after)
  }

  /** Ends the held chain here; `after()` runs once it has. */
  done(after?: Done): void {
    this.#continue(true, after)
  }

  #continue(end: boolean, after: Done | undefined): void {
    // A second call is the chain's to report (MQS_ERR_NEXT_TWICE): it must not replace the first's `after`.
    if (!this.#continued) {
      this.#continued = true
      this.#after = after
    }
    if (end) this.#done()
    else this.#next()
  }

  /** Called by the client when the held chain has ended. */
  ended(): void {
    const after = this.#after
    this.#after = undefined
    after?.()
  }
}
