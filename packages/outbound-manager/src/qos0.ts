import {
  type Client,
  ErrorCode,
  type IPublishPacket,
  MqttStackError,
  serializePacket,
} from '@mqtt-stack/core'
import type { OutboundTopicAlias } from './state.js'
import { aliased } from './topic-aliases.js'

/**
 * QoS 0 delivery: a fan-out passes one packet object to every QoS 0 subscriber, so it is serialised once
 * per protocol version and the same bytes are written to each.
 */
export class QoS0Writer {
  #packet: IPublishPacket | undefined = undefined
  #topic = ''
  #payload: Buffer | string = ''
  readonly #bytes: Array<Buffer | undefined> = [
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ]

  /** Writes `packet` to `client`; an error when it cannot be serialised. */
  write(client: Client, packet: IPublishPacket): MqttStackError | undefined {
    if (client.closed) return undefined
    if (packet !== this.#packet || packet.topic !== this.#topic || packet.payload !== this.#payload) {
      this.#packet = packet
      this.#topic = packet.topic
      this.#payload = packet.payload
      this.#bytes.fill(undefined)
    }
    const version = client.protocolVersion
    let bytes = this.#bytes[version]
    if (bytes === undefined) {
      try {
        // [MQTT-3.3.1-2] DUP is 0 for QoS 0, whatever the publisher sent [MQTT-3.3.1-3].
        bytes = serializePacket(packet.dup ? { ...packet, dup: false } : packet, version)
      } catch (cause) {
        return new MqttStackError(ErrorCode.SERIALIZE, `cannot serialise PUBLISH to ${packet.topic}`, {
          cause,
        })
      }
      this.#bytes[version] = bytes
    }
    client.writeBuffer(bytes, 0)
    return undefined
  }
}

/**
 * MQTT 5.0, QoS 0 to a client with an alias for the topic: serialised for this client alone (the bytes a
 * fan-out shares cannot hold one client's alias), DUP 0 [MQTT-3.3.1-2]. The alias is set up once written.
 */
export function writeWithAlias(
  client: Client,
  packet: IPublishPacket,
  alias: OutboundTopicAlias,
): MqttStackError | undefined {
  if (client.closed) return undefined
  let bytes: Buffer
  try {
    bytes = serializePacket(aliased(packet.dup ? { ...packet, dup: false } : packet, alias), 5)
  } catch (cause) {
    return new MqttStackError(ErrorCode.SERIALIZE, `cannot serialise PUBLISH to ${packet.topic}`, { cause })
  }
  // Dropped (over the client's Maximum Packet Size, or for a slow reader): not set up. (The result of
  // writeBuffer is the stream's backpressure, not whether the bytes were taken.)
  const dropped = client.droppedMessages
  client.writeBuffer(bytes, 0)
  if (client.droppedMessages === dropped && !client.closed) alias.sent = true
  return undefined
}
