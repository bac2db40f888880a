import { type CallbackHandler, ErrorCode, type MiddlewareLike, MqttStackError, Stack } from '@mqtt-stack/core'
import { connectTestClient, DeferredBackend } from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { SubscriptionManager } from '../src/index.js'
import { collectErrors, connector, fakeBackend, settled } from './helpers.js'

let stack: Stack

afterEach(async () => {
  await stack?.close()
})

/**
 * connector, backend (answering late when `deferred`), then the given middlewares, then SubscriptionManager
 * (its place in the contract).
 */
function setup(
  options: { manager?: SubscriptionManager; before?: MiddlewareLike[]; deferred?: boolean } = {},
) {
  const backend = fakeBackend()
  stack = new Stack()
    .use(connector)
    .use(options.deferred ? new DeferredBackend(backend.middleware) : backend.middleware)
  for (const middleware of options.before ?? []) stack.use(middleware)
  stack.use(options.manager ?? new SubscriptionManager())
  const errors = collectErrors(stack)
  return { backend, errors }
}

function authorizer(decide: CallbackHandler<'authorizeSubscribe'>): MiddlewareLike {
  return { name: 'fake-authorize', callbacks: () => ({ authorizeSubscribe: decide }) }
}

describe('SubscriptionManager: metadata', () => {
  it('is named after its package and declares what it handles and requires', () => {
    const manager = new SubscriptionManager()
    expect(manager.name).toBe('subscription-manager')
    expect(manager.packetTypes).toEqual(['subscribe', 'unsubscribe'])
    expect(manager.requires).toEqual([
      'subscribeTopic',
      'unsubscribeTopic',
      'storeSubscription',
      'removeSubscription',
    ])
  })

  it('fails at start when no middleware routes subscriptions', () => {
    stack = new Stack().use(connector).use(new SubscriptionManager())
    expect(() => stack.handler()).toThrow(expect.objectContaining({ code: ErrorCode.MISSING_PROVIDER }))
  })

  it('refuses a maxQoS that is not 0, 1 or 2 at construction', () => {
    expect(() => new SubscriptionManager({ maxQoS: 3 as 2 })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_OPTION }),
    )
  })
})

