import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { controlPacket, mqttString, u16 } from '../../support/bytes.js'
import { publishPacket, subscribePacket } from '../../support/packets.js'
import { WirePeer } from '../../support/wire.js'
import { bytes4, connect4, connected, expectClosedWithoutAnswer, nextAnswers, subscribed } from './support.js'

describe('MQTT 3.1.1 control packet format: fixed header flags (2.2.2)', () => {
  it('[MQTT-2.2.2-1] sends every packet with the flag bits that Table 2.2 lists for its type', async () => {
    const { port } = await startBroker()
    const client = await WirePeer.connect(port, 4)
    client.send(connect4('flags'))
    const firstBytes: Record<string, number> = {}
    const take = async (name: string) => {
      const { bytes } = await client.next()
      firstBytes[name] = bytes[0]!
      return bytes
    }
    await take('connack')
    client.send(subscribePacket(1, [['flags/q2', 2]]))
    await take('suback')
    client.send(publishPacket('flags/none', 'x', { qos: 1, messageId: 2 }))
    await take('puback')
    client.send(publishPacket('flags/none', 'x', { qos: 2, messageId: 3 }))
    await take('pubrec')
    client.send({ cmd: 'pubrel', messageId: 3 })
    await take('pubcomp')
    // A QoS 2 message to its own subscription: the broker's PUBLISH, then (our PUBREC) its PUBREL.
    client.send(publishPacket('flags/q2', 'x', { qos: 2, messageId: 4 }))
    const frames = [(await client.next()).bytes, (await client.next()).bytes]
    const publish = frames.find((frame) => frame[0]! >> 4 === 3)!
    expect(publish).toBeDefined()
    firstBytes.publish = publish[0]!
    const id = publish.readUInt16BE(2 + 2 + 'flags/q2'.length)
    client.send({ cmd: 'pubrec', messageId: id })
    await take('pubrel')
    client.send({ cmd: 'pubcomp', messageId: id })
    client.send({ cmd: 'unsubscribe', messageId: 5, unsubscriptions: ['flags/q2'] })
    await take('unsuback')
    client.send({ cmd: 'pingreq' })
    await take('pingresp')
    expect(firstBytes).toEqual({
      connack: 0x20,
      suback: 0x90,
      puback: 0x40,
      pubrec: 0x50,
      pubcomp: 0x70,
      // QoS 2, DUP 0 (a first delivery), RETAIN 0 (a live message)
      publish: 0x34,
      pubrel: 0x62,
      unsuback: 0xb0,
      pingresp: 0xd0,
    })
  })

  const badFlags: readonly [string, Buffer][] = [
    ['PUBACK with flags 0001', controlPacket(0x41, u16(1))],
    ['PUBREC with flags 0010', controlPacket(0x52, u16(1))],
    ['PUBCOMP with flags 1000', controlPacket(0x78, u16(1))],
    ['PINGREQ with flags 0001', Buffer.from([0xc1, 0x00])],
  ]
  it.each(badFlags)('[MQTT-2.2.2-2] closes a client that sends %s', async (_, bytes) => {
    await expectClosedWithoutAnswer(await connected(await startBroker(), 'bad-flags'), bytes)
  })

  it('[MQTT-2.2.2-2] [MQTT-3.1.0-1] closes a connection whose CONNECT has flags other than 0000', async () => {
    const { raw } = await startBroker()
    const connect = bytes4(connect4('bad-connect'))
    connect[0] = 0x12
    await expectClosedWithoutAnswer(await raw(), connect)
  })
})

