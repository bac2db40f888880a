import type { Packet } from '@mqtt-stack/core'
import type { PacketPeer } from '@mqtt-stack/core/testing'
import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { controlPacket, mqttString, u16 } from '../../support/bytes.js'
import { barrier, nextPublish, publish0, publish1 } from '../../support/exchanges.js'
import { publishPacket, subscribePacket } from '../../support/packets.js'
import { brokerWithPeer, connected, expectDisconnect, subscribe, wireConnected } from './support.js'

/** SUBACK Reason Codes of MQTT 5.0 (3.9.3). */
const SUBACK_CODES = [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2]

/** A SUBSCRIBE with packet identifier 1, no properties and one filter with these option bits. */
function subscribeWithOptions(options: number): Buffer {
  return controlPacket(0x82, u16(1), Buffer.from([0]), mqttString('t'), Buffer.from([options]))
}

describe('MQTT 5.0 SUBSCRIBE: payload (3.8.3)', () => {
  it('[MQTT-3.8.3-2] [MQTT-4.13.1-1] a SUBSCRIBE without a Topic Filter is a Protocol Error: DISCONNECT 0x82, no SUBACK', async () => {
    const { peer } = await brokerWithPeer()
    peer.sendRaw(controlPacket(0x82, u16(1), Buffer.from([0])))
    await expectDisconnect(peer, 0x82)
  })

  it.each([
    ['bit 6', 0x40],
    ['bit 7', 0x80],
    ['bits 7 and 6', 0xc0],
  ])(
    '[MQTT-3.8.3-5] [MQTT-4.13.1-1] Subscription Options with reserved %s set are a Malformed Packet: DISCONNECT 0x81',
    async (_bits, options) => {
      const { peer } = await brokerWithPeer()
      peer.sendRaw(subscribeWithOptions(options))
      await expectDisconnect(peer, 0x81)
    },
  )

  it('[MQTT-4.13.1-1] a Maximum QoS of 3 in the Subscription Options is a Malformed Packet: DISCONNECT 0x81', async () => {
    const { peer } = await brokerWithPeer()
    peer.sendRaw(subscribeWithOptions(0x03))
    await expectDisconnect(peer, 0x81)
  })

  it('[MQTT-4.13.1-1] a Retain Handling of 3 closes the connection with DISCONNECT 0x81 or 0x82', async () => {
    const { peer } = await brokerWithPeer()
    peer.sendRaw(subscribeWithOptions(0x30))
    const disconnect = await peer.expect('disconnect')
    // 3.8.3.1 calls it a Protocol Error; the parser refuses it as malformed.
    expect([0x81, 0x82]).toContain(disconnect.reasonCode)
    await peer.closed()
  })
})

/**
 * Sends a SUBSCRIBE of `filter` at QoS 0 with Retain Handling `rh` (and `after`, sent right behind it), and
 * returns the payloads of the PUBLISH packets the broker sent before the PINGRESP of a barrier, marked with
 * their retain flag; the SUBACK must be among the packets.
 */
async function publishesOfSubscribe(
  peer: PacketPeer,
  filter: string,
  rh: 0 | 1 | 2,
  messageId: number,
  after: Packet[] = [],
): Promise<string[]> {
  peer.send({ cmd: 'subscribe', messageId, subscriptions: [{ topic: filter, qos: 0, rh }] })
  for (const packet of after) peer.send(packet)
  const packets = await barrier(peer)
  expect(packets.filter((packet) => packet.cmd === 'suback')).toMatchObject([{ messageId, granted: [0] }])
  return packets.flatMap((packet) =>
    packet.cmd === 'publish' ? [`${packet.payload.toString()}${packet.retain ? ' (retained)' : ''}`] : [],
  )
}

