/**
 * Helpers of the MQTT 5.0 conformance tests: raw 5.0 peers (and wire peers, which keep the exact bytes the
 * broker sends) on the default example broker, the ends of a connection a test expects, and byte patches
 * for malformed packets.
 */

import type { Packet, PacketOf } from '@mqtt-stack/core'
import type { PacketPeer } from '@mqtt-stack/core/testing'
import type { BrokerOptions } from '@mqtt-stack/example-basic'
import { expect } from 'vitest'
import { type RunningBroker, startBroker } from '../../support/broker.js'
import { controlPacket, mqttString, u16, varint } from '../../support/bytes.js'
import { connectPacket, type QoS, serialise, subscribePacket } from '../../support/packets.js'
import { WirePeer } from '../../support/wire.js'

export type ConnectPacket = PacketOf<'connect'>
export type PublishPacket = PacketOf<'publish'>

/** How long a test waits for one packet or a close. */
export const TIMEOUT = 2000

/** A persistent 5.0 session: Clean Start 0 and a Session Expiry Interval of a minute. */
export const PERSISTENT = { clean: false, properties: { sessionExpiryInterval: 60 } } as const

/** A 5.0 CONNECT with Clean Start and no keepalive; `overrides` replace its fields. */
export function connect5(clientId: string, overrides: Partial<ConnectPacket> = {}): ConnectPacket {
  return connectPacket(5, clientId, overrides)
}

/** A raw 5.0 peer on `broker`, not yet connected. */
export function rawPeer(broker: RunningBroker): Promise<PacketPeer> {
  return broker.raw({ protocolVersion: 5, timeout: TIMEOUT })
}

/** A raw peer whose 5.0 CONNECT was accepted; the CONNACK is checked and taken. */
export async function connected(
  broker: RunningBroker,
  clientId: string,
  overrides: Partial<ConnectPacket> = {},
): Promise<PacketPeer> {
  const peer = await rawPeer(broker)
  expect((await peer.connect(connect5(clientId, overrides))).reasonCode).toBe(0)
  return peer
}

/** A raw 5.0 peer, connected as `connected` does, whose SUBSCRIBE of `filters` at `qos` was granted. */
export async function subscribed(
  broker: RunningBroker,
  clientId: string,
  filters: string | string[],
  qos: QoS = 0,
  overrides: Partial<ConnectPacket> = {},
): Promise<PacketPeer> {
  const peer = await connected(broker, clientId, overrides)
  await subscribe(peer, filters, qos)
  return peer
}

/** A raw peer whose 5.0 CONNECT resumed the session of `clientId`: CONNACK 0x00 with Session Present 1. */
export async function resumed(
  broker: RunningBroker,
  clientId: string,
  overrides: Partial<ConnectPacket> = PERSISTENT,
): Promise<PacketPeer> {
  const peer = await rawPeer(broker)
  const connack = await peer.connect(connect5(clientId, overrides))
  expect(connack).toMatchObject({ reasonCode: 0, sessionPresent: true })
  return peer
}

/** Starts the default broker and connects one raw 5.0 peer to it. */
export async function brokerWithPeer(
  clientId = 'peer',
  options: BrokerOptions = {},
): Promise<{ broker: RunningBroker; peer: PacketPeer }> {
  const broker = await startBroker(options)
  return { broker, peer: await connected(broker, clientId) }
}

/** Subscribes `peer` to `filters` (one SUBSCRIBE) and checks that each was granted. */
export async function subscribe(
  peer: PacketPeer,
  filters: string | string[],
  qos: QoS = 0,
  messageId = 1,
): Promise<void> {
  const list = typeof filters === 'string' ? [filters] : filters
  const pairs = list.map((topic): [string, QoS] => [topic, qos])
  peer.send(subscribePacket(messageId, pairs))
  const suback = await peer.expect('suback')
  expect(suback.messageId).toBe(messageId)
  expect(suback.granted).toEqual(list.map(() => qos))
}

/** Sends a DISCONNECT with Reason Code 0x00 (normal) and waits for the broker to close the connection. */
export async function disconnect(peer: PacketPeer): Promise<void> {
  peer.send({ cmd: 'disconnect', reasonCode: 0 })
  await peer.closed()
}

/**
 * Expects the connection to end for a protocol violation: a DISCONNECT with `reasonCode` (5.0, after a
 * successful CONNACK [MQTT-3.14.0-1]) as the last packet, then the close [MQTT-4.13.1-1] [MQTT-4.13.2-1].
 */
