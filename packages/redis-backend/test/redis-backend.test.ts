import { strict as assert } from 'node:assert'
import type { IPublishPacket } from '@mqtt-stack/core'
import type { BackendHarness } from '@mqtt-stack/core/testing'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisBackend } from '../src/index.js'
import { hasRedis, RedisServer } from '../src/testing/index.js'
import { harness, inspect } from './support.js'

const message = (topic: string, payload: string, extra: Partial<IPublishPacket> = {}): IPublishPacket => ({
  cmd: 'publish',
  topic,
  payload,
  qos: 1,
  retain: false,
  dup: false,
  ...extra,
})

const texts = (packets: IPublishPacket[] = []) => packets.map((p) => `${p.topic}=${p.payload.toString()}`)

describe('RedisBackend options', () => {
  it('refuses a bound that is not an integer of 0 or more, and a prefix with a hash tag', () => {
    expect(() => new RedisBackend({ maxOfflineMessages: -1 })).toThrow(/maxOfflineMessages/)
    expect(() => new RedisBackend({ maxRetainedBytes: 1.5 })).toThrow(/maxRetainedBytes/)
    expect(() => new RedisBackend({ prefix: 'a{b}:' })).toThrow(/prefix/)
  })
})

describe.runIf(hasRedis())('RedisBackend on a redis-server', { timeout: 20_000 }, () => {
  let server: RedisServer | undefined
  beforeAll(async () => {
    server = await RedisServer.start()
  })
  afterAll(() => server?.close())

  describe('retained messages: a topic index walked in Redis', () => {
    it('[MQTT-4.7.2-1] matches empty levels, + and # (a # matches its parent level too), and no $ topic at the first level', async () => {
      const { h } = await harness(server!)
      for (const topic of ['a', 'a/b', 'a//c', '/x', '$SYS/up', 'a/b/c/d'])
        await h.run('storeRetainedMessage', {
          client: undefined,
          topic,
          packet: message(topic, topic, { retain: true }),
        })
      const lookup = async (topic: string) =>
        texts((await h.run('lookupRetainedMessages', { topic })).packets).sort()
      expect(await lookup('a/#')).toEqual(['a//c=a//c', 'a/b/c/d=a/b/c/d', 'a/b=a/b', 'a=a'])
      expect(await lookup('a/+')).toEqual(['a/b=a/b'])
      expect(await lookup('a/+/c')).toEqual(['a//c=a//c'])
      expect(await lookup('+/x')).toEqual(['/x=/x'])
      expect(await lookup('#')).not.toContain('$SYS/up=$SYS/up')
      expect(await lookup('+/up')).toEqual([])
      expect(await lookup('$SYS/#')).toEqual(['$SYS/up=$SYS/up'])
    })

    it('[MQTT-3.3.1-10] deleting every retained message leaves no index key behind', async () => {
      const { h, backend } = await harness(server!)
      const topics = ['a', 'a/b', 'a/b/c', 'x//y']
      for (const topic of topics)
        await h.run('storeRetainedMessage', {
          client: undefined,
          topic,
          packet: message(topic, 'v', { retain: true }),
        })
      const redis = inspect(server!)
      expect((await redis.keys(`${backend.prefix}{retained}:i*`)).length).toBeGreaterThan(0)
      for (const topic of ['a/b', 'a', 'x//y', 'a/b/c'])
        await h.run('storeRetainedMessage', {
          client: undefined,
          topic,
          packet: message(topic, '', { retain: true }),
        })
      expect(await redis.keys(`${backend.prefix}{retained}*`)).toEqual([`${backend.prefix}{retained}:b`])
      expect(await redis.get(`${backend.prefix}{retained}:b`)).toBe('0')
    })

    it('refuses a message past maxRetainedBytes and reports it; a smaller replacement is stored', async () => {
      const { h } = await harness(server!, { maxRetainedBytes: 4 })
      const store = (topic: string, payload: string) =>
        h.run('storeRetainedMessage', {
          client: undefined,
          topic,
          packet: message(topic, payload, { retain: true }),
        })
      await store('t', 'abc')
      await store('u', 'de')
      expect(h.takeErrors()).toEqual(['MQS_ERR_RETAINED_FULL'])
      await store('t', 'a')
      await store('u', 'de')
      expect(texts((await h.run('lookupRetainedMessages', { topic: '+' })).packets).sort()).toEqual([
        't=a',
        'u=de',
      ])
    })
  })

  describe('offline queues', () => {
    it('a full queue drops the newest, notifies messageDropped each time and reports once until it has room', async () => {
      const { h } = await harness(server!, { maxOfflineMessages: 1 })
      const drops: string[] = []
      h.stack.use({
        messageDropped(ctx, _store, next) {
          drops.push(`${ctx.reason} ${ctx.clientId} ${ctx.packet?.payload.toString()}`)
          next()
        },
      })
      await h.run('storeSession', { clientId: 's', session: { clientId: 's', expiryInterval: 60 } })
      for (const payload of ['1', '2', '3'])
        await h.run('storeOfflineMessage', { clientId: 's', packet: message('t', payload) })
      expect(drops).toEqual(['offline-queue-full s 2', 'offline-queue-full s 3'])
      expect(h.takeErrors()).toEqual(['MQS_ERR_OFFLINE_QUEUE_FULL'])
      const { packets = [] } = await h.run('lookupOfflineMessages', { clientId: 's' })
      await h.run('removeOfflineMessages', { clientId: 's', packets })
      await h.run('storeOfflineMessage', { clientId: 's', packet: message('t', '4') })
      await h.run('storeOfflineMessage', { clientId: 's', packet: message('t', '5') })
      expect(h.takeErrors()).toEqual(['MQS_ERR_OFFLINE_QUEUE_FULL'])
    })

    it('a message handed out and given back undelivered stays queued, before or after the removal of the hand-out', async () => {
      const { h } = await harness(server!)
      await h.run('storeSession', { clientId: 's', session: { clientId: 's', expiryInterval: 60 } })
      for (const payload of ['1', '2', '3'])
        await h.run('storeOfflineMessage', { clientId: 's', packet: message('t', payload) })
      const queue = async () => texts((await h.run('lookupOfflineMessages', { clientId: 's' })).packets)
      let { packets = [] } = await h.run('lookupOfflineMessages', { clientId: 's' })
      // '2' comes back before the removal of everything handed out: it stays.
      await h.run('storeOfflineMessage', { clientId: 's', packet: packets[1]! })
      await h.run('removeOfflineMessages', { clientId: 's', packets })
      expect(await queue()).toEqual(['t=2'])
      ;({ packets = [] } = await h.run('lookupOfflineMessages', { clientId: 's' }))
      await h.run('storeOfflineMessage', { clientId: 's', packet: message('t', '4') })
      // Removed first, then given back: it goes back to the head of the queue.
      await h.run('removeOfflineMessages', { clientId: 's', packets })
      await h.run('storeOfflineMessage', { clientId: 's', packet: packets[0]! })
      expect(await queue()).toEqual(['t=2', 't=4'])
    })

    it('[MQTT-3.3.2-5] [MQTT-3.3.2-6] an expired message leaves the queue; the others go with the interval left', async () => {
      const { h } = await harness(server!)
      await h.run('storeSession', { clientId: 's', session: { clientId: 's', expiryInterval: 60 } })
      const redis = inspect(server!)
      const key = `${(h.backend as RedisBackend).prefix}{c:s}:offline`
      // Stored 5 s ago: one expired after 2 s, one with 100 s left of 105.
      const at = Date.now() - 5000
      await redis.rpush(
        key,
        JSON.stringify({
          t: 'old',
          p: Buffer.from('x').toString('base64'),
          q: 1,
          pr: { messageExpiryInterval: 2 },
          at,
        }),
        JSON.stringify({
          t: 'new',
          p: Buffer.from('y').toString('base64'),
          q: 1,
          pr: { messageExpiryInterval: 105 },
          at,
        }),
      )
      const { packets = [] } = await h.run('lookupOfflineMessages', { clientId: 's' })
      assert.deepEqual(
        packets.map((p) => [p.topic, p.properties?.messageExpiryInterval]),
        [['new', 100]],
      )
      await h.settle()
      expect(await redis.llen(key)).toBe(1)
    })
  })

  it('[MQTT-4.3.3-2] a QoS 2 message whose relay a crash cut short is relayed again, but not to a subscriber that holds it', async () => {
    const { h, backend } = await harness(server!)
    for (const clientId of ['got-it', 'missed-it']) {
      const c = await h.connect(clientId, { persistent: true })
      await h.subscribe(c, 'in', 2)
      await h.disconnect(c)
    }
    await h.run('storeSession', { clientId: 'pub', session: { clientId: 'pub', expiryInterval: 60 } })
    const packet = message('in', 'once', { qos: 2, messageId: 9 })
    // The node held the identifier and queued the message for one subscriber, then died before the other.
    expect((await h.run('storeIncomingMessage', { clientId: 'pub', packet })).duplicate).toBe(false)
    const redis = inspect(server!)
    const record = {
      t: 'in',
      p: Buffer.from('once').toString('base64'),
      q: 2,
      at: Date.now(),
      o: 'pub\u00009',
    }
    await redis.rpush(`${backend.prefix}{c:got-it}:offline`, JSON.stringify(record))
    await h.restart()
    // The publisher sends it again: not a duplicate, relayed to the subscriber that missed it only.
    const again = message('in', 'once', { qos: 2, messageId: 9, dup: true })
    expect((await h.run('storeIncomingMessage', { clientId: 'pub', packet: again })).duplicate).toBe(false)
    await h.run('relayMessage', { client: undefined, packet: again, topic: 'in', payload: again.payload })
    for (const clientId of ['got-it', 'missed-it'])
      expect(texts((await h.run('lookupOfflineMessages', { clientId })).packets), clientId).toEqual([
        'in=once',
      ])
    // Its relay is done now: sent once more, it is a duplicate.
    expect((await h.run('storeIncomingMessage', { clientId: 'pub', packet: again })).duplicate).toBe(true)
  })

  it('the inflight writes of a session kept in Redis made in one tick are one script call; a lookup in that tick sees them, in order', async () => {
    const { h } = await harness(server!)
    await h.run('storeSession', { clientId: 'kept', session: { clientId: 'kept', expiryInterval: 3600 } })
    const redis = inspect(server!)
    const scriptCalls = async () => {
      const stats = await redis.info('commandstats')
      const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0)
      return calls('evalsha') + calls('eval')
    }
    const before = await scriptCalls()
    const stored = [1, 2, 3, 4, 5].map((messageId) =>
      h.run('storeInflightMessage', {
        clientId: 'kept',
        packet: message('out', `m${messageId}`, { messageId }),
      }),
    )
    const removed = h.run('removeInflightMessage', { clientId: 'kept', messageId: 2 })
    const looked = h.run('lookupInflightMessages', { clientId: 'kept' })
    await Promise.all([...stored, removed])
    expect(((await looked).packets ?? []).map((p) => p.messageId)).toEqual([1, 3, 4, 5])
    expect((await stored[0]!).durable).toBe(true)
    expect((await scriptCalls()) - before).toBe(1)
  })

  it('relays to subscribers connected to this node with no Redis command', async () => {
    const { h } = await harness(server!)
    const c = await h.connect('sub')
    await h.subscribe(c, 'fan/+', 1)
    const redis = inspect(server!)
    const processed = async () => Number(/total_commands_processed:(\d+)/.exec(await redis.info('stats'))![1])
    const before = await processed()
    for (let i = 0; i < 50; i++) await h.publish(`fan/${i}`, 'x', { qos: 1 })
    await h.waitFor('sub', 50)
    // One command: the INFO that reads the count before.
    expect((await processed()) - before).toBe(1)
  })

  describe('sessions with expiry 0: their QoS 1/2 state in the node memory', () => {
    const outbound = (messageId: number, qos: 1 | 2 = 1) =>
      message('out', `m${messageId}`, { qos, messageId })
    const inflight = async (h: BackendHarness, clientId: string) =>
      ((await h.run('lookupInflightMessages', { clientId })).packets ?? []).map(
        (p) => `${p.cmd}:${p.messageId}`,
      )
    const duplicate = async (h: BackendHarness, clientId: string, messageId: number) =>
      (await h.run('storeIncomingMessage', { clientId, packet: message('in', 'x', { qos: 2, messageId }) }))
        .duplicate ?? false
    const stateKeys = (redis: Redis, prefix: string, clientId: string) =>
      redis.keys(`${prefix}{c:${clientId}}:in*`)

    it('[MQTT-4.3.3-2] keeps inflight packets and inbound QoS 2 identifiers with no Redis command', async () => {
      const { h, backend } = await harness(server!)
      await h.connect('clean')
      const redis = inspect(server!)
      const processed = async () =>
        Number(/total_commands_processed:(\d+)/.exec(await redis.info('stats'))![1])
      const before = await processed()
      for (const id of [3, 1, 2])
        await h.run('storeInflightMessage', { clientId: 'clean', packet: outbound(id, 2) })
      await h.run('storeInflightMessage', { clientId: 'clean', packet: { cmd: 'pubrel', messageId: 1 } })
      await h.run('removeInflightMessage', { clientId: 'clean', messageId: 2 })
      expect(await inflight(h, 'clean')).toEqual(['publish:3', 'pubrel:1'])
      expect(await duplicate(h, 'clean', 9)).toBe(false)
      expect(await duplicate(h, 'clean', 9)).toBe(true)
      const { packet } = await h.run('releaseIncomingMessage', { clientId: 'clean', messageId: 9 })
      expect(packet?.topic).toBe('in')
      expect(await duplicate(h, 'clean', 9)).toBe(false)
      // One command: the INFO that reads the count before.
      expect((await processed()) - before).toBe(1)
      expect(await stateKeys(redis, backend.prefix, 'clean')).toEqual([])
      // It ends with its connection: the next clean session of that client id starts empty.
      await h.connect('clean')
      expect(await inflight(h, 'clean')).toEqual([])
    })

    it('[MQTT-4.4.0-1] takes the state out of Redis when a session resumes with expiry 0, and puts it back when it is kept after all; says durable only while it is in Redis', async () => {
      const { h, backend } = await harness(server!)
      const redis = inspect(server!)
      await h.connect('s', { persistent: true })
      const durable = async (id: number) =>
        (await h.run('storeInflightMessage', { clientId: 's', packet: outbound(id) })).durable
      // Kept in Redis: what waits for room in the window is to be stored too (outbound-manager).
      expect(await durable(4)).toBe(true)
      expect(await durable(2)).toBe(true)
      expect(await duplicate(h, 's', 9)).toBe(false)
      // MQTT 5.0: resumed by a connection with expiry 0.
      await h.run('storeSession', { clientId: 's', session: { clientId: 's', expiryInterval: 0 } })
      expect(await stateKeys(redis, backend.prefix, 's')).toEqual([])
      expect(await durable(7)).toBeUndefined()
      expect((await h.run('lookupInflightMessages', { clientId: 's' })).durable).toBeUndefined()
      expect(await inflight(h, 's')).toEqual(['publish:4', 'publish:2', 'publish:7'])
      // Resumed again by a connection with an expiry: in Redis again, so it survives a restart.
      await h.run('storeSession', { clientId: 's', session: { clientId: 's', expiryInterval: 60 } })
      await h.restart()
      expect(await inflight(h, 's')).toEqual(['publish:4', 'publish:2', 'publish:7'])
      expect((await h.run('lookupInflightMessages', { clientId: 's' })).durable).toBe(true)
      // The held inbound QoS 2 message is there for its PUBREL.
      expect((await h.run('releaseIncomingMessage', { clientId: 's', messageId: 9 })).packet?.topic).toBe(
        'in',
      )
    })
  })

  it('collectStats counts the sessions, retained messages and wills in Redis and the routes of this node', async () => {
    const { h } = await harness(server!)
    const c = await h.connect('a', { persistent: true })
    await h.subscribe(c, 'x/#', 1)
    await h.subscribe(c, 'y', 0)
    await h.connect('b')
    await h.disconnect(await h.connect('away', { persistent: true }))
    await h.run('storeRetainedMessage', {
      client: undefined,
      topic: 'r',
      packet: message('r', 'v', { retain: true }),
    })
    await h.run('storeWill', {
      client: c.client,
      clientId: 'a',
      packet: message('w', 'gone'),
      delayInterval: 0,
    })
    expect(await h.run('collectStats', {})).toEqual({
      sessions: 3,
      disconnectedSessions: 1,
      subscriptions: 2,
      retainedMessages: 1,
      wills: 1,
    })
  })

  it('after a restart of Redis with appendonly yes, sessions, queues and retained messages are there', async () => {
    const aof = await RedisServer.start({ appendonly: true })
    try {
      const { h } = await harness(aof)
      const c = await h.connect('s', { persistent: true })
      await h.subscribe(c, 't', 1)
      await h.disconnect(c)
      await h.publish('t', 'queued')
      await h.run('storeRetainedMessage', {
        client: undefined,
        topic: 'r',
        packet: message('r', 'v', { retain: true }),
      })
      await aof.restart()
      // The same backend reconnects; a new one (a restarted broker) finds everything too.
      expect(texts((await h.run('lookupOfflineMessages', { clientId: 's' })).packets)).toEqual(['t=queued'])
      await h.restart()
      expect((await h.connect('s', { persistent: true })).sessionPresent).toBe(true)
      expect(texts((await h.run('lookupRetainedMessages', { topic: '#' })).packets)).toEqual(['r=v'])
      await h.publish('t', 'live')
      expect(await h.waitFor('s', 1)).toEqual(['t=live'])
    } finally {
      await aof.close()
    }
  })
})
