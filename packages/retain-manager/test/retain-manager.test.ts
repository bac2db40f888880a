import {
  type Client,
  ErrorCode,
  type IPublishPacket,
  type MiddlewareLike,
  MqttStackError,
  type Packet,
  type QoS,
  Stack,
  type Subscription,
  topicMatches,
} from '@mqtt-stack/core'
import { connectTestClient, type TestConnection } from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { RetainManager } from '../src/index.js'

let stack: Stack

afterEach(async () => {
  await stack?.close()
})

/**
 * Stands in for connection, session-manager, inbound-manager and subscription-manager: CONNECT gets a
 * CONNACK; PUBLISH is relayed with `relayMessage`; SUBSCRIBE gets `subscribeTopic` per filter, its SUBACK,
 * then `subscriptionGranted` per filter; PINGREQ gets PINGRESP (packets run one at a time, so its answer means every
 * earlier chain has ended).
 */
const packets: MiddlewareLike = {
  name: 'fake-packets',
  packetTypes: ['connect', 'publish', 'subscribe', 'pingreq'],
  async handle(client: Client, packet: Packet, next, done) {
    const stack = client.stack
    switch (packet.cmd) {
      case 'connect': {
        client.id = packet.clientId
        if (client.protocolVersion !== 5) {
          client.write({ cmd: 'connack', returnCode: 0, sessionPresent: false })
          return done()
        }
        // As session-manager does: every optional feature starts "not available".
        const { properties } = await stack.run(
          'prepareConnack',
          { client, packet },
          { properties: { retainAvailable: false, maximumQoS: 0 } },
        )
        client.write({ cmd: 'connack', reasonCode: 0, sessionPresent: false, properties })
        return done()
      }
      case 'publish':
        await stack.run('relayMessage', { client, packet, topic: packet.topic, payload: packet.payload }, {})
        return done()
      case 'subscribe': {
        const granted: Array<{ subscription: Subscription; existed: boolean }> = []
        for (const options of packet.subscriptions) {
          const { topic, qos } = options
          const subscription: Subscription = { ...options }
          const id = packet.properties?.subscriptionIdentifier
          if (id !== undefined) subscription.subscriptionIdentifier = id
          const { existed } = await stack.run(
            'subscribeTopic',
            { client, packet, topic, qos, subscription },
            {},
          )
          granted.push({ subscription, existed: existed === true })
        }
        client.write({
          cmd: 'suback',
          messageId: packet.messageId!,
          granted: packet.subscriptions.map((s) => s.qos),
        })
        for (const { subscription, existed } of granted) {
          const { topic, qos } = subscription
          await stack.run('subscriptionGranted', { client, packet, topic, qos, subscription, existed }, {})
        }
        return done()
      }
      case 'pingreq':
        client.write({ cmd: 'pingresp' })
        return done()
      default:
        return next()
    }
  },
}

/**
 * A tiny backend: retained messages in a Map (matched with core's reference matcher), live relays and
 * routes recorded; forwardMessage writes the packet, with a packet identifier when QoS > 0.
 */
function fakeBackend() {
  const retained = new Map<string, IPublishPacket>()
  const relayed: IPublishPacket[] = []
  const forwarded: Array<{ packet: IPublishPacket; subscription: Subscription | undefined }> = []
  const lookups: string[] = []
  const routes = new Map<Client, Set<string>>()
  let messageId = 0
  const storage: MiddlewareLike = {
    name: 'fake-backend',
    callbacks: () => ({
      storeRetainedMessage(ctx, _store, next) {
        if (ctx.packet.payload.length === 0) retained.delete(ctx.topic)
        else retained.set(ctx.topic, ctx.packet)
        next()
      },
      lookupRetainedMessages(ctx, store, next) {
        lookups.push(ctx.topic)
        store.packets = [...retained.values()].filter((packet) => topicMatches(ctx.topic, packet.topic))
        next()
      },
      subscribeTopic(ctx, store, next) {
        const mine = routes.get(ctx.client) ?? new Set<string>()
        routes.set(ctx.client, mine)
        store.existed = mine.has(ctx.topic)
        mine.add(ctx.topic)
        next()
      },
    }),
  }
  /** Where the live relay would happen: after retain-manager, so it sees only what retain-manager passes on. */
  const relay: MiddlewareLike = {
    name: 'fake-relay',
    callbacks: () => ({
      relayMessage(ctx, _store, next) {
        relayed.push(ctx.packet)
        next()
      },
    }),
  }
  const outbound: MiddlewareLike = {
    name: 'fake-outbound',
    callbacks: () => ({
      forwardMessage(ctx, _store, next) {
        forwarded.push({ packet: ctx.packet, subscription: ctx.subscription })
        const packet = ctx.packet.qos > 0 ? { ...ctx.packet, messageId: ++messageId } : ctx.packet
        ctx.client.write(packet)
        next()
      },
    }),
  }
  return { storage, relay, outbound, retained, relayed, forwarded, lookups }
}

