import type { PacketPeer } from '@mqtt-stack/core/testing'
import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { controlPacket, mqttString, u16 } from '../../support/bytes.js'
import { barrier, nextPublish, publish0, publish1, publish2, release } from '../../support/exchanges.js'
import { publishPacket, type QoS, subscribePacket } from '../../support/packets.js'
import {
  brokerWithPeer,
  connect5,
  connected,
  disconnect,
  expectDisconnect,
  INTEGER_LIKE,
  PERSISTENT,
  type PublishPacket,
  publishInOrder,
  REPEATED,
  rawPeer,
  resumed,
  subscribed,
  userPropertiesOnWire,
  wireConnected,
  wireSubscribed,
} from './support.js'

/** PUBACK and PUBREC Reason Codes of MQTT 5.0 (3.4.2.1, 3.5.2.1). */
const PUBACK_CODES = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]
/** PUBREL and PUBCOMP Reason Codes of MQTT 5.0 (3.6.2.1, 3.7.2.1). */
const PUBREL_CODES = [0x00, 0x92]

/** Subscribes `peer` to `filter` at `qos`, with Subscription Identifier `id` when given; checks the SUBACK. */
async function subscribeWithId(
  peer: PacketPeer,
  filter: string,
  qos: QoS,
  messageId: number,
  id?: number,
): Promise<void> {
  const packet = subscribePacket(messageId, [[filter, qos]])
  if (id !== undefined) packet.properties = { subscriptionIdentifier: id }
  peer.send(packet)
  expect(await peer.expect('suback')).toMatchObject({ messageId, granted: [qos] })
}

/** The Subscription Identifiers a PUBLISH carries, in ascending order (their order on the wire is free). */
function idsOf(publish: PublishPacket): number[] {
  return [publish.properties?.subscriptionIdentifier ?? []].flat().sort((a, b) => a - b)
}

describe('MQTT 5.0 PUBLISH: fixed header (3.3.1)', () => {
  it('[MQTT-3.3.1-2] [MQTT-3.3.1-3] [MQTT-4.3.2-2] [MQTT-4.3.3-2] sets DUP by what it sends, not by what it received: 0 on a first delivery, with a Packet Identifier at QoS 1 and 2', async () => {
    const { broker, peer: publisher } = await brokerWithPeer('publisher')
    const subscribers = []
    for (const qos of [0, 1, 2] as const) {
      subscribers.push(await subscribed(broker, `qos-${qos}`, 't', qos))
    }
    // A resent PUBLISH (DUP 1) whose first copy never reached the broker.
    await publish2(publisher, 't', 'again', 9, { dup: true })
    for (const [qos, subscriber] of subscribers.entries()) {
      const publish = await nextPublish(subscriber)
      expect(publish).toMatchObject({ qos, dup: false, text: 'again' })
      if (qos > 0) expect(publish.messageId).toBeGreaterThan(0)
    }
  })

  it('[MQTT-3.3.1-4] [MQTT-4.13.1-1] a PUBLISH with both QoS bits set is a Malformed Packet: DISCONNECT 0x81, nothing relayed', async () => {
    const { broker, peer } = await brokerWithPeer()
    const watcher = await subscribed(broker, 'watcher', 't')
    peer.sendRaw(controlPacket(0x36, mqttString('t'), u16(1), Buffer.from([0]), Buffer.from('three')))
    await expectDisconnect(peer, 0x81)
    expect(await barrier(watcher)).toEqual([])
  })

  it('[MQTT-3.3.1-5] stores a retained message, replacing the one before it on that topic', async () => {
    const { broker, peer } = await brokerWithPeer()
    await publish1(peer, 'r/t', 'first', 1, { retain: true })
    await publish1(peer, 'r/t', 'second', 2, { retain: true })
    const late = await subscribed(broker, 'late', 'r/t')
    expect(await nextPublish(late)).toMatchObject({ topic: 'r/t', text: 'second', retain: true })
    expect(await barrier(late)).toEqual([])
  })

  it('[MQTT-3.3.1-6] [MQTT-3.3.1-7] a retained PUBLISH with an empty payload is delivered, removes the retained message and is not stored', async () => {
    const { broker, peer } = await brokerWithPeer()
    await publish1(peer, 'r/t', 'kept', 1, { retain: true })
    const live = await subscribed(broker, 'live', 'r/t')
    expect((await nextPublish(live)).text).toBe('kept')
    await publish1(peer, 'r/t', '', 2, { retain: true })
    // Processed normally: the live subscriber receives the empty message.
    expect(await nextPublish(live)).toMatchObject({ topic: 'r/t', text: '' })
    const late = await subscribed(broker, 'late', 'r/#')
    expect(await barrier(late)).toEqual([])
  })

  it('[MQTT-3.3.1-8] a PUBLISH with RETAIN 0 is neither stored nor replaces the retained message', async () => {
    const { broker, peer } = await brokerWithPeer()
    await publish1(peer, 'r/kept', 'retained', 1, { retain: true })
    await publish1(peer, 'r/kept', 'live only', 2)
    await publish1(peer, 'r/none', 'live only', 3)
    const late = await subscribed(broker, 'late', 'r/#')
    expect(await nextPublish(late)).toMatchObject({ topic: 'r/kept', text: 'retained', retain: true })
    expect(await barrier(late)).toEqual([])
  })
})

