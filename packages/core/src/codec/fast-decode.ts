/**
 * The packets decoded straight from the frame, without mqtt-packet: PUBLISH without MQTT 5.0 properties,
 * its acknowledgements, and 3.1/3.1.1 CONNECT and SUBSCRIBE. They have the shape of mqtt-packet's packets
 * (the same fields, in the same order), so a middleware cannot tell which decoder made one.
 */
import type { Packet, ProtocolVersion } from '../packets.js'
import { fieldEnd } from './frame-checks.js'
import { CodecProblem, CodecRefusal } from './problems.js'
import { CLEAN, PASSWORD, PUBREL, USERNAME, WILL, WILL_QOS, WILL_RETAIN } from './wire.js'

const TYPES = ['reserved', 'connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp'] as const

/** The fields every packet of mqtt-packet starts with, in its order; the rest are added per type. */
class DecodedPacket {
  // Declared only: assignments in the constructor are cheaper than class fields (define semantics).
  declare cmd: string
  declare retain: boolean
  declare qos: number
  declare dup: boolean
  declare length: number
  declare topic: string | null
  declare payload: Buffer | null

  constructor(cmd: string, first: number, length: number) {
    this.cmd = cmd
    this.retain = (first & 0x01) !== 0
    this.qos = (first >> 1) & 0x03
    this.dup = (first & 0x08) !== 0
    this.length = length
    this.topic = null
    this.payload = null
  }
}

function newPacket(cmd: string, first: number, length: number): Record<string, unknown> {
  return new DecodedPacket(cmd, first, length) as unknown as Record<string, unknown>
}

/** A PUBLISH without MQTT 5.0 properties, whose topic ends at `topicEnd`. */
export function decodePublish(
  buf: Buffer,
  first: number,
  body: number,
  topicEnd: number,
  end: number,
  version: ProtocolVersion,
): Packet | CodecRefusal {
  const qos = (first >> 1) & 0x03
  // [MQTT-3.3.1-4]
  if (qos === 3) return new CodecRefusal(CodecProblem.INVALID_FLAGS, 'PUBLISH with both QoS bits set')
  const packet = newPacket('publish', first, end - body)
  packet.topic = buf.toString('utf8', body + 2, topicEnd)
  let pos = topicEnd
  if (qos > 0) {
    if (end - pos < 2) return cutOffId()
    packet.messageId = buf.readUInt16BE(pos)
    pos += 2
  }
  if (version === 5) pos++ // a property length of 0, checked by the caller
  packet.payload = buf.subarray(pos, end)
  return packet as unknown as Packet
}

function cutOffId(): CodecRefusal {
  return new CodecRefusal(CodecProblem.TRUNCATED, 'the packet identifier runs past the end of the packet')
}

/**
 * A 3.1/3.1.1 CONNECT (its strings and its end already checked), in mqtt-packet's shape; undefined for
 * anything else, a 5.0 CONNECT or one mqtt-packet refuses, which it then decodes or explains.
 */
export function decodeConnect(buf: Buffer, first: number, body: number, end: number): Packet | undefined {
  if ((first & 0x0f) !== 0) return undefined
  let pos = fieldEnd(buf, body, end)
  if (pos < 0 || pos + 4 > end) return undefined
  const protocolId = buf.toString('latin1', body + 2, pos)
  const level = buf[pos]!
  const flags = buf[pos + 1]!
  if (!((protocolId === 'MQTT' && level === 4) || (protocolId === 'MQIsdp' && level === 3))) return undefined
  const will = (flags & WILL) !== 0
  if (flags & 0x01 || (!will && flags & (WILL_RETAIN | WILL_QOS))) return undefined
  const packet = newPacket('connect', first, end - body)
  packet.protocolId = protocolId
  packet.protocolVersion = level
  const willPacket: Record<string, unknown> | undefined = will
    ? { retain: (flags & WILL_RETAIN) !== 0, qos: (flags & WILL_QOS) >> 3 }
    : undefined
  if (willPacket !== undefined) packet.will = willPacket
  packet.clean = (flags & CLEAN) !== 0
  packet.keepalive = buf.readUInt16BE(pos + 2)
  pos += 4
  let next = fieldEnd(buf, pos, end)
  if (next < 0) return undefined
  packet.clientId = buf.toString('utf8', pos + 2, next)
  if (willPacket !== undefined) {
    pos = next
    next = fieldEnd(buf, pos, end)
    if (next < 0) return undefined
    willPacket.topic = buf.toString('utf8', pos + 2, next)
    pos = next
    next = fieldEnd(buf, pos, end)
    if (next < 0) return undefined
    willPacket.payload = buf.subarray(pos + 2, next)
  }
  if (flags & USERNAME) {
    pos = next
    next = fieldEnd(buf, pos, end)
    if (next < 0) return undefined
    packet.username = buf.toString('utf8', pos + 2, next)
  }
  if (flags & PASSWORD) {
    pos = next
    next = fieldEnd(buf, pos, end)
    if (next < 0) return undefined
    packet.password = buf.subarray(pos + 2, next)
  }
  return packet as unknown as Packet
}

/** A 3.1/3.1.1 SUBSCRIBE (its header flags and its filters as UTF-8 already checked), in mqtt-packet's shape. */
export function decodeSubscribe(
  buf: Buffer,
  first: number,
  body: number,
  end: number,
): Packet | CodecRefusal {
  if (end - body < 2) return cutOffId()
  const subscriptions: { topic: string; qos: number }[] = []
  const packet = newPacket('subscribe', first, end - body)
  packet.subscriptions = subscriptions
  packet.messageId = buf.readUInt16BE(body)
  let pos = body + 2
  while (pos < end) {
    const topicEnd = fieldEnd(buf, pos, end)
    if (topicEnd < 0 || topicEnd === end)
      return new CodecRefusal(CodecProblem.TRUNCATED, 'a subscription runs past the end of the SUBSCRIBE')
    const options = buf[topicEnd]!
    // [MQTT-3.8.3-4] the upper six bits of the requested QoS byte are reserved, and QoS 3 does not exist.
    if (options & 0xfc || (options & 0x03) === 3)
      return new CodecRefusal(
        CodecProblem.INVALID_SUBSCRIPTION_OPTIONS,
        `requested QoS byte 0x${hex(options)}`,
      )
    subscriptions.push({ topic: buf.toString('utf8', pos + 2, topicEnd), qos: options })
    pos = topicEnd + 1
  }
  return packet as unknown as Packet
}

/** PUBACK, PUBREC, PUBREL or PUBCOMP with a packet identifier only. */
export function decodeAck(
  buf: Buffer,
  first: number,
  type: number,
  body: number,
  end: number,
  version: ProtocolVersion,
): Packet | CodecRefusal {
  const flags = first & 0x0f
  const required = type === PUBREL ? 2 : 0
  if (flags !== required)
    return new CodecRefusal(CodecProblem.INVALID_FLAGS, `${TYPES[type]} with header flags 0x${hex(flags)}`)
  // 3.1.1: the remaining length of these packets is 2.
  const length = end - body
  if (length !== 2) {
    const problem = length < 2 ? CodecProblem.TRUNCATED : CodecProblem.TRAILING_BYTES
    return new CodecRefusal(problem, `${TYPES[type]} with a remaining length of ${length}, not 2`)
  }
  const packet = newPacket(TYPES[type]!, first, 2)
  packet.messageId = buf.readUInt16BE(body)
  if (version === 5) packet.reasonCode = 0
  return packet as unknown as Packet
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0')
}
