import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { controlPacket, mqttString, u16 } from '../../support/bytes.js'
import { nextPublishes, publish2, release } from '../../support/exchanges.js'
import { publishPacket, subscribePacket } from '../../support/packets.js'
import {
  connected,
  expectClosedWithoutAnswer,
  publishesBeforeMarker,
  subscribe,
  subscribed,
  subscribeWithMarker,
} from './support.js'

describe('MQTT 3.1.1 SUBSCRIBE: fixed header and payload (3.8.1, 3.8.3)', () => {
  it.each([
    ['1000 0000', 0x80],
    ['1000 0011', 0x83],
    ['1000 1010', 0x8a],
  ])(
    '[MQTT-3.8.1-1] [MQTT-2.2.2-2] closes a client whose SUBSCRIBE has the first byte %s',
    async (_, first) => {
      const peer = await connected(await startBroker(), 'bad-subscribe')
      await expectClosedWithoutAnswer(
        peer,
        controlPacket(first, u16(1), mqttString('sub/t'), Buffer.from([0])),
      )
    },
  )

  it('[MQTT-3.8.3-3] closes a client whose SUBSCRIBE holds no topic filter', async () => {
    const peer = await connected(await startBroker(), 'empty-subscribe')
    await expectClosedWithoutAnswer(peer, controlPacket(0x82, u16(1)))
  })

  it.each([
    ['QoS 3', 0x03],
    ['reserved bit 2', 0x04],
    ['reserved bit 7', 0x80],
    ['every reserved bit', 0xfc],
  ])('[MQTT-3.8.3-4] closes a client whose SUBSCRIBE options byte has %s', async (_, options) => {
    const peer = await connected(await startBroker(), 'bad-options')
    // The bad filter comes second: a broker must not grant the first and ignore the rest.
    await expectClosedWithoutAnswer(
      peer,
      controlPacket(
        0x82,
        u16(1),
        mqttString('ok/t'),
        Buffer.from([1]),
        mqttString('bad/t'),
        Buffer.from([options]),
      ),
    )
  })
})

describe('MQTT 3.1.1 SUBSCRIBE actions and SUBACK (3.8.4, 3.9)', () => {
  it('[MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-3.8.4-5] [MQTT-3.9.3-1] [MQTT-3.9.3-2] answers with one SUBACK of the same identifier: one return code per filter, in order, each 0, 1, 2 or 0x80', async () => {
    const broker = await startBroker()
    const peer = await connected(broker, 'suback')
    peer.send(
      subscribePacket(4242, [
        ['codes/two', 2],
        ['codes/zero', 0],
        ['codes/#/bad', 1],
        ['codes/one', 1],
        ['codes/+', 2],
      ]),
    )
    const suback = await peer.expect('suback')
    expect(suback.messageId).toBe(4242)
    expect(suback.granted).toEqual([2, 0, 0x80, 1, 2])
    peer.send({ cmd: 'pingreq' })
    await peer.expect('pingresp')
  })

  it('[MQTT-3.8.4-3] replaces the subscription of an identical filter: the new QoS applies, retained messages are sent again, each message arrives once', async () => {
    const broker = await startBroker()
    const publisher = await connected(broker, 'resub-pub')
    await publish2(publisher, 'resub/t', 'retained', 1, { retain: true })
    await release(publisher, 1)
    const subscriber = await connected(broker, 'resub-sub')
    expect(await subscribeWithMarker(subscriber, [['resub/t', 0]])).toEqual([0])
    expect((await subscriber.expect('publish')).qos).toBe(0)
    expect(await subscribe(subscriber, [['resub/t', 2]], 2)).toEqual([2])
    const again = await subscriber.expect('publish')
    expect([String(again.payload), again.qos, again.retain]).toEqual(['retained', 2, true])
    subscriber.send({ cmd: 'pubrec', messageId: again.messageId! })
    await subscriber.expect('pubrel')
    subscriber.send({ cmd: 'pubcomp', messageId: again.messageId! })
    publisher.send(publishPacket('resub/t', 'live', { qos: 2, messageId: 2 }))
    const live = await publishesBeforeMarker(publisher, subscriber)
    expect(live.map((packet) => [String(packet.payload), packet.qos])).toEqual([['live', 2]])
  })

  it('[MQTT-3.8.4-4] handles a SUBSCRIBE of several filters as consecutive SUBSCRIBEs: a repeated filter replaces the earlier one', async () => {
    const broker = await startBroker()
    const subscriber = await connected(broker, 'multi-sub')
    expect(
      await subscribeWithMarker(subscriber, [
        ['multi/t', 0],
        ['multi/t', 2],
      ]),
    ).toEqual([0, 2])
    const publisher = await connected(broker, 'multi-pub')
    publisher.send(publishPacket('multi/t', 'x', { qos: 2, messageId: 1 }))
    const delivered = await publishesBeforeMarker(publisher, subscriber)
    expect(delivered.map((packet) => packet.qos)).toEqual([2])
  })

  it('[MQTT-3.8.4-6] delivers each message at the lower of its published QoS and the QoS granted', async () => {
    const broker = await startBroker()
    const subscriber = await subscribed(broker, 'min-sub', [['min/t', 1]])
    const publisher = await connected(broker, 'min-pub')
    for (const qos of [0, 1, 2] as const) {
      publisher.send(publishPacket('min/t', `q${qos}`, { qos, messageId: qos + 1 }))
    }
    const received = await nextPublishes(subscriber, 3)
    expect(received.map((packet) => [String(packet.payload), packet.qos])).toEqual([
      ['q0', 0],
      ['q1', 1],
      ['q2', 1],
    ])
  })
})
