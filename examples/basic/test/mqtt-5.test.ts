import type { IPublishPacket } from '@mqtt-stack/core'
// An independent SCRAM client (RFC 5802/7677), shared with the authentication package's tests.
import { scramClient } from '@mqtt-stack/core/testing'
import { describe, expect, it } from 'vitest'
import { collect, flush, nextMessage, startBroker } from './support.js'

const V5 = { protocolVersion: 5 } as const
const CONNECT_5 = {
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: 5,
  clean: true,
  keepalive: 0,
} as const

describe('MQTT 5.0: CONNACK', () => {
  it('[MQTT-3.2.2-16] assigns a client identifier to an empty one and says which', async () => {
    const { raw } = await startBroker()
    const peer = await raw(V5)
    peer.send({ ...CONNECT_5, clientId: '' })
    const connack = await peer.expect('connack')
    expect(connack.reasonCode).toBe(0)
    expect(connack.properties?.assignedClientIdentifier).toMatch(/.+/)
  })

  it('advertises the limits it enforces: topic alias maximum, maximum packet size, receive maximum', async () => {
    const { raw } = await startBroker()
    const peer = await raw(V5)
    peer.send({ ...CONNECT_5, clientId: 'limits' })
    const { properties } = await peer.expect('connack')
    expect(properties?.topicAliasMaximum).toBe(64)
    expect(properties?.maximumPacketSize).toBe(1024 * 1024)
    expect(properties?.receiveMaximum).toBeGreaterThan(0)
    // Everything is available: the defaults need no property [MQTT-3.2.2-?]
    expect(properties?.retainAvailable).not.toBe(false)
    expect(properties?.sharedSubscriptionAvailable).not.toBe(false)
    expect(properties?.wildcardSubscriptionAvailable).not.toBe(false)
    expect(properties?.subscriptionIdentifiersAvailable).not.toBe(false)
  })

  it('refuses bad credentials with reason code 0x86', async () => {
    const { raw } = await startBroker({ users: { alice: 'secret' } })
    const peer = await raw(V5)
    peer.send({ ...CONNECT_5, clientId: 'x', username: 'alice', password: Buffer.from('wrong') })
    expect(await peer.expect('connack')).toMatchObject({ reasonCode: 0x86 })
    await peer.closed()
  })
})

describe('MQTT 5.0: sessions', () => {
  it('[MQTT-3.1.2-23] keeps a session for its expiry interval and resumes it', async () => {
    const { connect, client } = await startBroker()
    const first = await client({
      ...V5,
      clientId: 'expiring',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    })
    await first.subscribeAsync('exp/#', { qos: 1 })
    await first.endAsync()
    const publisher = await client(V5)
    await publisher.publishAsync('exp/a', 'queued', { qos: 1 })
    const {
      connack,
      client: back,
      messages,
    } = await connect({
      ...V5,
      clientId: 'expiring',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    })
    expect(connack.sessionPresent).toBe(true)
    await flush(back)
    expect(messages.map((m) => m.payload)).toEqual(['queued'])
  })

  it('(MQTT 5.0 3.14.2.2.2) a DISCONNECT may shorten the session expiry: 0 ends the session with the connection', async () => {
    const { raw, connect } = await startBroker()
    const peer = await raw(V5)
    peer.send({
      ...CONNECT_5,
      clientId: 'shortened',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    })
    await peer.expect('connack')
    peer.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } })
    await peer.closed()
    const { connack } = await connect({ ...V5, clientId: 'shortened', clean: false })
    expect(connack.sessionPresent).toBe(false)
  })

  it('[MQTT-3.1.2-4] Clean Start discards the session; expiry 0 ends it with the connection', async () => {
    const { connect, client } = await startBroker()
    const first = await client({ ...V5, clientId: 'short', clean: false })
    await first.subscribeAsync('short/#', { qos: 1 })
    await first.endAsync()
    const { connack } = await connect({ ...V5, clientId: 'short', clean: false })
    expect(connack.sessionPresent).toBe(false)
  })

  it('[MQTT-3.1.4-3] a takeover closes the earlier connection with DISCONNECT 0x8E', async () => {
    const { raw } = await startBroker()
    const first = await raw(V5)
    first.send({ ...CONNECT_5, clientId: 'twin' })
    await first.expect('connack')
    const second = await raw(V5)
    second.send({ ...CONNECT_5, clientId: 'twin' })
    await second.expect('connack')
    expect(await first.expect('disconnect')).toMatchObject({ reasonCode: 0x8e })
  })
})