describe('MQTT 5.0 PUBLISH: topic name and properties (3.3.2)', () => {
  it('[MQTT-3.3.2-3] sends a PUBLISH whose Topic Name is the published one, matching the subscription filter', async () => {
    const { broker, peer } = await brokerWithPeer()
    const subscriber = await subscribed(broker, 'subscriber', ['a/+/c', 'x/#'])
    await publish0(peer, 'a/b/c', 'one')
    await publish0(peer, 'x/y/z', 'two')
    expect(await nextPublish(subscriber)).toMatchObject({ topic: 'a/b/c', text: 'one' })
    expect(await nextPublish(subscriber)).toMatchObject({ topic: 'x/y/z', text: 'two' })
  })

  it('[MQTT-3.3.2-6] forwards the Message Expiry Interval as received to a connected subscriber, and less every whole second the message waited queued for an offline session', async () => {
    const broker = await startBroker()
    const live = await subscribed(broker, 'live', 'expiry/#', 1)
    await disconnect(await subscribed(broker, 'away', 'expiry/#', 1, PERSISTENT))
    const publisher = await connected(broker, 'publisher')
    const sent = performance.now()
    await publish1(publisher, 'expiry/t', 'x', 1, { properties: { messageExpiryInterval: 60 } })
    // The broker queued the message before its PUBACK (which says whether anybody subscribes).
    const queued = performance.now()
    expect((await nextPublish(live)).properties?.messageExpiryInterval).toBe(60)
    // The waiting is what is under test: two seconds on the clock, then the session resumes.
    await new Promise((resolve) => setTimeout(resolve, 2000))
    const waited = performance.now() - queued
    const back = await resumed(broker, 'away')
    const delivered = await nextPublish(back)
    const total = performance.now() - sent
    const interval = delivered.properties?.messageExpiryInterval ?? 0
    expect(interval).toBeLessThanOrEqual(60 - Math.floor(waited / 1000))
    expect(interval).toBeLessThan(60 - 1)
    expect(interval).toBeGreaterThanOrEqual(60 - Math.ceil(total / 1000))
  })

  it('[MQTT-3.3.2-7] does not carry a Topic Alias over to a new connection: using it unset there is a Protocol Error (0x82)', async () => {
    const broker = await startBroker()
    const first = await connected(broker, 'aliased')
    await publish0(first, 'long/topic/name', 'set', { properties: { topicAlias: 1 } })
    await disconnect(first)
    const second = await connected(broker, 'aliased')
    second.send(publishPacket('', 'use', { properties: { topicAlias: 1 } }))
    await expectDisconnect(second, 0x82)
  })

  it('[MQTT-3.3.2-8] [MQTT-3.3.2-11] sends Topic Aliases from 1 up to the Topic Alias Maximum of the client, never 0', async () => {
    const broker = await startBroker()
    const aliases = { properties: { topicAliasMaximum: 2 } }
    const subscriber = await subscribed(broker, 'subscriber', 'alias/#', 1, aliases)
    const publisher = await connected(broker, 'publisher')
    let id = 0
    for (let round = 0; round < 2; round++)
      for (const topic of ['alias/a', 'alias/b', 'alias/c']) await publish1(publisher, topic, topic, ++id)
    // The client's view: an alias stands for the topic name it was last sent with.
    const known = new Map<number, string>()
    for (let i = 0; i < 6; i++) {
      const publish = await nextPublish(subscriber)
      subscriber.send({ cmd: 'puback', messageId: publish.messageId!, reasonCode: 0 })
      const alias = publish.properties?.topicAlias
      if (alias !== undefined) {
        expect(alias).toBeGreaterThanOrEqual(1)
        expect(alias).toBeLessThanOrEqual(2)
        if (publish.topic !== '') known.set(alias, publish.topic)
      }
      const topic = publish.topic === '' && alias !== undefined ? known.get(alias) : publish.topic
      expect(topic).toBe(publish.text)
    }
    expect([...known.keys()].sort()).toEqual([1, 2])
  })

  it('[MQTT-3.1.2-26] [MQTT-3.3.2-8] [MQTT-3.3.2-11] sends QoS 0 with Topic Aliases: the first PUBLISH of a topic sets one up with the Topic Name, later ones carry it alone', async () => {
    const broker = await startBroker()
    const subscriber = await subscribed(broker, 'subscriber', 'alias/#', 0, {
      properties: { topicAliasMaximum: 2 },
    })
    const publisher = await connected(broker, 'publisher')
    for (let round = 0; round < 2; round++)
      for (const topic of ['alias/a', 'alias/b', 'alias/c']) await publish0(publisher, topic, topic)
    const seen = []
    for (let i = 0; i < 6; i++) {
      const publish = await nextPublish(subscriber)
      seen.push([publish.topic, publish.properties?.topicAlias, publish.text])
    }
    // The default broker keeps the aliases of the first topics for the connection; others go in full.
    expect(seen).toEqual([
      ['alias/a', 1, 'alias/a'],
      ['alias/b', 2, 'alias/b'],
      ['alias/c', undefined, 'alias/c'],
      ['', 1, 'alias/a'],
      ['', 2, 'alias/b'],
      ['alias/c', undefined, 'alias/c'],
    ])
  })

  it('[MQTT-3.1.2-27] sends no Topic Alias to a client whose Topic Alias Maximum is 0 or absent', async () => {
    const broker = await startBroker()
    const zero = await subscribed(broker, 'zero', 'plain/#', 1, { properties: { topicAliasMaximum: 0 } })
    const absent = await subscribed(broker, 'absent', 'plain/#', 1)
    const publisher = await connected(broker, 'publisher')
    await publish0(publisher, 'plain/t', 'one')
    await publish0(publisher, 'plain/t', 'two')
    await publish1(publisher, 'plain/t', 'three', 1)
    await publish1(publisher, 'plain/t', 'four', 2)
    for (const subscriber of [zero, absent]) {
      for (const text of ['one', 'two', 'three', 'four']) {
        const publish = await nextPublish(subscriber)
        expect(publish).toMatchObject({ topic: 'plain/t', text })
        expect(publish.properties?.topicAlias).toBeUndefined()
      }
    }
  })

  it('[MQTT-3.3.2-7] starts each connection of a session with no Topic Alias: a resent PUBLISH carries its Topic Name, and aliases are set up again', async () => {
    const broker = await startBroker()
    const aliases = { ...PERSISTENT, properties: { ...PERSISTENT.properties, topicAliasMaximum: 2 } }
    const first = await subscribed(broker, 'away', 'alias/#', 1, aliases)
    const publisher = await connected(broker, 'publisher')
    await publish1(publisher, 'alias/a', 'one', 1)
    await publish1(publisher, 'alias/a', 'two', 2)
    const one = await nextPublish(first)
    first.send({ cmd: 'puback', messageId: one.messageId!, reasonCode: 0 })
    expect([one.topic, one.properties?.topicAlias]).toEqual(['alias/a', 1])
    const two = await nextPublish(first) // never acknowledged
    expect([two.topic, two.properties?.topicAlias]).toEqual(['', 1])
    await disconnect(first)
    const back = await resumed(broker, 'away', aliases)
    const again = await nextPublish(back)
    expect(again).toMatchObject({ topic: 'alias/a', text: 'two', dup: true, messageId: two.messageId })
    expect(again.properties?.topicAlias).toBeUndefined()
    back.send({ cmd: 'puback', messageId: again.messageId!, reasonCode: 0 })
    // Only messages of one QoS keep their order [MQTT-4.6.0-6]: under an asynchronous backend a
    // QoS 0 message may overtake a stored QoS 1 one, so 'four' is published once 'three' arrived.
    await publish1(publisher, 'alias/a', 'three', 3)
    const three = await nextPublish(back)
    back.send({ cmd: 'puback', messageId: three.messageId!, reasonCode: 0 })
    await publish0(publisher, 'alias/a', 'four')
    const four = await nextPublish(back)
    expect([three.topic, three.properties?.topicAlias, three.text]).toEqual(['alias/a', 1, 'three'])
    expect([four.topic, four.properties?.topicAlias, four.text]).toEqual(['', 1, 'four'])
  })

  it('[MQTT-3.3.2-12] [MQTT-3.3.2-9] accepts a Topic Alias equal to the Topic Alias Maximum of its CONNACK, and answers one above it with DISCONNECT 0x94', async () => {
    const broker = await startBroker()
    const subscriber = await subscribed(broker, 'subscriber', 'alias/#')
    const peer = await rawPeer(broker)
    const connack = await peer.connect(connect5('aliaser'))
    const maximum = connack.properties?.topicAliasMaximum ?? 0
    expect(maximum).toBeGreaterThan(0)
    await publish0(peer, 'alias/top', 'set', { properties: { topicAlias: maximum } })
    await publish0(peer, '', 'used', { properties: { topicAlias: maximum } })
    expect(await nextPublish(subscriber)).toMatchObject({ topic: 'alias/top', text: 'set' })
    expect(await nextPublish(subscriber)).toMatchObject({ topic: 'alias/top', text: 'used' })
    peer.send(publishPacket('alias/over', 'over', { properties: { topicAlias: maximum + 1 } }))
    await expectDisconnect(peer, 0x94)
    expect(await barrier(subscriber)).toEqual([])
  })

  it('[MQTT-3.3.2-8] [MQTT-4.13.1-1] a Topic Alias of 0 from the client is a Topic Alias invalid error: DISCONNECT 0x94', async () => {
    const { peer } = await brokerWithPeer()
    peer.send(publishPacket('t', 'zero', { properties: { topicAlias: 0 } }))
    await expectDisconnect(peer, 0x94)
  })
})

