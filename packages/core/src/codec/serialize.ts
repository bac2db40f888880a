import mqtt from 'mqtt-packet'
import type { IPublishPacket, Packet, ProtocolVersion } from '../packets.js'
import { recordedOrder, type UserProperty } from './user-properties.js'

// mqtt-packet would otherwise fill a cache of 65,536 two-byte Buffers (about 7 MB of heap) on its first
// generate(); the packets it still writes here are not the hot ones.
mqtt.writeToStream.cacheNumbers = false

const SETTINGS: Readonly<Record<ProtocolVersion, { protocolVersion: ProtocolVersion }>> = Object.freeze({
  3: Object.freeze({ protocolVersion: 3 }),
  4: Object.freeze({ protocolVersion: 4 }),
  5: Object.freeze({ protocolVersion: 5 }),
})

/** First byte of PUBACK, PUBREC, PUBREL (its reserved flags are 0010) and PUBCOMP. */
const ACK_HEADERS: Readonly<Record<string, number>> = Object.freeze({
  puback: 0x40,
  pubrec: 0x50,
  pubrel: 0x62,
  pubcomp: 0x70,
})

/**
 * Serialises a packet for one protocol version, to write the same bytes to many clients with
 * `client.writeBuffer`. Throws when the packet is not valid for that version. PUBLISH and its
 * acknowledgements, and 3.1/3.1.1 CONNACK and SUBACK, are written here in one allocation; other packets by
 * mqtt-packet.
 */
export function serializePacket(packet: Packet, protocolVersion: ProtocolVersion): Buffer {
  switch (packet.cmd) {
    case 'publish':
      if (protocolVersion !== 5 || packet.properties === undefined) {
        const bytes = encodePublish(packet, protocolVersion)
        if (bytes !== undefined) return bytes
      } else if (packet.properties.userProperties !== undefined) {
        // [MQTT-3.3.2-18] in the order they came in, when core knows it (see user-properties.ts).
        const order = recordedOrder(packet.properties.userProperties)
        if (order !== undefined) return publishInOrder(packet, order)
      }
      break
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp': {
      const id = packet.messageId
      // MQTT 5.0: reason code 0 with no properties may be left out [MQTT-3.4.2-1] (and likewise for the others).
      if (isId(id) && (protocolVersion !== 5 || (!packet.reasonCode && packet.properties === undefined))) {
        const bytes = Buffer.allocUnsafe(4)
        bytes[0] = ACK_HEADERS[packet.cmd]!
        bytes[1] = 2
        bytes.writeUInt16BE(id, 2)
        return bytes
      }
      break
    }
    case 'connack': {
      const code = packet.returnCode
      if (protocolVersion !== 5 && isByte(code)) {
        return Buffer.from([0x20, 2, packet.sessionPresent ? 1 : 0, code])
      }
      break
    }
    case 'suback': {
      const { messageId, granted } = packet
      if (protocolVersion !== 5 && isId(messageId) && granted.length > 0 && granted.length < 126) {
        const bytes = Buffer.allocUnsafe(4 + granted.length)
        bytes[0] = 0x90
        bytes[1] = 2 + granted.length
        bytes.writeUInt16BE(messageId, 2)
        for (let i = 0; i < granted.length; i++) {
          const code = granted[i]
          if (!isByte(code)) return mqtt.generate(packet, SETTINGS[protocolVersion])
          bytes[4 + i] = code
        }
        return bytes
      }
      break
    }
  }
  return mqtt.generate(packet, SETTINGS[protocolVersion])
}

function isByte(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xff
}

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff
}

/** A PUBLISH without properties, or undefined to let mqtt-packet write it (or say why it cannot). */
function encodePublish(packet: IPublishPacket, protocolVersion: ProtocolVersion): Buffer | undefined {
  const { topic, qos, messageId } = packet
  const payload = packet.payload ?? ''
  if (typeof topic !== 'string' || (qos !== 0 && qos !== 1 && qos !== 2)) return undefined
  if (qos > 0 && !isId(messageId)) return undefined
  const topicLength = Buffer.byteLength(topic)
  if (topicLength > 0xffff) return undefined
  const payloadLength = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length
  const length = 2 + topicLength + (qos > 0 ? 2 : 0) + (protocolVersion === 5 ? 1 : 0) + payloadLength
  // A remaining length needs at most four bytes; larger is mqtt-packet's error to report.
  if (length > 268_435_455) return undefined
  const bytes = Buffer.allocUnsafe(1 + varintSize(length) + length)
  bytes[0] = 0x30 | (packet.dup ? 0x08 : 0) | (qos << 1) | (packet.retain ? 0x01 : 0)
  let pos = writeVarint(bytes, 1, length)
  bytes.writeUInt16BE(topicLength, pos)
  pos += 2
  pos += bytes.write(topic, pos, 'utf8')
  if (qos > 0) {
    bytes.writeUInt16BE(messageId!, pos)
    pos += 2
  }
  if (protocolVersion === 5) bytes[pos++] = 0 // no properties
  if (typeof payload === 'string') bytes.write(payload, pos, 'utf8')
  else bytes.set(payload, pos)
  return bytes
}

