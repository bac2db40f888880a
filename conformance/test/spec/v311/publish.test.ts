import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import {
  connected,
  controlPacket,
  expectClosedWithoutAnswer,
  MARKER_TOPIC,
  mqttString,
  publishesBeforeMarker,
  subscribe,
  u16,
} from './support.js'

describe('MQTT 3.1.1 PUBLISH: fixed header (3.3.1)', () => {
  it('[MQTT-3.3.1-3] forwards a QoS 1 PUBLISH that arrived with DUP 1 as a first delivery, DUP 0', async () => {
    const broker = await startBroker()
    const subscriber = await connected(broker, 'dup-sub')
    await subscribe(subscriber, [['dup/t', 1]])
    const publisher = await connected(broker, 'dup-pub')
    publisher.send({
      cmd: 'publish',
      messageId: 3,
      topic: 'dup/t',
      payload: 'again',
      qos: 1,
      retain: false,
      dup: true,
    })
    await publisher.expect('puback')
    const packet = await subscriber.expect('publish')
    expect([String(packet.payload), packet.qos, packet.dup]).toEqual(['again', 1, false])
  })

  it('[MQTT-3.3.1-4] closes a client that sends a PUBLISH with both QoS bits set', async () => {
    const broker = await startBroker()
    const peer = await connected(broker, 'qos3')
    await expectClosedWithoutAnswer(peer, controlPacket(0x36, mqttString('qos3/t'), u16(1), Buffer.from('x')))
  })

  it('[MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-8] stores a retained message with its QoS and sends it, RETAIN 1, to each new matching subscription', async () => {
    const broker = await startBroker()
    const publisher = await connected(broker, 'retain-pub')
    publisher.send({
      cmd: 'publish',
      messageId: 1,
      topic: 'keep/a/b',
      payload: 'kept',
      qos: 2,
      retain: true,
      dup: false,
    })
    await publisher.expect('pubrec')
    publisher.send({ cmd: 'pubrel', messageId: 1 })
    await publisher.expect('pubcomp')
    const exact = await connected(broker, 'retain-exact')
    await subscribe(exact, [['keep/a/b', 2]])
    const first = await exact.expect('publish')
    expect([first.topic, String(first.payload), first.qos, first.retain]).toEqual([
      'keep/a/b',
      'kept',
      2,
      true,
    ])
    const wildcard = await connected(broker, 'retain-wild')
    await subscribe(wildcard, [['keep/+/#', 1]])
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
    publisher.send({
      cmd: 'publish',
      messageId: 1,
      topic: 'replace/t',
      payload: 'old',
      qos: 1,
      retain: true,
      dup: false,
    })
    await publisher.expect('puback')
    publisher.send({ cmd: 'publish', topic: 'replace/t', payload: 'new', qos: 0, retain: true, dup: false })
    const subscriber = await connected(broker, 'replace-sub')
    await subscribe(subscriber, [
      ['replace/t', 1],
      [MARKER_TOPIC, 0],
    ])
    const retained = await publishesBeforeMarker(publisher, subscriber)
    // The broker may keep the QoS 0 message or drop it, but the old one is gone.
    expect(retained.map((packet) => [String(packet.payload), packet.qos, packet.retain])).toEqual([
      ['new', 0, true],
    ])
  })

  it('[MQTT-3.3.1-9] forwards a retained PUBLISH to the subscriptions it matches with RETAIN 0', async () => {
    const broker = await startBroker()
    const subscriber = await connected(broker, 'live-sub')
    await subscribe(subscriber, [['live/t', 1]])
    const publisher = await connected(broker, 'live-pub')
    publisher.send({
      cmd: 'publish',
      messageId: 1,
      topic: 'live/t',
      payload: 'now',
      qos: 1,
      retain: true,
      dup: false,
    })
    const packet = await subscriber.expect('publish')
    expect([String(packet.payload), packet.retain]).toEqual(['now', false])
  })

  it('[MQTT-3.3.1-10] [MQTT-3.3.1-11] forwards a zero-byte retained PUBLISH like any other and removes the retained message of its topic', async () => {
    const broker = await startBroker()
    const publisher = await connected(broker, 'clear-pub')
    publisher.send({
      cmd: 'publish',
      messageId: 1,
      topic: 'clear/t',
      payload: 'doomed',
      qos: 1,
      retain: true,
      dup: false,
    })
    await publisher.expect('puback')
    const subscriber = await connected(broker, 'clear-sub')
    await subscribe(subscriber, [['clear/t', 1]])
    expect(String((await subscriber.expect('publish')).payload)).toBe('doomed')
    publisher.send({
      cmd: 'publish',
      messageId: 2,
      topic: 'clear/t',
      payload: Buffer.alloc(0),
      qos: 1,
      retain: true,
      dup: false,
    })
    const empty = await subscriber.expect('publish')
    expect([empty.topic, empty.payload.length, empty.retain]).toEqual(['clear/t', 0, false])
    const late = await connected(broker, 'clear-late')
    await subscribe(late, [
      ['clear/t', 1],
      [MARKER_TOPIC, 0],
    ])
    expect(await publishesBeforeMarker(publisher, late)).toEqual([])
  })

  it('[MQTT-3.3.1-12] neither stores nor removes a retained message for a PUBLISH with RETAIN 0', async () => {
    const broker = await startBroker()
    const publisher = await connected(broker, 'plain-pub')
    publisher.send({
      cmd: 'publish',
      messageId: 1,
      topic: 'plain/kept',
      payload: 'retained',
      qos: 1,
      retain: true,
      dup: false,
    })
    await publisher.expect('puback')
    publisher.send({
      cmd: 'publish',
      messageId: 2,
      topic: 'plain/kept',
      payload: 'live',
      qos: 1,
      retain: false,
      dup: false,
    })
    await publisher.expect('puback')
    publisher.send({
      cmd: 'publish',
      messageId: 3,
      topic: 'plain/never',
      payload: 'live',
      qos: 1,
      retain: false,
      dup: false,
    })
    await publisher.expect('puback')
    const subscriber = await connected(broker, 'plain-sub')
    await subscribe(subscriber, [
      ['plain/#', 1],
      [MARKER_TOPIC, 0],
    ])
    const retained = await publishesBeforeMarker(publisher, subscriber)
    expect(retained.map((packet) => [packet.topic, String(packet.payload), packet.retain])).toEqual([
      ['plain/kept', 'retained', true],
    ])
  })
})

