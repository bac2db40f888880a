import type { IPublishPacket } from '@mqtt-stack/core'
import { type Held, unexpired } from './held.js'

/**
 * The messages waiting for one disconnected persistent session, oldest first. Appending, the duplicate
 * check and refusing a message when full cost O(1), whatever the length: a publisher fanning out to many
 * full queues must not slow the broker down (under such a load the broker once stopped answering
 * CONNECT). Expired messages are purged only once the earliest expiry has passed.
 *
 * A message can come back to the queue it is in only after it was handed out (`views`) and before the
 * handed-out ones are removed: the outbound side gives back what it has not delivered when its connection
 * closes, and stays queued whether the removal of the hand-out comes before or after. Only those are
 * remembered by identity; a new message from the relay is never looked up in a
 * table (its object has no identity hash yet, so the check costs nothing, even for a thousand queues).
 */
/** Payload bytes held by every offline queue of a store together, kept up to date by each queue. */
export interface ByteTotal {
  bytes: number
}

export class OfflineQueue {
  /** The held messages; `#head` is the oldest. Compacted when half of it is spent. */
  #items: Held[] = []
  #head = 0
  /** The views handed out by the last `views()` and not yet removed. */
  #handedOut: Set<IPublishPacket> | undefined = undefined
  /** Those of them given back undelivered: the removal of the hand-out keeps them. */
  #givenBack: Set<IPublishPacket> | undefined = undefined
  /** Payload bytes held by this queue; `#total` counts those of all queues, for the global bound. */
  bytes = 0
  readonly #total: ByteTotal
  /** Messages refused since the queue last had room: the first is reported, the others only counted. */
  refused = 0
  /** Epoch ms when the earliest message with a Message Expiry Interval expires; Infinity when none can. */
  #nextExpiry = Number.POSITIVE_INFINITY

  constructor(total: ByteTotal) {
    this.#total = total
  }

  get length(): number {
    return this.#items.length - this.#head
  }

  /**
   * A packet handed out by `views()` comes back undelivered (its connection closed): it stays where it is,
   * also when the removal of what was handed out comes after (a backend may answer the two in either order).
   * Returns whether it was handed out and not removed since, so that it is in the queue already.
   */
  giveBack(packet: IPublishPacket): boolean {
    if (this.#givenBack?.has(packet) === true) return true
    if (this.#handedOut?.has(packet) !== true) return false
    this.#givenBack ??= new Set()
    this.#givenBack.add(packet)
    return true
  }

  push(held: Held): void {
    this.#items.push(held)
    this.#count(held.size)
    const interval = held.packet.properties?.messageExpiryInterval
    if (interval !== undefined) this.#nextExpiry = Math.min(this.#nextExpiry, held.storedAt + interval * 1000)
  }

  /** Drops expired messages when one may have expired; returns how many were dropped [MQTT-3.3.2-5]. */
  purgeExpired(now: number): number {
    if (now < this.#nextExpiry) return 0
    const before = this.length
    const handedOut = this.#handedOut
    const givenBack = this.#givenBack
    this.views(now)
    // Purging hands nothing out.
    this.#handedOut = handedOut
    this.#givenBack = givenBack
    return before - this.length
  }

  /**
   * The queue as it may be delivered now, oldest first: expired messages leave it [MQTT-3.3.2-5], the
   * others come with their remaining expiry interval [MQTT-3.3.2-6] (a view, remembered for removal).
   */
  views(now: number): IPublishPacket[] {
    const out: IPublishPacket[] = []
    const kept: Held[] = []
    const handedOut = new Set<IPublishPacket>()
    let nextExpiry = Number.POSITIVE_INFINITY
    for (let i = this.#head; i < this.#items.length; i++) {
      const held = this.#items[i]!
      const view = unexpired(held.packet, held.storedAt, now)
      if (view === undefined) {
        this.#count(-held.size)
        continue
      }
      if (view !== held.packet) held.view = view
      const interval = held.packet.properties?.messageExpiryInterval
      if (interval !== undefined) nextExpiry = Math.min(nextExpiry, held.storedAt + interval * 1000)
      kept.push(held)
      out.push(view)
      handedOut.add(view)
    }
    this.#items = kept
    this.#head = 0
    this.#nextExpiry = nextExpiry
    this.#handedOut = handedOut.size === 0 ? undefined : handedOut
    this.#givenBack = undefined
    return out
  }

  /**
   * Removes these packets (as queued, or as last handed out). They are usually the oldest ones, taken from
   * the front in order: that case costs one step per packet.
   */
  remove(taken: readonly IPublishPacket[]): void {
    const givenBack = this.#givenBack
    const packets = givenBack === undefined ? taken : taken.filter((packet) => !givenBack.has(packet))
    let at = 0
    // The common case: the oldest ones, in order.
    while (
      at < packets.length &&
      this.#head < this.#items.length &&
      isOf(this.#items[this.#head]!, packets[at]!)
    ) {
      this.#count(-this.#items[this.#head++]!.size)
      at++
    }
    if (at < packets.length) {
      const gone = new Set(packets.slice(at))
      const kept: Held[] = []
      for (let i = this.#head; i < this.#items.length; i++) {
        const held = this.#items[i]!
        if (gone.has(held.packet) || (held.view !== undefined && gone.has(held.view))) this.#count(-held.size)
        else kept.push(held)
      }
      this.#items = kept
      this.#head = 0
    } else if (this.#head > 64 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    // What was handed out and not taken stays queued; nobody holds it outside the queue any more.
    this.#handedOut = undefined
    this.#givenBack = undefined
    this.refused = 0
  }

  /** Every held message, oldest first (read only). */
  *[Symbol.iterator](): IterableIterator<Held> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i]!
  }

  /** Empties the queue. */
  clear(): void {
    this.#count(-this.bytes)
    this.#items = []
    this.#head = 0
    this.#handedOut = undefined
    this.#givenBack = undefined
    this.refused = 0
    this.#nextExpiry = Number.POSITIVE_INFINITY
  }

  #count(bytes: number): void {
    this.bytes += bytes
    this.#total.bytes += bytes
  }
}

/** Whether `held` is `packet`, as queued or as last handed out. */
function isOf(held: Held, packet: IPublishPacket): boolean {
  return held.packet === packet || held.view === packet
}