describe('SubscriptionManager: SUBSCRIBE', () => {
  it('[MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-3.8.4-5] answers one SUBACK with the packet id and one code per filter, in order', async () => {
    const { backend } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c1' })
    t.send({
      cmd: 'subscribe',
      messageId: 4242,
      subscriptions: [
        { topic: 'a/b', qos: 1 },
        { topic: 'a/#/b', qos: 0 },
        { topic: 'c/+', qos: 2 },
        { topic: 'd', qos: 0 },
      ],
    })
    const suback = await t.expect('suback')
    expect(suback.messageId).toBe(4242)
    expect(suback.granted).toEqual([1, 0x80, 2, 0])
    await settled(t)
    expect(backend.calls).toEqual([
      {
        name: 'subscribeTopic',
        clientId: 'c1',
        topic: 'a/b',
        qos: 1,
        subscription: { topic: 'a/b', qos: 1 },
        hasPacket: true,
      },
      { name: 'storeSubscription', clientId: 'c1', topic: 'a/b', qos: 1 },
      {
        name: 'subscribeTopic',
        clientId: 'c1',
        topic: 'c/+',
        qos: 2,
        subscription: { topic: 'c/+', qos: 2 },
        hasPacket: true,
      },
      { name: 'storeSubscription', clientId: 'c1', topic: 'c/+', qos: 2 },
      {
        name: 'subscribeTopic',
        clientId: 'c1',
        topic: 'd',
        qos: 0,
        subscription: { topic: 'd', qos: 0 },
        hasPacket: true,
      },
      { name: 'storeSubscription', clientId: 'c1', topic: 'd', qos: 0 },
    ])
    expect(backend.persisted.get('c1')?.size).toBe(3)
  })

  it('[MQTT-3.8.4-1] sends the SUBACK once every granted filter is routed and stored, however late the backend answers; subscriptionGranted follows, filter by filter', async () => {
    const log: string[] = []
    setup({
      deferred: true,
      before: [
        {
          // After the backend: reached only once the backend has answered.
          name: 'witness',
          callbacks: () => ({
            subscribeTopic(ctx, _store, next) {
              log.push(`routed ${ctx.topic}`)
              next()
            },
            storeSubscription(ctx, _store, next) {
              log.push(`stored ${ctx.topic}`)
              next()
            },
            subscriptionGranted(ctx, _store, next) {
              log.push(`granted ${ctx.topic} existed ${ctx.existed}`)
              next()
            },
          }),
        },
      ],
    })
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c1' })
    const write = t.client.write.bind(t.client)
    t.client.write = (packet, cb) => {
      log.push(packet.cmd)
      return write(packet, cb)
    }
    t.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [
        { topic: 'a', qos: 0 },
        { topic: 'a/#/b', qos: 0 },
        { topic: 'b', qos: 1 },
      ],
    })
    expect((await t.expect('suback')).granted).toEqual([0, 0x80, 1])
    await settled(t)
    t.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'a', qos: 1 }] })
    await t.expect('suback')
    await settled(t)
    expect(log).toEqual([
      'routed a',
      'stored a',
      'routed b',
      'stored b',
      'suback',
      'granted a existed false',
      'granted b existed false',
      'pingresp',
      'routed a',
      'stored a',
      'suback',
      'granted a existed true',
      'pingresp',
    ])
  })

  it('[MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.3-1] refuses invalid filters with 0x80 and never routes them', async () => {
    const { backend } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c1' })
    const invalid = ['a/#/b', 'a#', 'a/b#', '#/a', 'a+', 'a/+b', '+a/b', '']
    t.send({
      cmd: 'subscribe',
      messageId: 9,
      subscriptions: invalid.map((topic) => ({ topic, qos: 1 as const })),
    })
    const suback = await t.expect('suback')
    expect(suback.granted).toEqual(invalid.map(() => 0x80))
    await settled(t)
    expect(backend.calls).toEqual([])
    expect(t.isClosed).toBe(false)
  })

  it('accepts valid wildcard filters: #, +, +/+/#, a/+/c, a/#', async () => {
    const { backend } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c1' })
    const valid = ['#', '+', '+/+/#', 'a/+/c', 'a/#', '/', 'a//b']
    t.send({
      cmd: 'subscribe',
      messageId: 2,
      subscriptions: valid.map((topic) => ({ topic, qos: 0 as const })),
    })
    expect((await t.expect('suback')).granted).toEqual(valid.map(() => 0))
    await settled(t)
    expect(backend.calls.filter((call) => call.name === 'subscribeTopic').map((call) => call.topic)).toEqual(
      valid,
    )
  })

  it('treats $share/... as an ordinary filter for a 3.1.1 client', async () => {
    const { backend } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c1' })
    t.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: '$share//t', qos: 1 }] })
    expect((await t.expect('suback')).granted).toEqual([1])
    await settled(t)
    expect(backend.calls[0]?.topic).toBe('$share//t')
  })

  it('[MQTT-3.8.4-6] grants at most maxQoS', async () => {
    const { backend } = setup({ manager: new SubscriptionManager({ maxQoS: 1 }) })
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c1' })
    t.send({
      cmd: 'subscribe',
      messageId: 5,
      subscriptions: [
        { topic: 'x', qos: 2 },
        { topic: 'y', qos: 0 },
      ],
    })
    expect((await t.expect('suback')).granted).toEqual([1, 0])
    await settled(t)
    expect(backend.calls[0]).toMatchObject({ topic: 'x', qos: 1, subscription: { topic: 'x', qos: 1 } })
    expect(backend.calls[1]).toMatchObject({ name: 'storeSubscription', topic: 'x', qos: 1 })
  })

  it('asks authorizeSubscribe per filter when provided: a refusal is 0x80, store.qos lowers the grant', async () => {
    const asked: Array<{ topic: string; qos: number }> = []
    const { backend } = setup({
      before: [
        authorizer((ctx, store, next) => {
          asked.push({ topic: ctx.subscription.topic, qos: ctx.subscription.qos })
          if (ctx.subscription.topic.startsWith('secret/')) store.authorized = false
          else if (ctx.subscription.topic === 'limited') store.qos = 0
          else store.authorized = true
          next()
        }),
      ],
    })
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c1' })
    t.send({
      cmd: 'subscribe',
      messageId: 6,
      subscriptions: [
        { topic: 'secret/x', qos: 1 },
        { topic: 'limited', qos: 2 },
        { topic: 'open', qos: 2 },
        { topic: 'bad/#/x', qos: 1 },
      ],
    })
    expect((await t.expect('suback')).granted).toEqual([0x80, 0, 2, 0x80])
    await settled(t)
    // Invalid filters are refused before authorisation; authorisation sees the requested QoS.
    expect(asked).toEqual([
      { topic: 'secret/x', qos: 1 },
      { topic: 'limited', qos: 2 },
      { topic: 'open', qos: 2 },
    ])
    expect(
      backend.calls.filter((call) => call.name === 'subscribeTopic').map((c) => [c.topic, c.qos]),
    ).toEqual([
      ['limited', 0],
      ['open', 2],
    ])
  })

  it('[MQTT-3.8.3-3] closes a client whose SUBSCRIBE holds no topic filter, without SUBACK', async () => {
    const { backend, errors } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c1' })
    t.sendRaw(Uint8Array.of(0x82, 0x02, 0x00, 0x01))
    await t.closed()
    expect(t.received.map((packet) => packet.cmd)).toEqual(['connack'])
    expect(errors.map((err) => err.code)).toEqual([ErrorCode.PROTOCOL_ERROR])
    expect(backend.calls).toEqual([])
  })

  it('passes a subscribeTopic failure on with next(err): no SUBACK, reported, the client is closed', async () => {
    const failure = new MqttStackError('ACME_ERR_DOWN', 'routing store down')
    const { backend, errors } = setup({
      before: [
        {
          name: 'fake-failing',
          callbacks: () => ({ subscribeTopic: (_ctx, _store, next) => next(failure) }),
        },
      ],
    })
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c1' })
    t.send({ cmd: 'subscribe', messageId: 8, subscriptions: [{ topic: 'a', qos: 0 }] })
    await t.closed()
    expect(t.received.map((packet) => packet.cmd)).toEqual(['connack'])
    expect(errors).toContain(failure)
    expect(backend.calls.filter((call) => call.name === 'storeSubscription')).toEqual([])
  })

  it('passes an authorizeSubscribe failure on with next(err), without SUBACK', async () => {
    const failure = new MqttStackError('ACME_ERR_ACL', 'acl store down')
    const { errors } = setup({ before: [authorizer((_ctx, _store, next) => next(failure))] })
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c1' })
    t.send({ cmd: 'subscribe', messageId: 8, subscriptions: [{ topic: 'a', qos: 0 }] })
    await t.closed()
    expect(t.received.map((packet) => packet.cmd)).toEqual(['connack'])
    expect(errors).toContain(failure)
  })

  it('routes nothing for a client that closed while its SUBSCRIBE was being authorised', async () => {
    const { backend } = setup({
      before: [
        authorizer((ctx, store, next) => {
          store.authorized = true
          ctx.client.close()
          next()
        }),
      ],
    })
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c1' })
    t.send({ cmd: 'subscribe', messageId: 8, subscriptions: [{ topic: 'a', qos: 0 }] })
    await t.closed()
    expect(backend.calls).toEqual([])
    expect(t.received.map((packet) => packet.cmd)).toEqual(['connack'])
  })
})

