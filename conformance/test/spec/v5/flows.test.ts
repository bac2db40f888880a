import type { Packet } from '@mqtt-stack/core'
import type { PacketPeer } from '@mqtt-stack/core/testing'
import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { barrier, nextPublish, publish1, publish2, release } from '../../support/exchanges.js'
import { publishPacket, subscribePacket } from '../../support/packets.js'
import { startWatchedBroker } from '../../support/watch.js'
import {
  brokerTime,
  brokerWithPeer,
  connect5,
  connected,
  disconnect,
  expectDisconnect,
  PERSISTENT,
  type PublishPacket,
  rawPeer,
  resumed,
  subscribe,
  subscribed,
} from './support.js'

function publishOf(packets: Packet[]): PublishPacket[] {
  return packets.filter((packet): packet is PublishPacket => packet.cmd === 'publish')
}

/** Which of two peers received something before its PINGRESP, and the other one. */
async function chosen(
  a: PacketPeer,
  b: PacketPeer,
): Promise<{ chosen: PacketPeer; other: PacketPeer; got: Packet[] }> {
  const [fromA, fromB] = [await barrier(a), await barrier(b)]
  expect(fromA.length + fromB.length).toBe(1)
  return fromA.length === 1 ? { chosen: a, other: b, got: fromA } : { chosen: b, other: a, got: fromB }
}

describe('MQTT 5.0 QoS flows, the broker as sender (4.3, 4.4)', () => {
  it('[MQTT-4.3.2-3] [MQTT-4.3.3-3] [MQTT-4.3.3-5] [MQTT-4.3.3-6] [MQTT-4.4.0-1] [MQTT-3.3.1-1] resends what is unacknowledged only when the session resumes: PUBLISH with DUP 1 and its identifier, PUBREL instead of a released PUBLISH', async () => {
    const broker = await startBroker()
    const subscriber = await subscribed(broker, 'subscriber', 't', 2, PERSISTENT)
    const publisher = await connected(broker, 'publisher')
    await publish1(publisher, 't', 'one', 1)
    await publish2(publisher, 't', 'two', 2)
    await publish2(publisher, 't', 'three', 3)
    const one = await nextPublish(subscriber)
    const two = await nextPublish(subscriber)
    const three = await nextPublish(subscriber)
    expect([one, two, three].map((p) => [p.text, p.qos, p.dup])).toEqual([
      ['one', 1, false],
      ['two', 2, false],
      ['three', 2, false],
    ])
    subscriber.send({ cmd: 'pubrec', messageId: three.messageId!, reasonCode: 0 })
    expect(await subscriber.expect('pubrel')).toMatchObject({ messageId: three.messageId })
    // Nothing is resent while the connection lasts.
    expect(await barrier(subscriber)).toEqual([])
    subscriber.destroy()

    const back = await resumed(broker, 'subscriber')
    const resent = await barrier(back)
    expect(resent).toHaveLength(3)
    expect(resent).toContainEqual(
      expect.objectContaining({ cmd: 'publish', messageId: one.messageId, qos: 1, dup: true, topic: 't' }),
    )
    expect(resent).toContainEqual(
      expect.objectContaining({ cmd: 'publish', messageId: two.messageId, qos: 2, dup: true, topic: 't' }),
    )
    expect(resent).toContainEqual(expect.objectContaining({ cmd: 'pubrel', messageId: three.messageId }))
    expect(
      publishOf(resent)
        .map((p) => p.payload.toString())
        .sort(),
    ).toEqual(['one', 'two'])

    back.send({ cmd: 'puback', messageId: one.messageId!, reasonCode: 0 })
    back.send({ cmd: 'pubrec', messageId: two.messageId!, reasonCode: 0 })
    expect(await back.expect('pubrel')).toMatchObject({ messageId: two.messageId })
    back.send({ cmd: 'pubcomp', messageId: two.messageId!, reasonCode: 0 })
    back.send({ cmd: 'pubcomp', messageId: three.messageId!, reasonCode: 0 })
    expect(await barrier(back)).toEqual([])
    back.destroy()

    // Everything was acknowledged: nothing is resent.
    const again = await resumed(broker, 'subscriber')
    expect(await barrier(again)).toEqual([])
  })

  it('[MQTT-4.4.0-2] [MQTT-4.3.3-4] a PUBACK or PUBREC with a Reason Code of 0x80 or more ends the delivery: no PUBREL, nothing resent', async () => {
    const broker = await startBroker()
    const subscriber = await subscribed(broker, 'subscriber', 't', 2, PERSISTENT)
    const publisher = await connected(broker, 'publisher')
    await publish1(publisher, 't', 'one', 1)
    await publish2(publisher, 't', 'two', 2)
    const one = await nextPublish(subscriber)
    const two = await nextPublish(subscriber)
    subscriber.send({ cmd: 'puback', messageId: one.messageId!, reasonCode: 0x80 })
    subscriber.send({ cmd: 'pubrec', messageId: two.messageId!, reasonCode: 0x83 })
    expect(await barrier(subscriber)).toEqual([])
    subscriber.destroy()
    const back = await resumed(broker, 'subscriber')
    expect(await barrier(back)).toEqual([])
  })

  it('[MQTT-4.3.3-7] does not apply message expiry to a QoS 2 PUBLISH already sent: it is resent after the interval', async () => {
    const broker = await startBroker({ keepaliveCheckInterval: 50 })
    const subscriber = await subscribed(broker, 'subscriber', 't', 2, PERSISTENT)
    const publisher = await connected(broker, 'publisher')
    await publish2(publisher, 't', 'short-lived', 1, { properties: { messageExpiryInterval: 1 } })
    const sent = await nextPublish(subscriber)
    subscriber.destroy()
    await brokerTime(broker, 1)
    const back = await resumed(broker, 'subscriber')
    expect(await nextPublish(back)).toMatchObject({
      messageId: sent.messageId,
      dup: true,
      text: 'short-lived',
    })
  })
})

