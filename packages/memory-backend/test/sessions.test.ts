import type { IPublishPacket } from '@mqtt-stack/core'
import { connectTestClient } from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { type Broker, connectClient, createBroker, publish, relay } from './helpers.js'

let b: Broker
afterEach(async () => {
  await b?.stack.close()
})

const EMPTY = {
  clients: 0,
  sessions: 0,
  subscriptions: 0,
  subscribers: 0,
  retained: 0,
  wills: 0,
}

const message = (topic: string, qos: 0 | 1 | 2 = 1): IPublishPacket => ({
  cmd: 'publish',
  topic,
  payload: topic,
  qos,
  retain: false,
  dup: false,
})

describe('registerClient and unregisterClient', () => {
  it('[MQTT-3.1.4-2] closes the earlier connection of a client id and sets store.previous (LESSONS 8)', async () => {
    b = createBroker()
    const first = await connectClient(b.stack, 'dup', [{ topic: 't', qos: 0 }])
    const second = connectTestClient(b.stack)
    second.client.id = 'dup'
    const store = await b.stack.run('registerClient', { client: second.client, clientId: 'dup' }, {})
    expect(store.previous).toBe(first.client)
    await first.closed()
    expect(first.client.closed).toBe(true)
  })

  it('sets no store.previous for a first registration, the same client again, or a closed earlier one', async () => {
    b = createBroker()
    const t = connectTestClient(b.stack)
    expect(await b.stack.run('registerClient', { client: t.client, clientId: 'x' }, {})).toEqual({})
    expect(await b.stack.run('registerClient', { client: t.client, clientId: 'x' }, {})).toEqual({})
    t.client.close()
    const u = connectTestClient(b.stack)
    expect(await b.stack.run('registerClient', { client: u.client, clientId: 'x' }, {})).toEqual({})
  })

  it('LESSONS 8: after a takeover, messages go to the new connection only', async () => {
    b = createBroker()
    const old = await connectClient(b.stack, 'same', [{ topic: 't', qos: 0 }], false)
    const fresh = await connectClient(b.stack, 'same', [], false)
    await old.closed()
    await b.broker.ended(old.client)
    const pub = await connectClient(b.stack, 'pub')
    await publish(pub, 't', 0, 'after')
    const received = await fresh.expect('publish')
    expect(String(received.payload)).toBe('after')
    expect(old.received.filter((p) => p.cmd === 'publish')).toHaveLength(0)
  })

  it('unregistering the taken-over connection does not remove the new one (store.removed false)', async () => {
    b = createBroker()
    const old = await connectClient(b.stack, 'id', [{ topic: 't', qos: 0 }])
    const fresh = await connectClient(b.stack, 'id', [{ topic: 't', qos: 0 }])
    await old.closed()
    // The fake broker unregistered the old connection on close: it was no longer the current one.
    await b.broker.ended(old.client)
    const again = await b.stack.run('unregisterClient', { client: old.client, clientId: 'id' }, {})
    expect(again.removed).toBe(false)
    expect(b.backend.stats.clients).toBe(1)
    // The clean session of the new connection was not ended by the old one's close.
    expect(b.backend.stats.subscriptions).toBe(1)
    await relay(b.stack, 't')
    expect(b.deliveries.map((d) => d.clientId)).toEqual(['id'])
    expect(await fresh.expect('publish')).toMatchObject({ topic: 't' })
    const current = await b.stack.run('unregisterClient', { client: fresh.client, clientId: 'id' }, {})
    expect(current.removed).toBe(true)
    expect(b.backend.stats.clients).toBe(0)
  })

  it('LESSONS 7: a clean client reconnecting with the same id receives messages again', async () => {
    b = createBroker()
    const first = await connectClient(b.stack, 'c', [{ topic: 't', qos: 0 }])
    first.send({ cmd: 'disconnect' })
    await first.closed()
    await b.broker.ended(first.client)
    expect(b.backend.stats).toMatchObject(EMPTY)
    const second = await connectClient(b.stack, 'c', [{ topic: 't', qos: 0 }])
    const pub = await connectClient(b.stack, 'pub')
    await publish(pub, 't', 0, 'again')
    expect(String((await second.expect('publish')).payload)).toBe('again')
    expect(b.deliveries).toHaveLength(1)
  })

  it('does not forward to a registered client before its CONNACK', async () => {
    b = createBroker()
    const t = connectTestClient(b.stack)
    t.client.id = 'early'
    await b.stack.run('registerClient', { client: t.client, clientId: 'early' }, {})
    const subscription = { topic: 't', qos: 1 as const }
    await b.stack.run('subscribeTopic', { client: t.client, topic: 't', qos: 1, subscription }, {})
    await relay(b.stack, 't', 1)
    expect(b.deliveries).toHaveLength(0)
  })
})

