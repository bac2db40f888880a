import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { barrier, nextPublish, publish0 } from '../../support/exchanges.js'
import { publishPacket, subscribePacket } from '../../support/packets.js'
import {
  BAD_UTF8,
  brokerWithPeer,
  bytes5,
  connect5,
  connected,
  expectDisconnect,
  expectRefused,
  NUL,
  patch,
  publishInOrder,
  rawPeer,
  SURROGATE,
  subscribed,
  type UserPropertyPairs,
  wireSubscribed,
} from './support.js'

/** A QoS 0 PUBLISH to `topic`, serialised. */
function publishBytes(topic: string): Buffer {
  return bytes5(publishPacket(topic, 'x'))
}

const ILL_FORMED = [
  ...Object.entries(BAD_UTF8).map(([name, bytes]) => ({ name, bytes })),
  { name: 'an encoded surrogate (U+D800)', bytes: SURROGATE },
]

describe('MQTT 5.0 data representation: UTF-8 Encoded Strings (1.5.4)', () => {
  it.each(ILL_FORMED)(
    '[MQTT-1.5.4-1] [MQTT-3.3.2-1] a PUBLISH topic name with $name is a Malformed Packet: DISCONNECT 0x81, close',
    async ({ bytes }) => {
      const { broker, peer } = await brokerWithPeer()
      const watcher = await subscribed(broker, 'watcher', '#')
      peer.sendRaw(patch(publishBytes(`t/${'X'.repeat(bytes.length)}`), 'X'.repeat(bytes.length), bytes))
      await expectDisconnect(peer, 0x81)
      // Nothing was relayed under a repaired name.
      expect(await barrier(watcher)).toEqual([])
    },
  )

  it.each(ILL_FORMED)(
    '[MQTT-1.5.4-1] [MQTT-3.8.3-1] [MQTT-3.10.3-1] SUBSCRIBE and UNSUBSCRIBE topic filters with $name are Malformed Packets: DISCONNECT 0x81',
    async ({ bytes }) => {
      const broker = await startBroker()
      const placeholder = 'X'.repeat(bytes.length)
      for (const packet of [
        bytes5(subscribePacket(1, [[`t/${placeholder}`, 0]])),
        bytes5({ cmd: 'unsubscribe', messageId: 1, unsubscriptions: [`t/${placeholder}`] }),
      ]) {
        const peer = await connected(broker, 'filters')
        peer.sendRaw(patch(packet, placeholder, bytes))
        await expectDisconnect(peer, 0x81)
      }
    },
  )

  it.each(ILL_FORMED)(
    '[MQTT-1.5.4-1] [MQTT-3.1.3-4] [MQTT-3.1.3-11] [MQTT-3.1.3-12] a Client Identifier, Will Topic or User Name with $name is refused: no successful CONNACK, close',
    async ({ bytes }) => {
      const placeholder = 'X'.repeat(bytes.length)
      const broker = await startBroker({ users: { [`u${'\uFFFD'.repeat(bytes.length)}`]: 'pw' } })
      const will = { topic: `w/${placeholder}`, payload: Buffer.from('p'), qos: 0 as const, retain: false }
      for (const packet of [
        bytes5(connect5(`id${placeholder}`)),
        bytes5(connect5('will', { will })),
        bytes5(connect5('user', { username: `u${placeholder}`, password: Buffer.from('pw') })),
      ]) {
        await expectRefused(await rawPeer(broker), patch(packet, placeholder, bytes))
      }
    },
  )

  it('[MQTT-1.5.4-2] [MQTT-4.7.3-2] a PUBLISH topic name holding U+0000 is a Malformed Packet: DISCONNECT 0x81, close', async () => {
    const { broker, peer } = await brokerWithPeer()
    const watcher = await subscribed(broker, 'watcher', '#')
    peer.sendRaw(patch(publishBytes('t/XX'), 'XX', NUL))
    await expectDisconnect(peer, 0x81)
    expect(await barrier(watcher)).toEqual([])
  })

  it('[MQTT-1.5.4-2] [MQTT-4.7.3-2] a SUBSCRIBE topic filter holding U+0000 is a Malformed Packet: DISCONNECT 0x81, no SUBACK', async () => {
    const { peer } = await brokerWithPeer()
    peer.sendRaw(patch(bytes5(subscribePacket(1, [['t/XX', 0]])), 'XX', NUL))
    await expectDisconnect(peer, 0x81)
  })

  it('[MQTT-1.5.4-2] [MQTT-4.7.3-2] an UNSUBSCRIBE topic filter holding U+0000 is a Malformed Packet: DISCONNECT 0x81, no UNSUBACK', async () => {
    const { peer } = await brokerWithPeer()
    const unsubscribeBytes = bytes5({ cmd: 'unsubscribe', messageId: 1, unsubscriptions: ['t/XX'] })
    peer.sendRaw(patch(unsubscribeBytes, 'XX', NUL))
    await expectDisconnect(peer, 0x81)
  })

  it('[MQTT-1.5.4-2] [MQTT-3.1.3-8] [MQTT-3.1.4-1] refuses a Client Identifier holding U+0000: no successful CONNACK, close', async () => {
    const peer = await rawPeer(await startBroker())
    await expectRefused(peer, patch(bytes5(connect5('idXX')), 'XX', NUL))
  })

  it('[MQTT-1.5.4-2] [MQTT-3.1.4-1] refuses a User Name holding U+0000: no successful CONNACK, close', async () => {
    // The user and password are known, so the user name is refused for its U+0000 alone.
    const broker = await startBroker({ users: { 'ua\u0000v': 'secret' } })
    const peer = await rawPeer(broker)
    const credentials = { username: 'uXXv', password: Buffer.from('secret') }
    await expectRefused(peer, patch(bytes5(connect5('named', credentials)), 'XX', NUL))
  })

  it('[MQTT-1.5.4-2] [MQTT-3.1.3-11] refuses a Will Topic holding U+0000: no successful CONNACK, close, no will', async () => {
    const broker = await startBroker()
    const watcher = await subscribed(broker, 'watcher', '#')
    const peer = await rawPeer(broker)
    const will = { topic: 'will/XX', payload: Buffer.from('gone'), qos: 0 as const, retain: false }
    await expectRefused(peer, patch(bytes5(connect5('dying', { will })), 'XX', NUL))
    expect(await barrier(watcher)).toEqual([])
  })

  it('[MQTT-1.5.4-3] keeps U+FEFF (bytes EF BB BF) in a topic: neither stripped nor skipped when matching', async () => {
    const { broker, peer } = await brokerWithPeer('publisher')
    const withMark = await subscribed(broker, 'with-mark', '\uFEFFbom/t')
    const without = await subscribed(broker, 'without', 'bom/t')
    await publish0(peer, '\uFEFFbom/t', 'marked')
    await publish0(peer, 'bom/t', 'plain')
    const marked = await nextPublish(withMark)
    expect(marked.topic).toBe('\uFEFFbom/t')
    expect(marked.text).toBe('marked')
    expect(await barrier(withMark)).toEqual([])
    const plain = await nextPublish(without)
    expect(plain.topic).toBe('bom/t')
    expect(plain.text).toBe('plain')
    expect(await barrier(without)).toEqual([])
  })
})

