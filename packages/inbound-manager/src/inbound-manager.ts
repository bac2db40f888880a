import { isUtf8 } from 'node:buffer'
import {
  type CallbackHandler,
  type CallbackHandlers,
  type CallbackThen,
  type Client,
  type Done,
  ErrorCode,
  type IPubackPacket,
  type IPubcompPacket,
  type IPublishPacket,
  type IPubrecPacket,
  type IPubrelPacket,
  Middleware,
  MqttStackError,
  type Next,
  type Packet,
  ReasonCode,
  type TopicRules,
  validateTopicName,
} from '@mqtt-stack/core'
import { DEFAULTS, type InboundManagerOptions } from './options.js'
import { onPipelined, PIPELINE_DEPTH, PipelinedRelay, release, settle } from './pipeline.js'
import type { ClientContext, InboundManagerState } from './state.js'

/** The Reason String of a PUBACK or PUBREC 0x99. */
const PAYLOAD_INVALID_REASON = 'payload is not valid UTF-8'
/**
 * The size of that PUBACK or PUBREC: fixed header (2), packet identifier (2), reason code (1), Property Length
 * (1), then the Reason String property: identifier (1), length (2) and the string.
 */
const PAYLOAD_INVALID_ACK_SIZE = 9 + Buffer.byteLength(PAYLOAD_INVALID_REASON)
/** The Receive Maximum a CONNACK without the property means [MQTT 5.0, 3.2.2.3.3]. */
const SPEC_RECEIVE_MAXIMUM = 65535

/** Put in the reused relay context between packets, so that it holds no message longer than needed. */
const NO_PACKET: IPublishPacket = Object.freeze({
  cmd: 'publish',
  topic: '',
  payload: '',
  qos: 0,
  dup: false,
  retain: false,
}) as IPublishPacket

/**
 * Handles PUBLISH and PUBREL from clients and ends their chains (docs/architecture.md, "PUBLISH from a
 * client", steps 2 and 4): checks the topic name, keeps QoS 2 exactly once with `storeIncomingMessage`,
 * relays the message with `relayMessage`, and acknowledges it once, after the relay succeeded.
 */
export class InboundManager extends Middleware<InboundManagerOptions> {
  override readonly name = 'inbound-manager'
  override readonly packetTypes = ['publish', 'pubrel'] as const
  override readonly requires = ['relayMessage', 'storeIncomingMessage', 'releaseIncomingMessage'] as const
  override readonly after = ['connection']
  /** Every required callback is a backend's. */
  override readonly providerHints = Object.fromEntries(
    this.requires.map((name) => [name, 'MemoryBackend from @mqtt-stack/memory-backend']),
  )
  readonly #rules: TopicRules
  #reportedUnstored = false

  constructor(options: Partial<InboundManagerOptions> = {}) {
    super(options, DEFAULTS)
    const { maxTopicLevels } = this.config
    if (!Number.isInteger(maxTopicLevels) || maxTopicLevels < 1) {
      throw new MqttStackError(
        ErrorCode.INVALID_OPTION,
        `inbound-manager: maxTopicLevels must be a positive integer, got ${String(maxTopicLevels)}`,
      )
    }
    this.#rules = Object.freeze({ maxLevels: maxTopicLevels })
    const { receiveMaximum, maxQoS, checkPayloadFormat } = this.config
    if (!Number.isInteger(receiveMaximum) || receiveMaximum < 1 || receiveMaximum > SPEC_RECEIVE_MAXIMUM) {
      throw new MqttStackError(
        ErrorCode.INVALID_OPTION,
        `inbound-manager: receiveMaximum must be an integer from 1 to 65535, got ${String(receiveMaximum)}`,
      )
    }
    if (maxQoS !== 0 && maxQoS !== 1 && maxQoS !== 2) {
      throw new MqttStackError(
        ErrorCode.INVALID_OPTION,
        `inbound-manager: maxQoS must be 0, 1 or 2, got ${String(maxQoS)}`,
      )
    }
    if (typeof checkPayloadFormat !== 'boolean') {
      throw new MqttStackError(
        ErrorCode.INVALID_OPTION,
        `inbound-manager: checkPayloadFormat must be a boolean, got ${String(checkPayloadFormat)}`,
      )
    }
  }

