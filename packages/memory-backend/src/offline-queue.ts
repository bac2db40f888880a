import type { IPublishPacket } from '@mqtt-stack/core'
import { type Held, unexpired } from './held.js'

/**
 * The messages waiting for one disconnected persistent session, oldest first. Appending, the duplicate
 * check and refusing a message when full cost O(1), whatever the length: a publisher fanning out to many
 * full queues must not slow the broker down (issue: CONNECTs went unanswered under such a load). Expired
 * messages are purged only once the earliest expiry has passed.
 */
export class OfflineQueue {
  /** The held messages; `#head` is the oldest. Compacted when half of it is spent. */
  #items: Held[] = []
  #head = 0
  /** Every packet queued, and every view last handed out, to its Held: one lookup for identity checks. */
  readonly #byPacket = new Map<IPublishPacket, Held>()
  /** Payload bytes held, for the backend's global bound. */
  bytes = 0
  /** Messages refused since the queue last had room: the first is reported, the others only counted. */
  refused = 0
  /** Epoch ms when the earliest message with a Message Expiry Interval expires; Infinity when none can. */
  #nextExpiry = Number.POSITIVE_INFINITY

  get length(): number {
    return this.#items.length - this.#head
  }

  /** Whether this packet, as queued or as last handed out, is in the queue. */
  has(packet: IPublishPacket): boolean {
    return this.#byPacket.has(packet)
  }

  push(held: Held): void {
    this.#items.push(held)
    this.#byPacket.set(held.packet, held)
    this.bytes += held.size
    const interval = held.packet.properties?.messageExpiryInterval
    if (interval !== undefined) this.#nextExpiry = Math.min(this.#nextExpiry, held.storedAt + interval * 1000)
  }

  /** Drops expired messages when one may have expired; returns how many were dropped [MQTT-3.3.2-5]. */
  purgeExpired(now: number): number {
    if (now < this.#nextExpiry) return 0
    const before = this.length
    this.views(now)
    return before - this.length
  }

  /**
   * The queue as it may be delivered now, oldest first: expired messages leave it [MQTT-3.3.2-5], the
   * others come with their remaining expiry interval [MQTT-3.3.2-6] (a view, remembered for removal).
   */
  views(now: number): IPublishPacket[] {
    const out: IPublishPacket[] = []
    const kept: Held[] = []
    let nextExpiry = Number.POSITIVE_INFINITY
    for (let i = this.#head; i < this.#items.length; i++) {
      const held = this.#items[i]!
      const view = unexpired(held.packet, held.storedAt, now)
      if (view === undefined) {
        this.#forget(held)
        continue
      }
      if (view !== held.packet) {
        if (held.view !== undefined) this.#byPacket.delete(held.view)
        held.view = view
        this.#byPacket.set(view, held)
      }
      const interval = held.packet.properties?.messageExpiryInterval
      if (interval !== undefined) nextExpiry = Math.min(nextExpiry, held.storedAt + interval * 1000)
      kept.push(held)
      out.push(view)
    }
    this.#items = kept
    this.#head = 0
    this.#nextExpiry = nextExpiry
    return out
  }

  /**
   * Removes these packets (as queued, or as last handed out). They are usually the oldest ones, taken from
   * the front in order: that case costs one step per packet.
   */
  remove(packets: readonly IPublishPacket[]): void {
    const gone = new Set<Held>()
    for (const packet of packets) {
      const held = this.#byPacket.get(packet)
      if (held !== undefined) gone.add(held)
    }
    if (gone.size === 0) return
    while (this.#head < this.#items.length && gone.has(this.#items[this.#head]!)) {
      const held = this.#items[this.#head++]!
      gone.delete(held)
      this.#forget(held)
    }
    if (gone.size > 0) {
      const kept: Held[] = []
      for (let i = this.#head; i < this.#items.length; i++) {
        const held = this.#items[i]!
        if (gone.has(held)) this.#forget(held)
        else kept.push(held)
      }
      this.#items = kept
      this.#head = 0
    } else if (this.#head > 64 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    this.refused = 0
  }

  /** Every held message, oldest first (read only). */
  *[Symbol.iterator](): IterableIterator<Held> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i]!
  }

  /** Empties the queue; returns the payload bytes it held. */
  clear(): number {
    const bytes = this.bytes
    this.#items = []
    this.#head = 0
    this.#byPacket.clear()
    this.bytes = 0
    this.refused = 0
    this.#nextExpiry = Number.POSITIVE_INFINITY
    return bytes
  }

  #forget(held: Held): void {
    this.#byPacket.delete(held.packet)
    if (held.view !== undefined) this.#byPacket.delete(held.view)
    this.bytes -= held.size
  }
}