describe('MQTT 5.0 SUBSCRIBE: actions and SUBACK (3.8.4, 3.9)', () => {
  it('[MQTT-3.8.4-1] [MQTT-3.8.4-2] answers every SUBSCRIBE with a SUBACK of the same Packet Identifier', async () => {
    const { peer } = await brokerWithPeer()
    for (const messageId of [1, 2, 300, 65_535]) {
      peer.send(subscribePacket(messageId, [[`t/${messageId}`, 1]]))
      expect(await peer.expect('suback')).toMatchObject({ messageId, granted: [1] })
    }
  })

  it('[MQTT-3.8.4-3] a SUBSCRIBE to a filter already subscribed replaces that subscription: one delivery, at the new QoS', async () => {
    const { broker, peer: subscriber } = await brokerWithPeer('subscriber')
    await subscribe(subscriber, 't', 0, 1)
    await subscribe(subscriber, 't', 1, 2)
    const publisher = await connected(broker, 'publisher')
    await publish1(publisher, 't', 'once', 1)
    expect(await nextPublish(subscriber)).toMatchObject({ text: 'once', qos: 1 })
    expect(await barrier(subscriber)).toEqual([])
  })

  it('[MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11] [MQTT-3.8.4-4] follows Retain Handling: 0 sends the retained messages at every SUBSCRIBE, a replacing one too, and loses no live message; 1 only when the subscription is new; 2 never', async () => {
    const { broker, peer: publisher } = await brokerWithPeer('publisher')
    await publish1(publisher, 'r/a', 'kept', 1, { retain: true })
    const subscriber = await connected(broker, 'subscriber')
    expect(await publishesOfSubscribe(subscriber, 'r/#', 0, 1)).toEqual(['kept (retained)'])
    // The same filter again replaces the subscription: the retained message once more, and a message
    // published right behind the SUBSCRIBE finds the subscription in place.
    const live = publishPacket('r/live', 'live')
    expect(await publishesOfSubscribe(subscriber, 'r/#', 0, 2, [live])).toEqual(['kept (retained)', 'live'])
    expect(await publishesOfSubscribe(subscriber, 'r/+', 1, 3)).toEqual(['kept (retained)'])
    expect(await publishesOfSubscribe(subscriber, 'r/+', 1, 4)).toEqual([])
    expect(await publishesOfSubscribe(subscriber, 'r/a', 2, 5)).toEqual([])
  })

  it('[MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error: DISCONNECT 0x82, no SUBACK, nothing subscribed', async () => {
    const { broker, peer } = await brokerWithPeer('no-local')
    const watcher = await connected(broker, 'watcher')
    await subscribe(watcher, '$share/g/t', 0)
    peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/t', qos: 0, nl: true }] })
    await expectDisconnect(peer, 0x82)
    // The group has the watcher alone: it gets every message, none went to the refused member.
    const publisher = await connected(broker, 'publisher')
    for (const text of ['one', 'two']) await publish0(publisher, 't', text)
    expect((await nextPublish(watcher)).text).toBe('one')
    expect((await nextPublish(watcher)).text).toBe('two')
  })

  it('[MQTT-3.8.4-5] [MQTT-3.8.4-6] [MQTT-3.9.3-1] [MQTT-3.9.3-2] handles several filters as a sequence of SUBSCRIBEs, answered by one SUBACK with a code per filter, in order', async () => {
    const { broker, peer } = await brokerWithPeer()
    peer.send(
      subscribePacket(7, [
        ['a', 2],
        ['b/#/c', 1],
        ['c', 0],
        ['d+', 2],
        ['e', 1],
      ]),
    )
    const suback = await peer.expect('suback')
    expect(suback).toMatchObject({ messageId: 7, granted: [2, 0x8f, 0, 0x8f, 1] })
    for (const code of suback.granted) expect(SUBACK_CODES).toContain(code)
    expect(await barrier(peer)).toEqual([])
    // The granted ones are subscribed, the refused ones are not.
    const publisher = await connected(broker, 'publisher')
    for (const topic of ['a', 'c', 'e']) await publish0(publisher, topic, topic)
    for (const topic of ['a', 'c', 'e']) expect((await nextPublish(peer)).topic).toBe(topic)
  })

  it('[MQTT-3.8.4-7] [MQTT-3.8.4-8] [MQTT-4.8.2-3] grants at most its Maximum QoS and delivers at the lower of the published and granted QoS', async () => {
    const broker = await startBroker({ maximumQoS: 1 })
    const subscriber = await connected(broker, 'subscriber')
    subscriber.send(
      subscribePacket(1, [
        ['two', 2],
        ['zero', 0],
      ]),
    )
    expect(await subscriber.expect('suback')).toMatchObject({ granted: [1, 0] })
    const publisher = await connected(broker, 'publisher')
    await publish1(publisher, 'two', 'one', 1)
    await publish1(publisher, 'zero', 'one', 2)
    await publish0(publisher, 'two', 'zero')
    expect(await nextPublish(subscriber)).toMatchObject({ topic: 'two', qos: 1 })
    expect(await nextPublish(subscriber)).toMatchObject({ topic: 'zero', qos: 0 })
    expect(await nextPublish(subscriber)).toMatchObject({ topic: 'two', qos: 0 })
  })

  it('[MQTT-3.9.2-1] [MQTT-3.9.2-2] keeps SUBACK within the client Maximum Packet Size, also when refusing filters', async () => {
    const broker = await startBroker()
    const wire = await wireConnected(broker, 'small', { properties: { maximumPacketSize: 16 } })
    wire.send(
      subscribePacket(1, [
        ['a/#/b', 0],
        ['ok', 1],
      ]),
    )
    const { bytes, packet } = await wire.expect('suback')
    expect(bytes.length).toBeLessThanOrEqual(16)
    expect(packet).toMatchObject({ messageId: 1, granted: [0x8f, 1] })
  })
})
