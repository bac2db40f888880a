import type { PacketPeer } from '@mqtt-stack/core/testing'
import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { controlPacket, mqttString } from '../../support/bytes.js'
import { publishPacket } from '../../support/packets.js'
import {
  connected,
  expectClosedWithoutAnswer,
  publishesBeforeMarker,
  subscribe,
  subscribed,
  subscribedWithMarker,
  subscribeWithMarker,
} from './support.js'

/** Publishes each topic (QoS 0, the topic as payload) and returns the topics the subscriber got, in order. */
async function deliveredTopics(publisher: PacketPeer, subscriber: PacketPeer, topics: readonly string[]) {
  for (const topic of topics) publisher.send(publishPacket(topic, topic))
  return (await publishesBeforeMarker(publisher, subscriber)).map((packet) => packet.topic)
}

async function matching(filter: string, topics: readonly string[]): Promise<string[]> {
  const broker = await startBroker()
  const subscriber = await connected(broker, 'match-sub')
  expect(await subscribeWithMarker(subscriber, [[filter, 0]])).toEqual([0])
  const publisher = await connected(broker, 'match-pub')
  return deliveredTopics(publisher, subscriber, topics)
}

describe('MQTT 3.1.1 topic wildcards (4.7.1)', () => {
  it('[MQTT-4.7.1-2] matches # to its parent level and to any number of levels below it', async () => {
    expect(
      await matching('sport/#', [
        'sport',
        'sport/',
        'sport/tennis',
        'sport/tennis/player1',
        'sports',
        'other/sport',
      ]),
    ).toEqual(['sport', 'sport/', 'sport/tennis', 'sport/tennis/player1'])
  })

  it('[MQTT-4.7.1-2] matches # alone to every topic name not starting with $', async () => {
    expect(await matching('#', ['a', '/', 'a/b/c', '/leading'])).toEqual(['a', '/', 'a/b/c', '/leading'])
  })

  it('[MQTT-4.7.1-3] matches + to exactly one level, an empty one included', async () => {
    expect(
      await matching('sport/+/player', [
        'sport/tennis/player',
        'sport//player',
        'sport/player',
        'sport/a/b/player',
        'sport/tennis/player/x',
      ]),
    ).toEqual(['sport/tennis/player', 'sport//player'])
  })

  it('[MQTT-4.7.1-3] matches + at the first and last levels', async () => {
    expect(await matching('+/+', ['a/b', '/b', 'a/', 'a', 'a/b/c'])).toEqual(['a/b', '/b', 'a/'])
  })

  it('[MQTT-4.7.1-2] [MQTT-4.7.1-3] refuses filters whose wildcards do not fill a level or whose # is not last: 0x80, and routes nothing by them', async () => {
    const broker = await startBroker()
    const subscriber = await connected(broker, 'bad-filter-sub')
    const invalid = ['bad/#/x', 'bad#', 'bad/x#', '#/bad', 'bad+', 'bad/+x', '+bad/x', 'bad/++']
    expect(
      await subscribeWithMarker(
        subscriber,
        invalid.map((topic) => [topic, 1] as const),
      ),
    ).toEqual(invalid.map(() => 0x80))
    const publisher = await connected(broker, 'bad-filter-pub')
    expect(
      await deliveredTopics(publisher, subscriber, ['bad/a/x', 'bad', 'bad/x', 'bad/a/b/x', 'x/bad']),
    ).toEqual([])
  })
})

describe('MQTT 3.1.1 topics beginning with $ (4.7.2)', () => {
  it('[MQTT-4.7.2-1] does not match topic names beginning with $ to filters beginning with a wildcard', async () => {
    const broker = await startBroker()
    const wildcards = await subscribed(broker, 'dollar-wild', [
      ['#', 0],
      ['+/info', 0],
      ['+', 0],
    ])
    const explicit = await subscribedWithMarker(broker, 'dollar-explicit', [['$conformance/#', 0]])
    const publisher = await connected(broker, 'dollar-pub')
    const topics = ['$conformance/info', '$conformance', 'plain/info']
    expect(await deliveredTopics(publisher, wildcards, topics)).toEqual(['plain/info'])
    // The same $ topics do reach a filter that starts with the $ level itself.
    expect(await publishesBeforeMarker(publisher, explicit)).toEqual([
      expect.objectContaining({ topic: '$conformance/info' }),
      expect.objectContaining({ topic: '$conformance' }),
    ])
  })
})

describe('MQTT 3.1.1 topic semantics and usage (4.7.3)', () => {
  it('[MQTT-4.7.3-1] closes a client that publishes to a zero-length topic name', async () => {
    const peer = await connected(await startBroker(), 'empty-topic')
    await expectClosedWithoutAnswer(peer, controlPacket(0x30, mqttString(''), Buffer.from('x')))
  })

  it('[MQTT-4.7.3-1] refuses a zero-length topic filter with 0x80', async () => {
    const peer = await connected(await startBroker(), 'empty-filter')
    expect(
      await subscribe(peer, [
        ['', 1],
        ['ok', 1],
      ]),
    ).toEqual([0x80, 1])
  })

  it('[MQTT-4.7.3-3] takes a topic filter and a topic name of 65535 bytes, the most a length field holds, in characters of three bytes, and sends the name back whole', async () => {
    const broker = await startBroker()
    // 21845 characters of three bytes each (U+20AC): 65535 bytes, far fewer UTF-16 code units.
    const longest = '\u20ac'.repeat(21845)
    expect(Buffer.byteLength(longest)).toBe(65535)
    const subscriber = await subscribed(broker, 'longest-sub', [[longest, 0]])
    const publisher = await connected(broker, 'longest-pub')
    publisher.send(publishPacket(longest, 'longest'))
    const publish = await subscriber.expect('publish')
    expect(publish.topic === longest).toBe(true)
    expect(publish.payload.toString()).toBe('longest')
  })

  it('[MQTT-4.7.3-4] matches without normalising: case, Unicode normal forms, trailing separators and spaces stay distinct', async () => {
    const broker = await startBroker()
    const subscriber = await subscribedWithMarker(broker, 'exact-match', [
      ['Case/x', 0],
      ['caf\u00e9/x', 0],
      ['space /x', 0],
    ])
    const publisher = await connected(broker, 'exact-match-pub')
    const topics = [
      'case/x',
      'CASE/x',
      'Case/x/',
      'cafe\u0301/x',
      'space/x',
      ' space /x',
      'Case/x',
      'caf\u00e9/x',
      'space /x',
    ]
    expect(await deliveredTopics(publisher, subscriber, topics)).toEqual([
      'Case/x',
      'caf\u00e9/x',
      'space /x',
    ])
  })
})
