import {
  type CallbackHandler,
  type CallbackHandlers,
  type CallbackResult,
  type Client,
  type Done,
  ErrorCode,
  type InflightPacket,
  type IPublishPacket,
  type IPubrelPacket,
  Middleware,
  MqttStackError,
  type Next,
  ownPayload,
  type Packet,
  ReasonCode,
  serializePacket,
  toMqttStackError,
} from '@mqtt-stack/core'
import { OutboundErrorCode } from './errors.js'
import { Fifo } from './fifo.js'
import { DEFAULTS, type OutboundManagerOptions } from './options.js'
import type { OutboundManagerState, OutboundTopicAlias } from './state.js'

const MAX_PACKET_ID = 65535

const noop = (): void => {}

/**
 * One QoS 1/2 delivery (or one authorisation): it is the `ctx` and the `store` of the callbacks it goes
 * through (`authorizeForward`, `storeInflightMessage`, `storeOfflineMessage`) and carries the ends of its
 * chain, so that their results are handled by functions bound once, with no closure per message.
 */
class Delivery {
  authorized?: boolean
  dropped?: boolean
  readonly clientId: string
  /** MQTT 5.0: the bytes to write, serialised before the packet id was given (size check, topic alias). */
  bytes: Buffer | undefined = undefined
  /** MQTT 5.0: the topic alias these bytes set up, marked sent once they are written. */
  alias: OutboundTopicAlias | undefined = undefined

  constructor(
    readonly client: Client,
    public packet: IPublishPacket,
    readonly next: Next,
    readonly done: Done,
    /** A new message taken from the offline queue: it is neither a resend nor put behind the backlog. */
    readonly fresh: boolean,
  ) {
    this.clientId = client.id
  }
}

/**
 * Delivers messages to clients and keeps QoS 1/2 state (docs/architecture.md, "forwardMessage"): answers
 * `forwardMessage` and `resumeSession`, and handles PUBACK, PUBREC and PUBCOMP, ending their chains.
 */
export class OutboundManager extends Middleware<OutboundManagerOptions> {
  override readonly name = 'outbound-manager'
  override readonly packetTypes = ['puback', 'pubrec', 'pubcomp'] as const
  override readonly requires = [
    'storeInflightMessage',
    'removeInflightMessage',
    'lookupInflightMessages',
    'lookupOfflineMessages',
    'removeOfflineMessages',
    'storeOfflineMessage',
  ] as const

