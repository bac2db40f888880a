import { describeBackend } from '@mqtt-stack/core/testing'
import { describe, it } from 'vitest'
import { RedisBackend, type RedisBackendOptions } from '../src/index.js'
import { hasRedis } from '../src/testing/index.js'
import { onEachRedis } from './support.js'

const limits = { maxOfflineMessages: 3, maxInflightMessages: 4, maxRetainedMessages: 5 }
let tests = 0

/** The kit on one Redis: a fresh prefix per test, the same prefix for a restart; the keys dropped after. */
function kitOn(title: string, connection: () => Partial<RedisBackendOptions>) {
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
      capabilities: { durable: true, cluster: true, limits, stats: true },
      timeout: 5000,
    },
    { describe, it },
  )
}

describe.runIf(hasRedis())('redis-backend', { timeout: 20_000 }, () => {
  onEachRedis((target) => kitOn('the backend kit', target.options))
})
