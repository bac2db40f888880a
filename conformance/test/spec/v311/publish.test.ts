import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { controlPacket, mqttString, u16 } from '../../support/bytes.js'
import { publish1, publish2, release } from '../../support/exchanges.js'
import { publishPacket } from '../../support/packets.js'
import { WirePeer } from '../../support/wire.js'
import {
  connect4,
  connected,
  expectClosedWithoutAnswer,
  MARKER_TOPIC,
  nextAnswers,
  publishesBeforeMarker,
  publishesBeforePingresp,
  subscribed,
  subscribedWithMarker,
  subscribeWithMarker,
} from './support.js'

describe('MQTT 3.1.1 PUBLISH: fixed header (3.3.1)', () => {
  it('[MQTT-3.3.1-3] forwards a QoS 1 PUBLISH that arrived with DUP 1 as a first delivery, DUP 0', async () => {
    const broker = await startBroker()
    const subscriber = await subscribed(broker, 'dup-sub', [['dup/t', 1]])
    const publisher = await connected(broker, 'dup-pub')
    await publish1(publisher, 'dup/t', 'again', 3, { dup: true })
    const packet = await subscriber.expect('publish')
    expect([String(packet.payload), packet.qos, packet.dup]).toEqual(['again', 1, false])
  })

  it('[MQTT-3.3.1-4] closes a client that sends a PUBLISH with both QoS bits set', async () => {
    const peer = await connected(await startBroker(), 'qos3')
    await expectClosedWithoutAnswer(peer, controlPacket(0x36, mqttString('qos3/t'), u16(1), Buffer.from('x')))
  })

  it('[MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-8] stores a retained message with its QoS and sends it, RETAIN 1, to each new matching subscription', async () => {
    const broker = await startBroker()
    const publisher = await connected(broker, 'retain-pub')
    await publish2(publisher, 'keep/a/b', 'kept', 1, { retain: true })
    await release(publisher, 1)
    const exact = await subscribed(broker, 'retain-exact', [['keep/a/b', 2]])
    const first = await exact.expect('publish')
    expect([first.topic, String(first.payload), first.qos, first.retain]).toEqual([
      'keep/a/b',
      'kept',
      2,
      true,
    ])
    const wildcard = await subscribed(broker, 'retain-wild', [['keep/+/#', 1]])
    const second = await wildcard.expect('publish')
    // Sent at the lower of the stored QoS and the granted one [MQTT-3.8.4-6].
    expect([second.topic, String(second.payload), second.qos, second.retain]).toEqual([
      'keep/a/b',
      'kept',
      1,
      true,
    ])
  })

  it('[MQTT-3.3.1-7] replaces the retained message of a topic by a retained QoS 0 message', async () => {
    const broker = await startBroker()
    const publisher = await connected(broker, 'replace-pub')
    await publish1(publisher, 'replace/t', 'old', 1, { retain: true })
    publisher.send(publishPacket('replace/t', 'new', { retain: true }))
    const subscriber = await subscribedWithMarker(broker, 'replace-sub', [['replace/t', 1]])
    const retained = await publishesBeforePingresp(subscriber)
    // The broker may keep the QoS 0 message or drop it, but the old one is gone.
    expect(retained.map((packet) => [String(packet.payload), packet.qos, packet.retain])).toEqual([
      ['new', 0, true],
    ])
    expect(await publishesBeforeMarker(publisher, subscriber)).toEqual([])
  })

  it('[MQTT-3.3.1-9] forwards a retained PUBLISH to the subscriptions it matches with RETAIN 0', async () => {
    const broker = await startBroker()
    const subscriber = await subscribed(broker, 'live-sub', [['live/t', 1]])
    const publisher = await connected(broker, 'live-pub')
    publisher.send(publishPacket('live/t', 'now', { qos: 1, messageId: 1, retain: true }))
    const packet = await subscriber.expect('publish')
    expect([String(packet.payload), packet.retain]).toEqual(['now', false])
  })

  it('[MQTT-3.3.1-10] [MQTT-3.3.1-11] forwards a zero-byte retained PUBLISH like any other and removes the retained message of its topic', async () => {
    const broker = await startBroker()
    const publisher = await connected(broker, 'clear-pub')
    await publish1(publisher, 'clear/t', 'doomed', 1, { retain: true })
    const subscriber = await subscribed(broker, 'clear-sub', [['clear/t', 1]])
    expect(String((await subscriber.expect('publish')).payload)).toBe('doomed')
    publisher.send(publishPacket('clear/t', Buffer.alloc(0), { qos: 1, messageId: 2, retain: true }))
    const empty = await subscriber.expect('publish')
    expect([empty.topic, empty.payload.length, empty.retain]).toEqual(['clear/t', 0, false])
    const late = await subscribedWithMarker(broker, 'clear-late', [['clear/t', 1]])
    expect(await publishesBeforeMarker(publisher, late)).toEqual([])
  })

  it('[MQTT-3.3.1-12] neither stores nor removes a retained message for a PUBLISH with RETAIN 0', async () => {
    const broker = await startBroker()
    const publisher = await connected(broker, 'plain-pub')
    await publish1(publisher, 'plain/kept', 'retained', 1, { retain: true })
    await publish1(publisher, 'plain/kept', 'live', 2)
    await publish1(publisher, 'plain/never', 'live', 3)
    const subscriber = await subscribedWithMarker(broker, 'plain-sub', [['plain/#', 1]])
    const retained = await publishesBeforePingresp(subscriber)
    expect(retained.map((packet) => [packet.topic, String(packet.payload), packet.retain])).toEqual([
      ['plain/kept', 'retained', true],
    ])
    expect(await publishesBeforeMarker(publisher, subscriber)).toEqual([])
  })
})