  override callbacks(): CallbackHandlers {
    return { prepareConnack: this.#prepareConnack }
  }

  /** MQTT 5.0: advertises the receive maximum and the maximum QoS in CONNACK. */
  readonly #prepareConnack: CallbackHandler<'prepareConnack'> = (_ctx, store, next) => {
    const { receiveMaximum, maxQoS } = this.config
    // Always written, 65535 included (3 bytes), so that clients see the limit enforced; session-manager drops
    // a Maximum QoS of 2, the default.
    store.properties.receiveMaximum = receiveMaximum
    store.properties.maximumQoS = maxQoS
    next()
  }

  override handle(client: Client, packet: Packet, next: Next, done: Done): void {
    // Made on the first PUBLISH: a connection that only subscribes never holds it.
    const state = client.state.inboundManager ?? this.#createState(client)
    if (packet.cmd === 'publish') this.#publish(client, state, packet, next, done)
    else if (packet.cmd === 'pubrel') this.#pubrel(client, state, packet, next, done)
    else next()
  }

  /** A retained message that no middleware keeps (no `retain` role in the stack): said once per broker. */
  #reportUnstored(client: Client, packet: IPublishPacket): void {
    this.#reportedUnstored = true
    const err = new MqttStackError(
      ErrorCode.UNSTORED,
      `a retained PUBLISH (topic "${packet.topic}") is relayed but not retained: no middleware in the stack keeps ` +
        'retained messages (use() RetainManager from @mqtt-stack/retain-manager). Reported once.',
    )
    client.stack.reportError(err, client, packet)
  }

  #createState(client: Client): InboundManagerState {
    const depth = Math.min(PIPELINE_DEPTH, this.config.receiveMaximum)
    const state = createState(client, depth, (packet, next, done) =>
      this.#publish(client, state, packet, next, done),
    )
    client.state.inboundManager = state
    return state
  }

  #publish(client: Client, state: InboundManagerState, packet: IPublishPacket, next: Next, done: Done): void {
    // [MQTT-3.3.2-2] no wildcards in a topic name; [MQTT-4.7.3-1] at least one character. Ill-formed UTF-8,
    // U+0000 and a packet identifier of 0 never get here: core's decoder refuses them.
    const problem = validateTopicName(packet.topic, this.#rules)
    if (problem !== undefined) {
      client.protocolViolation(
        new MqttStackError(ErrorCode.PROTOCOL_ERROR, `PUBLISH with an invalid topic name (${problem})`, {
          reasonCode: ReasonCode.TOPIC_NAME_INVALID,
        }),
        packet,
      )
      done()
      return
    }
    if (client.protocolVersion === 5 && !this.#accept5(client, state, packet)) {
      done()
      return
    }
    if (packet.retain && !this.#reportedUnstored && !client.stack.uses('retain'))
      this.#reportUnstored(client, packet)
    if (packet.qos !== 1 && state.pipeline.length > 0) {
      // Only QoS 1 is pipelined: a QoS 0 or 2 PUBLISH waits until the relays before it are answered.
      state.parked = { packet, next, done }
      return
    }
    state.packet = packet
    state.messageId = packet.messageId ?? 0
    if (packet.qos === 2) {
      // [MQTT-4.3.3-2] exactly once: a PUBLISH whose packet id is held until PUBREL is not delivered again.
      state.incomingCtx.clientId = client.id
      state.incomingCtx.packet = packet
      state.incomingStore.duplicate = false
      client.stack.executeThen(
        'storeIncomingMessage',
        state.incomingCtx,
        state.incomingStore,
        onIncomingStored,
        next,
        done,
      )
      return
    }
    relay(client, state, packet, next, done)
  }

  /**
   * MQTT 5.0 checks of a PUBLISH before it is stored or relayed. False when the PUBLISH has been dealt with
   * here (the client closed, or the message refused with a reason code).
   */
  #accept5(client: Client, state: InboundManagerState, packet: IPublishPacket): boolean {
    const { qos } = packet
    if (qos > this.config.maxQoS) {
      // [MQTT-3.2.2-11] a client must not publish above the Maximum QoS of CONNACK: DISCONNECT 0x9B.
      client.protocolViolation(
        new MqttStackError(
          ErrorCode.PROTOCOL_ERROR,
          `PUBLISH at QoS ${qos}, above the Maximum QoS ${this.config.maxQoS}`,
          { reasonCode: ReasonCode.QOS_NOT_SUPPORTED },
        ),
        packet,
      )
      return false
    }
    if (qos === 0) {
      if (this.#payloadFormatInvalid(packet)) return false // dropped: no acknowledgement to carry 0x99
      return true
    }
    // [MQTT-3.3.4-7] a client has at most Receive Maximum QoS 1/2 PUBLISH packets without PUBACK or PUBCOMP.
    // Packets are processed one at a time and a PUBACK is sent before the next one, so what counts is the
    // QoS 2 ids held until PUBREL, plus this PUBLISH (unless it is a resend of a held one).
    // A client that reads nothing is caught too: core pauses reading only while a client's own packets wait
    // (maxQueuedPackets, timePerTurn), never because its socket does not drain, so the PUBRECs (4 bytes each)
    // pile up in its write buffer, bounded by the client's disconnectAbove, while its PUBLISHes are read.
    // Pipelined QoS 1 relays do not count: the pipeline is no deeper than the Receive Maximum, and a PUBLISH
    // past it waits (pipeline.ts), as the serial flow reads no PUBLISH before it has sent the last PUBACK.
    const held = state.held
    if (
      held !== undefined &&
      held.size >= this.config.receiveMaximum &&
      !(qos === 2 && held.has(packet.messageId ?? 0))
    ) {
      client.protocolViolation(
        new MqttStackError(
          ErrorCode.PROTOCOL_ERROR,
          `more than the Receive Maximum (${this.config.receiveMaximum}) of unacknowledged QoS 1/2 PUBLISH packets`,
          { reasonCode: ReasonCode.RECEIVE_MAXIMUM_EXCEEDED },
        ),
        packet,
      )
      return false
    }
    if (this.#payloadFormatInvalid(packet)) {
      // MQTT 5.0, 3.3.2.3.2: PUBACK or PUBREC with 0x99, and the message is not relayed; a PUBREC with a
      // reason code of 0x80 or more ends the QoS 2 exchange, so nothing is held.
      // A rare path: its own packet, with a Reason String unless the client asked for none [MQTT-3.1.2-29]
      // or it would make the packet larger than the client's Maximum Packet Size [MQTT-3.4.2-2] [MQTT-3.5.2-2].
      const explain = client.problemInformation && PAYLOAD_INVALID_ACK_SIZE <= client.maxOutgoingPacketSize
      client.write({
        cmd: qos === 1 ? 'puback' : 'pubrec',
        messageId: packet.messageId ?? 0,
        reasonCode: ReasonCode.PAYLOAD_FORMAT_INVALID,
        ...(explain ? { properties: { reasonString: PAYLOAD_INVALID_REASON } } : {}),
      })
      return false
    }
    return true
  }

  /** Payload Format Indicator 1 with a payload that is not well-formed UTF-8 (MQTT 5.0, 3.3.2.3.2). */
  #payloadFormatInvalid(packet: IPublishPacket): boolean {
    if (packet.properties?.payloadFormatIndicator !== true || !this.config.checkPayloadFormat) return false
    const { payload } = packet
    return typeof payload !== 'string' && !isUtf8(payload)
  }

  #pubrel(client: Client, state: InboundManagerState, packet: IPubrelPacket, next: Next, done: Done): void {
    if (client.closed) {
      // Processed after its connection closed (it waited behind a slow answer): releasing the id now could
      // release what a newer connection of the session holds under it, and a resend of that PUBLISH would be
      // delivered twice. Unanswered, the PUBREL is sent again on the next connection [MQTT-4.4.0-1].
      done()
      return
    }
    state.messageId = packet.messageId ?? 0
    state.releaseCtx.clientId = client.id
    state.releaseCtx.messageId = state.messageId
    // A fresh store: the one of the last PUBREL may still hold the released packet.
    client.stack.executeThen('releaseIncomingMessage', state.releaseCtx, {}, onReleased, next, done)
  }
}

