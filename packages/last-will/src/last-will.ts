import {
  type CallbackHandlers,
  type Client,
  type Done,
  type IPublishPacket,
  Middleware,
  type MqttStackError,
  type Next,
  ownPayload,
  type Packet,
} from '@mqtt-stack/core'
import { DEFAULTS, type LastWillOptions } from './options.js'
import { LastWillState, type Will } from './state.js'

/** The longest delay one `setTimeout` can wait; a longer will delay re-arms its timer. */
const MAX_TIMER_DELAY = 2 ** 31 - 1

/** MQTT 5.0: a will waiting out its Will Delay Interval after its connection ended. */
interface PendingWill {
  client: Client
  packet: IPublishPacket
  /** Epoch milliseconds when the delay has passed. */
  deadline: number
  timer: NodeJS.Timeout
}

/**
 * Keeps the will of a CONNECT and publishes it, once, through `relayMessage` when the connection ends
 * uncleanly (MQTT 5.0: or with a DISCONNECT whose reason code is not 0x00); drops it when the client sent
 * DISCONNECT. MQTT 5.0: waits out the Will Delay Interval, unless the session ends first (`sessionExpired`),
 * and forgets the will when the client id connects again in time (`registerClient`) [MQTT-3.1.3-9].
 */
export class LastWill extends Middleware<LastWillOptions> {
  override readonly name = 'last-will'
  override readonly packetTypes = ['connect'] as const
  override readonly requires = ['relayMessage'] as const
  /** Keeps wills: session-manager reports them once when nothing in the stack does. */
  override readonly roles = ['will']
  override readonly after = ['authentication']
  override readonly before = ['session-manager']
  /** Every required callback is a backend's. */
  override readonly providerHints = Object.fromEntries(
    this.requires.map((name) => [name, 'MemoryBackend from @mqtt-stack/memory-backend']),
  )

  /** Client id → its will waiting out the delay (one timer each: delayed wills are rare). */
  readonly #pending = new Map<string, PendingWill>()
  /** Client id → the connection that holds a delayed will, to tell it when a newer one registers. */
  readonly #live = new Map<string, Client>()

  constructor(options: Partial<LastWillOptions> = {}) {
    super(options, DEFAULTS)
  }

  /** How many wills wait out their delay. */
  get pending(): number {
    return this.#pending.size
  }

  override handle(client: Client, packet: Packet, next: Next, _done: Done): void {
    // Only the first CONNECT counts: a second one is a protocol violation (connection ends it), and must
    // never replace or duplicate the will (LESSONS 6).
    if (packet.cmd === 'connect' && client.state.lastWill === undefined) {
      // Kept for the connection's life: its payload must not pin the chunk the CONNECT was read from.
      const will = packet.will && ownPayload(packet.will)
      client.state.lastWill = new LastWillState(will, packet.clean !== false)
    }
    next()
  }

  override callbacks(): CallbackHandlers {
    return {
      uncleanDisconnect: (ctx, _store, next) => {
        this.#end(ctx.client, next)
      },
      cleanDisconnect: (ctx, _store, next) => {
        // MQTT 5.0: only a DISCONNECT with reason 0x00 deletes the will [MQTT-3.14.4-3]; any other (0x04
        // "with will message", an error code) leaves it to be published [MQTT-3.1.2-8].
        const reasonCode = ctx.packet?.reasonCode ?? 0
        if (reasonCode !== 0) {
          this.#end(ctx.client, next)
          return
        }
        // [MQTT-3.1.2-10] [MQTT-3.14.4-3] After DISCONNECT the will is discarded without being published.
        this.#forgetLive(ctx.client)
        const state = ctx.client.state.lastWill
        if (state !== undefined) state.will = undefined
        next()
      },
      registerClient: (ctx, _store, next) => {
        this.#registered(ctx.client, ctx.clientId, next)
      },
      sessionExpired: (ctx, _store, next) => {
        // The session ended before the will delay passed: the will is published now [MQTT-3.1.3-9].
        const pending = this.#take(ctx.clientId)
        if (pending === undefined) return next()
        authorizeAndRelay(pending.client, pending.packet, next)
      },
    }
  }

  override close(): void {
    // Wills still waiting when the broker stops are dropped: nothing is left to run their timers.
    for (const pending of this.#pending.values()) clearTimeout(pending.timer)
    this.#pending.clear()
    this.#live.clear()
  }

  /** The connection ended without a DISCONNECT 0x00: publish the will now or after its delay. */
  #end(client: Client, next: Next): void {
    this.#forgetLive(client)
    const state = client.state.lastWill
    const will = state?.will
    // A will belongs to an accepted connection only [MQTT-3.1.2-8]: no CONNACK, no will.
    if (state === undefined || will === undefined || state.published || !client.connackSent) {
      next()
      return
    }
    const delay = client.protocolVersion === 5 ? (will.properties?.willDelayInterval ?? 0) : 0
    if (delay === 0 || state.superseded === 'ended') {
      publishWill(client, state, will, next)
      return
    }
    // [MQTT-3.1.3-9] A new connection to this session came before the delay passed: the will is not sent.
    state.will = undefined
    if (state.superseded === 'resumed') {
      next()
      return
    }
    this.#schedule(client, willPacket(will, true), delay)
    next()
  }