/**
 * A 5.0 PUBLISH whose User Properties are `pairs`, in that order: mqtt-packet writes (and checks) the
 * rest, and the pairs are appended to its property block.
 */
function publishInOrder(packet: IPublishPacket, pairs: readonly UserProperty[]): Buffer {
  const { userProperties: _, ...others } = packet.properties!
  const bytes = mqtt.generate({ ...packet, properties: others }, SETTINGS[5])
  let added = 0
  for (const [name, value] of pairs) {
    if (typeof name !== 'string' || typeof value !== 'string')
      throw new Error(`Invalid userProperties: ${name}=${value}`)
    const nameLength = Buffer.byteLength(name)
    const valueLength = Buffer.byteLength(value)
    if (nameLength > 0xffff || valueLength > 0xffff)
      throw new Error(`Invalid userProperties: ${name} longer than 65535 bytes`)
    added += 5 + nameLength + valueLength
  }
  // The old bytes: fixed header, topic (and packet identifier), property length, properties, payload.
  let at = 1
  while (bytes[at]! & 0x80) at++
  const body = at + 1
  const propertiesAt = body + 2 + bytes.readUInt16BE(body) + (bytes[0]! & 0x06 ? 2 : 0)
  let propertiesStart = propertiesAt
  while (bytes[propertiesStart]! & 0x80) propertiesStart++
  propertiesStart++
  const propertiesLength = readVarint(bytes, propertiesAt) + added
  const length = bytes.length - propertiesStart + (propertiesAt - body) + varintSize(propertiesLength) + added
  if (length > 268_435_455) throw new Error('Invalid packet: larger than 268,435,455 bytes')
  const out = Buffer.allocUnsafe(1 + varintSize(length) + length)
  out[0] = bytes[0]!
  let pos = writeVarint(out, 1, length)
  pos += bytes.copy(out, pos, body, propertiesAt)
  pos = writeVarint(out, pos, propertiesLength)
  const payloadAt = propertiesStart + propertiesLength - added
  pos += bytes.copy(out, pos, propertiesStart, payloadAt)
  for (const [name, value] of pairs) {
    out[pos++] = USER_PROPERTY
    pos = writeString(out, pos, name)
    pos = writeString(out, pos, value)
  }
  bytes.copy(out, pos, payloadAt)
  return out
}

const USER_PROPERTY = 0x26

function writeString(out: Buffer, pos: number, value: string): number {
  const length = out.write(value, pos + 2, 'utf8')
  out.writeUInt16BE(length, pos)
  return pos + 2 + length
}

function readVarint(bytes: Buffer, pos: number): number {
  let value = 0
  let multiplier = 1
  for (;;) {
    const byte = bytes[pos++]!
    value += (byte & 0x7f) * multiplier
    if ((byte & 0x80) === 0) return value
    multiplier *= 128
  }
}

function varintSize(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : 4
}

/** Writes `value` as a Variable Byte Integer at `pos`; returns where it ends. */
function writeVarint(out: Buffer, pos: number, value: number): number {
  do {
    let byte = value % 128
    value = Math.floor(value / 128)
    if (value > 0) byte |= 0x80
    out[pos++] = byte
  } while (value > 0)
  return pos
}

/**
 * Serialises `packet` within `maximumSize` bytes when it can: a packet other than PUBLISH that would be
 * larger is written without its Reason String, then also without its User Properties, rather than not at
 * all [MQTT-3.14.2-3] [MQTT-3.14.2-4] [MQTT-3.4.2-2] [MQTT-3.4.2-3] [MQTT-3.9.2-1] [MQTT-3.9.2-2] (and
 * likewise for CONNACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK and AUTH). A PUBLISH is never cut: too large, it
 * is discarded whole [MQTT-3.1.2-25]. The result may still be too large; the caller checks.
 */
export function serializeWithin(
  packet: Packet,
  protocolVersion: ProtocolVersion,
  maximumSize: number,
): Buffer {
  let bytes = serializePacket(packet, protocolVersion)
  if (bytes.length <= maximumSize || packet.cmd === 'publish' || !('properties' in packet)) return bytes
  const { properties: original, ...base } = packet as { properties?: Record<string, unknown> }
  let properties = original
  for (const name of OPTIONAL_PROPERTIES) {
    if (properties?.[name] === undefined) continue
    const { [name]: _, ...rest } = properties
    properties = Object.keys(rest).length > 0 ? rest : undefined
    bytes = serializePacket(
      (properties === undefined ? base : { ...base, properties }) as Packet,
      protocolVersion,
    )
    if (bytes.length <= maximumSize) break
  }
  return bytes
}

/** What a packet other than PUBLISH goes without when it is too large for the client, in this order. */
const OPTIONAL_PROPERTIES = ['reasonString', 'userProperties'] as const
