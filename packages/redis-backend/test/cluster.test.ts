import type { IPublishPacket, QoS } from '@mqtt-stack/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeForNodes, type Target } from '../src/cluster.js'
import { MAX_IN_FLIGHT, messageCount } from '../src/inbox-entry.js'
import type { RedisBackend } from '../src/index.js'
import { hasRedis, RedisServer } from '../src/testing/index.js'
import { harness, inspect } from './support.js'

const message = (payload: string, qos: QoS): IPublishPacket => ({
  cmd: 'publish',
  topic: 't',
  payload,
  qos,
  retain: false,
  dup: false,
})

const texts = (packets: IPublishPacket[] = []) => packets.map((p) => `${p.topic}=${p.payload.toString()}`)

describe.runIf(hasRedis())('several nodes: what a node hands over', { timeout: 20_000 }, () => {
  let server: RedisServer | undefined
  beforeAll(async () => {
    server = await RedisServer.start()
  })
  afterAll(() => server?.close())

  it('a survivor releases the client ids of a dead node and delivers its inbox: queued for a persistent session, not a QoS 2 message the subscriber completed', async () => {
    const { h, backend } = await harness(server!, { nodeTimeoutMs: 300 })
    const p = backend.prefix
    const c = await h.connect('s', { persistent: true })
    await h.subscribe(c, 't', 2)
    await h.disconnect(c)
    const clean = await h.connect('clean')
    await h.subscribe(clean, 't', 1)
    // What a node that died leaves: a clean session it held, three deliveries for `s` in its inbox (one of
    // a QoS 2 message `s` completed through another node), and its entry without a heartbeat, written last.
    const redis = inspect(server!)
    const dead = 'dead-node'
    const inbox = `${p}{n:${dead}}:in`
    await redis.set(`${p}{c:clean}:node`, `${dead} 1`)
    await redis.sadd(`${p}{n:${dead}}:conns`, 'clean')
    await redis.xgroup('CREATE', inbox, 'g', '$', 'MKSTREAM')
    const deliver = (payload: string, qos: QoS, origin?: string) => {
      const target: Target = ['s', qos, 0, null, null]
      return redis.xadd(
        inbox,
        '*',
        'm',
        encodeForNodes(message(payload, qos), origin),
        't',
        JSON.stringify([target]),
      )
    }
    await deliver('one', 1)
    await deliver('two', 2, 'pub\u00007')
    await deliver('completed', 2, 'pub\u00008')
    await redis.zadd(`${p}{c:s}:done`, Date.now(), 'pub\u00008')
    await redis.zadd(`${p}{nodes}`, Date.now() - 10_000, dead)

    await backend.nodes.sweep()
    expect(texts((await h.run('lookupOfflineMessages', { clientId: 's' })).packets)).toEqual([
      't=one',
      't=two',
    ])
    expect(await redis.exists(inbox, `${inbox}:taken`, `${p}{n:${dead}}:conns`, `${p}{c:clean}:node`)).toBe(0)
    expect(await redis.zscore(`${p}{nodes}`, dead)).toBeNull()
    // The clean session ended with its connection [MQTT-3.1.2-6]: no session, no route.
    expect((await h.run('lookupSession', { clientId: 'clean' })).session).toBeUndefined()
    expect(backend.routes.subscribers.has('clean')).toBe(false)
    expect(backend.routes.subscribers.has('s')).toBe(true)
  })

  it('a node started after a client connected and subscribed elsewhere routes to it from its first message', async () => {
    const { h } = await harness(server!)
    const early = await h.connect('early')
    await h.subscribe(early, 'late/#', 1)
    const later = await h.peer()
    await later.publish('late/x', 'one')
    expect(await h.waitFor('early', 1)).toEqual(['late/x=one'])
    expect(h.forwardsTo('early')[0]!.client).toBe(early.client)
  })

  it('flow control: no more than MAX_IN_FLIGHT messages in a node inbox it has not processed; its credit lets the held ones go, in order', async () => {
    const { backend } = await harness(server!)
    const redis = inspect(server!)
    const cluster = backend.cluster
    const slow = 'slow-node'
    const fast = 'fast-node'
    for (const node of [slow, fast])
      await redis.xgroup('CREATE', cluster.inboxKey(node), 'g', '$', 'MKSTREAM')
    const text = encodeForNodes(message('m', 1), undefined)
    const targets: Target[] = [['s', 1, 0, null, null]]
    const first = Array.from({ length: MAX_IN_FLIGHT }, () => cluster.send(slow, text, targets, false))
    await Promise.all(first)
    expect(cluster.congested(slow)).toBe(true)
    let heldDone = false
    const held = cluster.send(slow, text, targets, false).then(() => {
      heldDone = true
    })
    // Sent after the held one, on the same connection: once it is in, the held one would be too.
    await cluster.send(fast, text, targets, false)
    const messagesIn = async (node: string) =>
      (await redis.xrange(cluster.inboxKey(node), '-', '+')).reduce(
        (sum, [, fields]) => sum + messageCount(fields),
        0,
      )
    expect(await messagesIn(slow)).toBe(MAX_IN_FLIGHT)
    expect(heldDone).toBe(false)
    // The slow node says it processed one: the held message goes.
    await redis.xadd(cluster.inboxKey(cluster.nodeId), '*', 'p', '1', 'n', slow)
    await held
    expect(await messagesIn(slow)).toBe(MAX_IN_FLIGHT + 1)
    // MAX_IN_FLIGHT in flight again: the next one would wait for the next credit.
    expect(cluster.congested(slow)).toBe(true)
  })

  it('flow control between two nodes: the receiving node credits what it processed, so more than MAX_IN_FLIGHT messages go through', async () => {
    const { h } = await harness(server!)
    const c = await h.connect('far')
    await h.subscribe(c, 'many/#', 1)
    const other = await h.peer()
    const count = 2 * MAX_IN_FLIGHT + 10
    // Published at once (QoS 1: each relay waits for its entry): without credits, past MAX_IN_FLIGHT none would be.
    await Promise.all(Array.from({ length: count }, (_, i) => other.publish(`many/${i}`, 'x')))
    const got = await h.waitFor('far', count)
    expect(got[count - 1]).toBe(`many/${count - 1}=x`)
  })

  it('a node the route log was trimmed past reads the routes again: what it missed is there, what went meanwhile is gone, its own clients keep theirs', async () => {
    const { h, backend } = await harness(server!)
    const peer = await h.peer()
    const other = peer.backend as RedisBackend
    const mine = await h.connect('mine')
    await h.subscribe(mine, 'own/#', 1)
    const far = await peer.connect('far')
    await peer.subscribe(far, 'far/#', 1)
    expect(backend.cluster.nodeOf('far')).toBe(other.nodeId)
    // What a node that missed the log's changes looks like: a route it never saw, and one removed meanwhile.
    backend.routes.removeClient('far')
    backend.cluster.locations.delete('far')
    backend.routes.subscribe('gone', 'gone/#', 1, { topic: 'gone/#', qos: 1 })
    // Nothing deleted past it yet: nothing to read again.
    expect(await backend.cluster.resyncRoutes()).toBe(false)
    // A change it never read, trimmed away at once (in one transaction: its reader cannot see it).
    const redis = inspect(server!)
    const log = backend.cluster.logKey
    await redis.multi().xadd(log, '*', 'e', `n\n${backend.nodeId}\n`).xtrim(log, 'MAXLEN', 0).exec()
    expect(await backend.cluster.resyncRoutes()).toBe(true)
    expect([...backend.routes.subscribers.keys()].sort()).toEqual(['far', 'mine'])
    expect(backend.cluster.nodeOf('far')).toBe(other.nodeId)
    await h.publish('far/1', 'again')
    expect(await peer.waitFor('far', 1)).toEqual(['far/1=again'])
    // Read again once: the log is read on from its end.
    expect(await backend.cluster.resyncRoutes()).toBe(false)
  })

  it('removeSession leaves a session alone while a connection on another live node holds its client id', async () => {
    const { h } = await harness(server!)
    const other = await h.peer()
    const c = await other.connect('held', { persistent: true })
    await h.run('removeSession', { clientId: 'held' })
    expect((await h.run('lookupSession', { clientId: 'held' })).session).toBeDefined()
    expect(await other.disconnect(c)).toBe(true)
    await h.run('removeSession', { clientId: 'held' })
    expect((await h.run('lookupSession', { clientId: 'held' })).session).toBeUndefined()
  })
})
