import { type CallbackHandler, type CallbackHandlers, ErrorCode, MqttStackError } from '@mqtt-stack/core'
import { MemoryBackend } from '@mqtt-stack/memory-backend'
import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { nextPublishes, publish1, publish2, release } from '../../support/exchanges.js'
import { publishPacket, type QoS } from '../../support/packets.js'
import { startWatchedBroker } from '../../support/watch.js'
import {
  bytes4,
  connected,
  expectClosedWithoutAnswer,
  nextAnswers,
  publishesBeforeMarker,
  resumed,
  subscribed,
  subscribedWithMarker,
} from './support.js'

describe('MQTT 3.1.1 QoS 0 and QoS 1 flows (4.3.1, 4.3.2)', () => {
  it('[MQTT-4.3.1-1] [MQTT-3.3.1-2] sends a QoS 0 message as a PUBLISH with QoS 0 and DUP 0', async () => {
    const broker = await startBroker()
    const subscriber = await subscribed(broker, 'q0-sub', [['q0/t', 2]])
    const publisher = await connected(broker, 'q0-pub')
    publisher.send(publishPacket('q0/t', 'x'))
    const packet = await subscriber.expect('publish')
    expect([packet.qos, packet.dup, packet.messageId]).toEqual([0, false, undefined])
  })

  it('[MQTT-4.3.2-1] [MQTT-4.4.0-1] [MQTT-3.3.1-1] [MQTT-4.1.0-1] keeps a QoS 1 message sent with DUP 0 until its PUBACK: a reconnected session gets it again with DUP 1 and the same identifier, and not once acknowledged', async () => {
    const { broker, watch } = await startWatchedBroker()
    const subscriber = await subscribedWithMarker(broker, 'q1', [['q1/t', 1]], { clean: false })
    const publisher = await connected(broker, 'q1-pub')
    publisher.send(publishPacket('q1/t', 'once', { qos: 1, messageId: 1 }))
    const first = await subscriber.expect('publish')
    expect([first.qos, first.dup]).toEqual([1, false])
    subscriber.destroy()
    await watch.closed('q1')

    const again = await resumed(broker, 'q1')
    const resent = await again.expect('publish')
    expect([String(resent.payload), resent.qos, resent.dup, resent.messageId]).toEqual([
      'once',
      1,
      true,
      first.messageId,
    ])
    again.send({ cmd: 'puback', messageId: resent.messageId! })
    again.send({ cmd: 'disconnect' })
    await watch.closed('q1')

    const last = await resumed(broker, 'q1')
    expect(await publishesBeforeMarker(publisher, last)).toEqual([])
  })

  it('[MQTT-4.3.2-2] acknowledges a QoS 1 PUBLISH with its identifier, and takes a later PUBLISH reusing that identifier as a new message, DUP or not', async () => {
    const broker = await startBroker()
    const subscriber = await subscribedWithMarker(broker, 'reuse-sub', [['reuse/t', 1]])
    const publisher = await connected(broker, 'reuse-pub')
    // Each publish1 expects a PUBACK with identifier 9.
    await publish1(publisher, 'reuse/t', 'one', 9)
    await publish1(publisher, 'reuse/t', 'two', 9, { dup: true })
    await publish1(publisher, 'reuse/t', 'three', 9)
    const delivered = await publishesBeforeMarker(publisher, subscriber)
    expect(delivered.map((packet) => String(packet.payload))).toEqual(['one', 'two', 'three'])
  })
})

