import { describe, expect, it } from 'vitest'
import { CONNECT_311, collect, flush, nextMessage, startBroker } from './support.js'

describe('CONNECT', () => {
  it('[MQTT-3.1.0-1] [MQTT-4.8.0-1] closes a connection whose first packet is not CONNECT', async () => {
    const { raw } = await startBroker()
    const peer = await raw()
    peer.send({ cmd: 'pingreq' })
    await peer.closed()
    expect(peer.received).toEqual([])
  })

  it('[MQTT-3.1.0-2] closes a client that sends a second CONNECT', async () => {
    const { raw } = await startBroker()
    const peer = await raw()
    peer.send({ ...CONNECT_311, clientId: 'twice' })
    await peer.expect('connack')
    peer.send({ ...CONNECT_311, clientId: 'twice' })
    await peer.closed()
  })

  it('[MQTT-3.1.2-2] answers an unsupported protocol level with CONNACK 0x01 and closes', async () => {
    const { raw } = await startBroker()
    const peer = await raw()
    peer.sendRaw(
      Uint8Array.of(0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x07, 0x02, 0x00, 0x00, 0x00, 0x01, 0x78),
    )
    expect(await peer.expect('connack')).toMatchObject({ returnCode: 1 })
    await peer.closed()
  })

  it('[MQTT-3.1.3-8] refuses an empty client id with clean session false: CONNACK 0x02, then close', async () => {
    const { raw } = await startBroker()
    const peer = await raw()
    // Raw bytes: mqtt-packet refuses to build this CONNECT (level 4, clean session 0, keepalive 0, id "").
    peer.sendRaw(
      Uint8Array.of(0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00),
    )
    expect(await peer.expect('connack')).toMatchObject({ returnCode: 2 })
    await peer.closed()
  })

  it('[MQTT-3.1.3-6] assigns an identifier to an empty client id with clean session', async () => {
    const { broker, client } = await startBroker()
    const c = await client({ clientId: '', clean: true })
    expect(c.connected).toBe(true)
    const [server] = broker.stack.clients
    expect(server?.id).toMatch(/.+/)
  })

  it('answers CONNACK 0 with sessionPresent false to an MQTT 3.1 client', async () => {
    const { raw } = await startBroker()
    const peer = await raw({ protocolVersion: 3 })
    peer.send({ ...CONNECT_311, protocolId: 'MQIsdp', protocolVersion: 3, clientId: 'old-timer' })
    expect(await peer.expect('connack')).toMatchObject({ returnCode: 0, sessionPresent: false })
  })

  it('closes a socket that never sends CONNECT after the connect timeout', async () => {
    const { raw } = await startBroker({ connectTimeout: 50 })
    const peer = await raw()
    const started = Date.now()
    await peer.closed()
    expect(Date.now() - started).toBeGreaterThanOrEqual(40)
  })
})

describe('authentication', () => {
  const users = { alice: 'wonderland' }

  it('accepts good credentials', async () => {
    const { client } = await startBroker({ users })
    const c = await client({ username: 'alice', password: 'wonderland' })
    expect(c.connected).toBe(true)
  })

  it('[MQTT-3.2.2-5] refuses a wrong password with CONNACK 0x04 and closes', async () => {
    const { raw } = await startBroker({ users })
    const peer = await raw()
    peer.send({ ...CONNECT_311, clientId: 'x', username: 'alice', password: Buffer.from('nope') })
    expect(await peer.expect('connack')).toMatchObject({ returnCode: 4 })
    await peer.closed()
  })

  it('refuses a client without credentials with CONNACK 0x05 and closes', async () => {
    const { raw } = await startBroker({ users })
    const peer = await raw()
    peer.send({ ...CONNECT_311, clientId: 'anonymous' })
    expect(await peer.expect('connack')).toMatchObject({ returnCode: 5 })
    await peer.closed()
  })
})

