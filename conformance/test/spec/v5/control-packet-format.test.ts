import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { controlPacket, mqttString, PINGREQ, u16 } from '../../support/bytes.js'
import { barrier, publish0, publish1, publish2 } from '../../support/exchanges.js'
import { publishPacket, subscribePacket } from '../../support/packets.js'
import {
  brokerWithPeer,
  bytes5,
  connect5,
  connected,
  expectDisconnect,
  expectRefused,
  rawPeer,
  subscribe,
  subscribed,
  wireConnected,
  wireSubscribed,
  withFlags,
} from './support.js'

/**
 * Packets a client may send after CONNECT, each with reserved flag bits (Table 2-2) that differ from the
 * required ones, and the statements that name the packet.
 */
const RESERVED_FLAGS = [
  { packet: 'PUBACK', bytes: controlPacket(0x42, u16(1)), ids: '[MQTT-2.1.3-1]' },
  { packet: 'PUBREC', bytes: controlPacket(0x58, u16(1)), ids: '[MQTT-2.1.3-1]' },
  { packet: 'PUBREL (flags 0000)', bytes: controlPacket(0x60, u16(1)), ids: '[MQTT-2.1.3-1] [MQTT-3.6.1-1]' },
  { packet: 'PUBREL (flags 0011)', bytes: controlPacket(0x63, u16(1)), ids: '[MQTT-2.1.3-1] [MQTT-3.6.1-1]' },
  { packet: 'PUBCOMP', bytes: controlPacket(0x71, u16(1)), ids: '[MQTT-2.1.3-1]' },
  {
    packet: 'SUBSCRIBE (flags 0000)',
    bytes: controlPacket(0x80, u16(1), Buffer.from([0]), mqttString('t'), Buffer.from([0])),
    ids: '[MQTT-2.1.3-1] [MQTT-3.8.1-1]',
  },
  {
    packet: 'SUBSCRIBE (flags 1010)',
    bytes: controlPacket(0x8a, u16(1), Buffer.from([0]), mqttString('t'), Buffer.from([0])),
    ids: '[MQTT-2.1.3-1] [MQTT-3.8.1-1]',
  },
  {
    packet: 'UNSUBSCRIBE (flags 0000)',
    bytes: controlPacket(0xa0, u16(1), Buffer.from([0]), mqttString('t')),
    ids: '[MQTT-2.1.3-1] [MQTT-3.10.1-1]',
  },
  {
    packet: 'UNSUBSCRIBE (flags 0110)',
    bytes: controlPacket(0xa6, u16(1), Buffer.from([0]), mqttString('t')),
    ids: '[MQTT-2.1.3-1] [MQTT-3.10.1-1]',
  },
  { packet: 'PINGREQ', bytes: controlPacket(0xc4), ids: '[MQTT-2.1.3-1]' },
  {
    packet: 'DISCONNECT',
    bytes: controlPacket(0xe1, Buffer.from([0])),
    ids: '[MQTT-2.1.3-1] [MQTT-3.14.1-1]',
  },
  {
    packet: 'AUTH',
    bytes: controlPacket(0xf8, Buffer.from([0x19, 0])),
    ids: '[MQTT-2.1.3-1] [MQTT-3.15.1-1]',
  },
]