/** The contract's order: backend, ..., retain-manager, ..., outbound. */
function setup(extra: MiddlewareLike[] = []) {
  const backend = fakeBackend()
  stack = new Stack().use(backend.storage).use(packets)
  for (const middleware of extra) stack.use(middleware)
  stack.use(new RetainManager()).use(backend.relay).use(backend.outbound)
  const errors: MqttStackError[] = []
  stack.on('error', (err) => errors.push(err))
  return { ...backend, errors }
}

function publish(
  topic: string,
  payload: string,
  qos: QoS,
  retain: boolean,
  messageId?: number,
): IPublishPacket {
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic,
    payload: Buffer.from(payload),
    qos,
    retain,
    dup: false,
  }
  if (messageId !== undefined) packet.messageId = messageId
  return packet
}

async function settled(t: TestConnection): Promise<void> {
  t.send({ cmd: 'pingreq' })
  await t.expect('pingresp')
}

/** Publishes retained messages from a separate connection. */
async function retain(messages: Array<[topic: string, payload: string, qos?: QoS]>): Promise<void> {
  const publisher = connectTestClient(stack)
  await publisher.connect({ clientId: 'publisher' })
  let id = 0
  for (const [topic, payload, qos = 0] of messages) {
    publisher.send(publish(topic, payload, qos, true, qos > 0 ? ++id : undefined))
  }
  await settled(publisher)
  publisher.end()
  await publisher.closed()
}

/** Subscribes and returns the PUBLISH packets that arrive before the SUBSCRIBE chain ends. */
async function subscribe(
  t: TestConnection,
  subscriptions: Array<{ topic: string; qos: QoS; rh?: number }>,
  subscriptionIdentifier?: number,
): Promise<IPublishPacket[]> {
  t.send({
    cmd: 'subscribe',
    messageId: 1,
    subscriptions,
    ...(subscriptionIdentifier === undefined ? {} : { properties: { subscriptionIdentifier } }),
  })
  await t.expect('suback')
  const received: IPublishPacket[] = []
  t.send({ cmd: 'pingreq' })
  for (let packet = await t.next(); packet.cmd !== 'pingresp'; packet = await t.next()) {
    if (packet.cmd === 'publish') received.push(packet)
  }
  return received
}

describe('RetainManager: metadata', () => {
  it('is named after its package, handles no packet and requires the retained store and forwardMessage', () => {
    const manager = new RetainManager()
    expect(manager.name).toBe('retain-manager')
    expect(manager.packetTypes).toBeUndefined()
    expect(manager.requires).toEqual(['storeRetainedMessage', 'lookupRetainedMessages', 'forwardMessage'])
  })

  it('fails at start when nothing stores retained messages', () => {
    stack = new Stack().use(new RetainManager())
    expect(() => stack.handler()).toThrow(expect.objectContaining({ code: ErrorCode.MISSING_PROVIDER }))
  })
})

describe('RetainManager: MQTT 5.0', () => {
  it('advertises Retain Available in the CONNACK of a 5.0 client (prepareConnack)', async () => {
    setup()
    const t = connectTestClient(stack, { protocolVersion: 5 })
    const connack = await t.connect({ clientId: 'v5', protocolVersion: 5 })
    expect(connack.properties?.retainAvailable).toBe(true)
    // Only that property is raised.
    expect(connack.properties?.maximumQoS).toBe(0)
  })

  it('[MQTT-3.3.4-3] sends a retained message with the Subscription Identifier of the subscription it is sent for, and its properties as stored', async () => {
    const { retained } = setup()
    const stored = publish('a', 'x', 1, true)
    stored.properties = { messageExpiryInterval: 42, contentType: 'text/plain' }
    retained.set('a', stored)
    const t = connectTestClient(stack, { protocolVersion: 5 })
    await t.connect({ clientId: 'v5', protocolVersion: 5 })
    const [withId] = await subscribe(t, [{ topic: 'a', qos: 1 }], 6)
    expect(withId?.properties).toEqual({
      messageExpiryInterval: 42,
      contentType: 'text/plain',
      subscriptionIdentifier: 6,
    })
    const [without] = await subscribe(t, [{ topic: '+', qos: 1 }])
    expect(without?.properties).toEqual({ messageExpiryInterval: 42, contentType: 'text/plain' })
    expect(stored.properties).toEqual({ messageExpiryInterval: 42, contentType: 'text/plain' })
  })
})

