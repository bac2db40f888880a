import type { InflightPacket, IPublishPacket } from '@mqtt-stack/core'
import { connectTestClient } from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  type Broker,
  connectClient,
  connectClient5,
  createBroker,
  publish,
  relay,
  subscribe5,
} from './helpers.js'

let b: Broker
afterEach(async () => {
  vi.useRealTimers()
  await b?.stack.close()
})

const to = (clientId: string) => b.deliveries.filter((d) => d.clientId === clientId)

/** Only Date is faked: streams, timers and the harness run as usual. */
function freezeClock(): number {
  vi.useFakeTimers({ toFake: ['Date'] })
  const now = Date.UTC(2026, 0, 1)
  vi.setSystemTime(now)
  return now
}

const expiring = (topic: string, seconds: number | undefined, qos: 0 | 1 | 2 = 1): IPublishPacket => ({
  cmd: 'publish',
  topic,
  payload: topic,
  qos,
  retain: false,
  dup: false,
  ...(seconds === undefined ? {} : { properties: { messageExpiryInterval: seconds } }),
})

describe('MQTT 5.0: properties forwarded', () => {
  it('[MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] forwards the publisher properties unaltered, user properties in order, without its topic alias or subscription identifier', async () => {
    b = createBroker()
    const sub = await connectClient5(b.stack, 'sub', [{ topic: 'req/+', qos: 1 }])
    const pub = await connectClient5(b.stack, 'pub')
    const properties = {
      payloadFormatIndicator: true,
      messageExpiryInterval: 60,
      contentType: 'application/json',
      responseTopic: 'res/pub',
      correlationData: Buffer.from([1, 2, 3]),
      userProperties: { z: 'last-name-first', a: ['1', '2'] },
    }
    pub.send({
      cmd: 'publish',
      topic: 'req/1',
      payload: '{}',
      qos: 1,
      retain: false,
      dup: false,
      messageId: 3,
      properties: { ...properties, topicAlias: 4 },
    })
    await pub.expect('puback')
    const received = await sub.expect('publish')
    expect(received.properties).toEqual(properties)
    expect(Object.keys(received.properties?.userProperties ?? {})).toEqual(['z', 'a'])
    expect(received.properties?.userProperties?.a).toEqual(['1', '2'])
    // A subscription identifier of the publisher is never passed on (only the subscriber's own).
    await relay(b.stack, 'req/2', 0, { properties: { subscriptionIdentifier: 9, contentType: 'x' } })
    expect(to('sub')[1]!.packet.properties).toEqual({ contentType: 'x' })
  })

  it('a 3.1.1 subscriber gets a 5.0 message with the same payload; the properties have no place on its wire', async () => {
    b = createBroker()
    const old = await connectClient(b.stack, 'old', [{ topic: 't', qos: 0 }])
    const pub = await connectClient5(b.stack, 'pub')
    pub.send({
      cmd: 'publish',
      topic: 't',
      payload: 'v',
      qos: 0,
      retain: false,
      dup: false,
      properties: { contentType: 'text/plain', userProperties: { k: 'v' } },
    })
    const received = await old.expect('publish')
    expect(String(received.payload)).toBe('v')
    expect(received.properties).toBeUndefined()
  })
})

describe('MQTT 5.0: Retain As Published', () => {
  it('[MQTT-3.3.1-12] [MQTT-3.3.1-13] keeps the retain flag of a live forward only for a rap subscription', async () => {
    b = createBroker()
    const keep = await connectClient5(b.stack, 'keep', [{ topic: 't', qos: 0, rap: true }])
    const clear = await connectClient5(b.stack, 'clear', [{ topic: 't', qos: 0, rap: false }])
    const pub = await connectClient5(b.stack, 'pub')
    await publish(pub, 't', 0, 'retained', true)
    expect((await keep.expect('publish')).retain).toBe(true)
    expect((await clear.expect('publish')).retain).toBe(false)
    await publish(pub, 't', 0, 'live', false)
    expect((await keep.expect('publish')).retain).toBe(false)
  })

  it('shares one packet between subscribers when rap makes no difference (retain 0), and builds its own only for rap on a retained message', async () => {
    b = createBroker()
    await connectClient5(b.stack, 'a', [{ topic: 't', qos: 1, rap: true }])
    await connectClient5(b.stack, 'b', [{ topic: 't', qos: 1 }])
    await connectClient5(b.stack, 'c', [{ topic: 't', qos: 1 }])
    await relay(b.stack, 't', 1)
    expect(new Set(b.deliveries.map((d) => d.packet)).size).toBe(1)
    b.deliveries.length = 0
    await relay(b.stack, 't', 1, { retain: true })
    expect(to('a')[0]!.packet.retain).toBe(true)
    expect(to('b')[0]!.packet).toBe(to('c')[0]!.packet)
    expect(to('b')[0]!.packet.retain).toBe(false)
  })
})