describe('MQTT 5.0 control packet format: reserved flags of the fixed header (2.1.3)', () => {
  it.each(RESERVED_FLAGS)(
    '$ids [MQTT-4.13.1-1] a $packet with wrong reserved flags is a Malformed Packet: DISCONNECT 0x81, close',
    async ({ bytes }) => {
      const { peer } = await brokerWithPeer()
      // A PINGREQ right behind it must not be answered: nothing is processed after the malformed packet.
      peer.sendRaw(Buffer.concat([bytes, PINGREQ]))
      await expectDisconnect(peer, 0x81)
      expect(peer.received.map((packet) => packet.cmd)).toEqual(['connack', 'disconnect'])
    },
  )

  it('[MQTT-2.1.3-1] a CONNECT with wrong reserved flags is malformed: closed with no successful CONNACK', async () => {
    const peer = await rawPeer(await startBroker())
    await expectRefused(peer, withFlags(bytes5(connect5('flags')), 0x02))
  })

  it.each([
    ['CONNACK', controlPacket(0x20, Buffer.from([0, 0, 0]))],
    ['SUBACK', controlPacket(0x90, u16(1), Buffer.from([0, 0]))],
    ['UNSUBACK', controlPacket(0xb0, u16(1), Buffer.from([0, 0]))],
    ['PINGRESP', controlPacket(0xd0)],
  ])(
    '[MQTT-4.13.1-1] a %s, which only a server sends, is a Protocol Error: DISCONNECT 0x82, close',
    async (_name, bytes) => {
      const { peer } = await brokerWithPeer()
      peer.sendRaw(bytes)
      await expectDisconnect(peer, 0x82)
    },
  )

  it('[MQTT-4.13.1-1] a packet of the reserved type 0 is a Malformed Packet: DISCONNECT 0x81, close', async () => {
    const { peer } = await brokerWithPeer()
    peer.sendRaw(controlPacket(0x00))
    await expectDisconnect(peer, 0x81)
  })
})

