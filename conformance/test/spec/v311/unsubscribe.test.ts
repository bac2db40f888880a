import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import {
  connected,
  controlPacket,
  expectClosedWithoutAnswer,
  MARKER_TOPIC,
  mqttString,
  publishesBeforeMarker,
  startWatchedBroker,
  subscribe,
  u16,
} from './support.js'

describe('MQTT 3.1.1 UNSUBSCRIBE: fixed header and payload (3.10.1, 3.10.3)', () => {
  it.each([
    ['1010 0000', 0xa0],
    ['1010 0011', 0xa3],
    ['1010 1010', 0xaa],
  ])(
    '[MQTT-3.10.1-1] [MQTT-2.2.2-2] closes a client whose UNSUBSCRIBE has the first byte %s',
    async (_, first) => {
      const broker = await startBroker()
      const peer = await connected(broker, 'bad-unsubscribe')
      await expectClosedWithoutAnswer(peer, controlPacket(first, u16(1), mqttString('unsub/t')))
    },
  )

  it('[MQTT-3.10.3-2] closes a client whose UNSUBSCRIBE holds no topic filter', async () => {
    const broker = await startBroker()
    await expectClosedWithoutAnswer(await connected(broker, 'empty-unsubscribe'), controlPacket(0xa2, u16(1)))
  })
})

describe('MQTT 3.1.1 UNSUBSCRIBE actions and UNSUBACK (3.10.4, 3.11)', () => {
  it('[MQTT-3.10.4-1] deletes only a subscription whose filter is identical, character for character', async () => {
    const broker = await startBroker()
    const subscriber = await connected(broker, 'exact-sub')
    await subscribe(subscriber, [
      ['exact/+', 0],
      ['exact/a', 1],
      [MARKER_TOPIC, 0],
    ])
    const publisher = await connected(broker, 'exact-pub')
    const publishA = () =>
      publisher.send({
        cmd: 'publish',
        messageId: 1,
        topic: 'exact/a',
        payload: 'a',
        qos: 1,
        retain: false,
        dup: false,
      })
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
    const subscriber = await connected(broker, 'gone-sub')
    await subscribe(subscriber, [
      ['gone/t', 2],
      [MARKER_TOPIC, 0],
    ])
    subscriber.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['gone/t'] })
    await subscriber.expect('unsuback')
    const publisher = await connected(broker, 'gone-pub')
    for (const qos of [0, 1, 2] as const) {
      publisher.send({
        cmd: 'publish',
        messageId: qos + 1,
        topic: 'gone/t',
        payload: 'x',
        qos,
        retain: false,
        dup: false,
      })
    }
    expect(await publishesBeforeMarker(publisher, subscriber)).toEqual([])
  })

  it('[MQTT-3.10.4-3] completes the QoS 1 and QoS 2 deliveries it started before the subscription was deleted', async () => {
    const broker = await startWatchedBroker()
    const subscriber = await connected(broker, 'finish', { clean: false })
    await subscribe(subscriber, [['finish/t', 2]])
    const publisher = await connected(broker, 'finish-pub')
    publisher.send({
      cmd: 'publish',
      messageId: 1,
      topic: 'finish/t',
      payload: 'one',
      qos: 1,
      retain: false,
      dup: false,
    })
    publisher.send({
      cmd: 'publish',
      messageId: 2,
      topic: 'finish/t',
      payload: 'two',
      qos: 2,
      retain: false,
      dup: false,
    })
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
    await broker.ended('finish')
    const back = await broker.raw()
    expect((await back.connect({ clientId: 'finish', clean: false })).sessionPresent).toBe(true)
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
    const peer = await connected(broker, 'unsuback')
    await subscribe(peer, [['held/t', 0]])
    peer.send({ cmd: 'unsubscribe', messageId: 300, unsubscriptions: ['never/t'] })
    expect((await peer.expect('unsuback')).messageId).toBe(300)
    peer.send({ cmd: 'unsubscribe', messageId: 301, unsubscriptions: ['held/t'] })
    expect((await peer.expect('unsuback')).messageId).toBe(301)
  })

  it('[MQTT-3.10.4-6] handles an UNSUBSCRIBE of several filters as consecutive UNSUBSCRIBEs answered by one UNSUBACK', async () => {
    const broker = await startBroker()
    const subscriber = await connected(broker, 'several')
    await subscribe(subscriber, [
      ['several/a', 0],
      ['several/b', 0],
      ['several/c', 0],
      [MARKER_TOPIC, 0],
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
    for (const topic of ['several/a', 'several/b', 'several/c']) {
      publisher.send({ cmd: 'publish', topic, payload: topic, qos: 0, retain: false, dup: false })
    }
    expect((await publishesBeforeMarker(publisher, subscriber)).map((packet) => packet.topic)).toEqual([
      'several/c',
    ])
  })
})