  #schedule(client: Client, packet: IPublishPacket, delay: number): void {
    const clientId = client.id
    // A will still waiting for this id belongs to a connection this one replaced: registerClient settled it.
    const earlier = this.#take(clientId)
    if (earlier !== undefined) clearTimeout(earlier.timer)
    const deadline = Date.now() + delay * 1000
    const timer = setTimeout(this.#due, Math.min(delay * 1000, MAX_TIMER_DELAY), clientId)
    timer.unref()
    this.#pending.set(clientId, { client, packet, deadline, timer })
  }

  /** A will delay timer fired. */
  readonly #due = (clientId: string): void => {
    const pending = this.#pending.get(clientId)
    if (pending === undefined) return
    const left = pending.deadline - Date.now()
    if (left > 0) {
      pending.timer = setTimeout(this.#due, Math.min(left, MAX_TIMER_DELAY), clientId)
      pending.timer.unref()
      return
    }
    this.#pending.delete(clientId)
    authorizeAndRelay(pending.client, pending.packet, ignore)
  }

  /**
   * A connection with this client id was accepted. A will waiting out its delay is not sent when the session
   * is resumed (Clean Start 0) [MQTT-3.1.3-9]; a Clean Start ends the session first, so it is sent now.
   */
  #registered(client: Client, clientId: string, next: Next): void {
    const cleanStart = client.state.lastWill?.cleanStart ?? true
    const live = this.#live.get(clientId)
    if (live !== undefined && live !== client) {
      // The earlier connection is being taken over: its end decides with this.
      const state = live.state.lastWill
      if (state !== undefined) state.superseded = cleanStart ? 'ended' : 'resumed'
      this.#live.delete(clientId)
    }
    const will = client.state.lastWill?.will
    if (client.protocolVersion === 5 && (will?.properties?.willDelayInterval ?? 0) > 0)
      this.#live.set(clientId, client)
    const pending = this.#take(clientId)
    if (pending === undefined || !cleanStart) {
      next()
      return
    }
    authorizeAndRelay(pending.client, pending.packet, next)
  }

  #take(clientId: string): PendingWill | undefined {
    const pending = this.#pending.get(clientId)
    if (pending === undefined) return undefined
    clearTimeout(pending.timer)
    this.#pending.delete(clientId)
    return pending
  }

  #forgetLive(client: Client): void {
    if (this.#live.get(client.id) === client) this.#live.delete(client.id)
  }
}

function ignore(): void {}

/** [MQTT-3.1.2-8] The will is published, exactly once. */
function publishWill(client: Client, state: LastWillState, will: Will, next: Next): void {
  // [MQTT-3.1.2-10] Removed once published; marked first, so a second unclean end publishes nothing.
  state.published = true
  state.will = undefined
  authorizeAndRelay(client, willPacket(will, client.protocolVersion === 5), next)
}

function authorizeAndRelay(client: Client, packet: IPublishPacket, next: Next): void {
  if (!client.stack.provides('authorizePublish')) {
    relay(client, packet, next)
    return
  }
  client.stack.execute('authorizePublish', { client, packet }, {}, (err, store) => {
    if (err) {
      // Not authorised to be sure: the will is dropped, the failure reported, the disconnect chain goes on.
      client.stack.reportError(err, client, packet)
      next()
      return
    }
    if (store.authorized === false) {
      next()
      return
    }
    relay(client, packet, next)
  })
}

/**
 * A failure of the relay is reported, and the disconnect chain goes on: the middlewares after this one
 * (session-manager) must still end the session, or routes would point at a dead connection (LESSONS 7).
 */
function relay(client: Client, packet: IPublishPacket, next: Next): void {
  client.stack.execute(
    'relayMessage',
    { client, packet, topic: packet.topic, payload: packet.payload },
    {},
    (err: MqttStackError | null) => {
      if (err) client.stack.reportError(err, client, packet)
      next()
    },
  )
}

/**
 * [MQTT-3.1.2-16] [MQTT-3.1.2-17] The will's QoS and retain flag are those of the published message.
 * MQTT 5.0 (3.1.3.2): the will properties become the PUBLISH's, the Will Delay Interval excepted.
 */
function willPacket(will: Will, v5: boolean): IPublishPacket {
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic: will.topic,
    payload: will.payload,
    qos: will.qos ?? 0,
    retain: will.retain ?? false,
    dup: false,
  }
  const from = will.properties
  if (!v5 || from === undefined) return packet
  const properties: NonNullable<IPublishPacket['properties']> = {}
  if (from.payloadFormatIndicator !== undefined)
    properties.payloadFormatIndicator = from.payloadFormatIndicator
  if (from.messageExpiryInterval !== undefined) properties.messageExpiryInterval = from.messageExpiryInterval
  if (from.contentType !== undefined) properties.contentType = from.contentType
  if (from.responseTopic !== undefined) properties.responseTopic = from.responseTopic
  if (from.correlationData !== undefined) properties.correlationData = from.correlationData
  if (from.userProperties !== undefined) properties.userProperties = from.userProperties
  if (Object.keys(properties).length > 0) packet.properties = properties
  return packet
}
