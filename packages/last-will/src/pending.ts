import type { Client, IPublishPacket } from '@mqtt-stack/core'

/** The longest delay one `setTimeout` can wait; a longer will delay re-arms its timer. */
const MAX_TIMER_DELAY = 2 ** 31 - 1

/** A will to publish: claimed first when a backend stores it. */
export interface WillToPublish {
  clientId: string
  /** The connection that had it; undefined for the will of a connection whose node died (`orphanedWill`). */
  client: Client | undefined
  packet: IPublishPacket
  /** The owner the backend stores it under (claimed with `removeWill` before it is published); or none. */
  owner: string | undefined
}

/** MQTT 5.0: a will waiting out its Will Delay Interval after its connection ended. */
export interface PendingWill extends WillToPublish {
  /** Epoch milliseconds when the delay has passed. */
  deadline: number
  timer: NodeJS.Timeout
}

/** Wills waiting out their delay, one per client id, each with its timer (delayed wills are rare). */
export class PendingWills {
  readonly #wills = new Map<string, PendingWill>()

  /** `due` is called with each will once its delay has passed (it is no longer held then). */
  constructor(readonly due: (pending: PendingWill) => void) {}

  get size(): number {
    return this.#wills.size
  }

  /** Holds a will until `deadline`; returns the will this client id held before, no longer held. */
  hold(
    clientId: string,
    client: Client | undefined,
    packet: IPublishPacket,
    deadline: number,
    owner: string | undefined,
  ): PendingWill | undefined {
    const earlier = this.take(clientId)
    const timer = this.#timer(clientId, deadline - Date.now())
    this.#wills.set(clientId, { clientId, client, packet, deadline, owner, timer })
    return earlier
  }

  /** The will this client id holds, no longer held (its timer stopped). */
  take(clientId: string): PendingWill | undefined {
    const pending = this.#wills.get(clientId)
    if (pending === undefined) return undefined
    clearTimeout(pending.timer)
    this.#wills.delete(clientId)
    return pending
  }

  clear(): void {
    for (const pending of this.#wills.values()) clearTimeout(pending.timer)
    this.#wills.clear()
  }

  #timer(clientId: string, ms: number): NodeJS.Timeout {
    const timer = setTimeout(this.#fired, Math.min(Math.max(ms, 0), MAX_TIMER_DELAY), clientId)
    timer.unref()
    return timer
  }

  readonly #fired = (clientId: string): void => {
    const pending = this.#wills.get(clientId)
    if (pending === undefined) return
    const left = pending.deadline - Date.now()
    if (left > 0) {
      pending.timer = this.#timer(clientId, left)
      return
    }
    this.#wills.delete(clientId)
    this.due(pending)
  }
}