describe('sessions', () => {
  it('stores, looks up and removes a session', async () => {
    b = createBroker()
    const session = { clientId: 's', expiryInterval: 0xffffffff }
    await b.stack.run('storeSession', { clientId: 's', session }, {})
    const found = await b.stack.run('lookupSession', { clientId: 's' }, {})
    expect(found.session).toEqual(session)
    expect(found.session).not.toBe(session)
    await b.stack.run('removeSession', { clientId: 's' }, {})
    expect(await b.stack.run('lookupSession', { clientId: 's' }, {})).toEqual({})
  })

  it('a clean session leaves nothing behind after removeSession (no leaks)', async () => {
    b = createBroker()
    const t = await connectClient(b.stack, 'clean', [
      { topic: 'a/#', qos: 1 },
      { topic: 'b', qos: 2 },
    ])
    const { stack } = b
    await stack.run(
      'storeInflightMessage',
      { clientId: 'clean', packet: { ...message('a/x'), messageId: 1 } },
      {},
    )
    await stack.run(
      'storeIncomingMessage',
      { clientId: 'clean', packet: { ...message('b', 2), messageId: 9 } },
      {},
    )
    await stack.run(
      'storeWill',
      { client: t.client, clientId: 'clean', packet: message('w'), delayInterval: 0, owner: 'conn' },
      {},
    )
    expect(b.backend.stats).toMatchObject({
      clients: 1,
      sessions: 1,
      subscriptions: 2,
      subscribers: 1,
      wills: 1,
    })
    t.send({ cmd: 'disconnect' })
    await b.broker.ended(t.client)
    // A will outlives its session: its owner (last-will, on DISCONNECT) removes it.
    expect(b.backend.stats.wills).toBe(1)
    await stack.run('removeWill', { clientId: 'clean', owner: 'conn' }, {})
    expect(b.backend.stats).toMatchObject(EMPTY)
    // Nothing of the old session is found again.
    expect(await stack.run('lookupInflightMessages', { clientId: 'clean' }, {})).toEqual({})
    expect(await stack.run('lookupWill', { clientId: 'clean' }, {})).toEqual({})
    await relay(stack, 'a/x', 1)
    expect(b.deliveries).toHaveLength(0)
  })

  it('keeps subscriptions only for a persistent session, and restores their routes on reconnect', async () => {
    b = createBroker()
    const t = await connectClient(b.stack, 'p', [{ topic: 'x/+', qos: 1 }], false)
    const clean = await connectClient(b.stack, 'c', [{ topic: 'y', qos: 1 }])
    const { stack } = b
    expect((await stack.run('lookupSubscriptions', { clientId: 'p' }, {})).subscriptions).toEqual([
      { topic: 'x/+', qos: 1 },
    ])
    expect((await stack.run('lookupSubscriptions', { clientId: 'c' }, {})).subscriptions).toEqual([])
    t.send({ cmd: 'disconnect' })
    clean.send({ cmd: 'disconnect' })
    await b.broker.ended(t.client)
    await b.broker.ended(clean.client)
    expect(b.backend.stats).toMatchObject({ clients: 0, sessions: 1, subscriptions: 1 })

    const back = connectTestClient(b.stack)
    const connack = await back.connect({ clientId: 'p', clean: false })
    expect(connack.sessionPresent).toBe(true)
    await relay(stack, 'x/1', 1)
    expect(await back.expect('publish')).toMatchObject({ topic: 'x/1', qos: 1 })
  })

  it('subscribeTopic replaces the subscription of the same filter [MQTT-3.8.4-3]; unsubscribeTopic says whether one existed', async () => {
    b = createBroker()
    const t = await connectClient(b.stack, 'r')
    const { stack } = b
    const sub = (qos: 0 | 1 | 2) =>
      stack.run(
        'subscribeTopic',
        { client: t.client, topic: 't', qos, subscription: { topic: 't', qos } },
        {},
      )
    expect((await sub(0)).existed).toBe(false)
    expect((await sub(2)).existed).toBe(true)
    expect(b.backend.stats.subscriptions).toBe(1)
    await relay(stack, 't', 2)
    expect(b.deliveries.map((d) => d.packet.qos)).toEqual([2])
    expect((await stack.run('unsubscribeTopic', { client: t.client, topic: 't' }, {})).removed).toBe(true)
    expect((await stack.run('unsubscribeTopic', { client: t.client, topic: 't' }, {})).removed).toBe(false)
    expect(b.backend.stats).toMatchObject({ subscriptions: 0, subscribers: 0 })
  })

  it('LESSONS 9: unsubscribing without stored subscriptions (persistent session) is harmless', async () => {
    b = createBroker()
    const t = await connectClient(b.stack, 'p', [], false)
    t.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['never/subscribed'] })
    await t.expect('unsuback')
    expect(b.errors).toEqual([])
  })

  it('routes a shared subscription by its inner filter without clashing with a plain one (MQTT 5.0 4.8.2: one copy each)', async () => {
    b = createBroker()
    const t = await connectClient(b.stack, 'g')
    const { stack } = b
    for (const topic of ['$share/grp/s/+', 's/+']) {
      await stack.run(
        'subscribeTopic',
        { client: t.client, topic, qos: 1, subscription: { topic, qos: 1 } },
        {},
      )
    }
    expect(b.backend.stats.subscriptions).toBe(2)
    await relay(stack, 's/1', 1)
    // A client with a shared and an ordinary matching subscription gets a copy for each.
    expect(b.deliveries.map((d) => d.subscription?.topic).sort()).toEqual(['$share/grp/s/+', 's/+'])
    await stack.run('unsubscribeTopic', { client: t.client, topic: '$share/grp/s/+' }, {})
    await stack.run('unsubscribeTopic', { client: t.client, topic: 's/+' }, {})
    expect(b.backend.stats.subscriptions).toBe(0)
  })

  it('memory bound: 10k subscribe/unsubscribe churn leaves the trie empty', async () => {
    b = createBroker()
    const t = await connectClient(b.stack, 'churn')
    const { stack } = b
    for (let i = 0; i < 10_000; i++) {
      const topic = `c/${i % 97}/${i}/${i % 2 === 0 ? '+' : '#'}`
      const subscription = { topic, qos: 1 as const }
      await stack.run('subscribeTopic', { client: t.client, topic, qos: 1, subscription }, {})
      if (i % 3 === 0) await stack.run('unsubscribeTopic', { client: t.client, topic }, {})
    }
    expect(b.backend.stats.subscriptions).toBe(10_000 - 3334)
    for (let i = 0; i < 10_000; i++) {
      if (i % 3 === 0) continue
      const topic = `c/${i % 97}/${i}/${i % 2 === 0 ? '+' : '#'}`
      await stack.run('unsubscribeTopic', { client: t.client, topic }, {})
    }
    expect(b.backend.stats).toMatchObject({ subscriptions: 0, subscribers: 0 })
  })
})

