import type { PacketOf } from '@mqtt-stack/core'
import type { PacketPeer } from '@mqtt-stack/core/testing'
import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { connected, MARKER_TOPIC, publishesBeforeMarker, startWatchedBroker, subscribe } from './support.js'

async function nextPublishes(peer: PacketPeer, count: number): Promise<PacketOf<'publish'>[]> {
  const packets: PacketOf<'publish'>[] = []
  for (let i = 0; i < count; i++) packets.push(await peer.expect('publish'))
  return packets
}

function publish(
  peer: PacketPeer,
  topic: string,
  payload: string,
  qos: 0 | 1 | 2,
  messageId?: number,
  dup = false,
) {
  peer.send({
    cmd: 'publish',
    topic,
    payload,
    qos,
    retain: false,
    dup,
    ...(qos > 0 ? { messageId: messageId ?? 1 } : {}),
  })
}

describe('MQTT 3.1.1 QoS 0 and QoS 1 flows (4.3.1, 4.3.2)', () => {
  it('[MQTT-4.3.1-1] [MQTT-3.3.1-2] sends a QoS 0 message as a PUBLISH with QoS 0 and DUP 0', async () => {
    const broker = await startBroker()
    const subscriber = await connected(broker, 'q0-sub')
    await subscribe(subscriber, [['q0/t', 2]])
    const publisher = await connected(broker, 'q0-pub')
    publish(publisher, 'q0/t', 'x', 0)
    const packet = await subscriber.expect('publish')
    expect([packet.qos, packet.dup, packet.messageId]).toEqual([0, false, undefined])
  })

  it('[MQTT-4.3.2-1] [MQTT-4.4.0-1] [MQTT-3.3.1-1] [MQTT-4.1.0-1] keeps a QoS 1 message sent with DUP 0 until its PUBACK: a reconnected session gets it again with DUP 1 and the same identifier, and not once acknowledged', async () => {
    const broker = await startWatchedBroker()
    const subscriber = await connected(broker, 'q1', { clean: false })
    await subscribe(subscriber, [
      ['q1/t', 1],
      [MARKER_TOPIC, 0],
    ])
    const publisher = await connected(broker, 'q1-pub')
    publish(publisher, 'q1/t', 'once', 1)
    const first = await subscriber.expect('publish')
    expect([first.qos, first.dup]).toEqual([1, false])
    subscriber.destroy()
    await broker.ended('q1')

    const again = await broker.raw()
    expect((await again.connect({ clientId: 'q1', clean: false })).sessionPresent).toBe(true)
    const resent = await again.expect('publish')
    expect([String(resent.payload), resent.qos, resent.dup, resent.messageId]).toEqual([
      'once',
      1,
      true,
      first.messageId,
    ])
    again.send({ cmd: 'puback', messageId: resent.messageId! })
    again.send({ cmd: 'disconnect' })
    await broker.ended('q1')

    const last = await broker.raw()
    expect((await last.connect({ clientId: 'q1', clean: false })).sessionPresent).toBe(true)
    expect(await publishesBeforeMarker(publisher, last)).toEqual([])
  })

  it('[MQTT-4.3.2-2] acknowledges a QoS 1 PUBLISH with its identifier, and takes a later PUBLISH reusing that identifier as a new message, DUP or not', async () => {
    const broker = await startBroker()
    const subscriber = await connected(broker, 'reuse-sub')
    await subscribe(subscriber, [
      ['reuse/t', 1],
      [MARKER_TOPIC, 0],
    ])
    const publisher = await connected(broker, 'reuse-pub')
    publish(publisher, 'reuse/t', 'one', 1, 9)
    expect((await publisher.expect('puback')).messageId).toBe(9)
    publish(publisher, 'reuse/t', 'two', 1, 9, true)
    expect((await publisher.expect('puback')).messageId).toBe(9)
    publish(publisher, 'reuse/t', 'three', 1, 9)
    expect((await publisher.expect('puback')).messageId).toBe(9)
    const delivered = await publishesBeforeMarker(publisher, subscriber)
    expect(delivered.map((packet) => String(packet.payload))).toEqual(['one', 'two', 'three'])
  })
})

