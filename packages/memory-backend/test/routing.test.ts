import { type IPublishPacket, type MqttStackError, Stack } from '@mqtt-stack/core'
import { connectTestClient } from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryBackend } from '../src/index.js'
import { type Broker, connectClient, createBroker, publish, relay } from './helpers.js'

let b: Broker
afterEach(async () => {
  await b?.stack.close()
})

const topicsOf = (b: Broker, clientId: string) =>
  b.deliveries.filter((d) => d.clientId === clientId).map((d) => d.packet.topic)

describe('relayMessage: matching', () => {
  it('routes exact, + and # filters (MQTT 4.7), + matching an empty level', async () => {
    b = createBroker()
    await connectClient(b.stack, 'exact', [{ topic: 'a/b/c', qos: 0 }])
    await connectClient(b.stack, 'plus', [{ topic: 'a/+/c', qos: 0 }])
    await connectClient(b.stack, 'hash', [{ topic: 'a/#', qos: 0 }])
    const pub = await connectClient(b.stack, 'pub')
    for (const topic of ['a/b/c', 'a//c', 'a', 'a/b', 'b/b/c']) await publish(pub, topic)
    expect(topicsOf(b, 'exact')).toEqual(['a/b/c'])
    expect(topicsOf(b, 'plus')).toEqual(['a/b/c', 'a//c'])
    // '#' matches the parent level too
    expect(topicsOf(b, 'hash')).toEqual(['a/b/c', 'a//c', 'a', 'a/b'])
    expect(b.deliveries).toHaveLength(7)
  })

  it('[MQTT-4.7.2-1] wildcards at the first level do not match $ topics; $SYS/# does', async () => {
    b = createBroker()
    await connectClient(b.stack, 'all', [
      { topic: '#', qos: 0 },
      { topic: '+/info', qos: 0 },
    ])
    await connectClient(b.stack, 'sys', [{ topic: '$SYS/#', qos: 0 }])
    await relay(b.stack, '$SYS/info')
    await relay(b.stack, 'x/info')
    expect(topicsOf(b, 'all')).toEqual(['x/info'])
    expect(topicsOf(b, 'sys')).toEqual(['$SYS/info'])
  })

  it('delivers a live forward through forwardMessage to the subscribing test client', async () => {
    b = createBroker()
    const sub = await connectClient(b.stack, 'sub', [{ topic: 't', qos: 0 }])
    const pub = await connectClient(b.stack, 'pub')
    await publish(pub, 't', 0, 'hello')
    const received = await sub.expect('publish')
    expect(received.topic).toBe('t')
    expect(String(received.payload)).toBe('hello')
    expect(b.deliveries[0]!.subscription).toEqual({ topic: 't', qos: 0 })
  })
})