describe('MQTT 5.0: publish properties', () => {
  it('[MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-20] forwards response topic, correlation data, content type, payload format and user properties', async () => {
    const { client } = await startBroker()
    const subscriber = await client(V5)
    await subscriber.subscribeAsync('req/res')
    const arrived = nextMessage(subscriber, 'req/res')
    const publisher = await client(V5)
    await publisher.publishAsync('req/res', 'question', {
      qos: 1,
      properties: {
        responseTopic: 'answers/me',
        correlationData: Buffer.from('id-1'),
        contentType: 'text/plain',
        payloadFormatIndicator: true,
        userProperties: { trace: 'abc' },
      },
    })
    const { packet } = await arrived
    expect(packet.properties).toMatchObject({
      responseTopic: 'answers/me',
      correlationData: Buffer.from('id-1'),
      contentType: 'text/plain',
      payloadFormatIndicator: true,
      userProperties: { trace: 'abc' },
    })
  })

  it('[MQTT-3.3.2-6] forwards the message expiry interval of a live message as received: it waited no whole second', async () => {
    const { client } = await startBroker()
    const subscriber = await client(V5)
    await subscriber.subscribeAsync('expiry/live')
    const arrived = nextMessage(subscriber, 'expiry/live')
    const publisher = await client(V5)
    await publisher.publishAsync('expiry/live', 'x', { qos: 1, properties: { messageExpiryInterval: 100 } })
    expect((await arrived).packet.properties?.messageExpiryInterval).toBe(100)
  })

  it('answers a payload that is not UTF-8 although its format indicator says so with 0x99 (3.3.2.3.2, no statement id)', async () => {
    const { raw } = await startBroker()
    const peer = await raw(V5)
    peer.send({ ...CONNECT_5, clientId: 'bad-utf8' })
    await peer.expect('connack')
    peer.send({
      cmd: 'publish',
      topic: 'utf8',
      payload: Buffer.from([0xff, 0xfe]),
      qos: 1,
      messageId: 3,
      dup: false,
      retain: false,
      properties: { payloadFormatIndicator: true },
    })
    expect(await peer.expect('puback')).toMatchObject({
      messageId: 3,
      reasonCode: 0x99,
      properties: { reasonString: 'payload is not valid UTF-8' },
    })
  })

  it('[MQTT-3.1.2-29] sends no Reason String on an acknowledgement to a client that asked for none', async () => {
    const { raw } = await startBroker()
    const peer = await raw(V5)
    peer.send({ ...CONNECT_5, clientId: 'terse', properties: { requestProblemInformation: false } })
    await peer.expect('connack')
    peer.send({
      cmd: 'publish',
      topic: 'utf8',
      payload: Buffer.from([0xff]),
      qos: 1,
      messageId: 4,
      dup: false,
      retain: false,
      properties: { payloadFormatIndicator: true },
    })
    const puback = await peer.expect('puback')
    expect(puback.reasonCode).toBe(0x99)
    expect(puback.properties?.reasonString).toBeUndefined()
  })

  it('3.1.1 and 5.0 clients exchange messages; 5.0 properties are dropped for the 3.1.1 subscriber', async () => {
    const { client } = await startBroker()
    const old = await client({ protocolVersion: 4 })
    const modern = await client(V5)
    await old.subscribeAsync('mixed/+')
    await modern.subscribeAsync('mixed/+')
    const toOld = nextMessage(old, 'mixed/from5')
    await modern.publishAsync('mixed/from5', 'hi 3.1.1', {
      qos: 1,
      properties: { contentType: 'text/plain' },
    })
    expect((await toOld).payload).toBe('hi 3.1.1')
    const toModern = nextMessage(modern, 'mixed/from4')
    await old.publishAsync('mixed/from4', 'hi 5.0', { qos: 1 })
    expect((await toModern).payload).toBe('hi 5.0')
  })
})