describe('MQTT 3.1.1 PUBLISH: topic name (3.3.2)', () => {
  it.each(['wild/+', 'wild/#', '+', '#', 'wild+card', 'wild/#/t'])(
    '[MQTT-3.3.2-2] [MQTT-4.7.1-1] closes a client that publishes to the topic name %s',
    async (topic) => {
      const peer = await connected(await startBroker(), 'wild-pub')
      await expectClosedWithoutAnswer(peer, controlPacket(0x32, mqttString(topic), u16(1), Buffer.from('x')))
    },
  )

  it('[MQTT-3.3.2-3] sends each message with the topic name it was published to, which matches the subscription', async () => {
    const broker = await startBroker()
    const subscriber = await subscribed(broker, 'name-sub', [['name/+/x', 0]])
    const publisher = await connected(broker, 'name-pub')
    for (const topic of ['name/a/x', 'name/b/x']) publisher.send(publishPacket(topic, topic))
    const topics = [await subscriber.expect('publish'), await subscriber.expect('publish')].map((packet) => [
      packet.topic,
      String(packet.payload),
    ])
    expect(topics).toEqual([
      ['name/a/x', 'name/a/x'],
      ['name/b/x', 'name/b/x'],
    ])
  })
})

describe('MQTT 3.1.1 PUBLISH: response and actions (3.3.4, 3.3.5)', () => {
  it('[MQTT-3.3.4-1] answers a QoS 0 PUBLISH with nothing, QoS 1 with PUBACK, QoS 2 with PUBREC', async () => {
    const broker = await startBroker()
    const peer = await connected(broker, 'responses')
    peer.send(publishPacket('resp/t', 'x'))
    peer.send(publishPacket('resp/t', 'x', { qos: 1, messageId: 1 }))
    peer.send(publishPacket('resp/t', 'x', { qos: 2, messageId: 2 }))
    peer.send({ cmd: 'pingreq' })
    expect(await nextAnswers(peer, 3)).toEqual([
      ['puback', 1],
      ['pubrec', 2],
      ['pingresp', undefined],
    ])
  })

  it('[MQTT-3.3.5-1] delivers a message that matches several subscriptions of one client at the highest QoS they grant', async () => {
    const broker = await startBroker()
    const subscriber = await connected(broker, 'overlap-sub')
    expect(
      await subscribeWithMarker(subscriber, [
        ['overlap/#', 0],
        ['overlap/+', 2],
        ['overlap/t', 1],
      ]),
    ).toEqual([0, 2, 1])
    const publisher = await connected(broker, 'overlap-pub')
    publisher.send(publishPacket('overlap/t', 'x', { qos: 2, messageId: 1 }))
    const copies = await publishesBeforeMarker(publisher, subscriber)
    expect(copies.length).toBeGreaterThan(0)
    expect(Math.max(...copies.map((packet) => packet.qos))).toBe(2)
  })

  it('[MQTT-3.3.5-2] acknowledges a PUBLISH it does not authorize, keeps the connection, and delivers nothing', async () => {
    const broker = await startBroker({
      acl: [
        // Everyone may read secret/#; nobody may write it (what no rule allows is denied).
        { topic: 'secret/#', access: 'read' },
        { topic: MARKER_TOPIC, access: 'readwrite' },
      ],
    })
    const subscriber = await connected(broker, 'acl-sub')
    expect(await subscribeWithMarker(subscriber, [['secret/#', 2]])).toEqual([2])
    const publisher = await connected(broker, 'acl-pub')
    // Acknowledged as if authorized: PUBACK, then PUBREC and PUBCOMP, each with the identifier it answers.
    await publish1(publisher, 'secret/a', 'no', 1)
    await publish2(publisher, 'secret/b', 'no', 2)
    await release(publisher, 2)
    expect(await publishesBeforeMarker(publisher, subscriber)).toEqual([])
  })
})