describe('session takeover', () => {
  it('[MQTT-3.1.4-2] a second connection with the same client id closes the first; routes follow the new one', async () => {
    const { client } = await startBroker()
    const first = await client({ clientId: 'same', clean: false })
    await first.subscribeAsync('takeover/+', { qos: 1 })
    const firstClosed = new Promise<void>((resolve) => first.once('close', () => resolve()))
    const second = await client({ clientId: 'same', clean: false })
    await firstClosed
    const publisher = await client()
    const arrived = nextMessage(second, 'takeover/x')
    await publisher.publishAsync('takeover/x', 'to the new one', { qos: 1 })
    expect((await arrived).payload).toBe('to the new one')
  })

  it('a clean client reconnecting with the same id receives messages again (LESSONS 7)', async () => {
    const { client } = await startBroker()
    const first = await client({ clientId: 'again', clean: true })
    await first.subscribeAsync('again/topic')
    await first.endAsync()
    const second = await client({ clientId: 'again', clean: true })
    await second.subscribeAsync('again/topic')
    const publisher = await client()
    const arrived = nextMessage(second, 'again/topic')
    await publisher.publishAsync('again/topic', 'hello')
    expect((await arrived).payload).toBe('hello')
  })
})

describe('persistent sessions', () => {
  it('[MQTT-3.1.2-5] [MQTT-3.2.2-2] keeps subscriptions and queues QoS 1 messages while offline, delivered in order', async () => {
    const { client, connect } = await startBroker()
    const subscriber = await client({ clientId: 'persistent', clean: false })
    await subscriber.subscribeAsync('queue/#', { qos: 1 })
    await subscriber.endAsync()
    const publisher = await client()
    for (let i = 1; i <= 5; i++) await publisher.publishAsync('queue/a', `m${i}`, { qos: 1 })
    await publisher.publishAsync('queue/a', 'not queued', { qos: 0 })

    const { client: back, connack, messages } = await connect({ clientId: 'persistent', clean: false })
    expect(connack.sessionPresent).toBe(true)
    await flush(back)
    expect(messages.map((m) => m.payload)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5'])
  })

  it('[MQTT-3.2.2-1] a clean session starts with sessionPresent false and keeps nothing', async () => {
    const { client, connect } = await startBroker()
    const first = await client({ clientId: 'cleaner', clean: false })
    await first.subscribeAsync('clean/#', { qos: 1 })
    await first.endAsync()
    const { client: clean, connack, messages } = await connect({ clientId: 'cleaner', clean: true })
    expect(connack.sessionPresent).toBe(false)
    const publisher = await client()
    await publisher.publishAsync('clean/x', 'nobody', { qos: 1 })
    await flush(clean)
    expect(messages).toEqual([])
  })

  it('[MQTT-4.4.0-1] resends unacknowledged QoS 1 messages with DUP and the same id on reconnect', async () => {
    const { raw, client } = await startBroker()
    const first = await raw()
    first.send({ ...CONNECT_311, clientId: 'no-acks', clean: false })
    await first.expect('connack')
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'inflight', qos: 1 }] })
    await first.expect('suback')
    const publisher = await client()
    await publisher.publishAsync('inflight', 'unacked', { qos: 1 })
    const original = await first.expect('publish')
    expect(original).toMatchObject({ qos: 1, dup: false })
    first.destroy()
    await first.closed()

    const second = await raw()
    second.send({ ...CONNECT_311, clientId: 'no-acks', clean: false })
    expect(await second.expect('connack')).toMatchObject({ sessionPresent: true })
    const again = await second.expect('publish')
    expect(again).toMatchObject({ topic: 'inflight', qos: 1, dup: true, messageId: original.messageId })
    expect(again.payload.toString()).toBe('unacked')
  })
})