describe('MQTT 5.0: topic aliases', () => {
  it('[MQTT-3.3.2-12] accepts a topic alias from the client', async () => {
    const { client, raw } = await startBroker()
    const subscriber = await client(V5)
    await subscriber.subscribeAsync('alias/topic')
    const messages = collect(subscriber)
    const peer = await raw(V5)
    peer.send({ ...CONNECT_5, clientId: 'aliaser' })
    await peer.expect('connack')
    const base = { cmd: 'publish', qos: 0, dup: false, retain: false } as const
    peer.send({ ...base, topic: 'alias/topic', payload: 'first', properties: { topicAlias: 1 } })
    peer.send({ ...base, topic: '', payload: 'second', properties: { topicAlias: 1 } })
    // The peer's packets are processed in order: once its PINGRESP is back, both messages were relayed.
    peer.send({ cmd: 'pingreq' })
    await peer.expect('pingresp')
    await flush(subscriber)
    expect(messages.map((m) => [m.topic, m.payload])).toEqual([
      ['alias/topic', 'first'],
      ['alias/topic', 'second'],
    ])
  })
})

describe('MQTT 5.0: flow control and sizes', () => {
  it("[MQTT-3.3.4-9] [MQTT-3.3.4-10] sends no more unacknowledged QoS 1 messages than the client's receive maximum", async () => {
    const { client, raw } = await startBroker()
    const slow = await raw(V5)
    slow.send({ ...CONNECT_5, clientId: 'slow', properties: { receiveMaximum: 2 } })
    await slow.expect('connack')
    slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'window', qos: 1 }] })
    await slow.expect('suback')
    const publisher = await client(V5)
    for (let i = 0; i < 5; i++) await publisher.publishAsync('window', `m${i}`, { qos: 1 })
    const first = await slow.expect('publish')
    const second = await slow.expect('publish')
    slow.send({ cmd: 'pingreq' })
    await slow.expect('pingresp')
    expect(slow.received.filter((p) => p.cmd === 'publish')).toHaveLength(2)
    slow.send({ cmd: 'puback', messageId: first.messageId!, reasonCode: 0 })
    expect((await slow.expect('publish')).payload.toString()).toBe('m2')
    expect(second.payload.toString()).toBe('m1')
  })

  it("[MQTT-3.1.2-25] does not send a message larger than the client's maximum packet size", async () => {
    const { client } = await startBroker()
    const small = await client({ ...V5, properties: { maximumPacketSize: 200 } })
    await small.subscribeAsync('size/#')
    const messages = collect(small)
    const publisher = await client(V5)
    const arrived = nextMessage(small, 'size/small')
    await publisher.publishAsync('size/big', Buffer.alloc(500), { qos: 1 })
    await publisher.publishAsync('size/small', 'fits', { qos: 1 })
    await arrived
    expect(messages.map((m) => m.topic)).toEqual(['size/small'])
  })
})