describe('relayMessage: QoS and the forwarded packet', () => {
  it('[MQTT-3.3.5-1] overlapping subscriptions deliver once, at the highest granted QoS (LESSONS 5: no NaN)', async () => {
    b = createBroker()
    await connectClient(b.stack, 's', [
      { topic: 'a/+', qos: 0 },
      { topic: 'a/b', qos: 2 },
      { topic: 'a/#', qos: 1 },
    ])
    await relay(b.stack, 'a/b', 2)
    expect(b.deliveries).toHaveLength(1)
    expect(b.deliveries[0]!.packet.qos).toBe(2)
    expect(b.deliveries[0]!.subscription?.topic).toBe('a/b')
    expect(Number.isInteger(b.deliveries[0]!.packet.qos)).toBe(true)
  })

  it('[MQTT-3.8.4-6] delivery QoS is min(publish QoS, granted QoS)', async () => {
    b = createBroker()
    await connectClient(b.stack, 'q0', [{ topic: 't', qos: 0 }])
    await connectClient(b.stack, 'q1', [{ topic: 't', qos: 1 }])
    await connectClient(b.stack, 'q2', [{ topic: 't', qos: 2 }])
    const expected: Record<number, Record<string, number>> = {
      0: { q0: 0, q1: 0, q2: 0 },
      1: { q0: 0, q1: 1, q2: 1 },
      2: { q0: 0, q1: 1, q2: 2 },
    }
    for (const qos of [0, 1, 2] as const) {
      b.deliveries.length = 0
      await relay(b.stack, 't', qos)
      const got = Object.fromEntries(b.deliveries.map((d) => [d.clientId, d.packet.qos]))
      expect(got).toEqual(expected[qos])
    }
  })

  it('LESSONS 11: a QoS 0 publish to a QoS 1 subscriber arrives at QoS 0 on the wire', async () => {
    b = createBroker()
    const sub = await connectClient(b.stack, 'sub', [{ topic: 't', qos: 1 }])
    const pub = await connectClient(b.stack, 'pub')
    await publish(pub, 't', 0)
    const received = await sub.expect('publish')
    expect(received.qos).toBe(0)
  })

  it('[MQTT-3.3.1-9] forwards with retain 0, dup 0 and no packet identifier', async () => {
    b = createBroker()
    await connectClient(b.stack, 's', [{ topic: 't', qos: 2 }])
    await relay(b.stack, 't', 2, { retain: true, dup: true, messageId: 42 })
    const { packet } = b.deliveries[0]!
    expect(packet).toEqual({ cmd: 'publish', topic: 't', payload: 'p', qos: 2, retain: false, dup: false })
    expect('messageId' in packet).toBe(false)
  })

  it('builds one packet object per delivery QoS and shares it between subscribers', async () => {
    b = createBroker()
    for (const id of ['a', 'b', 'c']) await connectClient(b.stack, id, [{ topic: 't', qos: 0 }])
    for (const id of ['d', 'e']) await connectClient(b.stack, id, [{ topic: 't', qos: 1 }])
    await relay(b.stack, 't', 1)
    expect(b.deliveries).toHaveLength(5)
    const byQos = (qos: number) =>
      new Set(b.deliveries.filter((d) => d.packet.qos === qos).map((d) => d.packet))
    expect(byQos(0).size).toBe(1)
    expect(byQos(1).size).toBe(1)
    expect([...byQos(0)][0]).not.toBe([...byQos(1)][0])
    // A new relay builds new packets: a packet is never reused across messages.
    const first = b.deliveries[0]!.packet
    await relay(b.stack, 't', 1)
    expect(b.deliveries[5]!.packet).not.toBe(first)
  })

  it('copies MQTT 5.0 properties without the topic alias [MQTT-3.3.2-7]', async () => {
    b = createBroker()
    await connectClient(b.stack, 's', [{ topic: 't', qos: 0 }])
    await relay(b.stack, 't', 0, { properties: { topicAlias: 3, contentType: 'text/plain' } })
    expect(b.deliveries[0]!.packet.properties).toEqual({ contentType: 'text/plain' })
  })

  it('[MQTT-3.8.3-3] MQTT 5.0 No Local: not delivered back to the publishing client id', async () => {
    b = createBroker()
    const t = await connectClient(b.stack, 'self')
    const subscription = { topic: 't', qos: 0 as const, nl: true }
    await b.stack.run('subscribeTopic', { client: t.client, topic: 't', qos: 0, subscription }, {})
    await connectClient(b.stack, 'other', [{ topic: 't', qos: 0 }])
    await publish(t, 't')
    expect(b.deliveries.map((d) => d.clientId)).toEqual(['other'])
  })
})