describe('SubscriptionManager: UNSUBSCRIBE', () => {
  it('[MQTT-3.10.4-4] [MQTT-3.10.4-6] unroutes and forgets each filter, then one UNSUBACK with the packet id', async () => {
    const { backend } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c1' })
    t.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/+', qos: 1 }] })
    await t.expect('suback')
    t.send({ cmd: 'unsubscribe', messageId: 777, unsubscriptions: ['a/+', 'b'] })
    const unsuback = await t.expect('unsuback')
    expect(unsuback.messageId).toBe(777)
    await settled(t)
    expect(backend.calls.slice(2)).toEqual([
      { name: 'unsubscribeTopic', clientId: 'c1', topic: 'a/+' },
      { name: 'removeSubscription', clientId: 'c1', topic: 'a/+' },
      { name: 'unsubscribeTopic', clientId: 'c1', topic: 'b' },
      { name: 'removeSubscription', clientId: 'c1', topic: 'b' },
    ])
    expect(backend.persisted.get('c1')?.size).toBe(0)
    expect(backend.routes.get(t.client)?.size).toBe(0)
  })

  it('[MQTT-3.10.4-5] answers UNSUBACK to a persistent session with no stored subscriptions, and goes on (LESSONS 9)', async () => {
    const { backend, errors } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'persistent', clean: false })
    t.send({ cmd: 'unsubscribe', messageId: 12, unsubscriptions: ['never/subscribed', 'x/#'] })
    expect((await t.expect('unsuback')).messageId).toBe(12)
    // The connection is still served.
    t.send({ cmd: 'subscribe', messageId: 13, subscriptions: [{ topic: 'later', qos: 0 }] })
    expect((await t.expect('suback')).granted).toEqual([0])
    await settled(t)
    expect(errors).toEqual([])
    expect(backend.persisted.get('persistent')?.has('later')).toBe(true)
  })

  it('[MQTT-3.10.3-2] closes a client whose UNSUBSCRIBE holds no topic filter, without UNSUBACK', async () => {
    const { backend, errors } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c1' })
    t.sendRaw(Uint8Array.of(0xa2, 0x02, 0x00, 0x01))
    await t.closed()
    expect(t.received.map((packet) => packet.cmd)).toEqual(['connack'])
    expect(errors.map((err) => err.code)).toEqual([ErrorCode.PROTOCOL_ERROR])
    expect(backend.calls).toEqual([])
  })

  it('does not pass an invalid filter to the backend, and still answers UNSUBACK', async () => {
    const { backend } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c1' })
    t.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['a/#/b'] })
    expect((await t.expect('unsuback')).messageId).toBe(3)
    await settled(t)
    expect(backend.calls).toEqual([])
  })
})

