import type { InflightPacket, IPublishPacket, QoS } from '@mqtt-stack/core'

type Properties = NonNullable<IPublishPacket['properties']>

/**
 * Marks a delivery of an inbound QoS 2 message with where it came from, `<publisher client id>\0<packet
 * identifier>`: stored with the delivery (in the offline queue, or next to the inflight packet), it lets a
 * relay done again after a crash skip the subscribers that hold the message already. A symbol-keyed property:
 * it survives the copies the outbound side makes (`{ ...packet }`), and no serialiser reads it.
 */
export const ORIGIN: unique symbol = Symbol('mqtt-stack.redis-backend.origin')

/** A PUBLISH that may carry its origin. */
export interface OriginPacket extends IPublishPacket {
  [ORIGIN]?: string
}

/**
 * A stored message as Redis keeps it: JSON text, its payload and correlation data in base64 (every other
 * property is JSON already). `at` is when it was stored, in epoch ms: its MQTT 5.0 Message Expiry Interval
 * counts from then. `g` marks a message forwarded to a member of a shared subscription with the group's
 * full filter.
 */
interface Record {
  /** `publish` is left out (the common case); `pubrel` is a PUBREL that replaced its PUBLISH. */
  c?: 'pubrel'
  t?: string
  p?: string
  q?: QoS
  r?: 1
  d?: 1
  m?: number
  pr?: Omit<Properties, 'correlationData'> & { correlationData?: string }
  at: number
  g?: string
  /** The origin of an inbound QoS 2 message (ORIGIN). */
  o?: string
}

/** What `decode` gives back: the packet, when it was stored, and the shared subscription it went to. */
export interface Stored<T extends InflightPacket = IPublishPacket> {
  packet: T
  storedAt: number
  shared: string | undefined
}

/**
 * The text of `packet` as stored at `storedAt` (a JSON object that starts with `{`). Written out by hand: a
 * message on its way to another node is encoded once per relay, and this is about twice as fast as
 * `JSON.stringify` of a record object (the strings still go through it, for their escapes).
 */
export function encode(packet: InflightPacket, storedAt: number, shared?: string): string {
  if (packet.cmd === 'pubrel') return `{"c":"pubrel","m":${packet.messageId},"at":${storedAt}}`
  const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
  let text = `{"t":${JSON.stringify(packet.topic)},"p":"${payload.toString('base64')}","q":${packet.qos}`
  if (packet.retain) text += ',"r":1'
  if (packet.dup) text += ',"d":1'
  if (packet.messageId !== undefined) text += `,"m":${packet.messageId}`
  if (shared !== undefined) text += `,"g":${JSON.stringify(shared)}`
  const origin = (packet as OriginPacket)[ORIGIN]
  if (origin !== undefined) text += `,"o":${JSON.stringify(origin)}`
  const properties = packet.properties
  if (properties !== undefined) {
    const { correlationData, ...rest } = properties
    const stored: Record['pr'] =
      correlationData === undefined ? rest : { ...rest, correlationData: correlationData.toString('base64') }
    text += `,"pr":${JSON.stringify(stored)}`
  }
  return `${text},"at":${storedAt}}`
}

/** The packet of a stored text (a PUBLISH, or for inflight state a PUBREL). */
export function decode(text: string): Stored<InflightPacket> {
  const record = JSON.parse(text) as Record
  if (record.c === 'pubrel') {
    return { packet: { cmd: 'pubrel', messageId: record.m! }, storedAt: record.at, shared: undefined }
  }
  const packet: OriginPacket = {
    cmd: 'publish',
    topic: record.t!,
    payload: Buffer.from(record.p!, 'base64'),
    qos: record.q!,
    retain: record.r === 1,
    dup: record.d === 1,
  }
  if (record.m !== undefined) packet.messageId = record.m
  if (record.o !== undefined) packet[ORIGIN] = record.o
  if (record.pr !== undefined) {
    const { correlationData, ...rest } = record.pr
    packet.properties =
      correlationData === undefined
        ? rest
        : { ...rest, correlationData: Buffer.from(correlationData, 'base64') }
  }
  return { packet, storedAt: record.at, shared: record.g }
}

/** How an origin appears in a stored text: what a script looks for. */
export function originNeedle(origin: string): string {
  return `"o":${JSON.stringify(origin)}`
}

/** `decode` of a text known to hold a PUBLISH. */
export function decodePublish(text: string): Stored {
  return decode(text) as Stored
}

/**
 * MQTT 5.0 Message Expiry: the packet as it may leave now. Without an expiry interval, the packet; once
 * the interval has passed, undefined [MQTT-3.3.2-5]; else a copy whose interval is the received one minus
 * the whole seconds it waited in storage [MQTT-3.3.2-6].
 */
export function leaving(stored: Stored, now: number): IPublishPacket | undefined {
  const { packet } = stored
  const interval = packet.properties?.messageExpiryInterval
  if (interval === undefined) return packet
  const left = interval - Math.floor((now - stored.storedAt) / 1000)
  if (left <= 0) return undefined
  return left === interval ? packet : expiringIn(packet, left)
}

/** A copy of `packet` whose Message Expiry Interval is `seconds`. */
export function expiringIn(packet: IPublishPacket, seconds: number): IPublishPacket {
  return { ...packet, properties: { ...packet.properties, messageExpiryInterval: seconds } }
}