function relay(
  client: Client,
  state: InboundManagerState,
  packet: IPublishPacket,
  next: Next,
  done: Done,
): void {
  if (state.shared !== undefined) return relayOwn(client, state, packet, next, done)
  const ctx = state.relayCtx
  ctx.client = client
  ctx.packet = packet
  ctx.topic = packet.topic
  ctx.payload = packet.payload
  // Counted by the router (memory-backend); left undefined by one that does not count.
  state.relayStore.matched = undefined
  state.answered = false
  client.stack.executeThen('relayMessage', ctx, state.relayStore, onRelayed, next, done)
  if (state.answered || packet.qos !== 1) return
  // Still running (an asynchronous backend): the chain ends now, the PUBACK follows the answer (pipeline.ts).
  const pending = new PipelinedRelay(client, packet)
  state.shared = pending
  state.pipeline.push(pending)
  state.packet = undefined
  release(state, next, done)
}

/** A QoS 1 relay on its own context while the reused one is taken by a pipelined relay. */
function relayOwn(
  client: Client,
  state: InboundManagerState,
  packet: IPublishPacket,
  next: Next,
  done: Done,
) {
  const relay = new PipelinedRelay(client, packet)
  state.pipeline.push(relay)
  client.stack.execute('relayMessage', relay, relay, onPipelined)
  release(state, next, done)
}