describe('MQTT 3.1.1 control packet format: packet identifiers (2.3.1)', () => {
  const zeroIds: readonly [string, Buffer][] = [
    ['a QoS 1 PUBLISH', controlPacket(0x32, mqttString('zero/t'), u16(0), Buffer.from('x'))],
    ['a QoS 2 PUBLISH', controlPacket(0x34, mqttString('zero/t'), u16(0), Buffer.from('x'))],
    ['a SUBSCRIBE', controlPacket(0x82, u16(0), mqttString('zero/t'), Buffer.from([1]))],
    ['an UNSUBSCRIBE', controlPacket(0xa2, u16(0), mqttString('zero/t'))],
  ]
  it.each(zeroIds)(
    '[MQTT-2.3.1-1] closes a client that sends %s with packet identifier 0',
    async (_, bytes) => {
      await expectClosedWithoutAnswer(await connected(await startBroker(), 'zero-id'), bytes)
    },
  )

  it('[MQTT-2.3.1-4] [MQTT-2.3.1-6] gives each QoS 1 and 2 message a non-zero identifier no unacknowledged one holds, and sends PUBREL with the identifier of its PUBLISH', async () => {
    const broker = await startBroker()
    const subscriber = await subscribed(broker, 'ids-sub', [['ids/#', 2]])
    const publisher = await connected(broker, 'ids-pub')
    for (let i = 0; i < 10; i++) {
      publisher.send(publishPacket(`ids/${i}`, String(i), { qos: i % 2 === 0 ? 1 : 2, messageId: 100 + i }))
    }
    const received = []
    for (let i = 0; i < 10; i++) received.push(await subscriber.expect('publish'))
    const ids = received.map((packet) => packet.messageId)
    expect(ids.every((id) => typeof id === 'number' && id > 0 && id <= 0xffff)).toBe(true)
    expect(new Set(ids).size).toBe(10)
    // Each PUBREC gets a PUBREL with the identifier of that PUBLISH.
    const qos2 = received.filter((packet) => packet.qos === 2)
    for (const packet of qos2) subscriber.send({ cmd: 'pubrec', messageId: packet.messageId! })
    const pubrels = []
    for (const _ of qos2) pubrels.push((await subscriber.expect('pubrel')).messageId)
    expect(pubrels).toEqual(qos2.map((packet) => packet.messageId))
  })

  it('[MQTT-2.3.1-5] sends a QoS 0 PUBLISH without a packet identifier', async () => {
    const broker = await startBroker()
    const subscriber = await WirePeer.connect(broker.port, 4)
    subscriber.send(connect4('q0-raw'))
    expect((await subscriber.next()).bytes[0]).toBe(0x20)
    subscriber.send(subscribePacket(1, [['q0/t', 0]]))
    expect((await subscriber.next()).bytes[0]).toBe(0x90)
    const publisher = await connected(broker, 'q0-pub')
    // Published at QoS 1, delivered at the granted QoS 0.
    publisher.send(publishPacket('q0/t', 'payload', { qos: 1, messageId: 7 }))
    const { bytes } = await subscriber.next()
    // Fixed header, then the topic, then the payload: nothing between them.
    expect(bytes).toEqual(controlPacket(0x30, mqttString('q0/t'), Buffer.from('payload')))
  })

  it('[MQTT-2.3.1-6] acknowledges a PUBLISH with its packet identifier (PUBACK, PUBREC) and a PUBREL with its own (PUBCOMP)', async () => {
    const broker = await startBroker()
    const peer = await connected(broker, 'ack-ids')
    peer.send(publishPacket('ack/t', 'x', { qos: 1, messageId: 1234 }))
    peer.send(publishPacket('ack/t', 'x', { qos: 2, messageId: 65535 }))
    expect((await peer.expect('puback')).messageId).toBe(1234)
    expect((await peer.expect('pubrec')).messageId).toBe(65535)
    peer.send({ cmd: 'pubrel', messageId: 65535 })
    expect((await peer.expect('pubcomp')).messageId).toBe(65535)
  })

  it('[MQTT-2.3.1-7] answers each SUBSCRIBE and UNSUBSCRIBE with the packet identifier it carried', async () => {
    const broker = await startBroker()
    const peer = await connected(broker, 'sub-ids')
    peer.send(subscribePacket(7, [['a', 0]]))
    peer.send({ cmd: 'unsubscribe', messageId: 8, unsubscriptions: ['a'] })
    peer.send(subscribePacket(65535, [['b', 1]]))
    peer.send({ cmd: 'unsubscribe', messageId: 1, unsubscriptions: ['b'] })
    expect(await nextAnswers(peer, 4)).toEqual([
      ['suback', 7],
      ['unsuback', 8],
      ['suback', 65535],
      ['unsuback', 1],
    ])
  })
})

describe('MQTT 3.1.1 control packet format: packet types (2.2.1)', () => {
  const reserved: readonly [string, Buffer][] = [
    ['0', Buffer.from([0x00, 0x00])],
    ['15', Buffer.from([0xf0, 0x00])],
  ]
  it.each(reserved)(
    '[MQTT-4.8.0-1] closes a client that sends a packet of the reserved type %s',
    async (_, bytes) => {
      await expectClosedWithoutAnswer(await connected(await startBroker(), 'reserved-type'), bytes)
    },
  )

  const serverOnly: readonly [string, Buffer][] = [
    ['CONNACK', Buffer.from([0x20, 0x02, 0x00, 0x00])],
    ['SUBACK', controlPacket(0x90, u16(1), Buffer.from([0]))],
    ['UNSUBACK', controlPacket(0xb0, u16(1))],
    ['PINGRESP', Buffer.from([0xd0, 0x00])],
  ]
  it.each(serverOnly)(
    '[MQTT-4.8.0-1] closes a client that sends %s, which only a server sends',
    async (_, bytes) => {
      await expectClosedWithoutAnswer(await connected(await startBroker(), 'server-only'), bytes)
    },
  )
})
