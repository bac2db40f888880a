import type { PacketOf } from '@mqtt-stack/core'
import { describe, expect, it } from 'vitest'
import { controlPacket, mqttString } from '../../support/bytes.js'
import { barrier, nextPublish, publish0 } from '../../support/exchanges.js'
import { publishPacket, subscribePacket } from '../../support/packets.js'
import { brokerWithPeer, expectDisconnect, subscribed } from './support.js'

/** A SUBSCRIBE with identifier 1 of each filter at QoS 0. */
function subscribeAll(filters: readonly string[]): PacketOf<'subscribe'> {
  const pairs = filters.map((topic): [string, 0] => [topic, 0])
  return subscribePacket(1, pairs)
}

describe('MQTT 5.0 topic names and filters: wildcards (4.7.0, 4.7.1)', () => {
  it.each(['a/+', '+', 'a/#', '#', 'a+b', 'a/b#'])(
    '[MQTT-4.7.0-1] [MQTT-3.3.2-2] a PUBLISH to the Topic Name "%s" is refused: DISCONNECT 0x90, nothing relayed',
    async (topic) => {
      const { broker, peer } = await brokerWithPeer()
      const watcher = await subscribed(broker, 'watcher', '#')
      peer.send(publishPacket(topic, 'wild'))
      await expectDisconnect(peer, 0x90)
      expect(await barrier(watcher)).toEqual([])
    },
  )

  it('[MQTT-4.7.1-1] accepts "#" alone or after "/" as the last level, refuses it anywhere else with 0x8F', async () => {
    const { peer } = await brokerWithPeer()
    const filters = ['#', 'a/#', 'a/b/#', '/#', 'a#', 'a/#/b', '#/a', 'a/b#', '##']
    peer.send(subscribeAll(filters))
    expect((await peer.expect('suback')).granted).toEqual([0, 0, 0, 0, 0x8f, 0x8f, 0x8f, 0x8f, 0x8f])
  })

  it('[MQTT-4.7.1-2] accepts "+" occupying a whole level anywhere, refuses it inside a level with 0x8F', async () => {
    const { peer } = await brokerWithPeer()
    const filters = ['+', '+/+', 'a/+/b', '+/a/#', '/+', 'a+', '+a', 'a/b+/c', '++']
    peer.send(subscribeAll(filters))
    expect((await peer.expect('suback')).granted).toEqual([0, 0, 0, 0, 0, 0x8f, 0x8f, 0x8f, 0x8f])
  })

  it('[MQTT-4.7.1-1] [MQTT-4.7.1-2] matches "#" on the parent level and any below, "+" on exactly one level', async () => {
    const { broker, peer: publisher } = await brokerWithPeer('publisher')
    const multi = await subscribed(broker, 'multi', 'a/#')
    const single = await subscribed(broker, 'single', 'a/+')
    for (const topic of ['a', 'a/b', 'a/b/c', 'b/a']) await publish0(publisher, topic, topic)
    for (const topic of ['a', 'a/b', 'a/b/c']) expect((await nextPublish(multi)).topic).toBe(topic)
    expect(await barrier(multi)).toEqual([])
    expect((await nextPublish(single)).topic).toBe('a/b')
    expect(await barrier(single)).toEqual([])
  })
})

describe('MQTT 5.0 topic names and filters: topics beginning with $ (4.7.2)', () => {
  it('[MQTT-4.7.2-1] does not match filters starting with a wildcard against topic names starting with "$"', async () => {
    const { broker, peer: publisher } = await brokerWithPeer('publisher')
    const wildcards = await subscribed(broker, 'wildcards', ['#', '+/info', '+/+'])
    const dollar = await subscribed(broker, 'dollar', ['$app/#', '$app/+'])
    await publish0(publisher, '$app/info', 'dollar')
    expect(await nextPublish(dollar)).toMatchObject({ topic: '$app/info', text: 'dollar' })
    expect(await barrier(dollar)).toEqual([])
    expect(await barrier(wildcards)).toEqual([])
    // The same filters do match the topic without its "$".
    await publish0(publisher, 'app/info', 'plain')
    expect(await nextPublish(wildcards)).toMatchObject({ topic: 'app/info', text: 'plain' })
    expect(await barrier(wildcards)).toEqual([])
  })
})