describe('MQTT 5.0: Subscription Identifiers', () => {
  it('[MQTT-3.3.4-3] [MQTT-3.3.4-4] one copy carries the identifiers of every matching subscription, at the highest granted QoS [MQTT-3.3.4-2]', async () => {
    b = createBroker()
    const sub = await connectClient5(b.stack, 'sub')
    await subscribe5(sub, [{ topic: 'a/+', qos: 0 }], 1)
    await subscribe5(sub, [{ topic: 'a/#', qos: 2 }], 2)
    await subscribe5(sub, [{ topic: '+/b', qos: 0 }], 3)
    await subscribe5(sub, [{ topic: 'a/b', qos: 1 }])
    const one = await connectClient5(b.stack, 'one', [{ topic: 'a/b', qos: 0 }], { id: 7 })
    await connectClient5(b.stack, 'none', [{ topic: 'a/b', qos: 0 }])
    await connectClient5(b.stack, 'none2', [{ topic: 'a/b', qos: 0 }])
    await relay(b.stack, 'a/b', 2)
    expect(to('sub')).toHaveLength(1)
    const { packet } = to('sub')[0]!
    expect(packet.qos).toBe(2)
    expect([...(packet.properties!.subscriptionIdentifier as number[])].sort()).toEqual([1, 2, 3])
    expect(to('one')[0]!.packet.properties).toEqual({ subscriptionIdentifier: 7 })
    // Without identifiers the packet of its QoS is shared, and carries none.
    expect(to('none')[0]!.packet).toBe(to('none2')[0]!.packet)
    expect(to('none')[0]!.packet.properties).toBeUndefined()
    // On the wire too.
    const received = await sub.expect('publish')
    expect([...(received.properties!.subscriptionIdentifier as number[])].sort()).toEqual([1, 2, 3])
    expect((await one.expect('publish')).properties?.subscriptionIdentifier).toBe(7)
  })

  it('[MQTT-3.3.4-3] an identifier is kept with the queued message of an offline persistent session', async () => {
    b = createBroker()
    const t = await connectClient5(b.stack, 'off', [{ topic: 'q', qos: 1 }], { clean: false, id: 5 })
    t.send({ cmd: 'disconnect' })
    await b.broker.ended(t.client)
    await relay(b.stack, 'q', 1)
    const { packets = [] } = await b.stack.run('lookupOfflineMessages', { clientId: 'off' }, {})
    expect(packets.map((p) => p.properties?.subscriptionIdentifier)).toEqual([5])
  })
})

describe('MQTT 5.0: No Local', () => {
  it('[MQTT-3.8.3-3] a message is not forwarded to the client id that published it, through a real 5.0 SUBSCRIBE', async () => {
    b = createBroker()
    const self = await connectClient5(b.stack, 'self', [{ topic: 't', qos: 0, nl: true }])
    await connectClient5(b.stack, 'other', [{ topic: 't', qos: 0, nl: true }])
    await publish(self, 't')
    expect(b.deliveries.map((d) => d.clientId)).toEqual(['other'])
  })

  it("does not count the publisher's own No Local subscription in store.matched", async () => {
    b = createBroker()
    const self = await connectClient5(b.stack, 'self', [{ topic: 't', qos: 0, nl: true }])
    await expect(relay(b.stack, 't', 1, {}, self.client)).resolves.toEqual({ matched: 0 })
    await connectClient5(b.stack, 'other', [{ topic: 't', qos: 0, nl: true }])
    await expect(relay(b.stack, 't', 1, {}, self.client)).resolves.toEqual({ matched: 1 })
    expect(b.deliveries.map((d) => d.clientId)).toEqual(['other'])
  })
})

