import { type CallbackContext, type IPublishPacket, type MiddlewareLike, Stack } from '@mqtt-stack/core'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { RedisBackend } from '../src/index.js'
import { Keys } from '../src/keys.js'
import { hasRedis, RedisServer } from '../src/testing/index.js'
import { RedisWills } from '../src/wills.js'
import { freshPrefix, liveNode } from './support.js'

const TIMEOUT = 300

function will(payload: string): IPublishPacket {
  return {
    cmd: 'publish',
    topic: 'last/will',
    payload: Buffer.from(payload),
    qos: 1,
    retain: false,
    dup: false,
  }
}

/** A broker node that dies: its liveness and its wills on a connection of its own, cut by `crash()`. */
async function dyingNode(server: RedisServer, prefix: string) {
  const redis = new Redis(server.port, '127.0.0.1', { lazyConnect: true })
  const { nodes, crash } = await liveNode(redis, prefix, TIMEOUT)
  return { nodes, wills: new RedisWills(redis, new Keys(prefix), nodes.id), crash }
}

type Orphan = CallbackContext<'orphanedWill'>

/**
 * A survivor: a RedisBackend in a Stack with a stand-in for last-will, which claims each orphaned will at
 * once (as last-will does once it is due) and counts it published only when the claim removed it.
 */
async function survivor(server: RedisServer, prefix: string) {
  const backend = new RedisBackend({ url: server.url, prefix, nodeTimeoutMs: TIMEOUT })
  const orphans: Orphan[] = []
  const published: string[] = []
  let wake: (() => void) | undefined
  const stack = new Stack()
  const lastWill: MiddlewareLike = {
    name: 'fake-last-will',
    callbacks: () => ({
      orphanedWill: (ctx, _store, next) => {
        orphans.push(ctx)
        next()
        stack.run('removeWill', { clientId: ctx.clientId, owner: ctx.owner }, {}).then(({ removed }) => {
          if (removed === true) published.push(`${ctx.clientId}:${String(ctx.packet.payload)}`)
          wake?.()
        })
      },
    }),
  }
  const outbound: MiddlewareLike = {
    name: 'fake-outbound',
    callbacks: () => ({ forwardMessage: (_ctx, _store, _next, done) => done() }),
  }
  stack.use(backend).use(outbound).use(lastWill)
  onTestFinished(() => stack.close())
  await backend.ready()
  return {
    backend,
    stack,
    orphans,
    published,
    /** Resolves once `count` wills were claimed here or at `others`. */
    until(count: () => boolean): Promise<void> {
      if (count()) return Promise.resolve()
      return new Promise((resolve) => {
        wake = () => {
          if (count()) resolve()
        }
      })
    },
  }
}