describe('MQTT 5.0 acknowledgements that fit no flow of the broker (4.3, 4.13)', () => {
  it('[MQTT-4.3.3-4] [MQTT-3.6.2-1] answers a PUBREC of a Packet Identifier it has not sent with PUBREL 0x92, unless the PUBREC refuses; ignores such a PUBACK or PUBCOMP', async () => {
    const { broker, peer } = await brokerWithPeer()
    peer.send({ cmd: 'puback', messageId: 1, reasonCode: 0 })
    peer.send({ cmd: 'pubcomp', messageId: 2, reasonCode: 0 })
    // A PUBREC of 0x80 or more ends the exchange on the client's side: nothing to answer.
    peer.send({ cmd: 'pubrec', messageId: 3, reasonCode: 0x80 })
    expect(await barrier(peer)).toEqual([])
    // The client holds the identifier until PUBREL: it gets one, saying the identifier is not known.
    peer.send({ cmd: 'pubrec', messageId: 4, reasonCode: 0 })
    expect(await peer.expect('pubrel')).toMatchObject({ messageId: 4, reasonCode: 0x92 })
    peer.send({ cmd: 'pubcomp', messageId: 4, reasonCode: 0 })
    expect(await barrier(peer)).toEqual([])
    expect(broker.errors).toEqual([])
  })

  it.each([
    ['a PUBACK of a QoS 2 PUBLISH', 2, 'puback', false],
    ['a PUBCOMP of a QoS 2 PUBLISH before its PUBREC', 2, 'pubcomp', false],
    ['a PUBREC of a QoS 1 PUBLISH', 1, 'pubrec', false],
    ['a PUBACK of a PUBREL', 2, 'puback', true],
  ] as const)(
    '[MQTT-4.13.1-1] [MQTT-4.3.2-3] [MQTT-4.3.3-3] [MQTT-4.3.3-5] %s is a Protocol Error: DISCONNECT 0x82, and the message stays unacknowledged',
    async (_name, qos, cmd, released) => {
      const broker = await startBroker()
      const subscriber = await subscribed(broker, 'subscriber', 't', qos, PERSISTENT)
      const publisher = await connected(broker, 'publisher')
      await (qos === 1 ? publish1 : publish2)(publisher, 't', 'm', 1)
      const sent = await nextPublish(subscriber)
      if (released) {
        subscriber.send({ cmd: 'pubrec', messageId: sent.messageId!, reasonCode: 0 })
        await subscriber.expect('pubrel')
      }
      subscriber.send({ cmd, messageId: sent.messageId!, reasonCode: 0 })
      await expectDisconnect(subscriber, 0x82)
      // Sent again on the next connection of the session [MQTT-4.4.0-1].
      const back = await resumed(broker, 'subscriber')
      expect(await back.next()).toMatchObject(
        released
          ? { cmd: 'pubrel', messageId: sent.messageId }
          : { cmd: 'publish', messageId: sent.messageId, dup: true },
      )
    },
  )
})