describe('MQTT 5.0: shared subscriptions', () => {
  it('[MQTT-4.8.2-3] gives each message to one member, round robin, at the QoS granted to that member', async () => {
    b = createBroker()
    for (const [id, qos] of [
      ['m1', 1],
      ['m2', 0],
      ['m3', 2],
    ] as const)
      await connectClient5(b.stack, id, [{ topic: '$share/g/s/+', qos }])
    await connectClient5(b.stack, 'plain', [{ topic: 's/#', qos: 0 }])
    for (let i = 0; i < 6; i++) await relay(b.stack, 's/x', 2)
    const shared = b.deliveries.filter((d) => d.clientId !== 'plain')
    expect(shared.map((d) => d.clientId)).toEqual(['m1', 'm2', 'm3', 'm1', 'm2', 'm3'])
    expect(shared.slice(0, 3).map((d) => d.packet.qos)).toEqual([1, 0, 2])
    expect(shared[0]!.subscription?.topic).toBe('$share/g/s/+')
    // An ordinary subscription still gets every message.
    expect(to('plain')).toHaveLength(6)
    expect(b.backend.stats).toMatchObject({ sharedSubscriptions: 1, subscriptions: 4 })
  })

  it('counts a shared subscription once in store.matched, whatever the number of its members', async () => {
    b = createBroker()
    await connectClient5(b.stack, 'm1', [{ topic: '$share/g/t', qos: 1 }])
    await connectClient5(b.stack, 'm2', [{ topic: '$share/g/t', qos: 1 }])
    await expect(relay(b.stack, 't', 1)).resolves.toEqual({ matched: 1 })
    await connectClient5(b.stack, 'plain', [{ topic: 't', qos: 1 }])
    await expect(relay(b.stack, 't', 1)).resolves.toEqual({ matched: 2 })
  })

  it('each shared subscription (group and filter) gets its own copy; a member gets its own identifier', async () => {
    b = createBroker()
    await connectClient5(b.stack, 'a', [{ topic: '$share/g1/t', qos: 0 }], { id: 11 })
    await connectClient5(b.stack, 'b', [{ topic: '$share/g2/t', qos: 0 }])
    await connectClient5(b.stack, 'c', [{ topic: '$share/g1/#', qos: 0 }])
    await relay(b.stack, 't')
    expect(b.deliveries.map((d) => d.clientId).sort()).toEqual(['a', 'b', 'c'])
    expect(to('a')[0]!.packet.properties?.subscriptionIdentifier).toBe(11)
    expect(to('b')[0]!.packet.properties).toBeUndefined()
  })

  it('skips members that are not connected; members leave the group when they unsubscribe or their session goes', async () => {
    b = createBroker()
    const m1 = await connectClient5(b.stack, 'm1', [{ topic: '$share/g/t', qos: 1 }])
    const m2 = await connectClient5(b.stack, 'm2', [{ topic: '$share/g/t', qos: 1 }], { clean: false })
    await connectClient5(b.stack, 'm3', [{ topic: '$share/g/t', qos: 1 }])
    m2.send({ cmd: 'disconnect' })
    await b.broker.ended(m2.client)
    for (let i = 0; i < 4; i++) await relay(b.stack, 't', 1)
    expect(b.deliveries.map((d) => d.clientId)).toEqual(['m1', 'm3', 'm1', 'm3'])
    b.deliveries.length = 0
    await b.stack.run('unsubscribeTopic', { client: m1.client, topic: '$share/g/t' }, {})
    await relay(b.stack, 't', 1)
    await relay(b.stack, 't', 1)
    expect(b.deliveries.map((d) => d.clientId)).toEqual(['m3', 'm3'])
    await b.stack.run('removeSession', { clientId: 'm3' }, {})
    await b.stack.run('removeSession', { clientId: 'm2' }, {})
    expect(b.backend.stats).toMatchObject({ sharedSubscriptions: 0, subscriptions: 0 })
  })

  it('queues a QoS 1/2 message for one persistent member only when no member is connected; drops it for clean ones', async () => {
    b = createBroker()
    const p1 = await connectClient5(b.stack, 'p1', [{ topic: '$share/g/t', qos: 1 }], { clean: false })
    const p2 = await connectClient5(b.stack, 'p2', [{ topic: '$share/g/t', qos: 1 }], { clean: false })
    for (const t of [p1, p2]) {
      t.send({ cmd: 'disconnect' })
      await b.broker.ended(t.client)
    }
    await relay(b.stack, 't', 1, { payload: 'one' })
    await relay(b.stack, 't', 1, { payload: 'two' })
    await relay(b.stack, 't', 0, { payload: 'zero' })
    const queued = async (clientId: string) =>
      ((await b.stack.run('lookupOfflineMessages', { clientId }, {})).packets ?? []).map((p) => p.payload)
    expect(await queued('p1')).toEqual(['one'])
    expect(await queued('p2')).toEqual(['two'])
    expect(b.deliveries).toHaveLength(0)
  })

  it('relays a QoS 1 message inflight to a member whose session ends to another member; never a QoS 2 one [MQTT-4.8.2-5]', async () => {
    b = createBroker()
    const gone = await connectClient5(b.stack, 'gone', [{ topic: '$share/g/t', qos: 2 }], { id: 3 })
    await relay(b.stack, 't', 1, { payload: 'q1', properties: { contentType: 'c' } })
    await relay(b.stack, 't', 2, { payload: 'q2' })
    expect(to('gone')).toHaveLength(2)
    // As the outbound side does: a copy with a packet identifier, stored inflight.
    for (const [i, { packet }] of to('gone').entries()) {
      const sent: InflightPacket = { ...packet, messageId: i + 1 }
      await b.stack.run('storeInflightMessage', { clientId: 'gone', packet: sent }, {})
    }
    await connectClient5(b.stack, 'stays', [{ topic: '$share/g/t', qos: 1 }], { id: 4 })
    b.deliveries.length = 0
    gone.send({ cmd: 'disconnect' })
    await b.broker.ended(gone.client)
    expect(b.deliveries.map((d) => [d.clientId, String(d.packet.payload)])).toEqual([['stays', 'q1']])
    const { packet } = b.deliveries[0]!
    expect(packet).toMatchObject({ topic: 't', qos: 1, dup: false, retain: false })
    expect(packet.messageId).toBeUndefined()
    expect(packet.properties).toEqual({ contentType: 'c', subscriptionIdentifier: 4 })
  })
})

