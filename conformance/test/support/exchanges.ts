/**
 * A raw peer's side of the exchanges that are the same in MQTT 3.1.1 and 5.0: the PINGREQ barrier, the
 * PUBLISH flows of each QoS (each step checks that the broker's answer carries the right packet
 * identifier), and reading the PUBLISH packets the broker delivers.
 */
import type { Packet, PacketOf } from '@mqtt-stack/core'
import type { PacketPeer } from '@mqtt-stack/core/testing'
import { expect } from 'vitest'
import { publishPacket } from './packets.js'

type PublishFields = Partial<PacketOf<'publish'>>

/**
 * Sends PINGREQ and returns every packet the broker sent before its PINGRESP. The broker handles a client's
 * packets one at a time, in order, so whatever an earlier packet made it send comes first: an empty result
 * proves that nothing was sent, without waiting for a timeout.
 */
export async function barrier(peer: PacketPeer): Promise<Packet[]> {
  peer.send({ cmd: 'pingreq' })
  const before: Packet[] = []
  for (let i = 0; i < 1000; i++) {
    const packet = await peer.next()
    if (packet.cmd === 'pingresp') return before
    before.push(packet)
  }
  throw new Error('no PINGRESP among 1000 packets')
}

/** Publishes at QoS 0 and waits until the broker has handled it (a PINGREQ barrier). */
export async function publish0(
  peer: PacketPeer,
  topic: string,
  payload: string | Buffer,
  fields: PublishFields = {},
): Promise<void> {
  peer.send(publishPacket(topic, payload, fields))
  expect(await barrier(peer)).toEqual([])
}

/** Publishes at QoS 1 and returns the PUBACK, which must carry `messageId`. */
export function publish1(
  peer: PacketPeer,
  topic: string,
  payload: string | Buffer,
  messageId: number,
  fields: PublishFields = {},
): Promise<PacketOf<'puback'>> {
  return acknowledged(peer, publishPacket(topic, payload, { qos: 1, messageId, ...fields }), 'puback')
}

/** Publishes at QoS 2 and returns the PUBREC, which must carry `messageId`; `release` ends the exchange. */
export function publish2(
  peer: PacketPeer,
  topic: string,
  payload: string | Buffer,
  messageId: number,
  fields: PublishFields = {},
): Promise<PacketOf<'pubrec'>> {
  return acknowledged(peer, publishPacket(topic, payload, { qos: 2, messageId, ...fields }), 'pubrec')
}

/** Sends the PUBREL of `messageId` and returns the PUBCOMP, which must carry it. */
export function release(peer: PacketPeer, messageId: number): Promise<PacketOf<'pubcomp'>> {
  return acknowledged(peer, { cmd: 'pubrel', messageId }, 'pubcomp')
}

/** Sends `packet` and returns the broker's next packet, which must be `answer` with the same identifier. */
async function acknowledged<T extends 'puback' | 'pubrec' | 'pubcomp'>(
  peer: PacketPeer,
  packet: PacketOf<'publish'> | PacketOf<'pubrel'>,
  answer: T,
): Promise<PacketOf<T>> {
  peer.send(packet)
  const ack = await peer.expect(answer)
  expect(ack).toMatchObject({ messageId: packet.messageId })
  return ack
}

/** The next packet, which must be a PUBLISH; its payload is returned as a string for easy comparison. */
export async function nextPublish(peer: PacketPeer): Promise<PacketOf<'publish'> & { text: string }> {
  const packet = await peer.expect('publish')
  return { ...packet, text: packet.payload.toString() }
}

/** The next `count` packets, each of which must be a PUBLISH. */
export async function nextPublishes(peer: PacketPeer, count: number): Promise<PacketOf<'publish'>[]> {
  const packets: PacketOf<'publish'>[] = []
  for (let i = 0; i < count; i++) packets.push(await peer.expect('publish'))
  return packets
}