describe('MQTT 3.1.1 acknowledgements of the broker as receiver (4.3.2, 4.3.3)', () => {
  it('[MQTT-4.3.2-2] [MQTT-4.3.3-2] acknowledges a message nobody subscribes to as any other: PUBACK, PUBREC and PUBCOMP of two bytes, no reason code', async () => {
    const { port } = await startBroker()
    const wire = await WirePeer.connect(port, 4)
    wire.send(connect4('nobody-listens'))
    await wire.expect('connack')
    wire.send(publishPacket('nobody/t', 'x', { qos: 1, messageId: 1 }))
    expect((await wire.expect('puback')).bytes).toEqual(Buffer.from([0x40, 2, 0, 1]))
    wire.send(publishPacket('nobody/t', 'x', { qos: 2, messageId: 2, retain: true }))
    expect((await wire.expect('pubrec')).bytes).toEqual(Buffer.from([0x50, 2, 0, 2]))
    wire.send({ cmd: 'pubrel', messageId: 2 })
    expect((await wire.expect('pubcomp')).bytes).toEqual(Buffer.from([0x70, 2, 0, 2]))
  })

  it('[MQTT-4.3.3-2] answers a PUBREL of a packet identifier it does not hold with PUBCOMP: the client waits for it', async () => {
    const broker = await startBroker()
    const peer = await connected(broker, 'unknown-pubrel')
    expect(await release(peer, 9)).toMatchObject({ cmd: 'pubcomp', messageId: 9 })
    // Released once already: the PUBREL sent again, after a lost PUBCOMP, gets one too.
    await publish2(peer, 'unknown/t', 'x', 10)
    await release(peer, 10)
    await release(peer, 10)
    expect(broker.errors).toEqual([])
  })
})

describe('MQTT 3.1.1 PUBREL: fixed header (3.6.1)', () => {
  it.each([
    ['0110 0000', 0x60],
    ['0110 0011', 0x63],
    ['0110 1010', 0x6a],
  ])('[MQTT-3.6.1-1] [MQTT-2.2.2-2] closes a client whose PUBREL has the first byte %s', async (_, first) => {
    const peer = await connected(await startBroker(), 'bad-pubrel')
    await publish2(peer, 'pubrel/t', 'x', 1)
    await expectClosedWithoutAnswer(peer, controlPacket(first, u16(1)))
  })
})