  /** A fan-out passes one packet object to every QoS 0 subscriber: its bytes, per protocol version. */
  #qos0Packet: IPublishPacket | undefined = undefined
  #qos0Topic = ''
  #qos0Payload: Buffer | string = ''
  readonly #qos0Bytes: Array<Buffer | undefined> = [
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ]

  constructor(options: Partial<OutboundManagerOptions> = {}) {
    super(options, DEFAULTS)
    const { maxInflight, maxQueued } = this.config
    if (!Number.isInteger(maxInflight) || maxInflight < 1 || maxInflight > MAX_PACKET_ID) {
      throw new MqttStackError(
        ErrorCode.INVALID_OPTION,
        `outbound-manager: maxInflight must be an integer from 1 to 65535, got ${String(maxInflight)}`,
      )
    }
    if (!Number.isInteger(maxQueued) || maxQueued < 0) {
      throw new MqttStackError(
        ErrorCode.INVALID_OPTION,
        `outbound-manager: maxQueued must be an integer of at least 0, got ${String(maxQueued)}`,
      )
    }
    if (!(this.config.slowConsumerTimeout > 0)) {
      throw new MqttStackError(
        ErrorCode.INVALID_OPTION,
        `outbound-manager: slowConsumerTimeout must be a positive number of ms, got ${String(this.config.slowConsumerTimeout)}`,
      )
    }
  }

  /**
   * The state of a connection is made when it first carries a QoS 1/2 message (most subscribers of a
   * connection storm never do): only a `close` listener is added here, shared by every client (`this` is
   * the client), and `close` is emitted once.
   */
  override install(client: Client): void {
    client.on('close', this.#onClientClose)
  }

  readonly #onClientClose = ((manager: OutboundManager) =>
    function (this: Client): void {
      const state = this.state.outboundManager
      if (state !== undefined) manager.#onClose(this, state)
    })(this)

  override callbacks(): CallbackHandlers {
    return {
      forwardMessage: this.#forwardMessage,
      resumeSession: this.#resumeSession,
      prepareConnack: this.#prepareConnack,
    }
  }

  /**
   * MQTT 5.0: the CONNECT is read here, as `prepareConnack` runs for every 5.0 connection before its CONNACK
   * (the CONNECT chain ends in session-manager, before this middleware). Nothing is added to the CONNACK.
   */
  readonly #prepareConnack: CallbackHandler<'prepareConnack'> = (ctx, _store, next) => {
    const { client, packet } = ctx
    const receiveMaximum = packet.properties?.receiveMaximum ?? 0
    // [MQTT-3.1.2-26] [MQTT-3.1.2-27] aliases up to the client's Topic Alias Maximum, none when absent or 0.
    const topicAliasMaximum = packet.properties?.topicAliasMaximum ?? 0
    // Without either, the defaults of a state made later are right.
    if (client.protocolVersion === 5 && (receiveMaximum > 0 || topicAliasMaximum > 0)) {
      const state = this.#stateOf(client)
      // [MQTT-3.3.4-9] no more unacknowledged QoS 1/2 PUBLISH packets than the client's Receive Maximum.
      if (receiveMaximum > 0) state.window = Math.min(this.config.maxInflight, receiveMaximum)
      state.topicAliasMaximum = topicAliasMaximum
    }
    next()
  }

  override handle(client: Client, packet: Packet, next: Next, done: Done): void {
    const state = this.#stateOf(client)
    switch (packet.cmd) {
      case 'puback': {
        const sent = state.inflight.get(packet.messageId ?? 0)
        // [MQTT-4.3.2-1] a QoS 1 PUBLISH is unacknowledged until its PUBACK; an unknown id is ignored.
        if (sent?.cmd === 'publish' && sent.qos === 1)
          this.#complete(client, state, sent.messageId!, next, done)
        else done()
        return
      }
      case 'pubrec': {
        const id = packet.messageId ?? 0
        const sent = state.inflight.get(id)
        if (sent === undefined || (sent.cmd === 'publish' && sent.qos !== 2)) done()
        else if (sent.cmd === 'pubrel') {
          // PUBREC again (the client saw our PUBLISH twice): PUBREL again.
          client.write(sent)
          done()
        } else if (client.protocolVersion === 5 && (packet.reasonCode ?? 0) >= ReasonCode.UNSPECIFIED_ERROR) {
          // MQTT 5.0: a PUBREC with an error reason code ends the exchange, with no PUBREL [MQTT-4.3.3-4].
          this.#complete(client, state, id, next, done)
        } else this.#release(client, state, id, next, done)
        return
      }
      case 'pubcomp': {
        const id = packet.messageId ?? 0
        // [MQTT-4.3.3-1] the PUBREL is unacknowledged until its PUBCOMP; an unknown id is ignored.
        if (state.inflight.get(id)?.cmd === 'pubrel') this.#complete(client, state, id, next, done)
        else done()
        return
      }
      default:
        next()
    }
  }

  readonly #forwardMessage: CallbackHandler<'forwardMessage'> = (ctx, _store, next, done) => {
    this.#forward(ctx.client, ctx.packet, next, done, false)
  }

  readonly #resumeSession: CallbackHandler<'resumeSession'> = (ctx, _store, next, done) => {
    const { client, clientId } = ctx
    const state = this.#stateOf(client)
    // New messages go offline, behind what the session holds, until it has been delivered [MQTT-4.6.0-6].
    state.resuming = true
    client.stack.execute('lookupInflightMessages', { clientId }, {}, (err, store) => {
      if (err) {
        state.resuming = false
        next(err)
        return
      }
      // [MQTT-4.4.0-1] unacknowledged PUBLISH and PUBREL packets again, with their packet identifiers,
      // [MQTT-4.6.0-1] in the order they were first sent.
      for (const packet of store.packets ?? []) resend(client, state, packet)
      this.#fetchOffline(client, state, (fetchErr) => {
        state.resuming = false
        if (fetchErr) {
          next(fetchErr)
          return
        }
        this.#drain(client, state)
        done()
      })
    })
  }

  /** `authorizeForward` when some middleware answers it, then delivery. */
  #forward(client: Client, packet: IPublishPacket, next: Next, done: Done, fresh: boolean): void {
    if (client.stack.provides('authorizeForward')) {
      const delivery = new Delivery(client, packet, next, done, fresh)
      client.stack.execute('authorizeForward', delivery, delivery, this.#onAuthorized)
      return
    }
    this.#deliver(client, packet, next, done, fresh, undefined)
  }

  readonly #onAuthorized: CallbackResult<'authorizeForward'> = (err, store) => {
    const delivery = store as Delivery
    if (err) delivery.next(err)
    else if (delivery.authorized === false)
      delivery.done() // not for this client: skipped silently
    else
      this.#deliver(delivery.client, delivery.packet, delivery.next, delivery.done, delivery.fresh, delivery)
  }

  #deliver(
    client: Client,
    packet: IPublishPacket,
    next: Next,
    done: Done,
    fresh: boolean,
    delivery: Delivery | undefined,
  ): void {
    if (packet.qos === 0) {
      const err = this.#writeQoS0(client, packet)
      if (err) next(err)
      else done()
      return
    }
    const state = this.#stateOf(client)
    if (!fresh && packet.messageId !== undefined) {
      // A message sent before and not acknowledged: the same packet id, DUP set [MQTT-3.3.1-1].
      resend(client, state, packet)
      done()
      return
    }
    const d = delivery ?? new Delivery(client, packet, next, done, fresh)
    if (state.closed) this.#storeOffline(d)
    else if (!fresh && (state.resuming || state.fetching || state.backlog)) {
      // Older messages of this session are offline: this one goes behind them [MQTT-4.6.0-6].
      this.#storeOffline(d)
    } else if (state.inflight.size < state.window) this.#send(state, d)
    else if (state.queue.length < this.config.maxQueued) {
      enqueue(state, packet)
      done()
    } else this.#park(client, state, packet, done)
  }

  /**
   * The queue is full: the forward completes only when its message finds room, so the relay, and with it
   * the publisher's acknowledgement and its next packets, waits. Nothing accepted is dropped; a subscriber
   * that makes no progress for `slowConsumerTimeout` is disconnected instead.
   */
  #park(client: Client, state: OutboundManagerState, packet: IPublishPacket, done: Done): void {
    state.parked.push({ packet: ownPayload(packet), done })
    if (state.parkTimer === undefined) {
      state.parkTimer = setTimeout(() => this.#slowConsumer(client, state), this.config.slowConsumerTimeout)
      state.parkTimer.unref()
    }
  }

  #slowConsumer(client: Client, state: OutboundManagerState): void {
    state.parkTimer = undefined
    if (state.parked.length === 0 || state.closed) return
    const err = new MqttStackError(
      ErrorCode.SLOW_CONSUMER,
      `client ${client.id} acknowledged nothing for ${this.config.slowConsumerTimeout} ms with ${state.parked.length} forwards waiting`,
      { reasonCode: ReasonCode.QUOTA_EXCEEDED },
    )
    client.stack.reportError(err, client, undefined)
    client.close(err.reasonCode, err)
    // Now, not when the stream has closed: a peer that reads nothing keeps it open until closeTimeout,
    // and the publishers behind the parked forwards would wait that long too. (Again on close: a no-op.)
    this.#onClose(client, state)
  }

  /** Moves parked forwards into the queue while it has room, completing them; the slow-consumer clock restarts. */
  #unpark(client: Client, state: OutboundManagerState): void {
    if (state.parked.length === 0) return
    while (state.parked.length > 0 && state.queue.length < this.config.maxQueued) {
      const { packet, done } = state.parked.shift()!
      enqueue(state, packet)
      done()
    }
    if (state.parkTimer !== undefined) clearTimeout(state.parkTimer)
    state.parkTimer = undefined
    if (state.parked.length > 0) {
      state.parkTimer = setTimeout(() => this.#slowConsumer(client, state), this.config.slowConsumerTimeout)
      state.parkTimer.unref()
    }
  }

  /** Serialised once per fan-out and protocol version; the same bytes are written to every subscriber. */
  #writeQoS0(client: Client, packet: IPublishPacket): MqttStackError | undefined {
    if (client.closed) return undefined
    if (
      packet !== this.#qos0Packet ||
      packet.topic !== this.#qos0Topic ||
      packet.payload !== this.#qos0Payload
    ) {
      this.#qos0Packet = packet
      this.#qos0Topic = packet.topic
      this.#qos0Payload = packet.payload
      this.#qos0Bytes.fill(undefined)
    }
    const version = client.protocolVersion
    let bytes = this.#qos0Bytes[version]
    if (bytes === undefined) {
      try {
        // [MQTT-3.3.1-2] DUP is 0 for QoS 0, whatever the publisher sent [MQTT-3.3.1-3].
        bytes = serializePacket(packet.dup ? { ...packet, dup: false } : packet, version)
      } catch (cause) {
        return new MqttStackError(ErrorCode.SERIALIZE, `cannot serialise PUBLISH to ${packet.topic}`, {
          cause,
        })
      }
      this.#qos0Bytes[version] = bytes
    }
    client.writeBuffer(bytes, 0)
    return undefined
  }

  /** A new QoS 1/2 message: a packet id of its own, `storeInflightMessage`, then the write. */
  #send(state: OutboundManagerState, delivery: Delivery): void {
    const { client } = delivery
    const id = freeId(state)
    // [MQTT-2.3.1-1] a non-zero packet id, [MQTT-2.3.1-4] unused by this client's other messages; DUP 0 on a
    // first send, whatever the publisher's was [MQTT-3.3.1-3].
    const packet = withPacketId(delivery.packet, id)
    if (client.protocolVersion === 5) {
      // Serialised now (the size of a packet id does not depend on its value), before the id is taken.
      try {
        delivery.bytes = this.#serialize5(state, delivery, packet)
      } catch (cause) {
        delivery.next(
          new MqttStackError(ErrorCode.SERIALIZE, `cannot serialise PUBLISH to ${packet.topic}`, { cause }),
        )
        return
      }
      if (delivery.bytes.length > client.maxOutgoingPacketSize) {
        // [MQTT-3.1.2-24] never sent; [MQTT-3.1.2-25] discarded as if delivered: no id, nothing inflight.
        delivery.bytes = undefined
        delivery.alias = undefined
        client.droppedMessages++
        delivery.done()
        return
      }
    }
    state.nextId = id === MAX_PACKET_ID ? 1 : id + 1
    delivery.packet = packet
    state.inflight.set(id, packet)
    client.stack.execute('storeInflightMessage', delivery, delivery, this.#onInflightStored)
  }

  /**
   * MQTT 5.0: the bytes of a new QoS 1/2 PUBLISH, with a topic alias when the client accepts them. A topic
   * gets the next free alias on first use (topic name and alias: this sets it up), and keeps it for the
   * connection; once a PUBLISH that set it up was written, later ones carry the alias and an empty topic
   * name. When every alias is taken, other topics are sent in full. The stored packet keeps its topic name
   * and no alias, as aliases do not outlive the connection [MQTT-3.3.2-7].
   */
  #serialize5(state: OutboundManagerState, delivery: Delivery, packet: IPublishPacket): Buffer {
    const maximum = state.topicAliasMaximum
    if (maximum === 0) return serializePacket(packet, 5)
    let alias = state.aliases?.get(packet.topic)
    if (alias === undefined) {
      if (state.aliases === undefined) state.aliases = new Map()
      const aliases = state.aliases
      if (aliases.size >= maximum) return serializePacket(packet, 5)
      // [MQTT-3.3.2-8] never 0; [MQTT-3.1.2-26] [MQTT-3.3.2-11] at most the client's Topic Alias Maximum.
      alias = { alias: aliases.size + 1, sent: false }
      aliases.set(packet.topic, alias)
    }
    const properties = { ...packet.properties, topicAlias: alias.alias }
    if (alias.sent) return serializePacket({ ...packet, topic: '', properties }, 5)
    // Not known to be set up yet (its first PUBLISH may still wait for storeInflightMessage): in full.
    delivery.alias = alias
    return serializePacket({ ...packet, properties }, 5)
  }

  readonly #onInflightStored: CallbackResult<'storeInflightMessage'> = (err, store) => {
    const delivery = store as Delivery
    const { client, packet } = delivery
    if (err) {
      const state = client.state.outboundManager
      if (state?.inflight.get(packet.messageId!) === packet) state.inflight.delete(packet.messageId!)
      delivery.next(err)
      return
    }
    const { bytes } = delivery
    if (bytes === undefined) client.write(packet)
    else {
      delivery.bytes = undefined
      client.writeBuffer(bytes, packet.qos)
      if (delivery.alias !== undefined) delivery.alias.sent = true
    }
    delivery.done()
  }

  #storeOffline(delivery: Delivery): void {
    delivery.client.stack.execute('storeOfflineMessage', delivery, delivery, this.#onOfflineStored)
  }

  readonly #onOfflineStored: CallbackResult<'storeOfflineMessage'> = (err, store) => {
    const delivery = store as Delivery
    if (err) {
      delivery.next(err)
      return
    }
    const { client } = delivery
    const state = this.#stateOf(client)
    if (!state.closed) {
      if (delivery.dropped) {
        client.stack.reportError(
          new MqttStackError(
            OutboundErrorCode.QUEUE_FULL,
            `client ${client.id}: ${this.config.maxQueued} messages wait already; a message to ${delivery.packet.topic} was dropped`,
          ),
          client,
          delivery.packet,
        )
      } else state.backlog = true // fetched when the queue has drained
    }
    delivery.done()
  }

  /** Sends waiting messages while the window has room; then fetches what was stored offline meanwhile. */
  #drain(client: Client, state: OutboundManagerState): void {
    if (state.resuming || state.closed) return
    this.#sendQueued(client, state)
    if (state.parked.length > 0) {
      this.#unpark(client, state)
      this.#sendQueued(client, state)
    }
    if (state.queue.length === 0 && state.backlog && !state.fetching) {
      this.#fetchOffline(client, state, state.report)
    }
  }

  #sendQueued(client: Client, state: OutboundManagerState): void {
    while (state.inflight.size < state.window && state.queue.length > 0) {
      const packet = unexpired(state.queue.shift()!, state.queuedAt.shift()!)
      if (packet !== undefined) this.#send(state, new Delivery(client, packet, state.report, noop, true))
    }
  }

  /**
   * `lookupOfflineMessages`, then forwards, oldest first, as many as the window and the queue can take
   * (the rest stays offline and is fetched when the queue has drained), then `removeOfflineMessages` for
   * those taken.
   */
  #fetchOffline(client: Client, state: OutboundManagerState, callback: Done): void {
    state.fetching = true
    state.backlog = false
    const clientId = client.id
    const finish = (err?: Error | null) => {
      state.fetching = false
      callback(err)
    }
    client.stack.execute('lookupOfflineMessages', { clientId }, {}, (err, store) => {
      if (err) {
        finish(err)
        return
      }
      const packets = store.packets ?? []
      const room =
        Math.max(0, state.window - state.inflight.size) +
        Math.max(0, this.config.maxQueued - state.queue.length)
      const taken = packets.length > room ? packets.slice(0, room) : packets
      if (taken.length < packets.length) state.backlog = true
      let i = 0
      let looping = false
      let again = false
      // One message at a time, in order; a loop rather than recursion when the callbacks are synchronous.
      const step = (stepErr?: Error | null): void => {
        if (stepErr) {
          finish(stepErr)
          return
        }
        if (looping) {
          again = true
          return
        }
        looping = true
        do {
          again = false
          if (i === taken.length) {
            looping = false
            if (taken.length === 0) finish()
            else client.stack.execute('removeOfflineMessages', { clientId, packets: taken }, {}, finish)
            return
          }
          this.#forward(client, taken[i++]!, step, step, true)
        } while (again)
        looping = false
      }
      step()
    })
  }

  /** PUBREC of a QoS 2 PUBLISH: the PUBREL replaces it, is stored, then sent [MQTT-4.3.3-1]. */
  #release(client: Client, state: OutboundManagerState, id: number, next: Next, done: Done): void {
    const pubrel: IPubrelPacket = { cmd: 'pubrel', messageId: id, reasonCode: 0 }
    state.inflight.set(id, pubrel)
    state.ackId = id
    state.ackNext = next
    state.ackDone = done
    client.stack.execute(
      'storeInflightMessage',
      { clientId: client.id, packet: pubrel },
      {},
      state.onPubrelStored,
    )
  }

  /** PUBACK, or PUBCOMP: `removeInflightMessage`, then the id is free and the window has room. */
  #complete(client: Client, state: OutboundManagerState, id: number, next: Next, done: Done): void {
    state.ackId = id
    state.ackNext = next
    state.ackDone = done
    state.removeCtx.clientId = client.id
    state.removeCtx.messageId = id
    client.stack.execute('removeInflightMessage', state.removeCtx, {}, state.onRemoved)
  }

  #onClose(client: Client, state: OutboundManagerState): void {
    state.closed = true
    if (state.parkTimer !== undefined) clearTimeout(state.parkTimer)
    state.parkTimer = undefined
    // Parked forwards join the waiting messages, and their chains go on: publishers are not held up.
    for (const { packet, done } of state.parked.takeAll()) {
      enqueue(state, packet)
      done()
    }
    const waiting = state.queue.takeAll()
    const queuedAt = state.queuedAt.takeAll()
    // The backend keeps them for a persistent session and drops them for one that is not kept.
    for (let i = 0; i < waiting.length; i++) {
      const packet = unexpired(waiting[i]!, queuedAt[i] ?? 0)
      if (packet === undefined) continue
      client.stack.execute('storeOfflineMessage', { clientId: client.id, packet }, {}, (err) => {
        if (err) client.stack.reportError(err, client, packet)
      })
    }
  }

  #stateOf(client: Client): OutboundManagerState {
    let state = client.state.outboundManager
    if (state === undefined) {
      state = this.#createState(client)
      client.state.outboundManager = state
    }
    return state
  }

  #createState(client: Client): OutboundManagerState {
    const endAck = (err?: Error | null) => {
      const { ackNext, ackDone } = state
      state.ackNext = noop
      state.ackDone = noop
      if (err) ackNext(err)
      else ackDone()
    }
    const state: OutboundManagerState = {
      window: this.config.maxInflight,
      topicAliasMaximum: 0,
      aliases: undefined,
      nextId: 1,
      inflight: new Map(),
      queue: new Fifo(),
      queuedAt: new Fifo(),
      parked: new Fifo(),
      parkTimer: undefined,
      resuming: false,
      fetching: false,
      backlog: false,
      // Made after its connection closed (a message forwarded meanwhile): messages are stored offline.
      closed: client.closed,
      ackId: 0,
      ackNext: noop,
      ackDone: noop,
      removeCtx: { clientId: '', messageId: 0 },
      report: (err) => {
        if (err) client.stack.reportError(toMqttStackError(err), client, undefined)
      },
      onRemoved: (err) => {
        if (err) {
          endAck(err)
          return
        }
        // [MQTT-2.3.1-3] the packet id is free again once its acknowledgement is processed.
        state.inflight.delete(state.ackId)
        this.#drain(client, state)
        endAck()
      },
      onPubrelStored: (err) => {
        if (err) {
          endAck(err)
          return
        }
        const pubrel = state.inflight.get(state.ackId)
        if (pubrel) client.write(pubrel)
        endAck()
      },
    }
    return state
  }
}

