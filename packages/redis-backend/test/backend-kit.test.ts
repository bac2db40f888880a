import { describeBackend } from '@mqtt-stack/core/testing'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { RedisBackend } from '../src/index.js'
import { hasRedis, RedisCluster, RedisServer } from '../src/testing/index.js'

const limits = { maxOfflineMessages: 3, maxInflightMessages: 4, maxRetainedMessages: 5 }
let tests = 0

/** The kit on one Redis: a fresh prefix per test, the same prefix for a restart; the keys dropped after. */
function kitOn(
  title: string,
  connection: () => { url?: string; clusterNodes?: { host: string; port: number }[] },
) {
  const create = (prefix: string): RedisBackend => new RedisBackend({ ...connection(), prefix, ...limits })
  describeBackend(
    title,
    {
      create: async () => {
        const backend = create(`kit-${process.pid}-${++tests}:`)
        await backend.ready()
        return backend
      },
      restart: async (previous) => {
        const backend = create(previous.prefix)
        await backend.ready()
        return backend
      },
      // Another broker node on the same Redis and prefix.
      peer: async (first) => {
        const backend = create(first.prefix)
        await backend.ready()
        return backend
      },
      capabilities: { durable: true, cluster: true, limits },
      timeout: 5000,
    },
    { describe, it },
  )
}

describe.runIf(hasRedis())('redis-backend', { timeout: 20_000 }, () => {
  describe('on one Redis', () => {
    let redis: RedisServer | undefined
    beforeAll(async () => {
      redis = await RedisServer.start()
    })
    afterAll(() => redis?.close())
    kitOn('the backend kit', () => ({ url: redis!.url }))
  })

  describe('on a Redis Cluster of three masters', () => {
    let cluster: RedisCluster | undefined
    beforeAll(async () => {
      cluster = await RedisCluster.start()
    }, 30_000)
    afterAll(() => cluster?.close())
    kitOn('the backend kit', () => ({ clusterNodes: cluster!.startNodes }))
  })
})