describe('RetainManager: relayMessage', () => {
  it('[MQTT-3.3.1-5] stores a PUBLISH with the retain flag, then lets it be relayed', async () => {
    const { retained, relayed } = setup()
    await retain([['a/b', 'hello', 1]])
    expect(retained.get('a/b')?.payload.toString()).toBe('hello')
    expect(relayed.map((packet) => packet.topic)).toEqual(['a/b'])
  })

  it('[MQTT-3.3.1-12] neither stores nor removes anything for a PUBLISH without the retain flag', async () => {
    const { retained, relayed } = setup()
    await retain([['a/b', 'kept']])
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'p' })
    t.send(publish('a/b', 'live', 0, false))
    t.send(publish('a/b', '', 0, false))
    await settled(t)
    expect(retained.get('a/b')?.payload.toString()).toBe('kept')
    expect(relayed.map((packet) => packet.payload.toString())).toEqual(['kept', 'live', ''])
  })

  it('[MQTT-3.3.1-10] [MQTT-3.3.1-11] passes an empty retained payload to the store (which deletes) and still relays it', async () => {
    const { retained, relayed } = setup()
    await retain([
      ['a/b', 'old'],
      ['a/b', ''],
    ])
    expect(retained.has('a/b')).toBe(false)
    expect(relayed.map((packet) => packet.payload.toString())).toEqual(['old', ''])
    const t = connectTestClient(stack)
    await t.connect({ clientId: 's' })
    expect(await subscribe(t, [{ topic: 'a/b', qos: 0 }])).toEqual([])
  })

  it('stores a retained message relayed by the server itself (no client)', async () => {
    const { retained, relayed } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'any' })
    const packet = publish('$SYS/uptime', '42', 0, true)
    await stack.run(
      'relayMessage',
      { client: undefined, packet, topic: packet.topic, payload: packet.payload },
      {},
    )
    expect(retained.get('$SYS/uptime')).toBe(packet)
    expect(relayed).toEqual([packet])
  })

  it('stops the relay with next(err) when the store fails: not relayed, reported, the publisher closed', async () => {
    const failure = new MqttStackError('ACME_ERR_DOWN', 'retained store down')
    const { relayed, errors } = setup([
      {
        name: 'failing-store',
        callbacks: () => ({ storeRetainedMessage: (_ctx, _store, next) => next(failure) }),
      },
    ])
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'p' })
    t.send(publish('a', 'x', 0, true))
    await t.closed()
    expect(errors).toContain(failure)
    expect(relayed).toEqual([])
  })
})

describe('RetainManager: a server message before any connection', () => {
  it('is retained: the stack was handed over at use(), not at the first connection', async () => {
    const { retained } = setup()
    const packet = publish('$SYS/started', 'yes', 0, true)
    await stack.run(
      'relayMessage',
      { client: undefined, packet, topic: packet.topic, payload: packet.payload },
      {},
    )
    expect([...retained.keys()]).toEqual(['$SYS/started'])
  })
})