describe('MQTT 5.0 PUBLISH: User Properties in the order received (3.3.2.3.7)', () => {
  it('[MQTT-3.3.2-17] [MQTT-3.3.2-18] forwards User Properties in order: a name repeated after another, a name like an integer', async () => {
    const broker = await startBroker()
    const plain = await wireSubscribed(broker, 'plain', 'order/#', 0)
    // QoS 1 with Topic Aliases: the forwarded properties are copied to add the alias.
    const aliased = await wireSubscribed(broker, 'aliased', 'order/#', 1, {
      properties: { topicAliasMaximum: 4 },
    })
    const publisher = await connected(broker, 'publisher')
    publisher.sendRaw(publishInOrder('order/t', 'one', REPEATED, { qos: 1, messageId: 1 }))
    await publisher.expect('puback')
    publisher.sendRaw(publishInOrder('order/t', 'two', INTEGER_LIKE, { qos: 1, messageId: 2 }))
    await publisher.expect('puback')
    for (const wire of [plain, aliased]) {
      expect(userPropertiesOnWire((await wire.expect('publish')).bytes)).toEqual(REPEATED)
      expect(userPropertiesOnWire((await wire.expect('publish')).bytes)).toEqual(INTEGER_LIKE)
    }
  })

  it('[MQTT-3.3.2-18] a retained message keeps the order of its User Properties', async () => {
    const broker = await startBroker()
    const publisher = await connected(broker, 'publisher')
    const pairs = [...INTEGER_LIKE, ...REPEATED]
    publisher.sendRaw(publishInOrder('kept/t', 'r', pairs, { qos: 1, messageId: 1, retain: true }))
    await publisher.expect('puback')
    const late = await wireSubscribed(broker, 'late', 'kept/#')
    expect(userPropertiesOnWire((await late.expect('publish')).bytes)).toEqual(pairs)
  })

  it('[MQTT-3.3.2-18] a message queued for an offline session keeps the order of its User Properties', async () => {
    const broker = await startBroker()
    const away = await wireSubscribed(broker, 'away', 'queued/#', 1, PERSISTENT)
    away.send({ cmd: 'disconnect', reasonCode: 0 })
    await expect(away.next()).rejects.toThrow(/closed/)
    const publisher = await connected(broker, 'publisher')
    const pairs = [...REPEATED, ...INTEGER_LIKE]
    // With a Message Expiry Interval, which the broker rewrites when it delivers the message [MQTT-3.3.2-6].
    publisher.sendRaw(
      publishInOrder('queued/t', 'q', pairs, { qos: 1, messageId: 1, messageExpiryInterval: 60 }),
    )
    await publisher.expect('puback')
    const back = await wireConnected(broker, 'away', PERSISTENT)
    const { bytes, packet } = await back.expect('publish')
    expect(packet).toMatchObject({ topic: 'queued/t', qos: 1 })
    expect(userPropertiesOnWire(bytes)).toEqual(pairs)
  })
})

