/**
 * MQTT 3.1 clients (protocol name MQIsdp, level 3) keep the packet rules of 3.1 where 3.1.1 changed them.
 * 3.1 gave every fixed header DUP, QoS and RETAIN bits: PUBREL, SUBSCRIBE and UNSUBSCRIBE carried QoS 1 and
 * set DUP when they were sent again, where 3.1.1 fixes their flags at 0010. A 3.1 client that sends them so
 * gets its answer; a 3.1.1 client sending the same bytes is closed.
 */
import type { PacketType } from '@mqtt-stack/core'
import type { PacketPeer } from '@mqtt-stack/core/testing'
import { describe, expect, it } from 'vitest'
import { type RunningBroker, startBroker } from '../../support/broker.js'
import { controlPacket, mqttString, u16 } from '../../support/bytes.js'
import { barrier, publish2 } from '../../support/exchanges.js'
import { connected, expectClosedWithoutAnswer } from './support.js'

/** A raw peer whose MQTT 3.1 CONNECT (MQIsdp, level 3, clean session) was accepted with CONNACK 0. */
async function connected31(broker: RunningBroker, clientId: string): Promise<PacketPeer> {
  const peer = await broker.raw({ protocolVersion: 3 })
  const connack = await peer.connect({ protocolId: 'MQIsdp', protocolVersion: 3, clientId })
  expect(connack.returnCode).toBe(0)
  return peer
}

/**
 * Sends `bytes` (packet identifier 1) from a 3.1 client, which gets `answer` for identifier 1 and nothing
 * else, and stays connected; then from a 3.1.1 client, which is closed without an answer. `before` readies
 * each client (a PUBREL needs its PUBLISH).
 */
async function answeredOnlyIn31(
  bytes: Buffer,
  answer: PacketType,
  before: (peer: PacketPeer) => Promise<unknown> = async () => {},
): Promise<void> {
  const broker = await startBroker()
  const old = await connected31(broker, 'mqtt-3.1')
  await before(old)
  old.sendRaw(bytes)
  expect(await old.expect(answer)).toMatchObject({ messageId: 1 })
  expect(await barrier(old)).toEqual([])
  const current = await connected(broker, 'mqtt-3.1.1')
  await before(current)
  await expectClosedWithoutAnswer(current, bytes)
  expect(old.isClosed).toBe(false)
}

describe('MQTT 3.1 clients (MQIsdp, level 3): fixed header flags as 3.1 set them', () => {
  it('[MQTT-3.6.1-1] answers a 3.1 client PUBREL sent again (0x6A: QoS 1 and DUP) with PUBCOMP; closes a 3.1.1 client that sends it', async () => {
    await answeredOnlyIn31(controlPacket(0x6a, u16(1)), 'pubcomp', (peer) => publish2(peer, 'old/t', 'x', 1))
  })

  it('[MQTT-3.8.1-1] answers a 3.1 client SUBSCRIBE sent again (0x8A: QoS 1 and DUP) with SUBACK; closes a 3.1.1 client that sends it', async () => {
    await answeredOnlyIn31(controlPacket(0x8a, u16(1), mqttString('old/t'), Buffer.from([1])), 'suback')
  })

  it('[MQTT-3.10.1-1] answers a 3.1 client UNSUBSCRIBE sent again (0xAA: QoS 1 and DUP) with UNSUBACK; closes a 3.1.1 client that sends it', async () => {
    await answeredOnlyIn31(controlPacket(0xaa, u16(1), mqttString('old/t')), 'unsuback')
  })

  it('[MQTT-2.2.2-2] answers a 3.1 client PINGREQ with flags 3.1 did not use (0xC2); closes a 3.1.1 client that sends it', async () => {
    const broker = await startBroker()
    const old = await connected31(broker, 'mqtt-3.1-ping')
    old.sendRaw(Buffer.from([0xc2, 0x00]))
    await old.expect('pingresp')
    await expectClosedWithoutAnswer(await connected(broker, 'mqtt-3.1.1-ping'), Buffer.from([0xc2, 0x00]))
  })
})
