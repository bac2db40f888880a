import type { IPublishPacket, IPubrelPacket } from '@mqtt-stack/core'
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryBackend } from '../src/index.js'
import { type Broker, connectClient, createBroker } from './helpers.js'

let b: Broker
afterEach(async () => {
  await b?.stack.close()
})

const publish = (topic: string, payload: string, extra: Partial<IPublishPacket> = {}): IPublishPacket => ({
  cmd: 'publish',
  topic,
  payload,
  qos: 1,
  retain: true,
  dup: false,
  ...extra,
})

describe('retained messages', () => {
  const store = (b: Broker, packet: IPublishPacket) =>
    b.stack.run('storeRetainedMessage', { client: undefined, topic: packet.topic, packet }, {})
  const lookup = async (b: Broker, topic: string) =>
    ((await b.stack.run('lookupRetainedMessages', { topic }, {})).packets ?? [])
      .map((p) => `${p.topic}=${p.payload}`)
      .sort()

  it('stores, replaces and looks up by exact topic and by wildcard filter (LESSONS 1)', async () => {
    b = createBroker()
    await store(b, publish('a/b', '1'))
    await store(b, publish('a/c', '2'))
    await store(b, publish('a/b', '3'))
    await store(b, publish('x', '4'))
    expect(await lookup(b, 'a/b')).toEqual(['a/b=3'])
    expect(await lookup(b, 'a/+')).toEqual(['a/b=3', 'a/c=2'])
    expect(await lookup(b, '#')).toEqual(['a/b=3', 'a/c=2', 'x=4'])
    expect(await lookup(b, 'nothing/#')).toEqual([])
    expect(b.backend.stats.retained).toBe(3)
  })

  it('keeps a clean copy: retain set, no packet identifier, no DUP', async () => {
    b = createBroker()
    await store(b, publish('t', 'v', { messageId: 12, dup: true, qos: 2 }))
    const { packets = [] } = await b.stack.run('lookupRetainedMessages', { topic: 't' }, {})
    expect(packets).toEqual([{ cmd: 'publish', topic: 't', payload: 'v', qos: 2, retain: true, dup: false }])
  })

  it('[MQTT-3.3.1-10] an empty payload deletes the retained message of its topic', async () => {
    b = createBroker()
    await store(b, publish('t', 'v'))
    await store(b, publish('t', ''))
    await store(b, { ...publish('u', ''), payload: Buffer.alloc(0) })
    expect(await lookup(b, '#')).toEqual([])
    expect(b.backend.stats.retained).toBe(0)
  })

  it('[MQTT-4.7.2-1] # and + at the first level do not return $ topics', async () => {
    b = createBroker()
    await store(b, publish('$SYS/up', '1'))
    await store(b, publish('up', '2'))
    expect(await lookup(b, '#')).toEqual(['up=2'])
    expect(await lookup(b, '+/up')).toEqual([])
    expect(await lookup(b, '$SYS/#')).toEqual(['$SYS/up=1'])
  })

  it('refuses a new topic past maxRetainedMessages (reported); replacing and deleting still work', async () => {
    b = createBroker({ maxRetainedMessages: 2 })
    const t = await connectClient(b.stack, 'c')
    await store(b, publish('a', '1'))
    await store(b, publish('b', '1'))
    await store(b, publish('c', '1'))
    expect(b.errors.map((e) => e.code)).toEqual(['MQS_ERR_RETAINED_FULL'])
    expect(b.backend.stats.refusedRetainedMessages).toBe(1)
    await store(b, publish('a', '2'))
    expect(await lookup(b, '#')).toEqual(['a=2', 'b=1'])
    await store(b, publish('b', ''))
    await store(b, publish('c', '1'))
    expect(await lookup(b, '#')).toEqual(['a=2', 'c=1'])
    t.send({ cmd: 'disconnect' })
  })

  it('bounds the payload bytes of all retained messages with maxRetainedBytes; replacing counts the difference', async () => {
    b = createBroker({ maxRetainedBytes: 10 })
    const t = await connectClient(b.stack, 'c')
    await store(b, publish('a', '12345'))
    await store(b, publish('b', '1234'))
    expect(b.backend.stats.retainedBytes).toBe(9)
    // 9 + 2 > 10: a new topic is refused; replacing a with 6 bytes makes 10, allowed; b with 7, 13: refused.
    await store(b, publish('c', '12'))
    await store(b, publish('a', '123456'))
    await store(b, publish('b', '1234567'))
    expect(b.errors.map((e) => e.code)).toEqual(['MQS_ERR_RETAINED_FULL', 'MQS_ERR_RETAINED_FULL'])
    expect(b.backend.stats).toMatchObject({ refusedRetainedMessages: 2, retainedBytes: 10 })
    expect(await lookup(b, '#')).toEqual(['a=123456', 'b=1234'])
    await store(b, publish('a', ''))
    expect(b.backend.stats.retainedBytes).toBe(4)
    t.send({ cmd: 'disconnect' })
  })
})

