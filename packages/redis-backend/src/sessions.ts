import type { Stack } from '@mqtt-stack/core'
import type { ClusterRouting } from './cluster.js'
import type { RedisStore } from './store.js'

/**
 * Persistent sessions whose expiry no broker follows, handed to the session manager (`orphanedSession`):
 * session-manager keeps expiry timers in the memory of the node a client left, so they end with that node.
 * At start every session left disconnected is handed over (the timers of the previous run, or of a node
 * that stopped, are gone); when a node dies, also the sessions whose client was connected to it, stored as
 * left when it was last seen. Every node follows the sessions it was handed; the session manager checks the
 * stored session before it ends one, so a session resumed meanwhile is left alone.
 */
export async function adoptSessions(
  stack: Stack | undefined,
  store: RedisStore,
  cluster: ClusterRouting,
  dead?: { id: string; lastSeen: number },
): Promise<void> {
  if (stack === undefined || !stack.provides('orphanedSession')) return
  const { redis, keys } = store
  const ids = await redis.smembers(keys.sessions)
  // A batch at a time: the commands of one batch go out in one pipelined write.
  for (let at = 0; at < ids.length; at += BATCH)
    await Promise.all(
      ids.slice(at, at + BATCH).map((clientId) => adopt(stack, store, cluster, clientId, dead)),
    )
}

const BATCH = 500

async function adopt(
  stack: Stack,
  { redis, keys }: RedisStore,
  cluster: ClusterRouting,
  clientId: string,
  dead: { id: string; lastSeen: number } | undefined,
): Promise<void> {
  const [[, fields], [, holder]] = (await redis
    .multi()
    .hmget(keys.session(clientId), 'e', 'd')
    .get(cluster.nodeKey(clientId))
    .exec()) as [[unknown, (string | null)[]], [unknown, string | null]]
  const [expiry, left] = fields
  if (expiry === null || expiry === undefined || Number(expiry) === 0) return
  let disconnectedAt = left === null || left === undefined ? undefined : Number(left)
  if (disconnectedAt === undefined) {
    // Connected: to a live node (its own timer will follow it), or to the dead one, released or not yet.
    if (dead === undefined || (holder !== null && !holder.startsWith(`${dead.id} `))) return
    disconnectedAt = dead.lastSeen
    await redis.hsetnx(keys.session(clientId), 'd', disconnectedAt)
  }
  await stack.run('orphanedSession', { clientId, disconnectedAt }, {})
}