describe.runIf(hasRedis())('wills of a node that died', { timeout: 20_000 }, () => {
  let server: RedisServer | undefined
  beforeAll(async () => {
    server = await RedisServer.start()
  })
  afterAll(() => server?.close())

  it('the will of a connection whose node died is published once, by one of two survivors', async () => {
    const prefix = freshPrefix()
    const dying = await dyingNode(server!, prefix)
    await dying.wills.store('c1', 'conn-1', will('one'), 0)
    await dying.wills.store('c2', 'conn-2', will('two'), 0)
    // Removed on DISCONNECT: never published.
    await dying.wills.store('c3', 'conn-3', will('three'), 0)
    expect(await dying.wills.take('c3', 'conn-3')).toBe(true)
    const a = await survivor(server!, prefix)
    const b = await survivor(server!, prefix)
    const all = () => [...a.published, ...b.published]
    const crashedAt = Date.now()
    dying.crash()
    await Promise.race([a.until(() => all().length >= 2), b.until(() => all().length >= 2)])
    // Both survivors sweep again: nothing is handed out twice.
    await Promise.all([a.backend.nodes.sweep(), b.backend.nodes.sweep()])
    expect(all().sort()).toEqual(['c1:one', 'c2:two'])
    expect([...a.orphans, ...b.orphans]).toHaveLength(2)
    for (const orphan of [...a.orphans, ...b.orphans]) {
      // Without a delay, due when the node was last seen alive (before the crash).
      expect(orphan.dueAt).toBeLessThanOrEqual(crashedAt)
      expect(orphan.owner).not.toMatch(/^conn-/)
    }
    const redis = new Redis(server!.port, '127.0.0.1')
    onTestFinished(() => {
      redis.disconnect()
    })
    expect(await redis.exists(`${prefix}{c:c1}:wills`, `${prefix}{nodes}:wills:${dying.nodes.id}`)).toBe(0)
  })

  it('MQTT 5.0 [MQTT-3.1.3-9]: a delayed will is due its delay after the node was last seen, or when its connection ended, or when its session ends if sooner', async () => {
    const prefix = freshPrefix()
    const dying = await dyingNode(server!, prefix)
    const redis = new Redis(server!.port, '127.0.0.1')
    onTestFinished(() => {
      redis.disconnect()
    })
    const keys = new Keys(prefix)
    const left = Date.now()
    // The sessions as session-manager keeps them: persistent ones outlive the node, expiry 0 ends with it.
    for (const clientId of ['open', 'ended', 'resumed']) await redis.hset(keys.session(clientId), 'e', 3600)
    await redis.hset(keys.session('expiring'), 'e', 5, 'd', left)
    await redis.hset(keys.session('clean'), 'e', 0)
    // Connected when the node died: due 60 s after its last heartbeat.
    await dying.wills.store('open', 'conn-1', will('open'), 60)
    // Its connection ended earlier: due when last-will had recorded.
    await dying.wills.store('ended', 'conn-2', will('ended'), 60)
    const dueAt = Date.now() + 30_000
    await dying.wills.due('ended', 'conn-2', dueAt)
    // A connection resumed the session within the delay (below): not sent.
    await dying.wills.store('resumed', 'conn-3', will('resumed'), 60)
    // Sessions that end before the delay: the will goes when they end.
    await dying.wills.store('expiring', 'conn-4', will('expiring'), 60)
    await dying.wills.store('clean', 'conn-5', will('clean'), 60)
    const a = await survivor(server!, prefix)
    expect(await a.backend.nodes.isAlive(dying.nodes.id)).toBe(true)
    await a.backend.nodes.sweep()
    expect(a.orphans).toEqual([])
    expect((await dying.wills.takeDelayed('resumed')).map((p) => String(p.payload))).toEqual(['resumed'])
    const before = Date.now()
    dying.crash()
    await a.until(() => a.orphans.length >= 4)
    const byId = new Map(a.orphans.map((o) => [o.clientId, o]))
    expect([...byId.keys()].sort()).toEqual(['clean', 'ended', 'expiring', 'open'])
    expect(byId.get('ended')!.dueAt).toBe(dueAt)
    expect(byId.get('expiring')!.dueAt).toBe(left + 5000)
    const open = byId.get('open')!
    expect(open.delayInterval).toBe(60)
    expect(open.dueAt).toBeGreaterThan(before + 60_000 - TIMEOUT - 100)
    expect(open.dueAt).toBeLessThanOrEqual(before + 60_000)
    const clean = byId.get('clean')!
    expect(clean.dueAt).toBe(open.dueAt - 60_000)
  })

  it('a broker stopped cleanly while a delayed will waits: the next start takes it over, due when recorded', async () => {
    const prefix = freshPrefix()
    const first = await survivor(server!, prefix)
    const redis = new Redis(server!.port, '127.0.0.1')
    onTestFinished(() => {
      redis.disconnect()
    })
    // What last-will of the first broker left: a delayed will whose connection ended, due in 30 s.
    const held = new RedisWills(redis, new Keys(prefix), first.backend.nodeId)
    await redis.hset(new Keys(prefix).session('late'), 'e', 3600)
    await held.store('late', 'conn-1', will('late'), 60)
    const dueAt = Date.now() + 30_000
    await held.due('late', 'conn-1', dueAt)
    await first.stack.close()
    const next = await survivor(server!, prefix)
    await next.until(() => next.orphans.length >= 1)
    expect(next.orphans.map((o) => [o.clientId, o.dueAt])).toEqual([['late', dueAt]])
    expect(next.published).toEqual(['late:late'])
  })
})