describe('MQTT 5.0 QoS flows, the broker as receiver (4.3)', () => {
  it('[MQTT-4.3.2-5] after its PUBACK, takes a PUBLISH with the same Packet Identifier as a new message, DUP or not', async () => {
    const { broker, peer: publisher } = await brokerWithPeer('publisher')
    const subscriber = await subscribed(broker, 'subscriber', 't')
    await publish1(publisher, 't', 'first', 5)
    await publish1(publisher, 't', 'second', 5, { dup: true })
    await publish1(publisher, 't', 'third', 5)
    for (const text of ['first', 'second', 'third']) expect((await nextPublish(subscriber)).text).toBe(text)
  })

  it('[MQTT-4.3.3-10] [MQTT-4.3.3-12] until PUBREL, a resent QoS 2 PUBLISH gets PUBREC again and is not delivered twice; after PUBCOMP its identifier is free', async () => {
    const { broker, peer: publisher } = await brokerWithPeer('publisher')
    const subscriber = await subscribed(broker, 'subscriber', 't')
    const qos2 = (payload: string, dup: boolean) =>
      publisher.send(publishPacket('t', payload, { qos: 2, messageId: 9, dup }))
    qos2('once', false)
    expect(await publisher.expect('pubrec')).toMatchObject({ messageId: 9, reasonCode: 0 })
    qos2('once', true)
    expect(await publisher.expect('pubrec')).toMatchObject({ messageId: 9, reasonCode: 0 })
    expect((await nextPublish(subscriber)).text).toBe('once')
    expect(await barrier(subscriber)).toEqual([])
    publisher.send({ cmd: 'pubrel', messageId: 9 })
    expect(await publisher.expect('pubcomp')).toMatchObject({ messageId: 9, reasonCode: 0 })
    qos2('new', false)
    expect(await publisher.expect('pubrec')).toMatchObject({ messageId: 9, reasonCode: 0 })
    expect((await nextPublish(subscriber)).text).toBe('new')
  })

  it('[MQTT-4.3.3-9] after a PUBREC with a Reason Code of 0x80 or more, takes a PUBLISH with that identifier as a new message', async () => {
    const { broker, peer: publisher } = await brokerWithPeer('publisher')
    const subscriber = await subscribed(broker, 'subscriber', 't')
    // Announced as UTF-8 but not: refused with PUBREC 0x99.
    const invalid = { properties: { payloadFormatIndicator: true } }
    const refused = await publish2(publisher, 't', Buffer.from([0xff]), 4, invalid)
    expect(refused).toMatchObject({ reasonCode: 0x99 })
    expect(await publish2(publisher, 't', 'valid', 4)).toMatchObject({ reasonCode: 0 })
    expect((await nextPublish(subscriber)).text).toBe('valid')
  })

  it('[MQTT-4.3.3-13] goes on with the QoS 2 exchange after the message has expired: PUBREL gets PUBCOMP', async () => {
    const broker = await startBroker({ keepaliveCheckInterval: 50 })
    const publisher = await connected(broker, 'publisher')
    const expiring = { properties: { messageExpiryInterval: 1 } }
    // Accepted, with nobody subscribed: 0x10 (No matching subscribers).
    expect(await publish2(publisher, 't', 'short-lived', 3, expiring)).toMatchObject({ reasonCode: 0x10 })
    await brokerTime(broker, 1)
    expect(await release(publisher, 3)).toMatchObject({ reasonCode: 0 })
  })
})