describe('offline queue', () => {
  async function offlineSubscriber(b: Broker, topic = 'q') {
    const t = await connectClient(b.stack, 'off', [{ topic, qos: 2 }], false)
    t.send({ cmd: 'disconnect' })
    await b.broker.ended(t.client)
  }

  it('[MQTT-3.1.2-5] queues QoS 1 and 2 messages for a disconnected persistent session, in order; QoS 0 is not queued', async () => {
    b = createBroker()
    await offlineSubscriber(b)
    await relay(b.stack, 'q', 1, { payload: 'one' })
    await relay(b.stack, 'q', 0, { payload: 'zero' })
    await relay(b.stack, 'q', 2, { payload: 'two' })
    expect(b.deliveries).toHaveLength(0)
    const { packets = [] } = await b.stack.run('lookupOfflineMessages', { clientId: 'off' }, {})
    expect(packets.map((p) => [p.payload, p.qos, p.retain])).toEqual([
      ['one', 1, false],
      ['two', 2, false],
    ])
  })

  it('drops the newest message past maxOfflineMessages, sets store.dropped, reports it and notifies the drop', async () => {
    b = createBroker({ maxOfflineMessages: 2 })
    await offlineSubscriber(b)
    const { stack } = b
    const drops: string[] = []
    stack.use({
      messageDropped(ctx, _store, next) {
        drops.push(`${ctx.reason} ${ctx.clientId}`)
        next()
      },
    })
    const first = message('q')
    expect(await stack.run('storeOfflineMessage', { clientId: 'off', packet: first }, {})).toEqual({})
    await stack.run('storeOfflineMessage', { clientId: 'off', packet: message('q') }, {})
    const third = await stack.run('storeOfflineMessage', { clientId: 'off', packet: message('q') }, {})
    expect(third.dropped).toBe(true)
    expect(b.errors.map((e) => e.code)).toEqual(['MQS_ERR_OFFLINE_QUEUE_FULL'])
    // A relay to the full queue drops too, and the relay still completes.
    await relay(stack, 'q', 1)
    expect(b.backend.stats.droppedOfflineMessages).toBe(2)
    expect(drops).toEqual(['offline-queue-full off', 'offline-queue-full off'])
    const { packets = [] } = await stack.run('lookupOfflineMessages', { clientId: 'off' }, {})
    expect(packets).toHaveLength(2)
    expect(packets[0]).toBe(first)
  })

  it('reports a full queue once until it has room again, and counts every drop', async () => {
    b = createBroker({ maxOfflineMessages: 1 })
    await offlineSubscriber(b)
    const { stack } = b
    const kept = message('q')
    await stack.run('storeOfflineMessage', { clientId: 'off', packet: kept }, {})
    for (let i = 0; i < 50; i++)
      await stack.run('storeOfflineMessage', { clientId: 'off', packet: message('q') }, {})
    expect(b.backend.stats.droppedOfflineMessages).toBe(50)
    expect(b.errors.map((e) => e.code)).toEqual(['MQS_ERR_OFFLINE_QUEUE_FULL'])
    // Delivered: the queue has room, so the next time it is full is reported again.
    await stack.run('removeOfflineMessages', { clientId: 'off', packets: [kept] }, {})
    await stack.run('storeOfflineMessage', { clientId: 'off', packet: message('q') }, {})
    await stack.run('storeOfflineMessage', { clientId: 'off', packet: message('q') }, {})
    expect(b.errors.map((e) => e.code)).toEqual(['MQS_ERR_OFFLINE_QUEUE_FULL', 'MQS_ERR_OFFLINE_QUEUE_FULL'])
    expect(b.backend.stats.droppedOfflineMessages).toBe(51)
  })

  it('bounds the payload bytes of all offline queues together with maxOfflineBytes', async () => {
    b = createBroker({ maxOfflineBytes: 10 })
    await offlineSubscriber(b)
    const t = await connectClient(b.stack, 'off2', [{ topic: 'q', qos: 1 }], false)
    t.send({ cmd: 'disconnect' })
    await b.broker.ended(t.client)
    const sized = (bytes: number): IPublishPacket => ({ ...message('q'), payload: Buffer.alloc(bytes) })
    const { stack } = b
    expect(await stack.run('storeOfflineMessage', { clientId: 'off', packet: sized(6) }, {})).toEqual({})
    // 6 + 6 > 10: refused for the other session too, as the bound is global.
    expect((await stack.run('storeOfflineMessage', { clientId: 'off2', packet: sized(6) }, {})).dropped).toBe(
      true,
    )
    expect(await stack.run('storeOfflineMessage', { clientId: 'off2', packet: sized(4) }, {})).toEqual({})
    expect(b.backend.stats.offlineBytes).toBe(10)
    // Bytes leave the bound as messages are delivered, cleared, or their session removed.
    const { packets = [] } = await stack.run('lookupOfflineMessages', { clientId: 'off' }, {})
    await stack.run('removeOfflineMessages', { clientId: 'off', packets }, {})
    expect(b.backend.stats.offlineBytes).toBe(4)
    await stack.run('removeSession', { clientId: 'off2' }, {})
    expect(b.backend.stats.offlineBytes).toBe(0)
    expect(await stack.run('storeOfflineMessage', { clientId: 'off', packet: sized(10) }, {})).toEqual({})
    await stack.run('clearOfflineMessages', { clientId: 'off' }, {})
    expect(b.backend.stats.offlineBytes).toBe(0)
  })

  it('keeps a copy of a queued payload, not the read chunk it is a view of', async () => {
    b = createBroker()
    await offlineSubscriber(b)
    const chunk = Buffer.alloc(64 * 1024)
    chunk.write('hello', 100)
    const packet: IPublishPacket = { ...message('q'), payload: chunk.subarray(100, 105) }
    await b.stack.run('storeOfflineMessage', { clientId: 'off', packet }, {})
    const { packets = [] } = await b.stack.run('lookupOfflineMessages', { clientId: 'off' }, {})
    const payload = packets[0]!.payload as Buffer
    expect(payload.toString()).toBe('hello')
    expect(payload.buffer).not.toBe(chunk.buffer)
    chunk.fill(0)
    expect(payload.toString()).toBe('hello')
  })

  it('removes delivered messages by identity and clears the queue', async () => {
    b = createBroker()
    await offlineSubscriber(b)
    const { stack } = b
    const [m1, m2, m3] = [message('1'), message('2'), message('3')]
    for (const packet of [m1, m2, m3]) await stack.run('storeOfflineMessage', { clientId: 'off', packet }, {})
    const looked = (await stack.run('lookupOfflineMessages', { clientId: 'off' }, {})).packets!
    // A message handed out, then given back before the ones taken are removed, is queued once.
    await stack.run('storeOfflineMessage', { clientId: 'off', packet: m2 }, {})
    await stack.run('removeOfflineMessages', { clientId: 'off', packets: [m1, m3] }, {})
    expect(looked).toEqual([m1, m2, m3])
    expect((await stack.run('lookupOfflineMessages', { clientId: 'off' }, {})).packets).toEqual([m2])
    await stack.run('clearOfflineMessages', { clientId: 'off' }, {})
    expect((await stack.run('lookupOfflineMessages', { clientId: 'off' }, {})).packets).toEqual([])
  })

  it('keeps a message given back even when the removal of the hand-out names it (a late answer: the connection closed mid-fetch)', async () => {
    b = createBroker()
    await offlineSubscriber(b)
    const { stack } = b
    const [m1, m2] = [message('1'), message('2')]
    for (const packet of [m1, m2]) await stack.run('storeOfflineMessage', { clientId: 'off', packet }, {})
    const looked = (await stack.run('lookupOfflineMessages', { clientId: 'off' }, {})).packets!
    // The outbound side took both, its connection closed before it could send m2, so it gave m2 back,
    // and its removal of what it took came after.
    const { dropped } = await stack.run('storeOfflineMessage', { clientId: 'off', packet: looked[1]! }, {})
    expect(dropped).toBeUndefined()
    await stack.run('removeOfflineMessages', { clientId: 'off', packets: looked }, {})
    expect((await stack.run('lookupOfflineMessages', { clientId: 'off' }, {})).packets).toEqual([m2])
    // A later hand-out is removed as usual.
    const again = (await stack.run('lookupOfflineMessages', { clientId: 'off' }, {})).packets!
    await stack.run('removeOfflineMessages', { clientId: 'off', packets: again }, {})
    expect((await stack.run('lookupOfflineMessages', { clientId: 'off' }, {})).packets).toEqual([])
  })

  it('drops silently for a clean session or an unknown one, and never creates a session', async () => {
    b = createBroker()
    await connectClient(b.stack, 'clean', [{ topic: 'q', qos: 1 }])
    const { stack } = b
    expect(
      (await stack.run('storeOfflineMessage', { clientId: 'clean', packet: message('q') }, {})).dropped,
    ).toBe(true)
    expect(
      (await stack.run('storeOfflineMessage', { clientId: 'ghost', packet: message('q') }, {})).dropped,
    ).toBe(true)
    expect(await stack.run('lookupOfflineMessages', { clientId: 'ghost' }, {})).toEqual({})
    expect(b.backend.stats.sessions).toBe(1)
    expect(b.errors).toEqual([])
  })

  it('[MQTT-3.1.2-23] an MQTT 5.0 resumed session given expiry 0 still hands out its queue; it ends with its connection', async () => {
    b = createBroker()
    await offlineSubscriber(b)
    const { stack } = b
    await relay(stack, 'q', 1)
    await stack.run('storeSession', { clientId: 'off', session: { clientId: 'off', expiryInterval: 0 } }, {})
    expect(
      (await stack.run('lookupOfflineMessages', { clientId: 'off' }, {})).packets?.map((p) => p.topic),
    ).toEqual(['q'])
    await stack.run('removeSession', { clientId: 'off' }, {})
    expect((await stack.run('lookupOfflineMessages', { clientId: 'off' }, {})).packets ?? []).toEqual([])
    expect((await stack.run('lookupSubscriptions', { clientId: 'off' }, {})).subscriptions ?? []).toEqual([])
  })
})