/** Ends the chain of the current packet and lets go of it. */
function end(state: InboundManagerState, next: Next, done: Done, err?: Error | null): void {
  state.packet = undefined
  state.relayError = undefined
  state.relayCtx.packet = NO_PACKET
  state.relayCtx.payload = ''
  state.incomingCtx.packet = NO_PACKET
  if (err) next(err)
  else done()
}

/** The per-connection state: one set of contexts, stores and acknowledgements serves every packet. */
function createState(
  client: Client,
  depth: number,
  resume: InboundManagerState['resume'],
): InboundManagerState {
  return {
    packet: undefined,
    messageId: 0,
    relayError: undefined,
    held: undefined,
    relayCtx: { client, packet: NO_PACKET, topic: '', payload: '' },
    relayStore: { matched: undefined },
    incomingCtx: { client, clientId: '', packet: NO_PACKET },
    incomingStore: { duplicate: false },
    releaseCtx: { client, clientId: '', messageId: 0 },
    // reasonCode 0: mqtt-packet writes it for 5.0 clients and ignores it for 3.1 and 3.1.1.
    puback: { cmd: 'puback', messageId: 0, reasonCode: 0 },
    pubrec: { cmd: 'pubrec', messageId: 0, reasonCode: 0 },
    pubcomp: { cmd: 'pubcomp', messageId: 0, reasonCode: 0 },
    pipeline: [],
    shared: undefined,
    depth,
    parked: undefined,
    acknowledging: false,
    answered: false,
    resume,
  }
}

// The answers go on through `stack.executeThen` with the chain's own next/done: these functions are made
// once for every connection. The contexts carry the client (see InboundManagerState), its state is on it.

/** The client a reused context of this package carries (see ClientContext). */
function clientOf(ctx: object): Client {
  return (ctx as ClientContext).client
}