describe('SubscriptionManager: MQTT 5.0 clients', () => {
  it('passes No Local, Retain As Published, Retain Handling and the Subscription Identifier on', async () => {
    const { backend } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'v5', protocolVersion: 5 })
    t.send({
      cmd: 'subscribe',
      messageId: 1,
      properties: { subscriptionIdentifier: 42 },
      subscriptions: [{ topic: 'a/#', qos: 1, nl: true, rap: true, rh: 1 }],
    })
    expect((await t.expect('suback')).granted).toEqual([1])
    await settled(t)
    expect(backend.calls[0]?.subscription).toEqual({
      topic: 'a/#',
      qos: 1,
      nl: true,
      rap: true,
      rh: 1,
      subscriptionIdentifier: 42,
    })
  })

  it('answers reason codes: 0x8F for an invalid filter (shared ones included), 0x87 for a refusal', async () => {
    const { backend } = setup({
      before: [
        authorizer((ctx, store, next) => {
          store.authorized = ctx.subscription.topic !== 'denied'
          next()
        }),
      ],
    })
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'v5', protocolVersion: 5 })
    t.send({
      cmd: 'subscribe',
      messageId: 2,
      subscriptions: [
        { topic: 'a/#/b', qos: 0 },
        { topic: '$share//t', qos: 0 },
        { topic: 'denied', qos: 0 },
        { topic: '$share/g/t/+', qos: 2 },
      ],
    })
    expect((await t.expect('suback')).granted).toEqual([0x8f, 0x8f, 0x87, 2])
    await settled(t)
    expect(backend.calls[0]).toMatchObject({ name: 'subscribeTopic', topic: '$share/g/t/+', qos: 2 })
  })

  it('answers UNSUBACK with 0x00 for a removed subscription and 0x11 for none', async () => {
    setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'v5', protocolVersion: 5 })
    t.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] })
    await t.expect('suback')
    t.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['a', 'b'] })
    const unsuback = await t.expect('unsuback')
    expect(unsuback.messageId).toBe(2)
    expect(unsuback.granted).toEqual([0x00, 0x11])
  })
})