/**
 * The next packet id unused by this client: 1..65535, never 0, wrapping around [MQTT-2.3.1-1]. The caller
 * moves `nextId` past it once the id is taken.
 */
function freeId(state: OutboundManagerState): number {
  let id = state.nextId
  // The window is smaller than 65535, so a free id exists.
  while (state.inflight.has(id)) id = id === MAX_PACKET_ID ? 1 : id + 1
  return id
}

/**
 * The forwarded message with a packet identifier of its own and DUP 0. Built field by field rather than
 * spread: this runs once per QoS 1/2 delivery, and a spread's generic copy showed as a sixth of the CPU in
 * the QoS 1 benchmark. Symbol-keyed marks of other middlewares (a shared subscription's) are kept.
 */
function withPacketId(packet: IPublishPacket, messageId: number): IPublishPacket {
  const copy: IPublishPacket = {
    cmd: 'publish',
    topic: packet.topic,
    payload: packet.payload,
    qos: packet.qos,
    retain: packet.retain,
    dup: false,
    messageId,
  }
  if (packet.properties !== undefined) copy.properties = packet.properties
  for (const key of Object.getOwnPropertySymbols(packet)) {
    ;(copy as unknown as Record<symbol, unknown>)[key] = (packet as unknown as Record<symbol, unknown>)[key]
  }
  return copy
}