describe('MQTT 3.1.1 QoS 2 flows (4.3.3)', () => {
  it('[MQTT-4.3.3-1] [MQTT-4.4.0-1] sends a QoS 2 message with DUP 0, answers PUBREC with a PUBREL of its identifier, and once PUBREL was sent resends the PUBREL, never the PUBLISH', async () => {
    const { broker, watch } = await startWatchedBroker()
    const subscriber = await subscribedWithMarker(broker, 'q2', [['q2/t', 2]], { clean: false })
    const publisher = await connected(broker, 'q2-pub')
    publisher.send(publishPacket('q2/t', 'released', { qos: 2, messageId: 1 }))
    publisher.send(publishPacket('q2/t', 'pending', { qos: 2, messageId: 2 }))
    const [released, pending] = await nextPublishes(subscriber, 2)
    expect([released!.qos, released!.dup, pending!.qos, pending!.dup]).toEqual([2, false, 2, false])
    subscriber.send({ cmd: 'pubrec', messageId: released!.messageId! })
    expect((await subscriber.expect('pubrel')).messageId).toBe(released!.messageId)
    subscriber.destroy()
    await watch.closed('q2')

    const again = await resumed(broker, 'q2')
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
    await watch.closed('q2')

    // Both flows are complete: nothing is sent again.
    const last = await resumed(broker, 'q2')
    last.send({ cmd: 'pingreq' })
    expect((await last.next()).cmd).toBe('pingresp')
  })

  it('[MQTT-4.3.3-2] receives a QoS 2 message once: PUBREC, a resent PUBLISH before PUBREL acknowledged again and not delivered again, PUBCOMP for PUBREL, then the identifier is free for a new message', async () => {
    const broker = await startBroker()
    const subscriber = await subscribedWithMarker(broker, 'once-sub', [['once/t', 2]])
    const publisher = await connected(broker, 'once-pub')
    // publish2 expects a PUBREC, release a PUBCOMP, each with identifier 5.
    await publish2(publisher, 'once/t', 'one', 5)
    await publish2(publisher, 'once/t', 'one', 5, { dup: true })
    await release(publisher, 5)
    await publish2(publisher, 'once/t', 'two', 5)
    await release(publisher, 5)
    const delivered = await publishesBeforeMarker(publisher, subscriber)
    expect(delivered.map((packet) => String(packet.payload))).toEqual(['one', 'two'])
  })

  it('[MQTT-4.3.3-2] [MQTT-4.4.0-1] [MQTT-4.1.0-1] keeps a persistent session’s unreleased incoming QoS 2 message across a reconnection: the resent PUBLISH is not delivered again', async () => {
    const { broker, watch } = await startWatchedBroker()
    const subscriber = await subscribedWithMarker(broker, 'in-q2-sub', [['in-q2/t', 2]])
    const publisher = await connected(broker, 'in-q2', { clean: false })
    await publish2(publisher, 'in-q2/t', 'exactly once', 11)
    publisher.destroy()
    await watch.closed('in-q2')
    const again = await resumed(broker, 'in-q2')
    await publish2(again, 'in-q2/t', 'exactly once', 11, { dup: true })
    await release(again, 11)
    const delivered = await publishesBeforeMarker(again, subscriber)
    expect(delivered.map((packet) => String(packet.payload))).toEqual(['exactly once'])
  })
})

describe('MQTT 3.1.1 acknowledgements that fit no flow of the broker (4.3, 4.8)', () => {
  it('[MQTT-4.3.3-1] answers a PUBREC of a packet identifier it has not sent with PUBREL, and ignores such a PUBACK or PUBCOMP', async () => {
    const broker = await startBroker()
    const peer = await connected(broker, 'stray-acks')
    peer.send({ cmd: 'puback', messageId: 1 })
    peer.send({ cmd: 'pubcomp', messageId: 2 })
    // The client holds the identifier until PUBREL: it gets one, though the broker holds nothing for it.
    peer.send({ cmd: 'pubrec', messageId: 3 })
    peer.send({ cmd: 'pingreq' })
    expect(await nextAnswers(peer, 2)).toEqual([
      ['pubrel', 3],
      ['pingresp', undefined],
    ])
    peer.send({ cmd: 'pubcomp', messageId: 3 })
    peer.send({ cmd: 'pingreq' })
    expect(await nextAnswers(peer, 1)).toEqual([['pingresp', undefined]])
    expect(broker.errors).toEqual([])
  })

  it.each([
    ['a PUBACK of a QoS 2 PUBLISH', 2, 'puback', false],
    ['a PUBCOMP of a QoS 2 PUBLISH before its PUBREC', 2, 'pubcomp', false],
    ['a PUBREC of a QoS 1 PUBLISH', 1, 'pubrec', false],
    ['a PUBACK of a PUBREL', 2, 'puback', true],
  ] as const)(
    '[MQTT-4.8.0-1] [MQTT-4.3.2-1] [MQTT-4.3.3-1] [MQTT-4.4.0-1] closes a client that sends %s, a protocol violation; the message stays unacknowledged',
    async (_name, qos, cmd, released) => {
      const { broker, watch } = await startWatchedBroker()
      const subscriber = await subscribed(broker, 'mismatch', [['mismatch/t', qos]], { clean: false })
      const publisher = await connected(broker, 'mismatch-pub')
      publisher.send(publishPacket('mismatch/t', 'm', { qos, messageId: 1 }))
      const sent = await subscriber.expect('publish')
      if (released) {
        subscriber.send({ cmd: 'pubrec', messageId: sent.messageId! })
        await subscriber.expect('pubrel')
      }
      await expectClosedWithoutAnswer(subscriber, bytes4({ cmd, messageId: sent.messageId! }))
      await watch.closed('mismatch')
      const again = await resumed(broker, 'mismatch')
      expect(await again.next()).toMatchObject(
        released
          ? { cmd: 'pubrel', messageId: sent.messageId }
          : { cmd: 'publish', messageId: sent.messageId, dup: true },
      )
    },
  )
})

