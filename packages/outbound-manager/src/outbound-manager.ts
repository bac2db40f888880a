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
  type Packet,
  ReasonCode,
} from '@mqtt-stack/core'
import { Delivery, noop } from './delivery.js'
import { OutboundErrorCode } from './errors.js'
import { type ForwardFresh, fetchOffline, resend, storeWaitingOffline } from './offline.js'
import { checkOptions, DEFAULTS, type OutboundManagerOptions } from './options.js'
import { freeId, takeId, withPacketId } from './packet-ids.js'
import { QoS0Writer, writeWithAlias } from './qos0.js'
import { SlowConsumers } from './slow-consumers.js'
import { createState, type OutboundManagerState, type ParkedForward } from './state.js'
import { serializeWithAlias, topicAliasOf } from './topic-aliases.js'
import { enqueue, unexpired } from './waiting-queue.js'

/**
 * Delivers messages to clients and keeps QoS 1/2 state (docs/architecture.md, "forwardMessage"): answers
 * `forwardMessage` and `resumeSession`, and handles PUBACK, PUBREC and PUBCOMP, ending their chains. This
 * file is the flow of a delivery; the packet-id window (packet-ids.ts), slow consumers, the waiting queue,
 * resume and the offline queue (offline.ts) and outbound topic aliases each have a file of their own.
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
  override readonly after = ['connection']
  /** Every required callback is a backend's. */
  override readonly providerHints = Object.fromEntries(
    this.requires.map((name) => [name, 'MemoryBackend from @mqtt-stack/memory-backend']),
  )

  readonly #qos0 = new QoS0Writer()
  readonly #slowConsumers: SlowConsumers

  constructor(options: Partial<OutboundManagerOptions> = {}) {
    super(options, DEFAULTS)
    checkOptions(this.config)
    this.#slowConsumers = new SlowConsumers(this.config, (client, state) => this.#onClose(client, state))
  }

  /**
   * The state of a connection is made when it first carries a QoS 1/2 message (most subscribers of a
   * connection storm never do), and released here.
   */
  override uninstall(client: Client): void {
    const state = client.state.outboundManager
    if (state !== undefined) this.#onClose(client, state)
  }

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
    if (packet.cmd !== 'puback' && packet.cmd !== 'pubrec' && packet.cmd !== 'pubcomp') {
      next()
      return
    }
    if (client.closed) {
      // Processed after its connection closed (it waited behind a slow answer): what it would store or
      // remove could undo what a newer connection of the session has done with this packet id. The message
      // stays unacknowledged and is sent again on the next connection [MQTT-4.4.0-1].
      done()
      return
    }
    const state = this.#stateOf(client)
    const id = packet.messageId ?? 0
    const sent = state.inflight.get(id)
    if (sent !== undefined) state.progressAt = Date.now()
    // What does not fit (README, "Acknowledgements that do not fit", as mosquitto does): an id not inflight
    // is ignored, but for PUBREC, answered with PUBREL so that the client does not wait for it; an id
    // inflight in another step or at another QoS is a protocol error.
    switch (packet.cmd) {
      case 'puback':
        // [MQTT-4.3.2-1] a QoS 1 PUBLISH is unacknowledged until its PUBACK.
        if (sent === undefined) done()
        else if (sent.cmd === 'publish' && sent.qos === 1) this.#complete(client, state, id, next, done)
        else mismatch(client, packet, sent, done)
        return
      case 'pubrec': {
        const refused =
          client.protocolVersion === 5 && (packet.reasonCode ?? 0) >= ReasonCode.UNSPECIFIED_ERROR
        if (sent === undefined) {
          // The client holds the id until PUBREL, unless its PUBREC refused the message [MQTT-4.3.3-9].
          if (!refused) client.write(unknownPubrel(client, id))
          done()
        } else if (sent.cmd === 'publish' && sent.qos !== 2) mismatch(client, packet, sent, done)
        else if (refused) {
          // MQTT 5.0: a PUBREC with an error reason code ends the exchange, with no PUBREL, whether or not
          // one was sent already [MQTT-4.3.3-4].
          this.#complete(client, state, id, next, done)
        } else if (sent.cmd === 'pubrel') {
          // PUBREC again (the client saw our PUBLISH twice): PUBREL again.
          client.write(sent)
          done()
        } else this.#release(client, state, id, next, done)
        return
      }
      default:
        // [MQTT-4.3.3-1] the PUBREL is unacknowledged until its PUBCOMP.
        if (sent === undefined) done()
        else if (sent.cmd === 'pubrel') this.#complete(client, state, id, next, done)
        else mismatch(client, packet, sent, done)
    }
  }

  readonly #forwardMessage: CallbackHandler<'forwardMessage'> = (ctx, _store, next, done) => {
    this.#forward(ctx.client, ctx.packet, next, done, false)
  }

  /** A message of the offline queue, bound once for `fetchOffline`. */
  readonly #forwardFresh: ForwardFresh = (client, packet, next, done) => {
    this.#forward(client, packet, next, done, true)
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
      state.durable = store.durable === true
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

  #fetchOffline(client: Client, state: OutboundManagerState, callback: Done): void {
    fetchOffline(client, state, this.config.maxQueued, this.#forwardFresh, callback)
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
    else if (delivery.authorized === false) {
      // Not for this client: no error, but counted.
      delivery.client.stack.notifyDropped('not-authorized', delivery.client, delivery.packet)
      delivery.done()
    } else
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
      // MQTT 5.0: a client that accepts topic aliases gets its own bytes; the others share the fan-out's.
      const alias = topicAliasOf(client.state.outboundManager, packet.topic)
      const err =
        alias === undefined ? this.#qos0.write(client, packet) : writeWithAlias(client, packet, alias)
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
    else if (!fresh && (state.resuming || state.fetching || state.backlog || state.storing > 0)) {
      // Older messages of this session are offline: this one goes behind them [MQTT-4.6.0-6].
      this.#behind(d)
    } else if (state.inflight.size < state.window) this.#send(state, d)
    else if (state.durable) {
      // Acknowledged to its publisher once stored, where a crash of this process cannot lose it.
      this.#behind(d)
    } else if (state.queue.length < this.config.maxQueued) {
      enqueue(state, packet)
      done()
    } else this.#slowConsumers.park(client, state, packet, next, done)
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
        delivery.bytes = serializeWithAlias(state, delivery, packet)
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
        client.stack.notifyDropped('too-large', client, delivery.packet)
        delivery.done()
        return
      }
    }
    takeId(state, id)
    delivery.packet = packet
    // An idle window that fills: the client has owed nothing until now.
    if (state.inflight.size === 0) state.progressAt = Date.now()
    state.inflight.set(id, packet)
    client.stack.execute('storeInflightMessage', delivery, delivery, this.#onInflightStored)
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
    if (delivery.durable === true) client.state.outboundManager!.durable = true
    const { bytes } = delivery
    if (bytes === undefined) client.write(packet)
    else {
      delivery.bytes = undefined
      client.writeBuffer(bytes, packet.qos)
      if (delivery.alias !== undefined) delivery.alias.sent = true
    }
    delivery.done()
  }

  /**
   * Behind the messages stored offline. A durable session's connection stores no more than `maxQueued`
   * there: past it (or behind forwards that wait already) the forward waits, holding its publisher back,
   * rather than fill the backend's queue, which would drop it.
   */
  #behind(d: Delivery): void {
    const state = this.#stateOf(d.client)
    if (state.durable && (state.offline >= this.config.maxQueued || state.parked.length > 0))
      this.#slowConsumers.park(d.client, state, d.packet, d.next, d.done)
    else this.#storeOffline(d)
  }

  #storeOffline(delivery: Delivery): void {
    const state = this.#stateOf(delivery.client)
    state.storing++
    state.offline++
    state.storedSinceLookup++
    delivery.lookups = state.lookups
    delivery.client.stack.execute('storeOfflineMessage', delivery, delivery, this.#onOfflineStored)
  }

  readonly #onOfflineStored: CallbackResult<'storeOfflineMessage'> = (err, store) => {
    const delivery = store as Delivery
    const { client } = delivery
    const state = this.#stateOf(client)
    state.storing--
    // Not queued; one made before the latest lookup is counted (or not) in its answer already.
    if ((err || delivery.dropped) && delivery.lookups === state.lookups) {
      state.offline--
      state.storedSinceLookup--
    }
    if (err) {
      delivery.next(err)
      return
    }
    if (!state.closed) {
      if (delivery.dropped) {
        client.stack.reportError(
          new MqttStackError(
            OutboundErrorCode.QUEUE_FULL,
            `client ${client.id}: ${state.durable ? 'its offline queue is full' : `${this.config.maxQueued} messages wait already`}; a message to ${delivery.packet.topic} was dropped`,
          ),
          client,
          delivery.packet,
        )
      } else state.backlog = true // fetched when the queue has drained
    }
    delivery.done()
    // The store may answer after the session went idle (a late backend): nothing else would fetch it.
    if (!state.closed && state.backlog) this.#drain(client, state)
  }

  readonly #drainAfterAck = (client: Client, state: OutboundManagerState): void => this.#drain(client, state)

  /** A parked forward to a durable session goes offline now; it completes once stored. */
  readonly #parkedOffline = (
    client: Client,
    _state: OutboundManagerState,
    { packet, next, done }: ParkedForward,
  ): void => {
    this.#storeOffline(new Delivery(client, packet, next, done, false))
  }

  /** Sends waiting messages while the window has room; then fetches what was stored offline meanwhile. */
  #drain(client: Client, state: OutboundManagerState): void {
    if (state.resuming || state.closed) return
    this.#sendQueued(client, state)
    if (state.parked.length > 0 && state.durable)
      this.#slowConsumers.unparkWhile(client, state, offlineHasRoom, this.#parkedOffline)
    else if (state.parked.length > 0) {
      this.#slowConsumers.unpark(client, state)
      this.#sendQueued(client, state)
    }
    if (state.queue.length === 0 && state.backlog && !state.fetching && state.storing === 0) {
      // A durable session fetches only what its window takes: with the window full, an acknowledgement
      // drains again.
      if (!state.durable || state.inflight.size < state.window)
        this.#fetchOffline(client, state, state.report)
    }
  }

  #sendQueued(client: Client, state: OutboundManagerState): void {
    while (state.inflight.size < state.window && state.queue.length > 0) {
      const packet = unexpired(state.queue.shift()!, state.queuedAt.shift()!)
      if (packet !== undefined) this.#send(state, new Delivery(client, packet, state.report, noop, true))
    }
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
    SlowConsumers.release(state)
    storeWaitingOffline(client, state)
  }

  #stateOf(client: Client): OutboundManagerState {
    let state = client.state.outboundManager
    if (state === undefined) {
      state = createState(client, this.config.maxInflight, this.#drainAfterAck)
      client.state.outboundManager = state
    }
    return state
  }
}