describe('MQTT 5.0 data representation: UTF-8 String Pairs (1.5.7)', () => {
  it.each([...ILL_FORMED, { name: 'U+0000', bytes: NUL }])(
    '[MQTT-1.5.7-1] a User Property whose name or value holds $name is a Malformed Packet: DISCONNECT 0x81, nothing relayed',
    async ({ bytes }) => {
      const broker = await startBroker()
      const watcher = await subscribed(broker, 'watcher', '#')
      const placeholder = 'X'.repeat(bytes.length)
      const pairs: UserPropertyPairs[] = [
        [[`name${placeholder}`, 'value']],
        [['name', `value${placeholder}`]],
      ]
      for (const pair of pairs) {
        const peer = await connected(broker, 'publisher')
        peer.sendRaw(patch(publishInOrder('t', 'x', pair), placeholder, bytes))
        await expectDisconnect(peer, 0x81)
      }
      // The same pair, well-formed, goes through: only the string's bytes made the packet malformed.
      const peer = await connected(broker, 'publisher')
      peer.sendRaw(publishInOrder('t', 'x', [['name', 'value\u00e9']]))
      expect(await nextPublish(watcher)).toMatchObject({
        topic: 't',
        properties: { userProperties: { name: 'value\u00e9' } },
      })
      expect(await barrier(watcher)).toEqual([])
    },
  )
})