describe('QoS', () => {
  for (const qos of [0, 1, 2] as const) {
    it(`delivers end to end at QoS ${qos}, both directions with MQTT.js`, async () => {
      const { client } = await startBroker()
      const subscriber = await client()
      await subscriber.subscribeAsync('qos/test', { qos })
      const publisher = await client()
      const arrived = nextMessage(subscriber, 'qos/test')
      await publisher.publishAsync('qos/test', `at ${qos}`, { qos })
      const message = await arrived
      expect(message.payload).toBe(`at ${qos}`)
      expect(message.packet.qos).toBe(qos)
    })
  }

  it('[MQTT-3.8.4-6] delivers at min(publish QoS, granted QoS) (LESSONS 5, 11)', async () => {
    const { client } = await startBroker()
    const subscriber = await client()
    await subscriber.subscribeAsync('min/low', { qos: 1 })
    await subscriber.subscribeAsync('min/high', { qos: 0 })
    const messages = collect(subscriber)
    const publisher = await client()
    await publisher.publishAsync('min/low', 'q0 to q1 sub', { qos: 0 })
    await publisher.publishAsync('min/high', 'q2 to q0 sub', { qos: 2 })
    await flush(subscriber)
    expect(messages.map((m) => [m.topic, m.qos])).toEqual([
      ['min/low', 0],
      ['min/high', 0],
    ])
  })

  it('answers one PUBACK per publish whatever the number of subscribers (LESSONS 4)', async () => {
    const { client, raw } = await startBroker()
    for (let i = 0; i < 3; i++) await (await client()).subscribeAsync('many', { qos: 1 })
    const publisher = await raw()
    publisher.send({ ...CONNECT_311, clientId: 'one-ack' })
    await publisher.expect('connack')
    publisher.send({
      cmd: 'publish',
      topic: 'many',
      payload: 'x',
      qos: 1,
      messageId: 42,
      dup: false,
      retain: false,
    })
    expect(await publisher.expect('puback')).toMatchObject({ messageId: 42 })
    publisher.send({ cmd: 'pingreq' })
    await publisher.expect('pingresp')
    expect(publisher.received.filter((p) => p.cmd === 'puback')).toHaveLength(1)
  })

  it('[MQTT-4.3.3-2] a duplicate QoS 2 PUBLISH before PUBREL is not delivered twice', async () => {
    const { client, raw } = await startBroker()
    const subscriber = await client()
    await subscriber.subscribeAsync('exactly/once', { qos: 2 })
    const messages = collect(subscriber)
    const publisher = await raw()
    publisher.send({ ...CONNECT_311, clientId: 'qos2' })
    await publisher.expect('connack')
    const publish = {
      cmd: 'publish',
      topic: 'exactly/once',
      payload: 'one',
      qos: 2,
      messageId: 7,
      retain: false,
    } as const
    publisher.send({ ...publish, dup: false })
    expect(await publisher.expect('pubrec')).toMatchObject({ messageId: 7 })
    publisher.send({ ...publish, dup: true })
    expect(await publisher.expect('pubrec')).toMatchObject({ messageId: 7 })
    publisher.send({ cmd: 'pubrel', messageId: 7 })
    expect(await publisher.expect('pubcomp')).toMatchObject({ messageId: 7 })
    await flush(subscriber)
    expect(messages.map((m) => m.payload)).toEqual(['one'])
  })

  it('allocates distinct, non-zero packet identifiers per client (LESSONS 3)', async () => {
    const { client, raw } = await startBroker()
    const subscriber = await raw()
    subscriber.send({ ...CONNECT_311, clientId: 'ids' })
    await subscriber.expect('connack')
    subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ids/#', qos: 1 }] })
    await subscriber.expect('suback')
    const publisher = await client()
    for (let i = 0; i < 20; i++) await publisher.publishAsync(`ids/${i}`, 'x', { qos: 1 })
    const ids = new Set<number>()
    for (let i = 0; i < 20; i++) {
      const packet = await subscriber.expect('publish')
      ids.add(packet.messageId!)
    }
    expect(ids.size).toBe(20)
    expect(ids.has(0)).toBe(false)
  })
})