describe('MQTT 5.0: message expiry in storage', () => {
  it('[MQTT-3.3.2-5] [MQTT-3.3.2-6] the offline queue drops expired messages and hands out the others with the remaining interval', async () => {
    const start = freezeClock()
    b = createBroker()
    const t = await connectClient5(b.stack, 'off', [{ topic: 'q', qos: 1 }], { clean: false })
    t.send({ cmd: 'disconnect' })
    await b.broker.ended(t.client)
    await relay(b.stack, 'q', 1, { payload: 'short', properties: { messageExpiryInterval: 10 } })
    await relay(b.stack, 'q', 1, { payload: 'long', properties: { messageExpiryInterval: 100 } })
    await relay(b.stack, 'q', 1, { payload: 'forever' })
    vi.setSystemTime(start + 30_500)
    const { packets = [] } = await b.stack.run('lookupOfflineMessages', { clientId: 'off' }, {})
    expect(packets.map((p) => [p.payload, p.properties?.messageExpiryInterval])).toEqual([
      ['long', 70],
      ['forever', undefined],
    ])
    expect(b.backend.stats.expiredMessages).toBe(1)
    // The copies handed out remove their stored messages.
    await b.stack.run('removeOfflineMessages', { clientId: 'off', packets }, {})
    expect((await b.stack.run('lookupOfflineMessages', { clientId: 'off' }, {})).packets).toEqual([])
  })

  it('[MQTT-3.3.2-5] a full offline queue makes room by dropping expired messages before it refuses a new one', async () => {
    const start = freezeClock()
    b = createBroker({ maxOfflineMessages: 2 })
    const t = await connectClient5(b.stack, 'off', [{ topic: 'q', qos: 1 }], { clean: false })
    t.send({ cmd: 'disconnect' })
    await b.broker.ended(t.client)
    await relay(b.stack, 'q', 1, { payload: 'short', properties: { messageExpiryInterval: 10 } })
    await relay(b.stack, 'q', 1, { payload: 'kept' })
    await relay(b.stack, 'q', 1, { payload: 'refused' })
    expect(b.backend.stats.droppedOfflineMessages).toBe(1)
    vi.setSystemTime(start + 10_000)
    await relay(b.stack, 'q', 1, { payload: 'after' })
    const { packets = [] } = await b.stack.run('lookupOfflineMessages', { clientId: 'off' }, {})
    expect(packets.map((p) => p.payload)).toEqual(['kept', 'after'])
    expect(b.backend.stats).toMatchObject({ droppedOfflineMessages: 1, expiredMessages: 1 })
  })

  it('[MQTT-3.3.2-6] counts the wait from the relay for a message queued offline later by the outbound side', async () => {
    const start = freezeClock()
    b = createBroker()
    const t = await connectClient5(b.stack, 'later', [{ topic: 'q', qos: 1 }], { clean: false })
    await relay(b.stack, 'q', 1, { properties: { messageExpiryInterval: 60 } })
    const forwarded = to('later')[0]!.packet
    vi.setSystemTime(start + 20_000)
    t.send({ cmd: 'disconnect' })
    await b.broker.ended(t.client)
    // What a connection's waiting queue hands back when it closes: the packet as the relay built it.
    await b.stack.run('storeOfflineMessage', { clientId: 'later', packet: forwarded }, {})
    vi.setSystemTime(start + 30_000)
    const { packets = [] } = await b.stack.run('lookupOfflineMessages', { clientId: 'later' }, {})
    expect(packets.map((p) => p.properties?.messageExpiryInterval)).toEqual([30])
    expect(forwarded.properties?.messageExpiryInterval).toBe(60)
  })

  it('[MQTT-3.3.2-5] [MQTT-3.3.2-6] inflight lookups drop an expired QoS 1 PUBLISH, keep QoS 2 and PUBREL, and give the remaining interval', async () => {
    const start = freezeClock()
    b = createBroker()
    await b.stack.run('storeSession', { clientId: 's', session: { clientId: 's', expiryInterval: 60 } }, {})
    const stored: InflightPacket[] = [
      { ...expiring('a', 10, 1), messageId: 1 },
      { ...expiring('b', 10, 2), messageId: 2 },
      { ...expiring('c', 100, 1), messageId: 3 },
      { cmd: 'pubrel', messageId: 4 },
    ]
    for (const packet of stored) await b.stack.run('storeInflightMessage', { clientId: 's', packet }, {})
    vi.setSystemTime(start + 20_000)
    const { packets = [] } = await b.stack.run('lookupInflightMessages', { clientId: 's' }, {})
    expect(
      packets.map((p) => [p.messageId, p.cmd === 'publish' ? p.properties?.messageExpiryInterval : p.cmd]),
    ).toEqual([
      [2, 1],
      [3, 80],
      [4, 'pubrel'],
    ])
    expect(packets[2]).toBe(stored[3])
    expect(stored[2]!.cmd === 'publish' && stored[2]!.properties?.messageExpiryInterval).toBe(100)
  })

  it('[MQTT-3.3.2-5] [MQTT-3.3.2-6] the retained index drops expired messages and returns the others with the remaining interval', async () => {
    const start = freezeClock()
    b = createBroker()
    for (const [topic, seconds] of [
      ['r/short', 5],
      ['r/long', 60],
      ['r/none', undefined],
    ] as const) {
      const packet = { ...expiring(topic, seconds), retain: true }
      await b.stack.run('storeRetainedMessage', { client: undefined, topic, packet }, {})
    }
    vi.setSystemTime(start + 10_000)
    const { packets = [] } = await b.stack.run('lookupRetainedMessages', { topic: 'r/#' }, {})
    expect(packets.map((p) => [p.topic, p.properties?.messageExpiryInterval]).sort()).toEqual([
      ['r/long', 50],
      ['r/none', undefined],
    ])
    expect(b.backend.stats.retained).toBe(2)
    // The stored message itself is not changed.
    vi.setSystemTime(start)
    const again = (await b.stack.run('lookupRetainedMessages', { topic: 'r/long' }, {})).packets
    expect(again?.[0]?.properties?.messageExpiryInterval).toBe(60)
  })
})

describe('MQTT 5.0: takeover', () => {
  it('[MQTT-3.1.4-3] closes the earlier 5.0 connection with DISCONNECT 0x8E (Session taken over)', async () => {
    b = createBroker()
    const first = await connectClient5(b.stack, 'same')
    const second = connectTestClient(b.stack, { protocolVersion: 5 })
    await second.connect({ clientId: 'same', protocolVersion: 5 })
    const disconnect = await first.expect('disconnect')
    expect(disconnect.reasonCode).toBe(0x8e)
    await first.closed()
  })
})