export async function expectDisconnect(peer: PacketPeer, reasonCode: number): Promise<void> {
  const packet = await peer.expect('disconnect')
  expect(packet.reasonCode).toBe(reasonCode)
  await peer.closed()
}

/**
 * Sends `bytes`, if given, as the first packet of `peer`, and expects a refused CONNECT: the connection
 * closes, and the broker sent nothing but, at most, a CONNACK with a reason code of 0x80 or more (a CONNACK
 * is optional for a malformed CONNECT, 4.13.1) and Session Present 0 [MQTT-3.2.2-6]. Returns that CONNACK,
 * if any.
 */
export async function expectRefused(
  peer: PacketPeer,
  bytes?: Uint8Array,
): Promise<PacketOf<'connack'> | undefined> {
  if (bytes !== undefined) peer.sendRaw(bytes)
  await peer.closed()
  for (const packet of peer.received) {
    expect(packet.cmd).toBe('connack')
    if (packet.cmd !== 'connack') continue
    expect(packet.reasonCode).toBeGreaterThanOrEqual(0x80)
    expect(packet.sessionPresent).toBe(false)
  }
  expect(peer.received.length).toBeLessThanOrEqual(1)
  return peer.received[0] as PacketOf<'connack'> | undefined
}

/** Expects the broker to close the connection without sending anything more. */
export async function expectSilentClose(peer: PacketPeer): Promise<void> {
  const before = peer.received.length
  await peer.closed()
  expect(peer.received.slice(before)).toEqual([])
}

let clocks = 0

/**
 * Resolves once at least 1.5 × `seconds` have passed on the broker's clock: a peer with that keepalive that
 * sends nothing is closed by the broker, never sooner [MQTT-3.1.2-22]. An event of the broker, not a sleep;
 * the broker needs a short `keepaliveCheckInterval` for it to come soon after.
 */
export async function brokerTime(broker: RunningBroker, seconds: number): Promise<void> {
  const peer = await broker.raw({ protocolVersion: 5, timeout: seconds * 1500 + TIMEOUT })
  peer.send(connect5(`clock-${++clocks}`, { keepalive: seconds }))
  await peer.expect('connack')
  await peer.closed()
}

/** Serialises a 5.0 packet. */
export function bytes5(packet: Packet): Buffer {
  return serialise(packet, 5)
}

/**
 * `packet` with the bytes of `placeholder` (once, first match) replaced by `replacement` of the same length,
 * so every length field stays right: for strings that a serialiser would refuse or re-encode.
 */
export function patch(packet: Buffer, placeholder: string, replacement: Uint8Array): Buffer {
  const from = Buffer.from(placeholder)
  if (from.length !== replacement.length) throw new Error('a patch must keep the length')
  const at = packet.indexOf(from)
  if (at < 0) throw new Error(`placeholder ${placeholder} not found`)
  const out = Buffer.from(packet)
  out.set(replacement, at)
  return out
}

/** `packet` with its first byte OR-ed with `flags`: reserved flag bits set. */
export function withFlags(packet: Buffer, flags: number): Buffer {
  const out = Buffer.from(packet)
  out[0] = out[0]! | flags
  return out
}

/** Ill-formed UTF-8 sequences of two bytes (RFC 3629), and U+0000 padded to two bytes. */
export const BAD_UTF8: Readonly<Record<string, Uint8Array>> = Object.freeze({
  'a lone continuation byte': Uint8Array.from([0x61, 0x80]),
  'a truncated two-byte sequence': Uint8Array.from([0xc3, 0x61]),
  'an overlong encoding of "/"': Uint8Array.from([0xc0, 0xaf]),
  'the byte 0xFF': Uint8Array.from([0x61, 0xff]),
})
/** U+D800 (a surrogate) as UTF-8 would encode it: three bytes [MQTT-1.5.4-1]. */
export const SURROGATE = Uint8Array.from([0xed, 0xa0, 0x80])
export const NUL = Uint8Array.from([0x61, 0x00])

/** A wire peer whose 5.0 CONNECT was accepted (CONNACK taken). */
export async function wireConnected(
  broker: RunningBroker,
  clientId: string,
  overrides: Partial<ConnectPacket> = {},
): Promise<WirePeer> {
  const wire = await WirePeer.connect(broker.port, 5)
  wire.send(connect5(clientId, overrides))
  const { packet } = await wire.expect('connack')
  expect(packet.cmd === 'connack' && packet.reasonCode).toBe(0)
  return wire
}

