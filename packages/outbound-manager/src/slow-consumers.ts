import {
  type Client,
  type Done,
  ErrorCode,
  type IPublishPacket,
  MqttStackError,
  type Next,
  ownPayload,
  ReasonCode,
} from '@mqtt-stack/core'
import type { OutboundManagerOptions } from './options.js'
import type { OutboundManagerState, ParkedForward } from './state.js'
import { enqueue } from './waiting-queue.js'

/**
 * Forwards that find the waiting queue full are parked: each completes only when its message finds room,
 * so the relay, and with it the publisher's acknowledgement and its next packets, waits. Nothing accepted
 * is dropped; a subscriber that makes no progress for `slowConsumerTimeout` is disconnected instead. The
 * clock runs from its last progress (`progressAt`): one that stopped reading long before its window and
 * queue filled is given up on as its first forward parks, and holds no publisher back.
 */
export class SlowConsumers {
  constructor(
    private readonly options: Readonly<OutboundManagerOptions>,
    /** Ends the delivery state of a client given up on, at once rather than when its stream closes. */
    private readonly giveUp: (client: Client, state: OutboundManagerState) => void,
  ) {}

  park(client: Client, state: OutboundManagerState, packet: IPublishPacket, next: Next, done: Done): void {
    state.parked.push({ packet: ownPayload(packet), next, done })
    if (state.parkTimer === undefined) this.#startClock(client, state)
  }

  /** Moves parked forwards into the queue while it has room, completing them; the clock restarts. */
  unpark(client: Client, state: OutboundManagerState): void {
    this.unparkWhile(client, state, queueHasRoom, toQueue)
  }

  /** Hands parked forwards to `admit` while `room()` says so; the clock restarts. */
  unparkWhile(
    client: Client,
    state: OutboundManagerState,
    room: (state: OutboundManagerState, maxQueued: number) => boolean,
    admit: (client: Client, state: OutboundManagerState, parked: ParkedForward) => void,
  ): void {
    if (state.parked.length === 0) return
    while (state.parked.length > 0 && room(state, this.options.maxQueued))
      admit(client, state, state.parked.shift()!)
    stopClock(state)
    if (state.parked.length > 0) this.#startClock(client, state)
  }

  /** The connection has closed: parked forwards join the waiting messages, and their chains go on. */
  static release(state: OutboundManagerState): void {
    stopClock(state)
    for (const { packet, done } of state.parked.takeAll()) {
      enqueue(state, packet)
      done()
    }
  }

  #startClock(client: Client, state: OutboundManagerState): void {
    const left = state.progressAt + this.options.slowConsumerTimeout - Date.now()
    state.parkTimer = setTimeout(SlowConsumers.#expired, Math.max(0, left), this, client, state)
    state.parkTimer.unref()
  }

  static #expired(self: SlowConsumers, client: Client, state: OutboundManagerState): void {
    state.parkTimer = undefined
    if (state.parked.length === 0 || state.closed) return
    if (Date.now() - state.progressAt < self.options.slowConsumerTimeout) {
      // It made progress since (a PUBREC, which frees no room): the clock runs from there.
      self.#startClock(client, state)
      return
    }
    const err = new MqttStackError(
      ErrorCode.SLOW_CONSUMER,
      `client ${client.id} acknowledged nothing for ${Date.now() - state.progressAt} ms (slowConsumerTimeout ${self.options.slowConsumerTimeout}) with ${state.parked.length} forwards waiting`,
      { reasonCode: ReasonCode.QUOTA_EXCEEDED },
    )
    client.stack.reportError(err, client, undefined)
    client.close(err.reasonCode, err)
    // Now, not when the stream has closed: a peer that reads nothing keeps it open until closeTimeout,
    // and the publishers behind the parked forwards would wait that long too. (Again on close: a no-op.)
    self.giveUp(client, state)
  }
}

function queueHasRoom(state: OutboundManagerState, maxQueued: number): boolean {
  return state.queue.length < maxQueued
}

function toQueue(_client: Client, state: OutboundManagerState, { packet, done }: ParkedForward): void {
  enqueue(state, packet)
  done()
}

function stopClock(state: OutboundManagerState): void {
  if (state.parkTimer !== undefined) clearTimeout(state.parkTimer)
  state.parkTimer = undefined
}