describe('SubscriptionManager: MQTT 5.0 features and options', () => {
  /** A session-manager stand-in: runs prepareConnack from "not available", as the contract says, then CONNACK. */
  const connackWithProperties: MiddlewareLike = {
    name: 'fake-session-manager',
    packetTypes: ['connect'],
    handle(client, packet, next, done) {
      if (packet.cmd !== 'connect') return next()
      const properties = {
        wildcardSubscriptionAvailable: false,
        subscriptionIdentifiersAvailable: false,
        sharedSubscriptionAvailable: false,
      }
      client.stack.execute('prepareConnack', { client, packet }, { properties }, (err, store) => {
        if (err) return next(err)
        client.write({ cmd: 'connack', reasonCode: 0, sessionPresent: false, properties: store.properties })
        done()
      })
    },
  }

  async function connackProperties(manager: SubscriptionManager) {
    stack = new Stack().use(connackWithProperties).use(fakeBackend().middleware).use(manager)
    const t = connectTestClient(stack)
    const connack = await t.connect({ clientId: 'v5', protocolVersion: 5 })
    return connack.properties
  }

  it('answers prepareConnack: wildcard, subscription identifiers and shared subscriptions available', async () => {
    expect(await connackProperties(new SubscriptionManager())).toEqual({
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
    })
  })

  it('advertises each feature turned off by its option as not available', async () => {
    const manager = new SubscriptionManager({
      wildcardSubscriptionAvailable: false,
      subscriptionIdentifiersAvailable: false,
      sharedSubscriptionAvailable: false,
    })
    expect(await connackProperties(manager)).toEqual({
      wildcardSubscriptionAvailable: false,
      subscriptionIdentifiersAvailable: false,
      sharedSubscriptionAvailable: false,
    })
  })

  it('refuses a non-boolean feature option at construction', () => {
    expect(
      () => new SubscriptionManager({ sharedSubscriptionAvailable: 'no' as unknown as boolean }),
    ).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_OPTION }))
  })

  it('refuses wildcard filters with 0xA2 when wildcardSubscriptionAvailable is off (shared ones included)', async () => {
    const { backend } = setup({ manager: new SubscriptionManager({ wildcardSubscriptionAvailable: false }) })
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'v5', protocolVersion: 5 })
    t.send({
      cmd: 'subscribe',
      messageId: 3,
      subscriptions: [
        { topic: 'a/+', qos: 1 },
        { topic: '#', qos: 0 },
        { topic: '$share/g+x/t', qos: 0 },
        { topic: '$share/g/t/#', qos: 0 },
        { topic: 'a/b', qos: 1 },
      ],
    })
    // '$share/g+x/t' is not a valid shared filter (its share name holds '+'): 0x8F, not 0xA2
    expect((await t.expect('suback')).granted).toEqual([0xa2, 0xa2, 0x8f, 0xa2, 1])
    await settled(t)
    expect(backend.calls.map((c) => `${c.name} ${c.topic}`)).toEqual([
      'subscribeTopic a/b',
      'storeSubscription a/b',
    ])
  })

  it('refuses every filter of a SUBSCRIBE with a Subscription Identifier with 0xA1 when they are off', async () => {
    const { backend } = setup({
      manager: new SubscriptionManager({ subscriptionIdentifiersAvailable: false }),
    })
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'v5', protocolVersion: 5 })
    t.send({
      cmd: 'subscribe',
      messageId: 4,
      properties: { subscriptionIdentifier: 7 },
      subscriptions: [
        { topic: 'a', qos: 1 },
        { topic: 'b', qos: 0 },
      ],
    })
    expect((await t.expect('suback')).granted).toEqual([0xa1, 0xa1])
    t.send({ cmd: 'subscribe', messageId: 5, subscriptions: [{ topic: 'a', qos: 1 }] })
    expect((await t.expect('suback')).granted).toEqual([1])
    await settled(t)
    expect(backend.calls[0]?.subscription).not.toHaveProperty('subscriptionIdentifier')
  })

  it('refuses shared filters with 0x9E when sharedSubscriptionAvailable is off', async () => {
    const { backend } = setup({ manager: new SubscriptionManager({ sharedSubscriptionAvailable: false }) })
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'v5', protocolVersion: 5 })
    t.send({
      cmd: 'subscribe',
      messageId: 6,
      subscriptions: [
        { topic: '$share/g/t', qos: 1 },
        { topic: 't', qos: 1 },
      ],
    })
    expect((await t.expect('suback')).granted).toEqual([0x9e, 1])
    await settled(t)
    expect(backend.calls.map((c) => c.topic)).toEqual(['t', 't'])
  })

  it('leaves 3.1.1 clients alone: options that turn 5.0 features off change nothing for them', async () => {
    setup({
      manager: new SubscriptionManager({
        wildcardSubscriptionAvailable: false,
        sharedSubscriptionAvailable: false,
      }),
    })
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'v4' })
    t.send({
      cmd: 'subscribe',
      messageId: 7,
      subscriptions: [
        { topic: 'a/+', qos: 1 },
        { topic: '$share/g/t', qos: 0 },
      ],
    })
    expect((await t.expect('suback')).granted).toEqual([1, 0])
  })

  it('[MQTT-3.8.3-4] closes a client that sets No Local on a shared subscription: DISCONNECT 0x82, no SUBACK, nothing routed', async () => {
    const { backend, errors } = setup()
    const t = connectTestClient(stack, { protocolVersion: 5 })
    await t.connect({ clientId: 'v5', protocolVersion: 5 })
    t.send({
      cmd: 'subscribe',
      messageId: 8,
      subscriptions: [
        { topic: 'a', qos: 0 },
        { topic: '$share/g/t', qos: 0, nl: true },
      ],
    })
    expect(await t.expect('disconnect')).toMatchObject({ reasonCode: 0x82 })
    await t.closed()
    expect(backend.calls).toEqual([])
    expect(errors).toEqual([expect.objectContaining({ code: ErrorCode.PROTOCOL_ERROR })])
  })

  it('accepts No Local on an ordinary filter of a 5.0 client', async () => {
    setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'v5', protocolVersion: 5 })
    t.send({ cmd: 'subscribe', messageId: 9, subscriptions: [{ topic: 'a', qos: 0, nl: true }] })
    expect((await t.expect('suback')).granted).toEqual([0])
  })
})