describe('MQTT 5.0 sessions and message ordering (4.1, 4.5, 4.6)', () => {
  it('[MQTT-4.1.0-1] [MQTT-4.1.0-2] keeps a session while its connection is open, and discards it once closed for its expiry interval', async () => {
    const broker = await startBroker({ sessionExpiryCheckInterval: 20 })
    const session = { clean: false, properties: { sessionExpiryInterval: 1 } }
    const open = await subscribed(broker, 'open', 'kept', 1, session)
    const watcher = await subscribed(broker, 'watcher', 'will/#')
    const closing = await connected(broker, 'closing', {
      ...session,
      will: {
        topic: 'will/closing',
        payload: Buffer.from('session over'),
        qos: 0,
        retain: false,
        properties: { willDelayInterval: 3600 },
      },
    })
    await subscribe(closing, 'gone', 1)
    closing.destroy()
    // The will waits longer than the session lives: it is published when the session ends [MQTT-3.1.3-9].
    expect(await nextPublish(watcher)).toMatchObject({ topic: 'will/closing' })
    // The open connection has lasted longer than its own expiry interval: its session is still there.
    const publisher = await connected(broker, 'publisher')
    await publish1(publisher, 'kept', 'still here', 1)
    expect((await nextPublish(open)).text).toBe('still here')
    const back = await rawPeer(broker)
    const connack = await back.connect(connect5('closing', session))
    expect(connack).toMatchObject({ reasonCode: 0, sessionPresent: false })
  })

  it('[MQTT-4.5.0-1] adds a message to the session of every matching subscription, connected or not', async () => {
    const broker = await startBroker()
    const away = await subscribed(broker, 'away', 't', 1, PERSISTENT)
    await disconnect(away)
    const present = await subscribed(broker, 'present', 't', 1)
    const publisher = await connected(broker, 'publisher')
    await publish1(publisher, 't', 'for both', 1)
    expect((await nextPublish(present)).text).toBe('for both')
    const back = await resumed(broker, 'away')
    expect((await nextPublish(back)).text).toBe('for both')
  })

  it('[MQTT-4.6.0-5] [MQTT-4.6.0-6] forwards the messages of one client on one topic in the order it sent them, per QoS', async () => {
    const { broker, peer: publisher } = await brokerWithPeer('publisher')
    const subscriber = await subscribed(broker, 'subscriber', 'ordered', 2)
    const count = 60
    for (let i = 0; i < count; i++) {
      const qos = (i % 3) as 0 | 1 | 2
      publisher.send(publishPacket('ordered', `${i}`, qos === 0 ? {} : { qos, messageId: i + 1 }))
    }
    expect(await barrier(publisher)).toHaveLength((count * 2) / 3)
    const byQoS: number[][] = [[], [], []]
    for (let i = 0; i < count; i++) {
      const publish = await nextPublish(subscriber)
      byQoS[publish.qos]!.push(Number(publish.text))
    }
    for (const [qos, received] of byQoS.entries()) {
      const sent = Array.from({ length: count / 3 }, (_, k) => k * 3 + qos)
      expect(received).toEqual(sent)
    }
  })
})