describe('subscriptions', () => {
  it('[MQTT-3.8.4-5] answers 0x80 for an invalid filter, and grants the others in order', async () => {
    const { raw } = await startBroker()
    const peer = await raw()
    peer.send({ ...CONNECT_311, clientId: 'filters' })
    await peer.expect('connack')
    const subscriptions = [
      { topic: 'ok/+', qos: 1 },
      { topic: 'bad/#/x', qos: 0 },
      { topic: 'bad+', qos: 0 },
      { topic: 'ok/#', qos: 2 },
    ] as const
    peer.send({ cmd: 'subscribe', messageId: 3, subscriptions: [...subscriptions] })
    expect(await peer.expect('suback')).toMatchObject({ messageId: 3, granted: [1, 0x80, 0x80, 2] })
  })

  it('[MQTT-3.8.4-3] a re-subscribe replaces the old subscription and resends retained messages', async () => {
    const { client } = await startBroker()
    const publisher = await client()
    await publisher.publishAsync('re/sub', 'retained', { qos: 1, retain: true })
    const subscriber = await client()
    const messages = collect(subscriber)
    await subscriber.subscribeAsync('re/sub', { qos: 0 })
    await subscriber.subscribeAsync('re/sub', { qos: 1 })
    await publisher.publishAsync('re/sub', 'live', { qos: 1 })
    await flush(subscriber)
    expect(messages.map((m) => [m.payload, m.retain, m.qos])).toEqual([
      ['retained', true, 0],
      ['retained', true, 1],
      ['live', false, 1],
    ])
  })

  it('overlapping subscriptions deliver a message once, at the highest granted QoS', async () => {
    const { client } = await startBroker()
    const subscriber = await client()
    await subscriber.subscribeAsync({ 'over/+': { qos: 0 }, 'over/#': { qos: 1 }, 'over/lap': { qos: 0 } })
    const messages = collect(subscriber)
    const publisher = await client()
    await publisher.publishAsync('over/lap', 'once', { qos: 2 })
    await flush(subscriber)
    expect(messages.map((m) => [m.payload, m.qos])).toEqual([['once', 1]])
  })

  it('[MQTT-3.10.4-4] [MQTT-3.10.4-5] answers UNSUBSCRIBE with UNSUBACK even for filters it never had (LESSONS 9)', async () => {
    const { raw } = await startBroker()
    const peer = await raw()
    peer.send({ ...CONNECT_311, clientId: 'never-subscribed', clean: false })
    await peer.expect('connack')
    peer.send({ cmd: 'unsubscribe', messageId: 5, unsubscriptions: ['nothing/here'] })
    expect(await peer.expect('unsuback')).toMatchObject({ messageId: 5 })
  })

  it('stops delivering after UNSUBSCRIBE', async () => {
    const { client } = await startBroker()
    const subscriber = await client()
    await subscriber.subscribeAsync('unsub/a')
    await subscriber.unsubscribeAsync('unsub/a')
    const messages = collect(subscriber)
    const publisher = await client()
    await publisher.publishAsync('unsub/a', 'gone', { qos: 1 })
    await flush(subscriber)
    expect(messages).toEqual([])
  })

  it('[MQTT-4.7.2-1] does not match $ topics with leading wildcards', async () => {
    const { client } = await startBroker()
    const all = await client()
    await all.subscribeAsync(['#', '+/stats'])
    const sys = await client()
    await sys.subscribeAsync('$SYS/stats')
    const messages = collect(all)
    const arrived = nextMessage(sys, '$SYS/stats')
    const publisher = await client()
    await publisher.publishAsync('$SYS/stats', 'for $SYS only', { qos: 1 })
    await arrived
    await flush(all)
    expect(messages.filter((m) => m.topic.startsWith('$'))).toEqual([])
  })
})