describe('RetainManager: subscriptionGranted', () => {
  it('[MQTT-3.3.1-6] [MQTT-3.3.1-8] sends every retained message matching a wildcard filter, with the retain flag (LESSONS 1)', async () => {
    const { lookups } = setup()
    await retain([
      ['a/b', 'ab'],
      ['a/c', 'ac'],
      ['a/b/c', 'abc'],
      ['x/y', 'xy'],
      ['$SYS/z', 'sys'],
    ])
    const t = connectTestClient(stack)
    await t.connect({ clientId: 's' })
    const plus = await subscribe(t, [{ topic: 'a/+', qos: 0 }])
    expect(plus.map((packet) => [packet.topic, packet.payload.toString(), packet.retain])).toEqual([
      ['a/b', 'ab', true],
      ['a/c', 'ac', true],
    ])
    const hash = await subscribe(t, [{ topic: '#', qos: 0 }])
    // A filter starting with a wildcard does not match $ topics [MQTT-4.7.2-1]
    expect(hash.map((packet) => packet.topic)).toEqual(['a/b', 'a/c', 'a/b/c', 'x/y'])
    const exact = await subscribe(t, [{ topic: 'x/y', qos: 0 }])
    expect(exact.map((packet) => packet.topic)).toEqual(['x/y'])
    // The filter itself is what is looked up, never a topic name derived from it.
    expect(lookups).toEqual(['a/+', '#', 'x/y'])
  })

  it('[MQTT-3.8.4-6] [MQTT-3.3.1-8] delivers at min(stored QoS, granted QoS), retain flag set, as a fresh message without DUP or the publisher id', async () => {
    const { retained, forwarded } = setup()
    await retain([
      ['q/2', 'two', 2],
      ['q/1', 'one', 1],
      ['q/0', 'zero', 0],
    ])
    // A backend may keep the message as it was relayed, retain flag cleared.
    retained.set('q/r', publish('q/r', 'flag cleared', 0, false))
    const t = connectTestClient(stack)
    await t.connect({ clientId: 's' })
    await subscribe(t, [{ topic: 'q/+', qos: 1 }])
    expect(forwarded.map(({ packet }) => [packet.topic, packet.qos, packet.retain, packet.dup])).toEqual([
      ['q/2', 1, true, false],
      ['q/1', 1, true, false],
      ['q/0', 0, true, false],
      ['q/r', 0, true, false],
    ])
    for (const { packet, subscription } of forwarded) {
      expect(packet).not.toHaveProperty('messageId')
      expect(subscription).toEqual({ topic: 'q/+', qos: 1 })
    }
    // The stored messages are left as they were.
    expect(retained.get('q/2')).toMatchObject({ qos: 2, messageId: 1 })
  })

  it('sends nothing for a subscription restored with its session (subscribeTopic alone, nothing granted)', async () => {
    const { lookups, forwarded } = setup()
    await retain([['a', 'x']])
    const t = connectTestClient(stack)
    await t.connect({ clientId: 's' })
    await stack.run(
      'subscribeTopic',
      { client: t.client, topic: 'a', qos: 0, subscription: { topic: 'a', qos: 0 } },
      {},
    )
    expect(lookups).toEqual([])
    expect(forwarded).toEqual([])
  })

  it('[MQTT-3.8.4-3] sends the retained messages again when a 3.1.1 client repeats a SUBSCRIBE', async () => {
    setup()
    await retain([['a', 'x']])
    const t = connectTestClient(stack)
    await t.connect({ clientId: 's' })
    expect(await subscribe(t, [{ topic: 'a', qos: 0 }])).toHaveLength(1)
    expect(await subscribe(t, [{ topic: 'a', qos: 0 }])).toHaveLength(1)
  })

  it('[MQTT-3.3.1-9] [MQTT-3.8.4-4] [MQTT-3.3.1-10] [MQTT-3.3.1-11] follows MQTT 5.0 Retain Handling: 0 always, 1 only for a new subscription, 2 never', async () => {
    setup()
    await retain([['a', 'x']])
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'v5', protocolVersion: 5 })
    expect(await subscribe(t, [{ topic: 'a', qos: 0, rh: 0 }])).toHaveLength(1)
    expect(await subscribe(t, [{ topic: 'a', qos: 0, rh: 0 }])).toHaveLength(1)
    expect(await subscribe(t, [{ topic: 'a', qos: 0, rh: 1 }])).toHaveLength(0)
    expect(await subscribe(t, [{ topic: 'a/#', qos: 0, rh: 1 }])).toHaveLength(1)
    expect(await subscribe(t, [{ topic: '+', qos: 0, rh: 2 }])).toHaveLength(0)
  })

  it('sends nothing for an MQTT 5.0 shared subscription (5.0 section 3.3.1.3: only a new non-shared subscription gets them)', async () => {
    const { lookups } = setup()
    await retain([['a', 'x']])
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'v5', protocolVersion: 5 })
    expect(await subscribe(t, [{ topic: '$share/g/a', qos: 0 }])).toHaveLength(0)
    expect(lookups).toEqual([])
  })

  it('passes a forwardMessage failure on with next(err)', async () => {
    const failure = new MqttStackError('ACME_ERR_OUT', 'outbound store down')
    const { errors } = setup()
    stack.use({
      name: 'failing-outbound',
      callbacks: () => ({ forwardMessage: (_c, _s, next) => next(failure) }),
    })
    await retain([['a', 'x']])
    const t = connectTestClient(stack)
    await t.connect({ clientId: 's' })
    t.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] })
    await t.closed()
    expect(errors).toContain(failure)
  })

  it('stops sending retained messages to a client that has closed', async () => {
    const { forwarded } = setup()
    stack.use({
      name: 'closing-outbound',
      callbacks: () => ({
        forwardMessage(ctx, _store, next) {
          ctx.client.close()
          next()
        },
      }),
    })
    await retain([
      ['a/1', 'x'],
      ['a/2', 'y'],
    ])
    const t = connectTestClient(stack)
    await t.connect({ clientId: 's' })
    t.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/+', qos: 0 }] })
    await t.closed()
    expect(forwarded.map(({ packet }) => packet.topic)).toEqual(['a/1'])
  })
})