describe('MQTT 5.0 data representation: Variable Byte Integers (1.5.5)', () => {
  it('[MQTT-1.5.5-1] a Remaining Length of more than four bytes is a Malformed Packet: DISCONNECT 0x81, close', async () => {
    const { peer } = await brokerWithPeer()
    // PINGREQ whose length has five bytes: 0x80 0x80 0x80 0x80 0x00.
    peer.sendRaw(Buffer.from([0xc0, 0x80, 0x80, 0x80, 0x80, 0x00]))
    await expectDisconnect(peer, 0x81)
  })

  it.each([
    ['PINGREQ with 0 in two bytes', Buffer.from([0xc0, 0x80, 0x00])],
    ['PUBLISH with 5 in two bytes', Buffer.from([0x30, 0x85, 0x00, 0, 1, 0x74, 0, 0x78])],
    ['PUBLISH with 5 in four bytes', Buffer.from([0x30, 0x85, 0x80, 0x80, 0x00, 0, 1, 0x74, 0, 0x78])],
  ])(
    '[MQTT-1.5.5-1] a Remaining Length not in its fewest bytes is a Malformed Packet: DISCONNECT 0x81 (%s)',
    async (_name, bytes) => {
      const { broker, peer } = await brokerWithPeer()
      const watcher = await subscribed(broker, 'watcher', 't')
      peer.sendRaw(bytes)
      await expectDisconnect(peer, 0x81)
      expect(await barrier(watcher)).toEqual([])
    },
  )

  it('[MQTT-1.5.5-1] refuses a Remaining Length not in its fewest bytes also when it arrives in pieces', async () => {
    const { peer } = await brokerWithPeer()
    // The broker has read the first bytes of the fixed header once it answers the PINGREQ before them.
    peer.sendRaw(Buffer.from([0xc0, 0x00, 0x30, 0x85]))
    await peer.expect('pingresp')
    peer.sendRaw(Buffer.from([0x80, 0x00, 0, 1, 0x74, 0, 0x78]))
    await expectDisconnect(peer, 0x81)
  })

  it('[MQTT-1.5.5-1] writes every Remaining Length in the fewest bytes, at each boundary (127/128, 16383/16384)', async () => {
    const broker = await startBroker()
    const subscriber = await wireSubscribed(broker, 'subscriber', 't')
    const publisher = await connected(broker, 'publisher')
    // A QoS 0 PUBLISH to "t" without properties has a Remaining Length of 4 + the payload: 2 + 1 (topic), 1
    // (Property Length).
    const lengths = [127, 128, 16_383, 16_384]
    for (const length of lengths) await publish0(publisher, 't', Buffer.alloc(length - 4, 0x61))
    for (const length of lengths) {
      const { bytes } = await subscriber.expect('publish')
      const lengthBytes = length < 128 ? 1 : length < 16_384 ? 2 : 3
      expect(bytes.length).toBe(1 + lengthBytes + length)
      // The last length byte has no continuation bit; the ones before it have one.
      for (let i = 1; i < lengthBytes; i++) expect(bytes[i]! & 0x80).toBe(0x80)
      expect(bytes[lengthBytes]! & 0x80).toBe(0)
    }
  })
})