describe('MQTT 3.1.1 QoS 2 flows (4.3.3)', () => {
  it('[MQTT-4.3.3-1] [MQTT-4.4.0-1] sends a QoS 2 message with DUP 0, answers PUBREC with a PUBREL of its identifier, and once PUBREL was sent resends the PUBREL, never the PUBLISH', async () => {
    const broker = await startWatchedBroker()
    const subscriber = await connected(broker, 'q2', { clean: false })
    await subscribe(subscriber, [
      ['q2/t', 2],
      [MARKER_TOPIC, 0],
    ])
    const publisher = await connected(broker, 'q2-pub')
    publish(publisher, 'q2/t', 'released', 2, 1)
    publish(publisher, 'q2/t', 'pending', 2, 2)
    const [released, pending] = await nextPublishes(subscriber, 2)
    expect([released!.qos, released!.dup, pending!.qos, pending!.dup]).toEqual([2, false, 2, false])
    subscriber.send({ cmd: 'pubrec', messageId: released!.messageId! })
    expect((await subscriber.expect('pubrel')).messageId).toBe(released!.messageId)
    subscriber.destroy()
    await broker.ended('q2')

    const again = await broker.raw()
    expect((await again.connect({ clientId: 'q2', clean: false })).sessionPresent).toBe(true)
    const resent = [await again.next(), await again.next()]
    const described = resent.map((packet) =>
      packet.cmd === 'publish'
        ? `publish ${packet.messageId} ${String(packet.payload)} dup=${packet.dup}`
        : `${packet.cmd} ${'messageId' in packet ? packet.messageId : ''}`,
    )
    expect(described.sort()).toEqual(
      [`pubrel ${released!.messageId}`, `publish ${pending!.messageId} pending dup=true`].sort(),
    )
    again.send({ cmd: 'pubcomp', messageId: released!.messageId! })
    again.send({ cmd: 'pubrec', messageId: pending!.messageId! })
    expect((await again.expect('pubrel')).messageId).toBe(pending!.messageId)
    again.send({ cmd: 'pubcomp', messageId: pending!.messageId! })
    again.send({ cmd: 'disconnect' })
    await broker.ended('q2')

    // Both flows are complete: nothing is sent again.
    const last = await broker.raw()
    expect((await last.connect({ clientId: 'q2', clean: false })).sessionPresent).toBe(true)
    last.send({ cmd: 'pingreq' })
    expect((await last.next()).cmd).toBe('pingresp')
  })

  it('[MQTT-4.3.3-2] receives a QoS 2 message once: PUBREC, a resent PUBLISH before PUBREL acknowledged again and not delivered again, PUBCOMP for PUBREL, then the identifier is free for a new message', async () => {
    const broker = await startBroker()
    const subscriber = await connected(broker, 'once-sub')
    await subscribe(subscriber, [
      ['once/t', 2],
      [MARKER_TOPIC, 0],
    ])
    const publisher = await connected(broker, 'once-pub')
    publish(publisher, 'once/t', 'one', 2, 5)
    expect((await publisher.expect('pubrec')).messageId).toBe(5)
    publish(publisher, 'once/t', 'one', 2, 5, true)
    expect((await publisher.expect('pubrec')).messageId).toBe(5)
    publisher.send({ cmd: 'pubrel', messageId: 5 })
    expect((await publisher.expect('pubcomp')).messageId).toBe(5)
    publish(publisher, 'once/t', 'two', 2, 5)
    expect((await publisher.expect('pubrec')).messageId).toBe(5)
    publisher.send({ cmd: 'pubrel', messageId: 5 })
    expect((await publisher.expect('pubcomp')).messageId).toBe(5)
    const delivered = await publishesBeforeMarker(publisher, subscriber)
    expect(delivered.map((packet) => String(packet.payload))).toEqual(['one', 'two'])
  })

  it('[MQTT-4.3.3-2] [MQTT-4.4.0-1] [MQTT-4.1.0-1] keeps a persistent session’s unreleased incoming QoS 2 message across a reconnection: the resent PUBLISH is not delivered again', async () => {
    const broker = await startWatchedBroker()
    const subscriber = await connected(broker, 'in-q2-sub')
    await subscribe(subscriber, [
      ['in-q2/t', 2],
      [MARKER_TOPIC, 0],
    ])
    const publisher = await connected(broker, 'in-q2', { clean: false })
    publish(publisher, 'in-q2/t', 'exactly once', 2, 11)
    expect((await publisher.expect('pubrec')).messageId).toBe(11)
    publisher.destroy()
    await broker.ended('in-q2')
    const again = await broker.raw()
    expect((await again.connect({ clientId: 'in-q2', clean: false })).sessionPresent).toBe(true)
    publish(again, 'in-q2/t', 'exactly once', 2, 11, true)
    expect((await again.expect('pubrec')).messageId).toBe(11)
    again.send({ cmd: 'pubrel', messageId: 11 })
    expect((await again.expect('pubcomp')).messageId).toBe(11)
    const delivered = await publishesBeforeMarker(again, subscriber)
    expect(delivered.map((packet) => String(packet.payload))).toEqual(['exactly once'])
  })
})