describe('MQTT 5.0: subscription options', () => {
  it('[MQTT-3.8.3-3] No Local: a client does not receive its own messages', async () => {
    const { client } = await startBroker()
    const c = await client(V5)
    await c.subscribeAsync('nl/topic', { qos: 1, nl: true })
    await c.subscribeAsync('nl/fence', { qos: 1 })
    const messages = collect(c)
    await c.publishAsync('nl/topic', 'mine', { qos: 1 })
    const fence = nextMessage(c, 'nl/fence')
    await c.publishAsync('nl/fence', 'fence', { qos: 1 })
    await fence
    expect(messages.map((m) => m.topic)).toEqual(['nl/fence'])
  })

  it('[MQTT-3.3.1-12] [MQTT-3.3.1-13] Retain As Published keeps the retain flag on live messages', async () => {
    const { client } = await startBroker()
    const c = await client(V5)
    await c.subscribeAsync('rap/kept', { qos: 1, rap: true })
    await c.subscribeAsync('rap/cleared', { qos: 1 })
    const publisher = await client(V5)
    const kept = nextMessage(c, 'rap/kept')
    const cleared = nextMessage(c, 'rap/cleared')
    await publisher.publishAsync('rap/kept', 'x', { qos: 1, retain: true })
    await publisher.publishAsync('rap/cleared', 'x', { qos: 1, retain: true })
    expect((await kept).packet.retain).toBe(true)
    expect((await cleared).packet.retain).toBe(false)
  })

  it('[MQTT-3.3.1-11] Retain Handling 2 sends no retained messages on subscribe', async () => {
    const { client } = await startBroker()
    const publisher = await client(V5)
    await publisher.publishAsync('rh/x', 'retained', { qos: 1, retain: true })
    const c = await client(V5)
    const messages = collect(c)
    await c.subscribeAsync('rh/x', { qos: 1, rh: 2 })
    await flush(c)
    expect(messages).toEqual([])
  })

  it('[MQTT-3.3.4-3] [MQTT-3.3.4-4] delivers every matching subscription identifier', async () => {
    const { client } = await startBroker()
    const c = await client(V5)
    await c.subscribeAsync('ids/+', { qos: 1, properties: { subscriptionIdentifier: 7 } })
    await c.subscribeAsync('ids/#', { qos: 1, properties: { subscriptionIdentifier: 9 } })
    const arrived = nextMessage(c, 'ids/a')
    const publisher = await client(V5)
    await publisher.publishAsync('ids/a', 'x', { qos: 1 })
    const ids = (await arrived).packet.properties?.subscriptionIdentifier
    expect([ids].flat().sort()).toEqual([7, 9])
  })
})

describe('MQTT 5.0: shared subscriptions', () => {
  it('delivers each message to one member of the group (4.8.2, no statement id)', async () => {
    const { client } = await startBroker()
    const a = await client(V5)
    const b = await client(V5)
    await a.subscribeAsync('$share/workers/jobs', { qos: 1 })
    await b.subscribeAsync('$share/workers/jobs', { qos: 1 })
    const fromA = collect(a)
    const fromB = collect(b)
    const publisher = await client(V5)
    for (let i = 0; i < 10; i++) await publisher.publishAsync('jobs', `job${i}`, { qos: 1 })
    await flush(a)
    await flush(b)
    const all = [...fromA, ...fromB].map((m) => m.payload).sort()
    expect(all).toEqual(Array.from({ length: 10 }, (_, i) => `job${i}`).sort())
    expect(fromA.length).toBeGreaterThan(0)
    expect(fromB.length).toBeGreaterThan(0)
  })

  it('a member that leaves the group gets no more of its messages', async () => {
    const { client } = await startBroker()
    const a = await client(V5)
    const b = await client(V5)
    await a.subscribeAsync('$share/g/leave', { qos: 1 })
    await b.subscribeAsync('$share/g/leave', { qos: 1 })
    await b.endAsync()
    const fromA = collect(a)
    const publisher = await client(V5)
    for (let i = 0; i < 4; i++) await publisher.publishAsync('leave', `m${i}`, { qos: 1 })
    await flush(a)
    expect(fromA.map((m) => m.payload)).toEqual(['m0', 'm1', 'm2', 'm3'])
  })
})

describe('MQTT 5.0: wills', () => {
  it('[MQTT-3.1.3-9] [MQTT-3.1.2-8] a delayed will is never sent when the client reconnects in time, also once the delay has passed', async () => {
    const { client, raw } = await startBroker()
    const watcher = await client(V5)
    await watcher.subscribeAsync('will5/#')
    const messages = collect(watcher)
    /** Connects `clientId` with a persistent session and a will of Will Delay 1 s, then drops the socket. */
    const dropWithWill = async (clientId: string) => {
      const peer = await raw(V5)
      peer.send({
        ...CONNECT_5,
        clientId,
        clean: false,
        properties: { sessionExpiryInterval: 60 },
        will: {
          topic: `will5/${clientId}`,
          payload: Buffer.from('gone'),
          qos: 0,
          retain: false,
          properties: { willDelayInterval: 1 },
        },
      })
      await peer.expect('connack')
      peer.destroy()
      await peer.closed()
    }
    await dropWithWill('comeback')
    const back = await raw(V5)
    back.send({ ...CONNECT_5, clientId: 'comeback', clean: false, properties: { sessionExpiryInterval: 60 } })
    await back.expect('connack')
    // A client dropped after the first one, with the same delay: its will comes once that delay has passed,
    // so the first one's delay has passed as well by then.
    const later = nextMessage(watcher, 'will5/control')
    await dropWithWill('control')
    await later
    await flush(watcher)
    expect(messages.map((m) => m.topic)).toEqual(['will5/control'])
  })

  it('[MQTT-3.1.2-8] publishes the will after DISCONNECT with reason 0x04, with its properties', async () => {
    const { client, raw } = await startBroker()
    const watcher = await client(V5)
    await watcher.subscribeAsync('will5/props')
    const arrived = nextMessage(watcher, 'will5/props')
    const peer = await raw(V5)
    peer.send({
      ...CONNECT_5,
      clientId: 'leaving',
      will: {
        topic: 'will5/props',
        payload: Buffer.from('bye'),
        qos: 0,
        retain: false,
        properties: { contentType: 'text/plain' },
      },
    })
    await peer.expect('connack')
    peer.send({ cmd: 'disconnect', reasonCode: 0x04 })
    const { payload, packet } = await arrived
    expect(payload).toBe('bye')
    expect((packet as unknown as IPublishPacket).properties?.contentType).toBe('text/plain')
  })
})

