/**
 * Helpers for the MQTT 3.1.1 conformance tests: CONNECT packets built byte by byte (for what mqtt-packet
 * refuses to generate), raw peers connected with CONNACK 0, and the "marker" barrier that proves a message
 * was not delivered without waiting a time.
 */
import type { Packet, PacketOf } from '@mqtt-stack/core'
import type { PacketPeer } from '@mqtt-stack/core/testing'
import { expect } from 'vitest'
import type { RunningBroker } from '../../support/broker.js'
import { controlPacket, mqttString, PINGREQ, u16 } from '../../support/bytes.js'
import { connectPacket, publishPacket, type QoS, serialise, subscribePacket } from '../../support/packets.js'

/** The topic every marker is published to; a subscriber that waits for markers subscribes to it. */
export const MARKER_TOPIC = 'marker'

/** A 3.1.1 CONNECT with a clean session and no keepalive; `overrides` replace its fields. */
export function connect4(
  clientId: string,
  overrides: Partial<PacketOf<'connect'>> = {},
): PacketOf<'connect'> {
  return connectPacket(4, clientId, overrides)
}

/** Serialises a 3.1.1 packet. */
export function bytes4(packet: Packet): Buffer {
  return serialise(packet, 4)
}

export interface RawConnect {
  /** The connect flags byte; default 0x02 (clean session, nothing else). */
  flags?: number
  protocolName?: string
  level?: number
  /** The payload fields, in order, already encoded. Default: client id "raw". */
  payload?: Uint8Array[]
}

/** A CONNECT written byte by byte, with whatever flags and payload the test needs. */
export function rawConnect({
  flags = 0x02,
  protocolName = 'MQTT',
  level = 4,
  payload = [mqttString('raw')],
}: RawConnect = {}): Buffer {
  return controlPacket(0x10, mqttString(protocolName), Buffer.from([level, flags]), u16(0), ...payload)
}

/** A raw peer whose 3.1.1 CONNECT (clean session unless overridden) was accepted with CONNACK 0. */
export async function connected(
  broker: RunningBroker,
  clientId: string,
  overrides: Partial<PacketOf<'connect'>> = {},
): Promise<PacketPeer> {
  const peer = await broker.raw()
  const connack = await peer.connect({ clientId, ...overrides })
  expect(connack.returnCode).toBe(0)
  return peer
}

/** A raw peer whose CONNECT (clean session 0) resumed the session of `clientId`: CONNACK 0, session present. */
export async function resumed(broker: RunningBroker, clientId: string): Promise<PacketPeer> {
  const peer = await broker.raw()
  const connack = await peer.connect({ clientId, clean: false })
  expect(connack).toMatchObject({ returnCode: 0, sessionPresent: true })
  return peer
}

/** Subscribes `peer` to `filters` (topic, requested QoS) and returns the SUBACK's return codes. */
export async function subscribe(
  peer: PacketPeer,
  filters: readonly (readonly [string, QoS])[],
  messageId = 1,
): Promise<number[]> {
  peer.send(subscribePacket(messageId, filters))
  const suback = await peer.expect('suback')
  expect(suback.messageId).toBe(messageId)
  return suback.granted as number[]
}

/**
 * Subscribes `peer` to `filters` and, in the same SUBSCRIBE, to the marker topic at QoS 0, which must be
 * granted; returns the return codes of `filters`.
 */
export async function subscribeWithMarker(
  peer: PacketPeer,
  filters: readonly (readonly [string, QoS])[],
  messageId = 1,
): Promise<number[]> {
  const granted = await subscribe(peer, [...filters, [MARKER_TOPIC, 0]], messageId)
  expect(granted.at(-1)).toBe(0)
  return granted.slice(0, -1)
}

/** A raw peer, connected as `connected` does, subscribed to `filters` as `subscribe` does. */
export async function subscribed(
  broker: RunningBroker,
  clientId: string,
  filters: readonly (readonly [string, QoS])[],
  overrides: Partial<PacketOf<'connect'>> = {},
): Promise<PacketPeer> {
  const peer = await connected(broker, clientId, overrides)
  await subscribe(peer, filters)
  return peer
}

/** A raw peer subscribed, as `subscribed` does, to `filters` and to the marker topic at QoS 0. */
export function subscribedWithMarker(
  broker: RunningBroker,
  clientId: string,
  filters: readonly (readonly [string, QoS])[],
  overrides: Partial<PacketOf<'connect'>> = {},
): Promise<PacketPeer> {
  return subscribed(broker, clientId, [...filters, [MARKER_TOPIC, 0]], overrides)
}

/** The next `count` packets, each as its type and its packet identifier (undefined where it has none). */
export async function nextAnswers(peer: PacketPeer, count: number): Promise<[string, number | undefined][]> {
  const answers: [string, number | undefined][] = []
  for (let i = 0; i < count; i++) {
    const packet = await peer.next()
    answers.push([packet.cmd, 'messageId' in packet ? packet.messageId : undefined])
  }
  return answers
}

/**
 * Sends `bytes`, then a PINGREQ, and expects the broker to close the connection without sending anything
 * (no CONNACK, no acknowledgement, no PINGRESP): a broker that ignored the bad packet would answer the ping.
 */
export async function expectClosedWithoutAnswer(peer: PacketPeer, bytes: Uint8Array): Promise<void> {
  const before = peer.received.length
  peer.sendRaw(bytes)
  peer.sendRaw(PINGREQ)
  await peer.closed()
  expect(peer.received.slice(before).map((packet) => packet.cmd)).toEqual([])
}

/**
 * A barrier: `publisher` publishes a QoS 0 marker after whatever it sent before, and this resolves with the
 * PUBLISH packets `subscriber` received before the marker (markers excluded). The broker handles one
 * client's packets in order, so anything the publisher's earlier packets caused to be delivered is there.
 */
export async function publishesBeforeMarker(
  publisher: PacketPeer,
  subscriber: PacketPeer,
): Promise<PacketOf<'publish'>[]> {
  const payload = `marker-${++markers}`
  publisher.send(publishPacket(MARKER_TOPIC, payload))
  const before: PacketOf<'publish'>[] = []
  for (let i = 0; i < 100; i++) {
    const packet = await subscriber.next()
    if (packet.cmd !== 'publish') throw new Error(`expected PUBLISH, the broker sent ${packet.cmd}`)
    if (packet.topic === MARKER_TOPIC) {
      if (String(packet.payload) === payload) return before
      continue // an earlier marker, published for another subscriber
    }
    before.push(packet)
  }
  throw new Error('no marker among 100 packets')
}
let markers = 0

/**
 * The PUBLISH packets `subscriber` gets before the PINGRESP to a PINGREQ it sends now: what its own earlier
 * packets caused, such as the retained messages of its SUBSCRIBE. Those go out after the SUBACK, once the
 * backend has answered, so a marker from another client may overtake them; the client's own packets may not.
 */
export async function publishesBeforePingresp(subscriber: PacketPeer): Promise<PacketOf<'publish'>[]> {
  subscriber.send({ cmd: 'pingreq' })
  const before: PacketOf<'publish'>[] = []
  for (let packet = await subscriber.next(); packet.cmd !== 'pingresp'; packet = await subscriber.next()) {
    if (packet.cmd !== 'publish')
      throw new Error(`expected PUBLISH or PINGRESP, the broker sent ${packet.cmd}`)
    before.push(packet)
  }
  return before
}

/** The PUBLISH packets among `packets`. */
export function publishes(packets: readonly Packet[]): PacketOf<'publish'>[] {
  return packets.filter((packet): packet is PacketOf<'publish'> => packet.cmd === 'publish')
}
