import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { controlPacket, mqttString, u16 } from '../../support/bytes.js'
import { publishPacket } from '../../support/packets.js'
import { startWatchedBroker } from '../../support/watch.js'
import {
  connected,
  expectClosedWithoutAnswer,
  publishesBeforeMarker,
  resumed,
  subscribed,
  subscribedWithMarker,
} from './support.js'

describe('MQTT 3.1.1 UNSUBSCRIBE: fixed header and payload (3.10.1, 3.10.3)', () => {
  it.each([
    ['1010 0000', 0xa0],
    ['1010 0011', 0xa3],
    ['1010 1010', 0xaa],
  ])(
    '[MQTT-3.10.1-1] [MQTT-2.2.2-2] closes a client whose UNSUBSCRIBE has the first byte %s',
    async (_, first) => {
      const peer = await connected(await startBroker(), 'bad-unsubscribe')
      await expectClosedWithoutAnswer(peer, controlPacket(first, u16(1), mqttString('unsub/t')))
    },
  )

  it('[MQTT-3.10.3-2] closes a client whose UNSUBSCRIBE holds no topic filter', async () => {
    const peer = await connected(await startBroker(), 'empty-unsubscribe')
    await expectClosedWithoutAnswer(peer, controlPacket(0xa2, u16(1)))
  })
})

describe('MQTT 3.1.1 UNSUBSCRIBE actions and UNSUBACK (3.10.4, 3.11)', () => {
  it('[MQTT-3.10.4-1] deletes only a subscription whose filter is identical, character for character', async () => {
    const broker = await startBroker()
    const subscriber = await subscribedWithMarker(broker, 'exact-sub', [
      ['exact/+', 0],
      ['exact/a', 1],
    ])
    const publisher = await connected(broker, 'exact-pub')
    const publishA = () => publisher.send(publishPacket('exact/a', 'a', { qos: 1, messageId: 1 }))
    // Filters that match exact/a, or look like exact/a, but are not the subscribed filter: nothing is deleted.
    subscriber.send({
      cmd: 'unsubscribe',
      messageId: 2,
      unsubscriptions: ['exact/#', 'EXACT/a', 'exact/a/', 'exact/+/'],
    })
    await subscriber.expect('unsuback')
    publishA()
    expect((await publishesBeforeMarker(publisher, subscriber)).map((packet) => packet.qos)).toEqual([1])
    // The identical filter is deleted; exact/+ still delivers, at its own QoS.
    subscriber.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['exact/a'] })
    await subscriber.expect('unsuback')
    publishA()
    expect((await publishesBeforeMarker(publisher, subscriber)).map((packet) => packet.qos)).toEqual([0])
  })

  it('[MQTT-3.10.4-2] adds no new message for a deleted subscription', async () => {
    const broker = await startBroker()
    const subscriber = await subscribedWithMarker(broker, 'gone-sub', [['gone/t', 2]])
    subscriber.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['gone/t'] })
    await subscriber.expect('unsuback')
    const publisher = await connected(broker, 'gone-pub')
    for (const qos of [0, 1, 2] as const)
      publisher.send(publishPacket('gone/t', 'x', { qos, messageId: qos + 1 }))
    expect(await publishesBeforeMarker(publisher, subscriber)).toEqual([])
  })

  it('[MQTT-3.10.4-3] completes the QoS 1 and QoS 2 deliveries it started before the subscription was deleted', async () => {
    const { broker, watch } = await startWatchedBroker()
    const subscriber = await subscribed(broker, 'finish', [['finish/t', 2]], { clean: false })
    const publisher = await connected(broker, 'finish-pub')
    publisher.send(publishPacket('finish/t', 'one', { qos: 1, messageId: 1 }))
    publisher.send(publishPacket('finish/t', 'two', { qos: 2, messageId: 2 }))
    const qos1 = await subscriber.expect('publish')
    const qos2 = await subscriber.expect('publish')
    expect([qos1.qos, qos2.qos]).toEqual([1, 2])
    subscriber.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['finish/t'] })
    await subscriber.expect('unsuback')
    // QoS 2 goes on in this connection: PUBREC gets PUBREL.
    subscriber.send({ cmd: 'pubrec', messageId: qos2.messageId! })
    expect((await subscriber.expect('pubrel')).messageId).toBe(qos2.messageId)
    // The QoS 1 message, never acknowledged, is delivered again when the session reconnects.
    subscriber.destroy()
    await watch.closed('finish')
    const back = await resumed(broker, 'finish')
    const resent = [await back.next(), await back.next()]
    expect(
      resent.map((packet) =>
        packet.cmd === 'publish' ? ['publish', packet.messageId, packet.dup] : [packet.cmd, packet.messageId],
      ),
    ).toEqual([
      ['publish', qos1.messageId, true],
      ['pubrel', qos2.messageId],
    ])
  })

  it('[MQTT-3.10.4-4] [MQTT-3.10.4-5] answers each UNSUBSCRIBE with an UNSUBACK of the same identifier, also when no subscription was deleted', async () => {
    const broker = await startBroker()
    const peer = await subscribed(broker, 'unsuback', [['held/t', 0]])
    peer.send({ cmd: 'unsubscribe', messageId: 300, unsubscriptions: ['never/t'] })
    expect((await peer.expect('unsuback')).messageId).toBe(300)
    peer.send({ cmd: 'unsubscribe', messageId: 301, unsubscriptions: ['held/t'] })
    expect((await peer.expect('unsuback')).messageId).toBe(301)
  })

  it('[MQTT-3.10.4-6] handles an UNSUBSCRIBE of several filters as consecutive UNSUBSCRIBEs answered by one UNSUBACK', async () => {
    const broker = await startBroker()
    const subscriber = await subscribedWithMarker(broker, 'several', [
      ['several/a', 0],
      ['several/b', 0],
      ['several/c', 0],
    ])
    subscriber.send({
      cmd: 'unsubscribe',
      messageId: 9,
      unsubscriptions: ['several/a', 'several/b', 'several/a'],
    })
    subscriber.send({ cmd: 'pingreq' })
    expect((await subscriber.expect('unsuback')).messageId).toBe(9)
    await subscriber.expect('pingresp')
    const publisher = await connected(broker, 'several-pub')
    for (const topic of ['several/a', 'several/b', 'several/c']) publisher.send(publishPacket(topic, topic))
    expect((await publishesBeforeMarker(publisher, subscriber)).map((packet) => packet.topic)).toEqual([
      'several/c',
    ])
  })
})