describe('retained messages', () => {
  it('[MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-8] stores, replaces and delivers on subscribe with the retain flag, also to wildcards (LESSONS 1)', async () => {
    const { client } = await startBroker()
    const publisher = await client()
    await publisher.publishAsync('retain/a', 'first', { qos: 1, retain: true })
    await publisher.publishAsync('retain/a', 'second', { qos: 1, retain: true })
    await publisher.publishAsync('retain/b/c', 'deep', { qos: 1, retain: true })
    const subscriber = await client()
    const messages = collect(subscriber)
    await subscriber.subscribeAsync('retain/#', { qos: 1 })
    await flush(subscriber)
    expect(messages.map((m) => [m.topic, m.payload, m.retain]).sort()).toEqual([
      ['retain/a', 'second', true],
      ['retain/b/c', 'deep', true],
    ])
  })

  it('[MQTT-3.3.1-10] an empty retained payload deletes the retained message', async () => {
    const { client } = await startBroker()
    const publisher = await client()
    await publisher.publishAsync('retain/gone', 'here', { qos: 1, retain: true })
    await publisher.publishAsync('retain/gone', '', { qos: 1, retain: true })
    const subscriber = await client()
    const messages = collect(subscriber)
    await subscriber.subscribeAsync('retain/gone')
    await flush(subscriber)
    expect(messages).toEqual([])
  })

  it('delivers a retained set larger than the QoS 0 drop threshold completely to a new subscriber', async () => {
    const { raw } = await startBroker()
    const publisher = await raw()
    publisher.send({ ...CONNECT_311, clientId: 'filler' })
    await publisher.expect('connack')
    const payload = Buffer.alloc(1024, 1)
    const count = 3000 // 3 MB, three times the 1 MiB past which QoS 0 messages to a slow reader are dropped
    for (let i = 0; i < count; i++) {
      publisher.send({ cmd: 'publish', topic: `big/${i}`, payload, qos: 0, dup: false, retain: true })
    }
    publisher.send({ cmd: 'pingreq' })
    await publisher.expect('pingresp')
    const subscriber = await raw({ timeout: 10_000 })
    subscriber.send({ ...CONNECT_311, clientId: 'reader' })
    await subscriber.expect('connack')
    subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'big/#', qos: 0 }] })
    await subscriber.expect('suback')
    const topics = new Set<string>()
    for (let i = 0; i < count; i++) topics.add((await subscriber.expect('publish')).topic)
    expect(topics.size).toBe(count)
  })

  it('[MQTT-3.3.1-9] forwards a retained publish to existing subscribers with retain 0', async () => {
    const { client } = await startBroker()
    const subscriber = await client()
    await subscriber.subscribeAsync('retain/live')
    const arrived = nextMessage(subscriber, 'retain/live')
    const publisher = await client()
    await publisher.publishAsync('retain/live', 'now', { qos: 1, retain: true })
    expect((await arrived).packet.retain).toBe(false)
  })
})