describe('inflight messages', () => {
  const session = async (b: Broker, clientId = 's') =>
    b.stack.run('storeSession', { clientId, session: { clientId, expiryInterval: 0 } }, {})
  const out = (id: number) => publish('t', String(id), { messageId: id, retain: false })
  const pubrel = (id: number): IPubrelPacket => ({ cmd: 'pubrel', messageId: id })
  const ids = async (b: Broker) =>
    ((await b.stack.run('lookupInflightMessages', { clientId: 's' }, {})).packets ?? []).map(
      (p) => `${p.cmd}:${p.messageId}`,
    )

  it('keeps the order sent; a PUBREL replaces the PUBLISH of its id in place', async () => {
    b = createBroker()
    await session(b)
    for (const id of [3, 1, 2])
      await b.stack.run('storeInflightMessage', { clientId: 's', packet: out(id) }, {})
    await b.stack.run('storeInflightMessage', { clientId: 's', packet: pubrel(1) }, {})
    expect(await ids(b)).toEqual(['publish:3', 'pubrel:1', 'publish:2'])
    await b.stack.run('removeInflightMessage', { clientId: 's', messageId: 3 }, {})
    await b.stack.run('removeInflightMessage', { clientId: 's', messageId: 99 }, {})
    expect(await ids(b)).toEqual(['pubrel:1', 'publish:2'])
    await b.stack.run('clearInflightMessages', { clientId: 's' }, {})
    expect(await ids(b)).toEqual([])
  })

  it('fails storeInflightMessage past maxInflightMessages with MQS_ERR_INFLIGHT_FULL', async () => {
    b = createBroker({ maxInflightMessages: 2 })
    await session(b)
    await b.stack.run('storeInflightMessage', { clientId: 's', packet: out(1) }, {})
    await b.stack.run('storeInflightMessage', { clientId: 's', packet: out(2) }, {})
    await b.stack.run('storeInflightMessage', { clientId: 's', packet: pubrel(2) }, {})
    await expect(
      b.stack.run('storeInflightMessage', { clientId: 's', packet: out(3) }, {}),
    ).rejects.toMatchObject({
      code: 'MQS_ERR_INFLIGHT_FULL',
    })
    expect(await ids(b)).toEqual(['publish:1', 'pubrel:2'])
  })

  it('keeps nothing for an unknown session and creates none', async () => {
    b = createBroker()
    await b.stack.run('storeInflightMessage', { clientId: 'nobody', packet: out(1) }, {})
    expect(await b.stack.run('lookupInflightMessages', { clientId: 'nobody' }, {})).toEqual({})
    expect(b.backend.stats.sessions).toBe(0)
  })
})