/** Queues a message for room in the window, noting when it started to wait if it can expire. */
function enqueue(state: OutboundManagerState, packet: IPublishPacket): void {
  // Kept until the window has room: its payload must not pin the chunk it was read from.
  state.queue.push(ownPayload(packet))
  // [MQTT-3.3.2-5] [MQTT-3.3.2-6]
  state.queuedAt.push(packet.properties?.messageExpiryInterval === undefined ? 0 : Date.now())
}

/**
 * A message that waited in the queue since `queuedAt` (0: it cannot expire): undefined once its Message
 * Expiry Interval has passed [MQTT-3.3.2-5], else with the interval minus the time it waited
 * [MQTT-3.3.2-6] (a copy; rounded up, so that a message still valid never says 0).
 */
function unexpired(packet: IPublishPacket, queuedAt: number): IPublishPacket | undefined {
  const interval = packet.properties?.messageExpiryInterval
  if (queuedAt === 0 || interval === undefined) return packet
  const left = interval * 1000 - (Date.now() - queuedAt)
  if (left <= 0) return undefined
  const seconds = Math.ceil(left / 1000)
  if (seconds >= interval) return packet
  return { ...packet, properties: { ...packet.properties, messageExpiryInterval: seconds } }
}

/** An unacknowledged message again: PUBLISH with its packet id and DUP set [MQTT-3.3.1-1], or PUBREL. */
function resend(client: Client, state: OutboundManagerState, packet: InflightPacket): void {
  const id = packet.messageId
  if (id === undefined || id < 1 || id > MAX_PACKET_ID) return
  if (packet.cmd === 'publish') {
    // [MQTT-4.3.3-1] once PUBREL was sent, the PUBLISH is never sent again.
    if (packet.qos === 0 || state.inflight.get(id)?.cmd === 'pubrel') return
    const again: IPublishPacket = { ...packet, dup: true }
    const dropped = client.droppedMessages
    state.inflight.set(id, again)
    client.write(again)
    if (client.droppedMessages !== dropped) {
      // [MQTT-3.1.2-25] over the Maximum Packet Size of this connection, the client discarded it as if
      // delivered: its id and its place in the window are free again, and the backend forgets it.
      state.inflight.delete(id)
      client.stack.execute('removeInflightMessage', { clientId: client.id, messageId: id }, {}, state.report)
    }
  } else {
    const again: IPubrelPacket = packet.reasonCode === undefined ? { ...packet, reasonCode: 0 } : packet
    state.inflight.set(id, again)
    client.write(again)
  }
}