describe('MQTT 3.1.1 sessions and message ordering (4.1, 4.6)', () => {
  it('[MQTT-4.1.0-2] keeps the state of a clean session while its connection lasts: subscriptions and unfinished QoS 2 flows in both directions', async () => {
    const broker = await startBroker()
    const watcher = await connected(broker, 'state-watch')
    await subscribe(watcher, [
      ['state/in', 2],
      [MARKER_TOPIC, 0],
    ])
    const client = await connected(broker, 'state')
    await subscribe(client, [['state/out', 2]])
    const publisher = await connected(broker, 'state-pub')
    publish(publisher, 'state/out', 'out', 2, 1)
    const outgoing = await client.expect('publish')
    publish(client, 'state/in', 'in', 2, 7)
    expect((await client.expect('pubrec')).messageId).toBe(7)
    for (let i = 0; i < 5; i++) client.send({ cmd: 'pingreq' })
    for (let i = 0; i < 5; i++) await client.expect('pingresp')
    // Outgoing: PUBREC still gets its PUBREL. Incoming: the resent PUBLISH is known, PUBREL completes it.
    client.send({ cmd: 'pubrec', messageId: outgoing.messageId! })
    expect((await client.expect('pubrel')).messageId).toBe(outgoing.messageId)
    client.send({ cmd: 'pubcomp', messageId: outgoing.messageId! })
    publish(client, 'state/in', 'in', 2, 7, true)
    expect((await client.expect('pubrec')).messageId).toBe(7)
    client.send({ cmd: 'pubrel', messageId: 7 })
    expect((await client.expect('pubcomp')).messageId).toBe(7)
    expect((await publishesBeforeMarker(client, watcher)).map((packet) => String(packet.payload))).toEqual([
      'in',
    ])
    // The subscription still delivers.
    publish(publisher, 'state/out', 'later', 0)
    expect(String((await client.expect('publish')).payload)).toBe('later')
  })

  it('[MQTT-4.6.0-5] [MQTT-4.6.0-6] delivers the messages one client publishes to one topic in the order it published them, for each QoS', async () => {
    const broker = await startBroker()
    const subscriber = await connected(broker, 'order-sub')
    await subscribe(subscriber, [['order/t', 2]])
    const publisher = await connected(broker, 'order-pub')
    const count = 30
    for (let i = 0; i < count; i++) publish(publisher, 'order/t', String(i), (i % 3) as 0 | 1 | 2, i + 1)
    const received = await nextPublishes(subscriber, count)
    for (const qos of [0, 1, 2]) {
      const sent = Array.from({ length: count }, (_, i) => i).filter((i) => i % 3 === qos)
      const got = received
        .filter((packet) => packet.qos === qos)
        .map((packet) => Number(String(packet.payload)))
      expect(got).toEqual(sent)
    }
  })

  it('[MQTT-4.6.0-6] resends unacknowledged messages to a reconnected session in the order it first sent them, with their identifiers', async () => {
    const broker = await startWatchedBroker()
    const subscriber = await connected(broker, 'reorder', { clean: false })
    await subscribe(subscriber, [['reorder/t', 1]])
    const publisher = await connected(broker, 'reorder-pub')
    for (let i = 0; i < 5; i++) publish(publisher, 'reorder/t', String(i), 1, i + 1)
    const first = await nextPublishes(subscriber, 5)
    subscriber.destroy()
    await broker.ended('reorder')
    const again = await broker.raw()
    await again.connect({ clientId: 'reorder', clean: false })
    const resent = await nextPublishes(again, 5)
    expect(resent.map((packet) => [String(packet.payload), packet.messageId, packet.dup])).toEqual(
      first.map((packet) => [String(packet.payload), packet.messageId, true]),
    )
  })
})