/** The default MemoryBackend, whose store of retained messages fails for topic "fail": a transient error. */
class FailingRetainedStore extends MemoryBackend {
  override callbacks(): CallbackHandlers {
    const handlers = super.callbacks()
    const store = handlers.storeRetainedMessage as CallbackHandler<'storeRetainedMessage'>
    const failing: CallbackHandler<'storeRetainedMessage'> = (ctx, result, next, done) => {
      if (ctx.topic === 'fail') return next(new MqttStackError(ErrorCode.MIDDLEWARE, 'the store is down'))
      return store(ctx, result, next, done)
    }
    return { ...handlers, storeRetainedMessage: failing }
  }
}

describe('MQTT 3.1.1 errors while processing a packet (4.8)', () => {
  it('[MQTT-4.8.0-2] closes the connection whose PUBLISH met a transient error (the retained store fails), without acknowledging it; other connections go on', async () => {
    const broker = await startBroker({ backend: new FailingRetainedStore() })
    const bystander = await subscribed(broker, 'bystander', [['ok', 1]])
    const failing = await connected(broker, 'failing')
    await expectClosedWithoutAnswer(
      failing,
      bytes4(publishPacket('fail', 'x', { qos: 1, messageId: 1, retain: true })),
    )
    expect(broker.errors.map((err) => err.message)).toEqual([expect.stringContaining('the store is down')])
    const publisher = await connected(broker, 'publisher')
    await publish1(publisher, 'ok', 'still served', 1, { retain: true })
    expect(await bystander.expect('publish')).toMatchObject({
      topic: 'ok',
      payload: Buffer.from('still served'),
    })
  })
})

describe('MQTT 3.1.1 sessions and message ordering (4.1, 4.6)', () => {
  it('[MQTT-4.1.0-2] keeps the state of a clean session while its connection lasts: subscriptions and unfinished QoS 2 flows in both directions', async () => {
    const broker = await startBroker()
    const watcher = await subscribedWithMarker(broker, 'state-watch', [['state/in', 2]])
    const client = await subscribed(broker, 'state', [['state/out', 2]])
    const publisher = await connected(broker, 'state-pub')
    publisher.send(publishPacket('state/out', 'out', { qos: 2, messageId: 1 }))
    const outgoing = await client.expect('publish')
    await publish2(client, 'state/in', 'in', 7)
    for (let i = 0; i < 5; i++) client.send({ cmd: 'pingreq' })
    for (let i = 0; i < 5; i++) await client.expect('pingresp')
    // Outgoing: PUBREC still gets its PUBREL. Incoming: the resent PUBLISH is known, PUBREL completes it.
    client.send({ cmd: 'pubrec', messageId: outgoing.messageId! })
    expect((await client.expect('pubrel')).messageId).toBe(outgoing.messageId)
    client.send({ cmd: 'pubcomp', messageId: outgoing.messageId! })
    await publish2(client, 'state/in', 'in', 7, { dup: true })
    await release(client, 7)
    expect((await publishesBeforeMarker(client, watcher)).map((packet) => String(packet.payload))).toEqual([
      'in',
    ])
    // The subscription still delivers.
    publisher.send(publishPacket('state/out', 'later'))
    expect(String((await client.expect('publish')).payload)).toBe('later')
  })

  it('[MQTT-4.6.0-5] [MQTT-4.6.0-6] delivers the messages one client publishes to one topic in the order it published them, for each QoS', async () => {
    const broker = await startBroker()
    const subscriber = await subscribed(broker, 'order-sub', [['order/t', 2]])
    const publisher = await connected(broker, 'order-pub')
    const count = 30
    for (let i = 0; i < count; i++) {
      const qos = (i % 3) as QoS
      publisher.send(publishPacket('order/t', String(i), qos === 0 ? {} : { qos, messageId: i + 1 }))
    }
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
    const { broker, watch } = await startWatchedBroker()
    const subscriber = await subscribed(broker, 'reorder', [['reorder/t', 1]], { clean: false })
    const publisher = await connected(broker, 'reorder-pub')
    for (let i = 0; i < 5; i++)
      publisher.send(publishPacket('reorder/t', String(i), { qos: 1, messageId: i + 1 }))
    const first = await nextPublishes(subscriber, 5)
    subscriber.destroy()
    await watch.closed('reorder')
    const again = await resumed(broker, 'reorder')
    const resent = await nextPublishes(again, 5)
    expect(resent.map((packet) => [String(packet.payload), packet.messageId, packet.dup])).toEqual(
      first.map((packet) => [String(packet.payload), packet.messageId, true]),
    )
  })
})