/**
 * The PUBREL answering a PUBREC whose packet id is not inflight (a session that was lost or has moved on):
 * MQTT 5.0 says so with 0x92 (Packet Identifier not found) [MQTT-3.6.2-1]. Nothing is stored; the client's
 * PUBCOMP for it is ignored.
 */
function unknownPubrel(client: Client, id: number): IPubrelPacket {
  const reasonCode =
    client.protocolVersion === 5 ? ReasonCode.PACKET_IDENTIFIER_NOT_FOUND : ReasonCode.SUCCESS
  return { cmd: 'pubrel', messageId: id, reasonCode }
}

/**
 * An acknowledgement whose packet id is inflight in another step or at another QoS (PUBACK of a QoS 2
 * message, PUBREC of a QoS 1 one, PUBCOMP before PUBREC): a protocol violation, 3.1.1 [MQTT-4.8.0-1], 5.0
 * DISCONNECT 0x82 [MQTT-4.13.1-1]. The message stays inflight: sent again on the next connection of a kept
 * session.
 */
function mismatch(client: Client, packet: Packet, sent: InflightPacket, done: Done): void {
  const waiting = sent.cmd === 'pubrel' ? 'PUBCOMP' : sent.qos === 1 ? 'PUBACK' : 'PUBREC'
  client.protocolViolation(
    new MqttStackError(
      ErrorCode.PROTOCOL_ERROR,
      `${packet.cmd.toUpperCase()} for packet identifier ${sent.messageId}, which waits for ${waiting}`,
      { reasonCode: ReasonCode.PROTOCOL_ERROR },
    ),
    packet,
  )
  done()
}

/** A durable session's offline queue has room for a parked forward. */
function offlineHasRoom(state: OutboundManagerState, maxQueued: number): boolean {
  return state.offline < maxQueued
}