describe('collectStats', () => {
  it('counts sessions, persistent ones not connected, subscriptions, retained messages, their bytes and wills', async () => {
    b = createBroker()
    const { stack } = b
    expect(await stack.run('collectStats', {}, {})).toEqual({
      sessions: 0,
      disconnectedSessions: 0,
      subscriptions: 0,
      sharedSubscriptions: 0,
      retainedMessages: 0,
      retainedBytes: 0,
      offlineBytes: 0,
      wills: 0,
    })
    const kept = await connectClient(b.stack, 'kept', [{ topic: 'a/#', qos: 1 }], false)
    const clean = await connectClient(b.stack, 'clean', [
      { topic: 'b', qos: 0 },
      { topic: 'c', qos: 0 },
    ])
    for (const topic of ['r/1', 'r/2'])
      await stack.run(
        'storeRetainedMessage',
        { client: undefined, topic, packet: { ...message(topic), retain: true } },
        {},
      )
    const retainedBytes = ['r/1', 'r/2'].reduce((sum, topic) => sum + message(topic).payload.length, 0)
    expect(await stack.run('collectStats', {}, {})).toMatchObject({
      sessions: 2,
      disconnectedSessions: 0,
      subscriptions: 3,
      retainedMessages: 2,
      retainedBytes,
    })
    kept.send({ cmd: 'disconnect' })
    await b.broker.ended(kept.client)
    expect(await stack.run('collectStats', {}, {})).toMatchObject({ sessions: 2, disconnectedSessions: 1 })
    clean.send({ cmd: 'disconnect' })
    await b.broker.ended(clean.client)
    expect(await stack.run('collectStats', {}, {})).toMatchObject({
      sessions: 1,
      disconnectedSessions: 1,
      subscriptions: 1,
      retainedMessages: 2,
    })
  })
})