describe('MQTT 5.0 PUBLISH: overlapping subscriptions and Subscription Identifiers (3.3.4)', () => {
  it('[MQTT-3.3.4-2] [MQTT-3.3.4-3] [MQTT-3.3.4-4] sends a client whose subscriptions overlap one copy, at the highest QoS granted, with the identifier of every matching subscription that has one', async () => {
    const { broker, peer: publisher } = await brokerWithPeer('publisher')
    const subscriber = await connected(broker, 'subscriber')
    await subscribeWithId(subscriber, 'o/+', 0, 1, 7)
    await subscribeWithId(subscriber, 'o/#', 1, 2, 9)
    await subscribeWithId(subscriber, 'o/x', 0, 3)
    await subscribeWithId(subscriber, 'other/#', 2, 4, 11)
    await publish2(publisher, 'o/x', 'once', 1)
    await release(publisher, 1)
    const publish = await nextPublish(subscriber)
    expect(publish).toMatchObject({ topic: 'o/x', qos: 1, text: 'once' })
    expect(idsOf(publish)).toEqual([7, 9])
    subscriber.send({ cmd: 'puback', messageId: publish.messageId!, reasonCode: 0 })
    expect(await barrier(subscriber)).toEqual([])
  })

  it('[MQTT-3.3.4-5] sends a client with a shared and a non-shared subscription that both match two copies, each with the Subscription Identifier of its own subscription only', async () => {
    const { broker, peer: publisher } = await brokerWithPeer('publisher')
    const subscriber = await connected(broker, 'subscriber')
    await subscribeWithId(subscriber, 's/+', 1, 1, 3)
    await subscribeWithId(subscriber, '$share/group/s/#', 1, 2, 5)
    await subscribeWithId(subscriber, 's/x', 1, 3)
    await publish1(publisher, 's/x', 'twice', 1)
    const copies = [await nextPublish(subscriber), await nextPublish(subscriber)]
    for (const copy of copies) {
      expect(copy).toMatchObject({ topic: 's/x', qos: 1, text: 'twice' })
      subscriber.send({ cmd: 'puback', messageId: copy.messageId!, reasonCode: 0 })
    }
    // The two copies are two deliveries, in either order: the non-shared one names only its own
    // subscription with an identifier (3), the shared one only the shared subscription (5).
    expect(copies.map(idsOf).sort((a, b) => a[0]! - b[0]!)).toEqual([[3], [5]])
    expect(copies[0]!.messageId).not.toBe(copies[1]!.messageId)
    expect(await barrier(subscriber)).toEqual([])
  })
})