describe('wills', () => {
  const will = (topic: string, retain = false) => ({
    will: { topic, payload: Buffer.from('gone'), qos: 1 as const, retain },
  })

  it('[MQTT-3.1.2-8] publishes the will once when the connection drops', async () => {
    const { client, raw } = await startBroker()
    const watcher = await client()
    await watcher.subscribeAsync('will/drop', { qos: 1 })
    const messages = collect(watcher)
    const peer = await raw()
    peer.send({ ...CONNECT_311, clientId: 'dropper', ...will('will/drop') })
    await peer.expect('connack')
    const arrived = nextMessage(watcher, 'will/drop')
    peer.destroy()
    expect((await arrived).payload).toBe('gone')
    await flush(watcher)
    expect(messages).toHaveLength(1)
  })

  it('[MQTT-3.1.2-10] never publishes the will after DISCONNECT', async () => {
    const { client, raw } = await startBroker()
    const watcher = await client()
    await watcher.subscribeAsync('will/clean')
    const messages = collect(watcher)
    const peer = await raw()
    peer.send({ ...CONNECT_311, clientId: 'polite', ...will('will/clean') })
    await peer.expect('connack')
    peer.send({ cmd: 'disconnect' })
    await peer.closed()
    await flush(watcher)
    expect(messages).toEqual([])
  })

  it('publishes the will once on a protocol violation, and once on takeover (LESSONS 6)', async () => {
    const { client, raw } = await startBroker()
    const watcher = await client()
    await watcher.subscribeAsync('will/+')
    const messages = collect(watcher)
    const violator = await raw()
    violator.send({ ...CONNECT_311, clientId: 'violator', ...will('will/violation') })
    await violator.expect('connack')
    violator.send({ ...CONNECT_311, clientId: 'violator' }) // a second CONNECT
    await violator.closed()
    const taken = await raw()
    taken.send({ ...CONNECT_311, clientId: 'taken', ...will('will/takeover') })
    await taken.expect('connack')
    const thief = await raw()
    thief.send({ ...CONNECT_311, clientId: 'taken' })
    await thief.expect('connack')
    await taken.closed()
    await flush(watcher)
    expect(messages.map((m) => m.topic).sort()).toEqual(['will/takeover', 'will/violation'])
  })

  it('publishes the will on a keepalive timeout', async () => {
    const { client, raw } = await startBroker({ keepaliveCheckInterval: 20 })
    const watcher = await client()
    await watcher.subscribeAsync('will/silent')
    const arrived = nextMessage(watcher, 'will/silent')
    const peer = await raw()
    peer.send({ ...CONNECT_311, clientId: 'silent', keepalive: 1, ...will('will/silent') })
    await peer.expect('connack')
    const started = Date.now()
    await peer.closed()
    // Closed no earlier than 1.5 x the keepalive [MQTT-3.1.2-24] (LESSONS 11: the original allowed 2x).
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400)
    expect((await arrived).payload).toBe('gone')
  })

  it('stores a retained will as a retained message', async () => {
    const { client, raw } = await startBroker()
    const peer = await raw()
    peer.send({ ...CONNECT_311, clientId: 'retained-will', ...will('will/retained', true) })
    await peer.expect('connack')
    peer.destroy()
    await peer.closed()
    const late = await client()
    const arrived = nextMessage(late, 'will/retained')
    await late.subscribeAsync('will/retained')
    expect((await arrived).packet.retain).toBe(true)
  })
})

describe('keepalive', () => {
  it('[MQTT-3.12.4-1] answers PINGREQ with PINGRESP', async () => {
    const { raw } = await startBroker()
    const peer = await raw()
    peer.send({ ...CONNECT_311, clientId: 'pinger', keepalive: 10 })
    await peer.expect('connack')
    peer.send({ cmd: 'pingreq' })
    await peer.expect('pingresp')
  })
})

describe('bad input', () => {
  it('a malformed packet closes that client only; the broker serves the others', async () => {
    const { client, raw } = await startBroker()
    const good = await client()
    await good.subscribeAsync('still/alive')
    const bad = await raw()
    bad.send({ ...CONNECT_311, clientId: 'bad' })
    await bad.expect('connack')
    bad.sendRaw(Uint8Array.of(0x82, 0x02, 0x00)) // SUBSCRIBE cut short
    bad.sendRaw(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0xff, 0x01)) // a five-byte remaining length
    await bad.closed()
    const arrived = nextMessage(good, 'still/alive')
    await good.publishAsync('still/alive', 'yes')
    expect((await arrived).payload).toBe('yes')
  })

  it('[MQTT-3.3.2-2] closes a client that publishes to a topic name with wildcards', async () => {
    const { raw } = await startBroker()
    const peer = await raw()
    peer.send({ ...CONNECT_311, clientId: 'wild' })
    await peer.expect('connack')
    peer.send({ cmd: 'publish', topic: 'a/+/b', payload: 'x', qos: 0, dup: false, retain: false })
    await peer.closed()
  })
})