describe('incoming QoS 2 messages', () => {
  it('detects a duplicate until PUBREL releases the identifier', async () => {
    b = createBroker()
    const { stack } = b
    await stack.run('storeSession', { clientId: 'q', session: { clientId: 'q', expiryInterval: 0 } }, {})
    const packet = publish('t', 'v', { qos: 2, messageId: 5, retain: false })
    expect((await stack.run('storeIncomingMessage', { clientId: 'q', packet }, {})).duplicate).toBe(false)
    const dup = { ...packet, dup: true }
    expect((await stack.run('storeIncomingMessage', { clientId: 'q', packet: dup }, {})).duplicate).toBe(true)
    const other = { ...packet, messageId: 6 }
    expect((await stack.run('storeIncomingMessage', { clientId: 'q', packet: other }, {})).duplicate).toBe(
      false,
    )
    expect((await stack.run('releaseIncomingMessage', { clientId: 'q', messageId: 5 }, {})).packet).toBe(
      packet,
    )
    expect(await stack.run('releaseIncomingMessage', { clientId: 'q', messageId: 5 }, {})).toEqual({})
    expect((await stack.run('storeIncomingMessage', { clientId: 'q', packet }, {})).duplicate).toBe(false)
  })

  it('holds nothing for an unknown session', async () => {
    b = createBroker()
    const packet = publish('t', 'v', { qos: 2, messageId: 5 })
    await b.stack.run('storeIncomingMessage', { clientId: 'ghost', packet }, {})
    expect((await b.stack.run('storeIncomingMessage', { clientId: 'ghost', packet }, {})).duplicate).toBe(
      false,
    )
    expect(b.backend.stats.sessions).toBe(0)
  })
})

describe('wills', () => {
  it('stores, looks up and removes the will of a client id; removeSession keeps it (MQTT 5.0 [MQTT-3.1.3-9])', async () => {
    b = createBroker()
    const t = await connectClient(b.stack, 'w', [], false)
    const { stack } = b
    const will = publish('bye', 'gone', { retain: false })
    await stack.run('storeWill', { client: t.client, clientId: 'w', packet: will, delayInterval: 5 }, {})
    expect(await stack.run('lookupWill', { clientId: 'w' }, {})).toEqual({ packet: will, delayInterval: 5 })
    await stack.run('removeWill', { clientId: 'w' }, {})
    expect(await stack.run('lookupWill', { clientId: 'w' }, {})).toEqual({})
    const owned = { client: t.client, clientId: 'w', packet: will, delayInterval: 0, owner: 'conn' }
    await stack.run('storeWill', owned, {})
    // The session ends before the will is published: last-will still claims and publishes it.
    await stack.run('removeSession', { clientId: 'w' }, {})
    expect(await stack.run('removeWill', { clientId: 'w', owner: 'conn' }, {})).toEqual({ removed: true })
    expect(await stack.run('lookupWill', { clientId: 'w' }, {})).toEqual({})
  })
})

describe('options and life cycle', () => {
  it('rejects a limit that is not an integer of 0 or more', () => {
    for (const bad of [-1, 1.5, Number.NaN, '10' as unknown as number]) {
      expect(() => new MemoryBackend({ maxOfflineMessages: bad })).toThrow(
        expect.objectContaining({ code: 'MQS_ERR_INVALID_OPTION' }),
      )
    }
    expect(new MemoryBackend({ maxRetainedMessages: 0 }).config.maxRetainedMessages).toBe(0)
    expect(new MemoryBackend().config).toEqual({
      maxOfflineMessages: 1000,
      maxOfflineBytes: 256 * 1024 * 1024,
      maxRetainedMessages: 100_000,
      maxRetainedBytes: 256 * 1024 * 1024,
      maxInflightMessages: 65_535,
    })
  })

  it('forgets everything when the stack closes', async () => {
    b = createBroker()
    await connectClient(b.stack, 'p', [{ topic: 't', qos: 1 }], false)
    await b.stack.run(
      'storeRetainedMessage',
      { client: undefined, topic: 't', packet: publish('t', 'v') },
      {},
    )
    await b.stack.close()
    expect(b.backend.stats).toMatchObject({
      clients: 0,
      sessions: 0,
      subscriptions: 0,
      subscribers: 0,
      retained: 0,
    })
  })
})