describe('MQTT 5.0: limits the broker enforces', () => {
  it('[MQTT-3.3.4-7] closes with 0x93 a client that exceeds the receive maximum', async () => {
    const { raw } = await startBroker({ receiveMaximum: 2 })
    const peer = await raw(V5)
    peer.send({ ...CONNECT_5, clientId: 'greedy' })
    expect((await peer.expect('connack')).properties?.receiveMaximum).toBe(2)
    for (const messageId of [1, 2, 3]) {
      peer.send({ cmd: 'publish', topic: 'rm', payload: 'x', qos: 2, messageId, dup: false, retain: false })
    }
    await peer.expect('pubrec')
    await peer.expect('pubrec')
    expect(await peer.expect('disconnect')).toMatchObject({ reasonCode: 0x93 })
  })

  it('[MQTT-3.2.2-11] closes with 0x9B a client that publishes above the maximum QoS', async () => {
    const { raw } = await startBroker({ maximumQoS: 1 })
    const peer = await raw(V5)
    peer.send({ ...CONNECT_5, clientId: 'too-high' })
    expect((await peer.expect('connack')).properties?.maximumQoS).toBe(1)
    peer.send({ cmd: 'publish', topic: 'q', payload: 'x', qos: 2, messageId: 1, dup: false, retain: false })
    expect(await peer.expect('disconnect')).toMatchObject({ reasonCode: 0x9b })
  })

  it('[MQTT-3.2.2-21] tells a client asking for too long a keepalive the Server Keep Alive', async () => {
    const { raw } = await startBroker({ maxKeepalive: 60 })
    const peer = await raw(V5)
    peer.send({ ...CONNECT_5, clientId: 'sleepy', keepalive: 600 })
    expect((await peer.expect('connack')).properties?.serverKeepAlive).toBe(60)
  })

  it('gives Response Information to a client that asks for it', async () => {
    const { raw } = await startBroker({ responseInformation: 'replies/' })
    const peer = await raw(V5)
    peer.send({ ...CONNECT_5, clientId: 'asker', properties: { requestResponseInformation: true } })
    expect((await peer.expect('connack')).properties?.responseInformation).toBe('replies/')
  })
})