describe('MQTT 5.0 flow control (3.3.4, 4.9)', () => {
  it('[MQTT-3.3.4-10] [MQTT-4.9.0-1] [MQTT-4.9.0-2] [MQTT-4.9.0-3] with the send quota at zero, holds QoS 1 PUBLISH but answers every other packet', async () => {
    const { broker, peer: publisher } = await brokerWithPeer('publisher')
    const subscriber = await subscribed(broker, 'subscriber', 't', 1, { properties: { receiveMaximum: 1 } })
    for (let i = 1; i <= 3; i++) await publish1(publisher, 't', `m${i}`, i)
    for (let i = 1; i <= 3; i++) {
      const publish = await nextPublish(subscriber)
      expect(publish.text).toBe(`m${i}`)
      // The quota is used up: no PUBLISH, but PINGRESP, SUBACK and UNSUBACK come.
      expect(await barrier(subscriber)).toEqual([])
      subscriber.send(subscribePacket(100 + i, [['other', 1]]))
      expect(await subscriber.expect('suback')).toMatchObject({ messageId: 100 + i })
      subscriber.send({ cmd: 'unsubscribe', messageId: 200 + i, unsubscriptions: ['other'] })
      expect(await subscriber.expect('unsuback')).toMatchObject({ messageId: 200 + i })
      subscriber.send({ cmd: 'puback', messageId: publish.messageId!, reasonCode: 0 })
    }
    expect(await barrier(subscriber)).toEqual([])
  })
})

describe('MQTT 5.0 shared subscriptions: delivery (4.8.2)', () => {
  it('[MQTT-4.8.2-4] completes a QoS 2 delivery to the chosen member when it reconnects, and gives it to no other member', async () => {
    const broker = await startBroker()
    const a = await subscribed(broker, 'member-a', '$share/g/s', 2, PERSISTENT)
    const b = await subscribed(broker, 'member-b', '$share/g/s', 2, PERSISTENT)
    const publisher = await connected(broker, 'publisher')
    await publish2(publisher, 's', 'exactly once', 1)
    const { chosen: member, other, got } = await chosen(a, b)
    const sent = got[0] as PublishPacket
    member.destroy()
    const back = await resumed(broker, member === a ? 'member-a' : 'member-b')
    expect(await nextPublish(back)).toMatchObject({
      messageId: sent.messageId,
      dup: true,
      text: 'exactly once',
    })
    expect(await barrier(other)).toEqual([])
  })

  it('[MQTT-4.8.2-5] gives a QoS 2 message sent to a member whose session ends before it reconnects to no other member (its QoS 1 message goes to another one)', async () => {
    const { broker, watch } = await startWatchedBroker()
    // No Session Expiry Interval: the session of member A ends with its connection.
    const a = await subscribed(broker, 'member-a', '$share/g/s', 2)
    const publisher = await connected(broker, 'publisher')
    await publish2(publisher, 's', 'exactly once', 1)
    await release(publisher, 1)
    await publish1(publisher, 's', 'at least once', 2)
    // A, the only member then, gets both and acknowledges neither.
    const held = [await nextPublish(a), await nextPublish(a)]
    expect(held.map((publish) => publish.text).sort()).toEqual(['at least once', 'exactly once'])
    const b = await subscribed(broker, 'member-b', '$share/g/s', 2)
    a.destroy()
    await watch.closed('member-a')
    // A's client id finds no session: it ended, and whatever it held was given to another member or dropped.
    const again = await rawPeer(broker)
    expect(await again.connect(connect5('member-a', { clean: false }))).toMatchObject({
      sessionPresent: false,
    })
    // B gets the QoS 1 message (what 4.8.2 advises), never the QoS 2 one.
    const relayed = await nextPublish(b)
    expect(relayed).toMatchObject({ qos: 1, text: 'at least once' })
    b.send({ cmd: 'puback', messageId: relayed.messageId!, reasonCode: 0 })
    expect(await barrier(b)).toEqual([])
  })

  it('[MQTT-4.8.2-6] a PUBACK with a Reason Code of 0x80 or more from a member discards the message: no other member gets it', async () => {
    const broker = await startBroker()
    const a = await subscribed(broker, 'member-a', '$share/g/s', 1)
    const b = await subscribed(broker, 'member-b', '$share/g/s', 1)
    const publisher = await connected(broker, 'publisher')
    await publish1(publisher, 's', 'refused', 1)
    const { chosen: member, other, got } = await chosen(a, b)
    member.send({ cmd: 'puback', messageId: (got[0] as PublishPacket).messageId!, reasonCode: 0x80 })
    expect(await barrier(member)).toEqual([])
    expect(await barrier(other)).toEqual([])
  })
})