/** A wire peer, connected as `wireConnected` does, whose SUBSCRIBE of `filter` at `qos` was granted. */
export async function wireSubscribed(
  broker: RunningBroker,
  clientId: string,
  filter: string,
  qos: QoS = 0,
  overrides: Partial<ConnectPacket> = {},
): Promise<WirePeer> {
  const wire = await wireConnected(broker, clientId, overrides)
  wire.send(subscribePacket(1, [[filter, qos]]))
  const { packet } = await wire.expect('suback')
  expect(packet).toMatchObject({ messageId: 1, granted: [qos] })
  return wire
}

/** MQTT 5.0 User Properties, name and value, in the order they are on the wire. */
export type UserPropertyPairs = readonly (readonly [name: string, value: string])[]

/**
 * User Properties that an object of names cannot hold in order: a name repeated after another name, and
 * a name that looks like an integer after one that does not (JavaScript lists integer keys first).
 */
export const REPEATED: UserPropertyPairs = [
  ['a', '1'],
  ['b', '2'],
  ['a', '3'],
]
export const INTEGER_LIKE: UserPropertyPairs = [
  ['b', 'x'],
  ['1', 'y'],
]

/** `pairs` as User Property properties (identifier 0x26), after `others` (whole properties as bytes). */
function propertyBlock(pairs: UserPropertyPairs, others: Buffer = Buffer.alloc(0)): Buffer {
  const properties = Buffer.concat([
    others,
    ...pairs.flatMap(([name, value]) => [Buffer.from([0x26]), mqttString(name), mqttString(value)]),
  ])
  return Buffer.concat([varint(properties.length), properties])
}

/**
 * A 5.0 PUBLISH written byte by byte, its User Properties in the order of `pairs` (a serialiser takes them
 * from an object of names, which regroups them), with a Message Expiry Interval when one is given.
 */
export function publishInOrder(
  topic: string,
  payload: string,
  pairs: UserPropertyPairs,
  fields: { qos?: QoS; messageId?: number; retain?: boolean; messageExpiryInterval?: number } = {},
): Buffer {
  const { qos = 0, messageId = 1, retain = false, messageExpiryInterval } = fields
  const expiry = Buffer.alloc(messageExpiryInterval === undefined ? 0 : 5)
  if (messageExpiryInterval !== undefined) {
    expiry[0] = 0x02
    expiry.writeUInt32BE(messageExpiryInterval, 1)
  }
  return controlPacket(
    0x30 | (qos << 1) | (retain ? 1 : 0),
    mqttString(topic),
    qos > 0 ? u16(messageId) : Buffer.alloc(0),
    propertyBlock(pairs, expiry),
    Buffer.from(payload),
  )
}

/** A 5.0 CONNECT written byte by byte: Clean Start 1, and a QoS 0 will whose User Properties are `pairs`. */
export function connectWithWill(
  clientId: string,
  topic: string,
  payload: string,
  pairs: UserPropertyPairs,
): Buffer {
  return controlPacket(
    0x10,
    mqttString('MQTT'),
    Buffer.from([5, 0x06, 0, 0]), // level 5; flags: Will, Clean Start; Keep Alive 0
    varint(0),
    mqttString(clientId),
    propertyBlock(pairs),
    mqttString(topic),
    mqttString(payload),
  )
}

/** The User Properties of a PUBLISH as the broker wrote it, in the order of its bytes. */
export function userPropertiesOnWire(frame: Buffer): [name: string, value: string][] {
  if (frame[0]! >> 4 !== 3) throw new Error('not a PUBLISH')
  let pos = 1
  const readVarint = (): number => {
    let value = 0
    for (let multiplier = 1; ; multiplier *= 128) {
      const byte = frame[pos++]!
      value += (byte & 0x7f) * multiplier
      if ((byte & 0x80) === 0) return value
    }
  }
  const readString = (): string => {
    const length = frame.readUInt16BE(pos)
    pos += 2 + length
    return frame.toString('utf8', pos - length, pos)
  }
  readVarint() // remaining length
  readString() // topic
  if (frame[0]! & 0x06) pos += 2 // packet identifier
  const end = readVarint() + pos
  const pairs: [string, string][] = []
  while (pos < end) {
    const id = frame[pos++]!
    if (id === 0x26) pairs.push([readString(), readString()])
    else if (id === 0x01)
      pos += 1 // Payload Format Indicator
    else if (id === 0x23)
      pos += 2 // Topic Alias
    else if (id === 0x02)
      pos += 4 // Message Expiry Interval
    else if (id === 0x0b)
      readVarint() // Subscription Identifier
    else if (id === 0x03 || id === 0x08 || id === 0x09)
      readString() // Content Type, Response Topic, Correlation Data
    else throw new Error(`property ${id} in a PUBLISH`)
  }
  return pairs
}