describe('MQTT 5.0 PUBLISH: response (3.3.4) and acknowledgements (3.4 to 3.7)', () => {
  it('[MQTT-3.3.4-1] answers QoS 0 with nothing, QoS 1 with PUBACK and QoS 2 with PUBREC', async () => {
    const { peer } = await brokerWithPeer()
    await publish0(peer, 't', 'zero')
    peer.send(publishPacket('t', 'one', { qos: 1, messageId: 1 }))
    peer.send(publishPacket('t', 'two', { qos: 2, messageId: 2 }))
    expect(await barrier(peer)).toMatchObject([
      { cmd: 'puback', messageId: 1 },
      { cmd: 'pubrec', messageId: 2 },
    ])
  })

  it('[MQTT-3.4.2-1] [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1] uses only the Reason Codes of each acknowledgement', async () => {
    const { broker, peer } = await brokerWithPeer('publisher')
    const subscriber = await subscribed(broker, 'subscriber', 't', 2)
    // A payload announced as UTF-8 that is not: refused with a Reason Code of its own (0x99).
    const invalid = { properties: { payloadFormatIndicator: true } }
    const acks = [
      await publish1(peer, 't', 'one', 1),
      await publish1(peer, 't', Buffer.from([0xff]), 2, invalid),
      await publish2(peer, 't', 'two', 3),
      await publish2(peer, 't', Buffer.from([0xc3]), 4, invalid),
    ]
    for (const ack of acks) expect(PUBACK_CODES).toContain(ack.reasonCode ?? 0)
    expect(acks.map((ack) => ack.reasonCode ?? 0)).toEqual([0, 0x99, 0, 0x99])
    peer.send({ cmd: 'pubrel', messageId: 3 })
    // An identifier nobody holds.
    peer.send({ cmd: 'pubrel', messageId: 77 })
    const completions = [await peer.expect('pubcomp'), await peer.expect('pubcomp')]
    for (const pubcomp of completions) expect(PUBREL_CODES).toContain(pubcomp.reasonCode ?? 0)
    expect(completions.map((pubcomp) => pubcomp.reasonCode ?? 0)).toEqual([0, 0x92])
    // The broker's PUBREL, towards the subscriber.
    await nextPublish(subscriber)
    const publish = await nextPublish(subscriber)
    subscriber.send({ cmd: 'pubrec', messageId: publish.messageId!, reasonCode: 0 })
    const pubrel = await subscriber.expect('pubrel')
    expect(PUBREL_CODES).toContain(pubrel.reasonCode ?? 0)
  })

  it('[MQTT-3.4.2-1] [MQTT-3.5.2-1] tells the publisher when nobody subscribes: PUBACK and PUBREC 0x10 (No matching subscribers), 0x00 once someone does', async () => {
    const { broker, peer } = await brokerWithPeer('publisher')
    expect(await publish1(peer, 't', 'one', 1)).toMatchObject({ reasonCode: 0x10 })
    expect(await publish2(peer, 't', 'two', 2)).toMatchObject({ reasonCode: 0x10 })
    // A success code: the QoS 2 exchange goes on.
    expect(await release(peer, 2)).toMatchObject({ reasonCode: 0 })
    const subscriber = await subscribed(broker, 'subscriber', 't', 2)
    expect(await publish1(peer, 't', 'three', 3)).toMatchObject({ reasonCode: 0 })
    expect(await publish2(peer, 't', 'four', 4)).toMatchObject({ reasonCode: 0 })
    expect(await release(peer, 4)).toMatchObject({ reasonCode: 0 })
    expect((await nextPublish(subscriber)).text).toBe('three')
    expect((await nextPublish(subscriber)).text).toBe('four')
  })

  it('[MQTT-3.4.2-1] [MQTT-3.5.2-1] counts the subscription of a disconnected session, whose message is queued: 0x00', async () => {
    const broker = await startBroker()
    const away = await subscribed(broker, 'away', 't', 1, PERSISTENT)
    await disconnect(away)
    const publisher = await connected(broker, 'publisher')
    expect(await publish1(publisher, 't', 'kept', 1)).toMatchObject({ reasonCode: 0 })
    expect(await nextPublish(await resumed(broker, 'away'))).toMatchObject({ text: 'kept' })
  })

  it('[MQTT-3.3.1-5] [MQTT-3.4.2-1] answers a retained PUBLISH nobody subscribes to with 0x10, and stores it all the same', async () => {
    const { broker, peer } = await brokerWithPeer('publisher')
    expect(await publish1(peer, 'r/t', 'kept', 1, { retain: true })).toMatchObject({ reasonCode: 0x10 })
    const late = await subscribed(broker, 'late', 'r/t', 1)
    expect(await nextPublish(late)).toMatchObject({ text: 'kept', retain: true })
  })

  it('[MQTT-3.4.2-2] [MQTT-3.4.2-3] [MQTT-3.5.2-2] [MQTT-3.5.2-3] keeps PUBACK and PUBREC within the client Maximum Packet Size, dropping a Reason String rather than the acknowledgement', async () => {
    const broker = await startBroker()
    const wire = await wireConnected(broker, 'small', { properties: { maximumPacketSize: 16 } })
    const properties = { payloadFormatIndicator: true }
    wire.send(publishPacket('t', Buffer.from([0xff]), { qos: 1, messageId: 1, properties }))
    wire.send(publishPacket('t', Buffer.from([0xff]), { qos: 2, messageId: 2, properties }))
    for (const cmd of ['puback', 'pubrec'] as const) {
      const { bytes, packet } = await wire.expect(cmd)
      expect(bytes.length).toBeLessThanOrEqual(16)
      expect(packet).toMatchObject({ reasonCode: 0x99 })
    }
  })

  it('[MQTT-3.6.2-2] [MQTT-3.6.2-3] [MQTT-3.7.2-2] [MQTT-3.7.2-3] keeps PUBREL and PUBCOMP within the client Maximum Packet Size', async () => {
    const broker = await startBroker()
    const wire = await wireSubscribed(broker, 'small', 't', 2, { properties: { maximumPacketSize: 16 } })
    wire.send(publishPacket('t', 'm', { qos: 2, messageId: 5 }))
    // The broker's PUBLISH to this client (it is subscribed) is written before the PUBREC for it.
    const publish = await wire.expect('publish')
    const frames = [publish, await wire.expect('pubrec')]
    wire.send({ cmd: 'pubrel', messageId: 5 })
    frames.push(await wire.expect('pubcomp'))
    wire.send({ cmd: 'pubrel', messageId: 6 })
    frames.push(await wire.expect('pubcomp'))
    if (publish.packet.cmd !== 'publish') throw new Error('no PUBLISH')
    wire.send({ cmd: 'pubrec', messageId: publish.packet.messageId!, reasonCode: 0 })
    frames.push(await wire.expect('pubrel'))
    expect(frames.slice(2).map((f) => f.packet)).toMatchObject([
      { cmd: 'pubcomp', messageId: 5, reasonCode: 0 },
      { cmd: 'pubcomp', messageId: 6, reasonCode: 0x92 },
      { cmd: 'pubrel', messageId: publish.packet.messageId, reasonCode: 0 },
    ])
    for (const f of frames) expect(f.bytes.length).toBeLessThanOrEqual(16)
  })
})