describe('MQTT 3.1.1 PUBLISH: topic name (3.3.2)', () => {
  it.each(['wild/+', 'wild/#', '+', '#', 'wild+card', 'wild/#/t'])(
    '[MQTT-3.3.2-2] [MQTT-4.7.1-1] closes a client that publishes to the topic name %s',
    async (topic) => {
      const broker = await startBroker()
      const peer = await connected(broker, 'wild-pub')
      await expectClosedWithoutAnswer(peer, controlPacket(0x32, mqttString(topic), u16(1), Buffer.from('x')))
    },
  )

  it('[MQTT-3.3.2-3] sends each message with the topic name it was published to, which matches the subscription', async () => {
    const broker = await startBroker()
    const subscriber = await connected(broker, 'name-sub')
    await subscribe(subscriber, [['name/+/x', 0]])
    const publisher = await connected(broker, 'name-pub')
    for (const topic of ['name/a/x', 'name/b/x']) {
      publisher.send({ cmd: 'publish', topic, payload: topic, qos: 0, retain: false, dup: false })
    }
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
    peer.send({ cmd: 'publish', topic: 'resp/t', payload: 'x', qos: 0, retain: false, dup: false })
    peer.send({
      cmd: 'publish',
      messageId: 1,
      topic: 'resp/t',
      payload: 'x',
      qos: 1,
      retain: false,
      dup: false,
    })
    peer.send({
      cmd: 'publish',
      messageId: 2,
      topic: 'resp/t',
      payload: 'x',
      qos: 2,
      retain: false,
      dup: false,
    })
    peer.send({ cmd: 'pingreq' })
    const answers = []
    for (let i = 0; i < 3; i++) {
      const packet = await peer.next()
      answers.push([packet.cmd, 'messageId' in packet ? packet.messageId : undefined])
    }
    expect(answers).toEqual([
      ['puback', 1],
      ['pubrec', 2],
      ['pingresp', undefined],
    ])
  })

  it('[MQTT-3.3.5-1] delivers a message that matches several subscriptions of one client at the highest QoS they grant', async () => {
    const broker = await startBroker()
    const subscriber = await connected(broker, 'overlap-sub')
    expect(
      await subscribe(subscriber, [
        ['overlap/#', 0],
        ['overlap/+', 2],
        ['overlap/t', 1],
        [MARKER_TOPIC, 0],
      ]),
    ).toEqual([0, 2, 1, 0])
    const publisher = await connected(broker, 'overlap-pub')
    publisher.send({
      cmd: 'publish',
      messageId: 1,
      topic: 'overlap/t',
      payload: 'x',
      qos: 2,
      retain: false,
      dup: false,
    })
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
    expect(
      await subscribe(subscriber, [
        ['secret/#', 2],
        [MARKER_TOPIC, 0],
      ]),
    ).toEqual([2, 0])
    const publisher = await connected(broker, 'acl-pub')
    publisher.send({
      cmd: 'publish',
      messageId: 1,
      topic: 'secret/a',
      payload: 'no',
      qos: 1,
      retain: false,
      dup: false,
    })
    expect((await publisher.expect('puback')).messageId).toBe(1)
    publisher.send({
      cmd: 'publish',
      messageId: 2,
      topic: 'secret/b',
      payload: 'no',
      qos: 2,
      retain: false,
      dup: false,
    })
    expect((await publisher.expect('pubrec')).messageId).toBe(2)
    publisher.send({ cmd: 'pubrel', messageId: 2 })
    expect((await publisher.expect('pubcomp')).messageId).toBe(2)
    expect(await publishesBeforeMarker(publisher, subscriber)).toEqual([])
  })
})

describe('MQTT 3.1.1 PUBREL: fixed header (3.6.1)', () => {
  it.each([
    ['0110 0000', 0x60],
    ['0110 0011', 0x63],
    ['0110 1010', 0x6a],
  ])('[MQTT-3.6.1-1] [MQTT-2.2.2-2] closes a client whose PUBREL has the first byte %s', async (_, first) => {
    const broker = await startBroker()
    const peer = await connected(broker, 'bad-pubrel')
    peer.send({
      cmd: 'publish',
      messageId: 1,
      topic: 'pubrel/t',
      payload: 'x',
      qos: 2,
      retain: false,
      dup: false,
    })
    await peer.expect('pubrec')
    await expectClosedWithoutAnswer(peer, controlPacket(first, u16(1)))
  })
})
