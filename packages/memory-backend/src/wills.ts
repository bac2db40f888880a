import type { IPublishPacket } from '@mqtt-stack/core'

/** A will as the store keeps it: the PUBLISH to send, its delay, and once its connection ended, when it is due. */
export interface Will {
  packet: IPublishPacket
  delayInterval: number
  /** Epoch ms when its delay has passed; undefined while its connection is open. */
  dueAt: number | undefined
}

/**
 * The wills of every client id, by owner (the connection that stored them): a client id may hold the wills
 * of several connections at once, one being taken over and one waiting out its delay. A will outlives its
 * session: `removeSession` leaves it to last-will, which claims it (`take`) before publishing it.
 */
export class Wills {
  readonly #byClient = new Map<string, Map<string, Will>>()
  #size = 0

  /** How many wills are stored. */
  get size(): number {
    return this.#size
  }

  /** Stores (or replaces) the will of `owner`, last in the order `latest` reads. */
  store(clientId: string, owner: string, will: Will): void {
    let wills = this.#byClient.get(clientId)
    if (wills === undefined) {
      wills = new Map()
      this.#byClient.set(clientId, wills)
    }
    if (wills.delete(owner)) this.#size--
    wills.set(owner, will)
    this.#size++
  }

  /** The connection of `owner` ended: its will, if still stored, is due at `dueAt`. */
  due(clientId: string, owner: string, dueAt: number): void {
    const will = this.#byClient.get(clientId)?.get(owner)
    if (will !== undefined) will.dueAt = dueAt
  }

  /** The will of `owner`, or the last one stored for the client id. */
  lookup(clientId: string, owner: string | undefined): Will | undefined {
    const wills = this.#byClient.get(clientId)
    if (wills === undefined) return undefined
    if (owner !== undefined) return wills.get(owner)
    let last: Will | undefined
    for (const will of wills.values()) last = will
    return last
  }

  /** Removes the will of `owner`: true only when it was there (the claim before publishing it). */
  take(clientId: string, owner: string): boolean {
    const wills = this.#byClient.get(clientId)
    if (wills === undefined || !wills.delete(owner)) return false
    this.#size--
    if (wills.size === 0) this.#byClient.delete(clientId)
    return true
  }

  /**
   * A new connection of the client id: every will of it that has a delay is removed and returned (with
   * Clean Start 0 not to be sent [MQTT-3.1.3-9], with Clean Start 1 to be sent now).
   */
  takeDelayed(clientId: string): IPublishPacket[] {
    const wills = this.#byClient.get(clientId)
    const taken: IPublishPacket[] = []
    if (wills === undefined) return taken
    for (const [owner, will] of wills) {
      if (will.delayInterval === 0) continue
      wills.delete(owner)
      this.#size--
      taken.push(will.packet)
    }
    if (wills.size === 0) this.#byClient.delete(clientId)
    return taken
  }

  clear(): void {
    this.#byClient.clear()
    this.#size = 0
  }
}