describe('MQTT 5.0 topic names and filters: semantics (4.7.3)', () => {
  it('[MQTT-4.7.3-1] refuses an empty Topic Filter with 0x8F', async () => {
    const { peer } = await brokerWithPeer()
    peer.send(subscribePacket(1, [['', 0]]))
    expect((await peer.expect('suback')).granted).toEqual([0x8f])
  })

  it('[MQTT-4.7.3-1] [MQTT-4.13.1-1] an empty Topic Name without a Topic Alias closes the connection (0x82 or 0x90)', async () => {
    const { peer } = await brokerWithPeer()
    peer.sendRaw(controlPacket(0x30, mqttString(''), Buffer.from([0]), Buffer.from('nameless')))
    const disconnect = await peer.expect('disconnect')
    // 3.3.2.1 calls it a Protocol Error; 0x90 (Topic Name invalid) says as much.
    expect([0x82, 0x90]).toContain(disconnect.reasonCode)
    await peer.closed()
  })

  it('[MQTT-4.7.3-3] takes a Topic Filter and a Topic Name of 65535 bytes, the most a length field holds, in characters of three bytes, and sends the name back whole', async () => {
    const { broker, peer: publisher } = await brokerWithPeer('publisher')
    // 21845 characters of three bytes each (U+20AC): 65535 bytes, far fewer UTF-16 code units.
    const longest = '\u20ac'.repeat(21845)
    expect(Buffer.byteLength(longest)).toBe(65535)
    const subscriber = await subscribed(broker, 'subscriber', longest)
    await publish0(publisher, longest, 'longest')
    const publish = await nextPublish(subscriber)
    expect(publish.topic === longest).toBe(true)
    expect(publish.text).toBe('longest')
  })

  it('[MQTT-4.7.3-4] matches without normalising: case, Unicode forms and empty levels all count', async () => {
    const { broker, peer: publisher } = await brokerWithPeer('publisher')
    // "café" with a precomposed é (NFC), "Case", and "a/b".
    const subscriber = await subscribed(broker, 'subscriber', ['caf\u00e9', 'Case', 'a/b'])
    // The same café decomposed (NFD), other cases, and "a/b" with an empty level or a trailing "/".
    for (const topic of ['cafe\u0301', 'case', 'CASE', 'a//b', 'a/b/', '/a/b'])
      await publish0(publisher, topic, topic)
    expect(await barrier(subscriber)).toEqual([])
    for (const topic of ['caf\u00e9', 'Case', 'a/b']) await publish0(publisher, topic, topic)
    for (const topic of ['caf\u00e9', 'Case', 'a/b'])
      expect((await nextPublish(subscriber)).topic).toBe(topic)
  })
})

describe('MQTT 5.0 shared subscriptions (4.8.2)', () => {
  it('[MQTT-4.8.2-1] [MQTT-4.8.2-2] accepts $share/{ShareName}/{filter} only with a ShareName of one or more characters free of "/", "+" and "#"', async () => {
    const { peer } = await brokerWithPeer()
    const filters = [
      '$share/g/t',
      '$share/group/a/+/#',
      '$share//t',
      '$share/g',
      '$share/g/',
      '$share/g+/t',
      '$share/g#/t',
      '$share/+/t',
      '$share/#',
    ]
    peer.send(subscribeAll(filters))
    expect((await peer.expect('suback')).granted).toEqual([0, 0, 0x8f, 0x8f, 0x8f, 0x8f, 0x8f, 0x8f, 0x8f])
  })
})