describe('relayMessage: completion', () => {
  it("LESSONS 4: completes once for 3 subscribers, after every forward has answered; adds them at once to an earlier router's store.matched", async () => {
    const stack = new Stack({ onError: () => {} })
    const pending: (() => void)[] = []
    stack.use(new MemoryBackend()).use({
      name: 'async-forward',
      callbacks: () => ({
        forwardMessage: (_ctx, _store, _next, done) => {
          pending.push(() => done())
        },
      }),
    })
    b = { stack } as Broker
    const clients = [connectTestClient(stack), connectTestClient(stack), connectTestClient(stack)]
    for (const [i, t] of clients.entries()) {
      t.client.id = `c${i}`
      t.client.connackSent = true
      await stack.run('registerClient', { client: t.client, clientId: t.client.id }, {})
      await stack.run(
        'subscribeTopic',
        { client: t.client, topic: 't', qos: 1, subscription: { topic: 't', qos: 1 } },
        {},
      )
    }
    let completions = 0
    const packet: IPublishPacket = {
      cmd: 'publish',
      topic: 't',
      payload: 'p',
      qos: 1,
      retain: false,
      dup: false,
    }
    const store = { matched: 2 }
    stack.execute('relayMessage', { client: undefined, packet, topic: 't', payload: 'p' }, store, (err) => {
      expect(err).toBeNull()
      completions++
    })
    expect(store.matched).toBe(5)
    expect(pending).toHaveLength(3)
    pending[0]!()
    pending[1]!()
    expect(completions).toBe(0)
    pending[2]!()
    expect(completions).toBe(1)
  })

  it('reports a failed forward with its subscriber and still completes the relay without error', async () => {
    const errors: { err: MqttStackError; clientId: string | undefined }[] = []
    const stack = new Stack({ onError: (err, client) => errors.push({ err, clientId: client?.id }) })
    stack.use(new MemoryBackend()).use({
      name: 'failing-forward',
      callbacks: () => ({
        forwardMessage: (ctx, _store, next) => next(ctx.client.id === 'bad' ? new Error('store down') : null),
      }),
    })
    b = { stack } as Broker
    for (const id of ['good', 'bad']) {
      const t = connectTestClient(stack)
      t.client.id = id
      t.client.connackSent = true
      await stack.run('registerClient', { client: t.client, clientId: id }, {})
      await stack.run(
        'subscribeTopic',
        { client: t.client, topic: 't', qos: 0, subscription: { topic: 't', qos: 0 } },
        {},
      )
    }
    await expect(relay(stack, 't')).resolves.toEqual({ matched: 2 })
    expect(errors).toHaveLength(1)
    expect(errors[0]!.clientId).toBe('bad')
    expect(errors[0]!.err.message).toBe('store down')
  })

  it('a relay started from inside a forward (re-entrancy) keeps both relays apart', async () => {
    const stack = new Stack({ onError: () => {} })
    const seen: { clientId: string; packet: IPublishPacket }[] = []
    let nested = false
    stack.use(new MemoryBackend()).use({
      name: 'reentrant-forward',
      callbacks: () => ({
        forwardMessage: (ctx, _store, next) => {
          seen.push({ clientId: ctx.client.id, packet: ctx.packet })
          if (!nested && ctx.packet.topic === 'a') {
            nested = true
            // As when a forward closes a client whose will is published at once.
            void relay(stack, 'b', 1)
          }
          next()
        },
      }),
    })
    b = { stack } as Broker
    const subs: [string, string][] = [
      ['A1', 'a'],
      ['B', 'b'],
      ['A2', 'a'],
    ]
    for (const [id, topic] of subs) {
      const t = connectTestClient(stack)
      t.client.id = id
      t.client.connackSent = true
      await stack.run('registerClient', { client: t.client, clientId: id }, {})
      await stack.run(
        'subscribeTopic',
        { client: t.client, topic, qos: 1, subscription: { topic, qos: 1 } },
        {},
      )
    }
    await relay(stack, 'a', 1)
    expect(seen.map((s) => `${s.clientId}:${s.packet.topic}`).sort()).toEqual(['A1:a', 'A2:a', 'B:b'])
    const a = seen.filter((s) => s.packet.topic === 'a')
    expect(a[0]!.packet).toBe(a[1]!.packet)
  })

  it('completes at once when nothing is subscribed, having matched nothing', async () => {
    b = createBroker()
    await expect(relay(b.stack, 't', 1)).resolves.toEqual({ matched: 0 })
    expect(b.deliveries).toHaveLength(0)
  })
})

describe('relayMessage: store.matched, the subscriptions matched', () => {
  it('counts every matching subscription, overlapping ones of one client too, for one delivery per client', async () => {
    b = createBroker()
    await connectClient(b.stack, 'both', [
      { topic: 'a/+', qos: 0 },
      { topic: 'a/b', qos: 1 },
    ])
    await connectClient(b.stack, 'all', [{ topic: '#', qos: 0 }])
    await connectClient(b.stack, 'elsewhere', [{ topic: 'x', qos: 0 }])
    await expect(relay(b.stack, 'a/b', 1)).resolves.toEqual({ matched: 3 })
    expect(b.deliveries.map((d) => d.clientId).sort()).toEqual(['all', 'both'])
    // '#' does not match a topic starting with $ [MQTT-4.7.2-1].
    await expect(relay(b.stack, '$nobody', 1)).resolves.toEqual({ matched: 0 })
  })

  it('counts the subscription of a disconnected persistent session, whether the message is queued or not', async () => {
    b = createBroker()
    const away = await connectClient(b.stack, 'away', [{ topic: 't', qos: 1 }], false)
    away.destroy()
    await b.broker.ended(away.client)
    await expect(relay(b.stack, 't', 0)).resolves.toEqual({ matched: 1 })
    await expect(relay(b.stack, 't', 1)).resolves.toEqual({ matched: 1 })
    expect(b.deliveries).toHaveLength(0)
  })
})

describe('metadata', () => {
  it('is named memory-backend, handles no packet and requires forwardMessage', () => {
    const backend = new MemoryBackend()
    expect(backend.name).toBe('memory-backend')
    expect(backend.packetTypes).toBeUndefined()
    const stack = new Stack().use(backend)
    expect(() => stack.handler()).toThrow(expect.objectContaining({ code: 'MQS_ERR_MISSING_PROVIDER' }))
    expect(stack.provides('relayMessage')).toBe(true)
    b = { stack } as Broker
  })
})