describe('MQTT 5.0: expiry', () => {
  it('[MQTT-3.1.2-23] [MQTT-4.1.0-2] removes a session once its expiry interval has passed', async () => {
    const { broker, client, connect } = await startBroker({ sessionExpiryCheckInterval: 20 })
    const expired = new Promise<string>((resolve) =>
      broker.stack.use({
        name: 'watch-expiry',
        sessionExpired(ctx: { clientId: string }, _store: object, next: () => void) {
          if (ctx.clientId === 'brief') resolve(ctx.clientId)
          next()
        },
      } as object),
    )
    const first = await client({
      ...V5,
      clientId: 'brief',
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    })
    await first.subscribeAsync('brief/#', { qos: 1 })
    await first.endAsync()
    await expired
    const { connack } = await connect({ ...V5, clientId: 'brief', clean: false })
    expect(connack.sessionPresent).toBe(false)
  })

  it('[MQTT-3.3.2-5] does not deliver a queued message whose expiry interval has passed', async () => {
    const { client, connect } = await startBroker()
    const first = await client({
      ...V5,
      clientId: 'late',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    })
    await first.subscribeAsync('late/#', { qos: 1 })
    await first.endAsync()
    const publisher = await client(V5)
    await publisher.publishAsync('late/expired', 'too late', {
      qos: 1,
      properties: { messageExpiryInterval: 1 },
    })
    await publisher.publishAsync('late/kept', 'in time', {
      qos: 1,
      properties: { messageExpiryInterval: 60 },
    })
    // The feature under test is time itself: let the first message's one second run out.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const { client: back, messages, connack } = await connect({ ...V5, clientId: 'late', clean: false })
    expect(connack.sessionPresent).toBe(true)
    await flush(back)
    expect(messages.map((m) => m.payload)).toEqual(['in time'])
  })
})

describe('MQTT 5.0: outbound topic aliases', () => {
  it('[MQTT-3.1.2-26] [MQTT-3.3.2-11] sends a repeated topic as an alias when the client allows aliases', async () => {
    const { client, raw } = await startBroker()
    const peer = await raw(V5)
    peer.send({ ...CONNECT_5, clientId: 'short-topics', properties: { topicAliasMaximum: 4 } })
    await peer.expect('connack')
    peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'long/topic/name', qos: 1 }] })
    await peer.expect('suback')
    const publisher = await client(V5)
    await publisher.publishAsync('long/topic/name', 'one', { qos: 1 })
    const first = await peer.expect('publish')
    peer.send({ cmd: 'puback', messageId: first.messageId!, reasonCode: 0 })
    await publisher.publishAsync('long/topic/name', 'two', { qos: 1 })
    const second = await peer.expect('publish')
    expect(first).toMatchObject({ topic: 'long/topic/name', properties: { topicAlias: 1 } })
    expect(second).toMatchObject({ topic: '', properties: { topicAlias: 1 } })
  })
})

describe('MQTT 5.0: outbound topic aliases with MQTT.js', () => {
  it('[MQTT-3.1.2-26] [MQTT-3.3.2-11] an MQTT.js client that allows 10 aliases gets every message with its topic', async () => {
    const { client } = await startBroker()
    const subscriber = await client({ ...V5, properties: { topicAliasMaximum: 10 } })
    const aliases: Array<[string, number | undefined]> = []
    subscriber.on('packetreceive', (packet) => {
      if (packet.cmd === 'publish') aliases.push([packet.topic, packet.properties?.topicAlias])
    })
    await subscriber.subscribeAsync('mqttjs/#', { qos: 0 })
    await subscriber.subscribeAsync('mqttjs1/#', { qos: 1 })
    const messages = collect(subscriber)
    const publisher = await client(V5)
    const sent: string[] = []
    for (let round = 0; round < 2; round++)
      for (const topic of ['mqttjs/a', 'mqttjs/b', 'mqttjs1/c']) {
        sent.push(topic)
        await publisher.publishAsync(topic, `${topic} ${round}`, { qos: 1 })
      }
    await flush(subscriber)
    expect(messages.map((m) => [m.topic, m.payload])).toEqual(
      sent.map((t, i) => [t, `${t} ${i < 3 ? 0 : 1}`]),
    )
    // Aliases were used: each topic was sent once in full, then as its alias alone.
    expect(aliases.filter(([topic]) => topic === '' || topic.startsWith('mqttjs'))).toEqual([
      ['mqttjs/a', 1],
      ['mqttjs/b', 2],
      ['mqttjs1/c', 3],
      ['', 1],
      ['', 2],
      ['', 3],
    ])
  })
})