describe('MQTT 5.0 control packet format: packet identifiers (2.2.1)', () => {
  it.each([
    ['QoS 1 PUBLISH', 1],
    ['QoS 2 PUBLISH', 2],
  ] as const)(
    '[MQTT-2.2.1-3] [MQTT-4.13.1-1] a %s with Packet Identifier 0 is a Protocol Error: DISCONNECT 0x82, nothing relayed',
    async (_name, qos) => {
      const { broker, peer } = await brokerWithPeer()
      const watcher = await subscribed(broker, 'watcher', 't')
      peer.sendRaw(
        controlPacket(0x30 | (qos << 1), mqttString('t'), u16(0), Buffer.from([0]), Buffer.from('zero')),
      )
      await expectDisconnect(peer, 0x82)
      expect(await barrier(watcher)).toEqual([])
    },
  )

  it('[MQTT-2.2.1-3] [MQTT-4.13.1-1] a SUBSCRIBE with Packet Identifier 0 is a Protocol Error: DISCONNECT 0x82, no SUBACK', async () => {
    const { peer } = await brokerWithPeer()
    peer.sendRaw(controlPacket(0x82, u16(0), Buffer.from([0]), mqttString('t'), Buffer.from([0])))
    await expectDisconnect(peer, 0x82)
  })

  it('[MQTT-2.2.1-3] [MQTT-4.13.1-1] an UNSUBSCRIBE with Packet Identifier 0 is a Protocol Error: DISCONNECT 0x82, no UNSUBACK', async () => {
    const { peer } = await brokerWithPeer()
    peer.sendRaw(controlPacket(0xa2, u16(0), Buffer.from([0]), mqttString('t')))
    await expectDisconnect(peer, 0x82)
  })

  it('[MQTT-2.2.1-2] [MQTT-4.3.1-1] sends a QoS 0 PUBLISH with no Packet Identifier and DUP 0', async () => {
    const broker = await startBroker()
    const subscriber = await wireSubscribed(broker, 'subscriber', 't')
    const publisher = await connected(broker, 'publisher')
    // Published at QoS 1 with DUP set: the QoS 0 copy has neither an identifier nor DUP.
    await publish1(publisher, 't', 'm', 7, { dup: true })
    const { bytes } = await subscriber.expect('publish')
    // Fixed header 0x30, length 5: topic "t" (3 bytes), Property Length 0, payload "m".
    expect([...bytes]).toEqual([0x30, 5, 0, 1, 0x74, 0, 0x6d])
  })

  it('[MQTT-2.2.1-4] [MQTT-4.3.2-1] [MQTT-4.3.3-1] gives every QoS 1 and 2 PUBLISH in flight its own non-zero Packet Identifier', async () => {
    const { broker, peer: subscriber } = await brokerWithPeer('subscriber')
    await subscribe(subscriber, 't', 2)
    const publisher = await connected(broker, 'publisher')
    for (let i = 1; i <= 10; i++) {
      await publish1(publisher, 't', `${i}`, i)
      await publish2(publisher, 't', `${i}`, i)
    }
    // Nothing is acknowledged, so all 20 are in flight at once.
    const ids = new Set<number>()
    for (let i = 0; i < 20; i++) {
      const publish = await subscriber.expect('publish')
      expect(publish.qos).toBe(i % 2 === 0 ? 1 : 2)
      expect(publish.messageId).toBeGreaterThan(0)
      expect(publish.messageId).toBeLessThanOrEqual(65_535)
      ids.add(publish.messageId!)
    }
    expect(ids.size).toBe(20)
  })

  it('[MQTT-2.2.1-5] [MQTT-4.3.2-4] [MQTT-4.3.3-8] [MQTT-4.3.3-11] acknowledges PUBLISH and PUBREL with their own Packet Identifier', async () => {
    const { peer } = await brokerWithPeer()
    // Nobody subscribes: accepted with 0x10 (No matching subscribers).
    peer.send(publishPacket('t', 'one', { qos: 1, messageId: 0x1234 }))
    expect(await peer.expect('puback')).toMatchObject({ messageId: 0x1234, reasonCode: 0x10 })
    peer.send(publishPacket('t', 'two', { qos: 2, messageId: 0xffff }))
    expect(await peer.expect('pubrec')).toMatchObject({ messageId: 0xffff, reasonCode: 0x10 })
    peer.send({ cmd: 'pubrel', messageId: 0xffff })
    expect(await peer.expect('pubcomp')).toMatchObject({ messageId: 0xffff, reasonCode: 0 })
  })

  it('[MQTT-2.2.1-5] [MQTT-4.3.3-4] answers the PUBREC of a QoS 2 PUBLISH it sent with a PUBREL of the same identifier', async () => {
    const { broker, peer: subscriber } = await brokerWithPeer('subscriber')
    await subscribe(subscriber, 't', 2)
    const publisher = await connected(broker, 'publisher')
    await publish2(publisher, 't', 'm', 1)
    const publish = await subscriber.expect('publish')
    subscriber.send({ cmd: 'pubrec', messageId: publish.messageId!, reasonCode: 0 })
    expect(await subscriber.expect('pubrel')).toMatchObject({ messageId: publish.messageId, reasonCode: 0 })
    subscriber.send({ cmd: 'pubcomp', messageId: publish.messageId!, reasonCode: 0 })
    expect(await barrier(subscriber)).toEqual([])
  })

  it('[MQTT-2.2.1-6] [MQTT-3.8.4-2] [MQTT-3.10.4-5] answers SUBSCRIBE and UNSUBSCRIBE with the same Packet Identifier', async () => {
    const { peer } = await brokerWithPeer()
    peer.send(subscribePacket(0xbeef, [['t', 1]]))
    expect(await peer.expect('suback')).toMatchObject({ messageId: 0xbeef, granted: [1] })
    peer.send({ cmd: 'unsubscribe', messageId: 0xfffe, unsubscriptions: ['t'] })
    expect(await peer.expect('unsuback')).toMatchObject({ messageId: 0xfffe, granted: [0] })
    // Also when nothing was subscribed.
    peer.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['t'] })
    expect(await peer.expect('unsuback')).toMatchObject({ messageId: 3, granted: [0x11] })
  })
})

describe('MQTT 5.0 control packet format: properties (2.2.2)', () => {
  it('[MQTT-2.2.2-1] writes a Property Length of 0 in packets that carry no property', async () => {
    const broker = await startBroker()
    const wire = await wireConnected(broker, 'wire')
    wire.send(subscribePacket(1, [['t', 0]]))
    // SUBACK: packet identifier, Property Length 0, reason code 0.
    expect([...(await wire.expect('suback')).bytes]).toEqual([0x90, 4, 0, 1, 0, 0])
    const publisher = await connected(broker, 'publisher')
    await publish0(publisher, 't', 'p')
    // PUBLISH: topic "t", Property Length 0, payload "p".
    expect([...(await wire.expect('publish')).bytes]).toEqual([0x30, 5, 0, 1, 0x74, 0, 0x70])
    wire.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['t'] })
    // UNSUBACK: packet identifier, Property Length 0, reason code 0.
    expect([...(await wire.expect('unsuback')).bytes]).toEqual([0xb0, 4, 0, 2, 0, 0])
  })
})