const onIncomingStored: CallbackThen<'storeIncomingMessage'> = (err, store, ctx, next, done) => {
  const client = clientOf(ctx)
  const state = client.state.inboundManager!
  const packet = state.packet
  if (err || !packet) return end(state, next, done, err)
  // MQTT 5.0: held until PUBREL, counted against the receive maximum.
  if (client.protocolVersion === 5) {
    if (state.held === undefined) state.held = new Set()
    state.held.add(state.messageId)
  }
  if (store.duplicate) {
    // [MQTT-4.3.3-2] a PUBLISH with a packet id still held: PUBREC again, no second delivery.
    writeAck(client, state.pubrec, state.messageId)
    return end(state, next, done)
  }
  relay(client, state, packet, next, done)
}

const onRelayed: CallbackThen<'relayMessage'> = (err, store, ctx, next, done) => {
  const client = ctx.client!
  const state = client.state.inboundManager!
  state.answered = true
  const shared = state.shared
  if (shared !== undefined) {
    // The answer of a relay that went on in the pipeline: its chain has ended already.
    state.shared = undefined
    state.relayCtx.packet = NO_PACKET
    state.relayCtx.payload = ''
    settle(shared, err, store.matched)
    return
  }
  const packet = state.packet
  if (err || !packet) {
    // Not accepted: no acknowledgement. A QoS 2 packet id was held for this message: release it, so the
    // client's resend (after it reconnects) is delivered instead of being taken for a duplicate.
    if (err && packet?.qos === 2) {
      state.relayError = err
      state.held?.delete(state.messageId)
      const undo = { client, clientId: client.id, messageId: state.messageId }
      return client.stack.executeThen('releaseIncomingMessage', undo, {}, onUndone, next, done)
    }
    return end(state, next, done, err)
  }
  // One acknowledgement per PUBLISH, whatever the number of subscribers, once the message is accepted:
  // [MQTT-3.3.4-1], [MQTT-4.3.2-2] PUBACK for QoS 1, [MQTT-4.3.3-2] PUBREC for QoS 2, nothing for QoS 0.
  // MQTT 5.0: 0x10 (No matching subscribers) when the router counted none, the message accepted all the same
  // (a retained one is stored); a success code, so a QoS 2 exchange goes on with PUBREL.
  if (packet.qos > 0) {
    const reasonCode =
      store.matched === 0 && client.protocolVersion === 5
        ? ReasonCode.NO_MATCHING_SUBSCRIBERS
        : ReasonCode.SUCCESS
    writeAck(client, packet.qos === 1 ? state.puback : state.pubrec, state.messageId, reasonCode)
  }
  end(state, next, done)
}

const onReleased: CallbackThen<'releaseIncomingMessage'> = (err, store, ctx, next, done) => {
  const client = clientOf(ctx)
  const state = client.state.inboundManager!
  if (err) return end(state, next, done, err)
  // [MQTT-4.3.3-2] PUBREL is answered with PUBCOMP and the same packet id, also when nothing was held
  // (the PUBREL of a message already released, sent again after a lost PUBCOMP). MQTT 5.0 says which:
  // 0x92 "Packet Identifier not found" when neither the backend nor this connection held the id.
  const known = state.held?.delete(state.messageId) === true || store.packet !== undefined
  writeAck(
    client,
    state.pubcomp,
    state.messageId,
    known ? ReasonCode.SUCCESS : ReasonCode.PACKET_IDENTIFIER_NOT_FOUND,
  )
  end(state, next, done)
}

const onUndone: CallbackThen<'releaseIncomingMessage'> = (err, _store, ctx, next, done) => {
  const client = clientOf(ctx)
  const state = client.state.inboundManager!
  if (err) client.stack.reportError(err, client, state.packet)
  end(state, next, done, state.relayError)
}

/**
 * Writes a reused acknowledgement packet: `client.write` serialises it at once and keeps no reference. The
 * reason code is written for 5.0 clients only (mqtt-packet ignores it for 3.1 and 3.1.1).
 */
function writeAck(
  client: Client,
  ack: IPubackPacket | IPubrecPacket | IPubcompPacket,
  id: number,
  reasonCode: number = ReasonCode.SUCCESS,
): void {
  ack.messageId = id
  ack.reasonCode = reasonCode
  client.write(ack)
}
