import type { Cluster, Redis } from 'ioredis'
import { describe, expect, it, onTestFinished } from 'vitest'
import { RedisBackend } from '../src/index.js'
import type { Nodes } from '../src/nodes.js'
import { hasRedis } from '../src/testing/index.js'
import { freshPrefix, liveNode, onEachRedis } from './support.js'

const TIMEOUT = 300

type Connect = () => Redis | Cluster

/** A started Nodes on its own connection (see liveNode). */
function node(connect: Connect, prefix: string): Promise<{ nodes: Nodes; crash: () => void }> {
  return liveNode(connect(), prefix, TIMEOUT, () => undefined)
}

/** The dead nodes one survivor reported, and a promise of the next report. */
function deaths(nodes: Nodes): { ids: string[]; next: () => Promise<string> } {
  const ids: string[] = []
  let wake: ((id: string) => void) | undefined
  nodes.onDead(async (id) => {
    ids.push(id)
    wake?.(id)
  })
  return {
    ids,
    next: () =>
      new Promise<string>((resolve) => {
        wake = resolve
      }),
  }
}

function suite(connect: () => Connect) {
  it('a node whose heartbeat stops is reported dead within 1.5 × nodeTimeoutMs, once, by one survivor', async () => {
    const prefix = freshPrefix()
    const dying = await node(connect(), prefix)
    const b = await node(connect(), prefix)
    const c = await node(connect(), prefix)
    const atB = deaths(b.nodes)
    const atC = deaths(c.nodes)
    const first = Promise.race([atB.next(), atC.next()])
    const crashedAt = Date.now()
    dying.crash()
    expect(await first).toBe(dying.nodes.id)
    // The last renewal was at most TTL/5 before the crash; the bound counts from it.
    expect(Date.now() - crashedAt).toBeLessThanOrEqual(TIMEOUT * 1.5 + 200)
    await Promise.all([b.nodes.sweep(), c.nodes.sweep()])
    await Promise.all([b.nodes.sweep(), c.nodes.sweep()])
    expect([...atB.ids, ...atC.ids]).toEqual([dying.nodes.id])
    expect(await b.nodes.isAlive(dying.nodes.id)).toBe(false)
    expect([...(await b.nodes.alive()).keys()].sort()).toEqual([b.nodes.id, c.nodes.id].sort())
  })

  it('a clean stop is not a death: its key and entry are gone, and no survivor reports it', async () => {
    const prefix = freshPrefix()
    const leaving = await node(connect(), prefix)
    const b = await node(connect(), prefix)
    const atB = deaths(b.nodes)
    expect(await b.nodes.isAlive(leaving.nodes.id)).toBe(true)
    await leaving.nodes.stop()
    expect(await b.nodes.isAlive(leaving.nodes.id)).toBe(false)
    await b.nodes.sweep()
    expect(atB.ids).toEqual([])
    expect([...(await b.nodes.alive()).keys()]).toEqual([b.nodes.id])
  })

  it('a node whose own heartbeat expired (a stall past the TTL) is told on its next renewal, and is alive again', async () => {
    const prefix = freshPrefix()
    const stalled = await node(connect(), prefix)
    const lost = new Promise<void>((resolve) => stalled.nodes.onLost(resolve))
    // What a stall leaves: the heartbeat expired. Deleted here through another connection.
    const other = connect()()
    onTestFinished(() => {
      other.disconnect()
    })
    await other.del(stalled.nodes.heartbeatKey(stalled.nodes.id))
    await lost
    expect(await stalled.nodes.isAlive(stalled.nodes.id)).toBe(true)
  })

  it('a survivor whose listener fails leaves the dead node for a later sweep, which reports it again', async () => {
    const prefix = freshPrefix()
    const dying = await node(connect(), prefix)
    const b = await node(connect(), prefix)
    let calls = 0
    const done = new Promise<void>((resolve) => {
      b.nodes.onDead(async () => {
        calls++
        if (calls === 1) throw new Error('the survivor failed mid-sweep')
        resolve()
      })
    })
    dying.crash()
    await done
    expect(calls).toBe(2)
    expect(await b.nodes.alive()).toEqual(new Map([[b.nodes.id, expect.any(Number)]]))
  })
}

describe.runIf(hasRedis())('node liveness', { timeout: 20_000 }, () => {
  onEachRedis((target) => {
    suite(() => target.client)

    it('RedisBackend: nodeId is alive from ready() until close(), and nodeTimeoutMs is validated', async () => {
      expect(() => new RedisBackend({ nodeTimeoutMs: 50 })).toThrow(/nodeTimeoutMs/)
      expect(() => new RedisBackend({ nodeTimeoutMs: 1000.5 })).toThrow(/nodeTimeoutMs/)
      const prefix = freshPrefix()
      // The default TTL: a machine busy with other tests must not stall a heartbeat past it mid-test.
      const backend = new RedisBackend({ ...target.options(), prefix })
      const other = new RedisBackend({ ...target.options(), prefix })
      onTestFinished(() => other.close())
      await backend.ready()
      await other.ready()
      expect(backend.nodeId).not.toBe(other.nodeId)
      expect(await other.nodes.isAlive(backend.nodeId)).toBe(true)
      const redis = target.client()
      onTestFinished(() => {
        redis.disconnect()
      })
      expect(await redis.exists(`${prefix}{nodes}:${backend.nodeId}`)).toBe(1)
      expect(await redis.zscore(`${prefix}{nodes}`, backend.nodeId)).not.toBeNull()
      await backend.close()
      expect(await other.nodes.isAlive(backend.nodeId)).toBe(false)
      expect(await redis.zscore(`${prefix}{nodes}`, backend.nodeId)).toBeNull()
    })
  })
})
