import {
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
  type TopicRules,
  validateTopicName,
} from '@mqtt-stack/core'
import { DEFAULTS, type InboundManagerOptions } from './options.js'
import type { InboundManagerState } from './state.js'

/** MQTT 5.0 reason code "Topic Name invalid". */
const REASON_TOPIC_NAME_INVALID = 0x90

/** Put in the reused relay context between packets, so that it holds no message longer than needed. */
const NO_PACKET: IPublishPacket = Object.freeze({
  cmd: 'publish',
  topic: '',
  payload: '',
  qos: 0,
  dup: false,
  retain: false,
}) as IPublishPacket

const noop = (): void => {}

/**
 * Handles PUBLISH and PUBREL from clients and ends their chains (docs/architecture.md, "PUBLISH from a
 * client", steps 2 and 4): checks the topic name, keeps QoS 2 exactly once with `storeIncomingMessage`,
 * relays the message with `relayMessage`, and acknowledges it once, after the relay succeeded.
 */
export class InboundManager extends Middleware<InboundManagerOptions> {
  override readonly name = 'inbound-manager'
  override readonly packetTypes = ['publish', 'pubrel'] as const
  override readonly requires = ['relayMessage', 'storeIncomingMessage', 'releaseIncomingMessage'] as const
  readonly #rules: TopicRules

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
  }

  override install(client: Client): void {
    client.state.inboundManager = createState(client)
  }

  override handle(client: Client, packet: Packet, next: Next, done: Done): void {
    const state = client.state.inboundManager ?? this.#installLate(client)
    if (packet.cmd === 'publish') this.#publish(client, state, packet, next, done)
    else if (packet.cmd === 'pubrel') this.#pubrel(client, state, packet, next, done)
    else next()
  }

  #installLate(client: Client): InboundManagerState {
    const state = createState(client)
    client.state.inboundManager = state
    return state
  }

  #publish(client: Client, state: InboundManagerState, packet: IPublishPacket, next: Next, done: Done): void {
    // [MQTT-3.3.2-2] no wildcards in a topic name; [MQTT-4.7.3-1] at least one character; [MQTT-1.5.3-1]
    // well-formed UTF-8 without U+0000.
    const problem = validateTopicName(packet.topic, this.#rules)
    if (problem !== undefined) {
      client.protocolViolation(
        new MqttStackError(ErrorCode.PROTOCOL_ERROR, `PUBLISH with an invalid topic name (${problem})`, {
          reasonCode: REASON_TOPIC_NAME_INVALID,
        }),
        packet,
      )
      done()
      return
    }
    state.packet = packet
    state.messageId = packet.messageId ?? 0
    state.next = next
    state.done = done
    if (packet.qos === 2) {
      // [MQTT-4.3.3-2] exactly once: a PUBLISH whose packet id is held until PUBREL is not delivered again.
      state.incomingCtx.clientId = client.id
      state.incomingCtx.packet = packet
      state.incomingStore.duplicate = false
      client.stack.execute(
        'storeIncomingMessage',
        state.incomingCtx,
        state.incomingStore,
        state.onIncomingStored,
      )
      return
    }
    relay(client, state, packet)
  }

  #pubrel(client: Client, state: InboundManagerState, packet: IPubrelPacket, next: Next, done: Done): void {
    state.messageId = packet.messageId ?? 0
    state.next = next
    state.done = done
    state.releaseCtx.clientId = client.id
    state.releaseCtx.messageId = state.messageId
    // A fresh store: the one of the last PUBREL may still hold the released packet.
    client.stack.execute('releaseIncomingMessage', state.releaseCtx, {}, state.onReleased)
  }
}

function relay(client: Client, state: InboundManagerState, packet: IPublishPacket): void {
  const ctx = state.relayCtx
  ctx.client = client
  ctx.packet = packet
  ctx.topic = packet.topic
  ctx.payload = packet.payload
  client.stack.execute('relayMessage', ctx, state.relayStore, state.onRelayed)
}

/** Ends the chain of the current packet and lets go of it. */
function end(state: InboundManagerState, err?: Error): void {
  const { next, done } = state
  state.packet = undefined
  state.relayError = undefined
  state.next = noop
  state.done = noop
  state.relayCtx.packet = NO_PACKET
  state.relayCtx.payload = ''
  state.incomingCtx.packet = NO_PACKET
  if (err) next(err)
  else done()
}

/** The per-connection state, with its result handlers bound once to this client. */
function createState(client: Client): InboundManagerState {
  const state: InboundManagerState = {
    packet: undefined,
    messageId: 0,
    next: noop,
    done: noop,
    relayError: undefined,
    relayCtx: { client, packet: NO_PACKET, topic: '', payload: '' },
    relayStore: {},
    incomingCtx: { clientId: '', packet: NO_PACKET },
    incomingStore: { duplicate: false },
    releaseCtx: { clientId: '', messageId: 0 },
    // reasonCode 0: mqtt-packet writes it for 5.0 clients and ignores it for 3.1 and 3.1.1.
    puback: { cmd: 'puback', messageId: 0, reasonCode: 0 },
    pubrec: { cmd: 'pubrec', messageId: 0, reasonCode: 0 },
    pubcomp: { cmd: 'pubcomp', messageId: 0, reasonCode: 0 },

    onIncomingStored(err, store) {
      const packet = state.packet
      if (err || !packet) {
        end(state, err ?? undefined)
        return
      }
      if (store.duplicate) {
        // [MQTT-4.3.3-2] a PUBLISH with a packet id still held: PUBREC again, no second delivery.
        writeAck(client, state.pubrec, state.messageId)
        end(state)
        return
      }
      relay(client, state, packet)
    },

    onRelayed(err) {
      const packet = state.packet
      if (err || !packet) {
        // Not accepted: no acknowledgement. A QoS 2 packet id was held for this message: release it, so the
        // client's resend (after it reconnects) is delivered instead of being taken for a duplicate.
        if (err && packet?.qos === 2) {
          state.relayError = err
          client.stack.execute(
            'releaseIncomingMessage',
            { clientId: client.id, messageId: state.messageId },
            {},
            state.onUndone,
          )
          return
        }
        end(state, err ?? undefined)
        return
      }
      // One acknowledgement per PUBLISH, whatever the number of subscribers, once the message is accepted:
      // [MQTT-3.3.4-1], [MQTT-4.3.2-2] PUBACK for QoS 1, [MQTT-4.3.3-2] PUBREC for QoS 2, nothing for QoS 0.
      if (packet.qos === 1) writeAck(client, state.puback, state.messageId)
      else if (packet.qos === 2) writeAck(client, state.pubrec, state.messageId)
      end(state)
    },

    onReleased(err) {
      if (err) {
        end(state, err)
        return
      }
      // [MQTT-4.3.3-2] PUBREL is answered with PUBCOMP and the same packet id, also when nothing was held
      // (the PUBREL of a message already released, sent again after a lost PUBCOMP).
      writeAck(client, state.pubcomp, state.messageId)
      end(state)
    },

    onUndone(err) {
      if (err) client.stack.reportError(err, client, state.packet)
      end(state, state.relayError)
    },
  }
  return state
}

/** Writes a reused acknowledgement packet: `client.write` serialises it at once and keeps no reference. */
function writeAck(client: Client, ack: IPubackPacket | IPubrecPacket | IPubcompPacket, id: number): void {
  ack.messageId = id
  client.write(ack)
}