describe('MQTT 5.0: shared subscriptions and wills over time', () => {
  it('relays a QoS 1 message unacknowledged by a member that leaves to another member (4.8.2, a SHOULD with no statement id)', async () => {
    const { client, raw } = await startBroker()
    const silent = await raw(V5)
    silent.send({ ...CONNECT_5, clientId: 'silent-member' })
    await silent.expect('connack')
    silent.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/work', qos: 1 }] })
    await silent.expect('suback')
    const publisher = await client(V5)
    await publisher.publishAsync('work', 'job', { qos: 1 })
    await silent.expect('publish') // received, never acknowledged
    const other = await client(V5)
    const arrived = nextMessage(other, 'work')
    await other.subscribeAsync('$share/g/work', { qos: 1 })
    silent.destroy()
    expect((await arrived).payload).toBe('job')
  })

  it('[MQTT-3.1.2-8] publishes a delayed will once its delay has passed', async () => {
    const { client, raw } = await startBroker()
    const watcher = await client(V5)
    await watcher.subscribeAsync('will5/later')
    const arrived = nextMessage(watcher, 'will5/later')
    const peer = await raw(V5)
    peer.send({
      ...CONNECT_5,
      clientId: 'delayed',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      will: {
        topic: 'will5/later',
        payload: Buffer.from('late'),
        qos: 0,
        retain: false,
        properties: { willDelayInterval: 1 },
      },
    })
    await peer.expect('connack')
    const dropped = Date.now()
    peer.destroy()
    expect((await arrived).payload).toBe('late')
    expect(Date.now() - dropped).toBeGreaterThanOrEqual(900)
  })
})

describe('MQTT 5.0: enhanced authentication', () => {
  it('[MQTT-4.12.0-2] [MQTT-4.12.0-5] authenticates with SCRAM-SHA-256 through AUTH packets', async () => {
    const { raw } = await startBroker({ scramUsers: { alice: 'wonderland' } })
    const peer = await raw(V5)
    const scram = scramClient('alice', 'wonderland')
    peer.send({
      ...CONNECT_5,
      clientId: 'scram',
      properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: scram.first },
    })
    const challenge = await peer.expect('auth')
    expect(challenge.reasonCode).toBe(0x18)
    const { message, expectedServerFinal } = scram.final(challenge.properties!.authenticationData!.toString())
    peer.send({
      cmd: 'auth',
      reasonCode: 0x18,
      properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: message },
    })
    const connack = await peer.expect('connack')
    expect(connack.reasonCode).toBe(0)
    expect(connack.properties?.authenticationData?.toString()).toBe(expectedServerFinal)
  })

  it('[MQTT-4.12.1-1] re-authenticates a connected client with AUTH 0x19', async () => {
    const { raw } = await startBroker({ scramUsers: { alice: 'wonderland' } })
    const peer = await raw(V5)
    const exchange = async (first: 'connect' | 'reauth') => {
      const scram = scramClient('alice', 'wonderland')
      const method = { authenticationMethod: 'SCRAM-SHA-256' }
      if (first === 'connect') {
        peer.send({
          ...CONNECT_5,
          clientId: 'reauth',
          properties: { ...method, authenticationData: scram.first },
        })
      } else {
        peer.send({
          cmd: 'auth',
          reasonCode: 0x19,
          properties: { ...method, authenticationData: scram.first },
        })
      }
      const challenge = await peer.expect('auth')
      expect(challenge.reasonCode).toBe(0x18)
      const { message } = scram.final(challenge.properties!.authenticationData!.toString())
      peer.send({ cmd: 'auth', reasonCode: 0x18, properties: { ...method, authenticationData: message } })
    }
    await exchange('connect')
    expect((await peer.expect('connack')).reasonCode).toBe(0)
    await exchange('reauth')
    expect(await peer.expect('auth')).toMatchObject({ reasonCode: 0 })
    peer.send({ cmd: 'pingreq' })
    await peer.expect('pingresp')
  })

  it('refuses a wrong SCRAM password with 0x86', async () => {
    const { raw } = await startBroker({ scramUsers: { alice: 'wonderland' } })
    const peer = await raw(V5)
    const scram = scramClient('alice', 'looking-glass')
    peer.send({
      ...CONNECT_5,
      clientId: 'scram-bad',
      properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: scram.first },
    })
    const challenge = await peer.expect('auth')
    const { message } = scram.final(challenge.properties!.authenticationData!.toString())
    peer.send({
      cmd: 'auth',
      reasonCode: 0x18,
      properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: message },
    })
    expect(await peer.expect('connack')).toMatchObject({ reasonCode: 0x86 })
    await peer.closed()
  })
})
