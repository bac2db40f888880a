import { BackendHarness } from '@mqtt-stack/core/testing'
import { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, onTestFinished } from 'vitest'
import { RedisBackend, type RedisBackendOptions } from '../src/index.js'
import { Nodes } from '../src/nodes.js'
import { RedisCluster, RedisServer } from '../src/testing/index.js'

let prefixes = 0

/** A fresh key prefix on `server`, so that tests sharing one redis-server never see each other's keys. */
export function freshPrefix(): string {
  return `t-${process.pid}-${++prefixes}:`
}

/** A backend on `server` (under a fresh prefix unless given), ready, in a kit harness closed after the test. */
export async function harness(
  server: RedisServer,
  options: Partial<RedisBackendOptions> = {},
): Promise<{ h: BackendHarness; backend: RedisBackend }> {
  const make = async (): Promise<RedisBackend> => {
    const backend = new RedisBackend({ url: server.url, prefix: freshPrefix(), ...options })
    await backend.ready()
    return backend
  }
  const h = await BackendHarness.open({
    create: make,
    restart: async (previous) => {
      const backend = new RedisBackend({
        url: server.url,
        ...options,
        prefix: (previous as RedisBackend).prefix,
      })
      await backend.ready()
      return backend
    },
    // Another node on the same Redis and prefix (the restart of a node is another node, too).
    peer(first) {
      return this.restart!(first)
    },
  })
  onTestFinished(() => h.close())
  return { h, backend: h.backend as RedisBackend }
}

/**
 * A started Nodes (node liveness) on `redis`, a connection of its own, stopped after the test; `crash()`
 * cuts the connection, as a `kill -9` would.
 */
export async function liveNode(
  redis: Redis | Cluster,
  prefix: string,
  timeoutMs: number,
  onError?: (err: unknown) => void,
): Promise<{ nodes: Nodes; crash: () => void }> {
  const nodes = new Nodes(redis, prefix, timeoutMs, onError)
  let crashed = false
  onTestFinished(async () => {
    if (!crashed) await nodes.stop()
    // Its timers stop at once; its Redis commands never complete (a Cluster client queues them).
    else void nodes.stop().catch(() => undefined)
    redis.disconnect()
  })
  await nodes.start()
  return {
    nodes,
    crash: () => {
      crashed = true
      redis.disconnect()
    },
  }
}

/** A plain client of `server`, disconnected after the test: to look at the keys a backend wrote. */
export function inspect(server: RedisServer): Redis {
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  onTestFinished(() => {
    client.disconnect()
  })
  return client
}

/** Where a suite runs: the backend options that reach it, and a plain client of it (connecting on first use). */
export interface RedisTarget {
  options(): Partial<RedisBackendOptions>
  client(): Redis | Cluster
}

/**
 * Defines `body` twice: in a describe on one redis-server and in one on a Redis Cluster of three masters,
 * each started before its tests and stopped after them.
 */
export function onEachRedis(body: (target: RedisTarget) => void): void {
  describe('on one Redis', () => {
    let server: RedisServer | undefined
    beforeAll(async () => {
      server = await RedisServer.start()
    })
    afterAll(() => server?.close())
    body({
      options: () => ({ url: server!.url }),
      client: () => new Redis(server!.port, '127.0.0.1', { lazyConnect: true }),
    })
  })
  describe('on a Redis Cluster of three masters', () => {
    let cluster: RedisCluster | undefined
    beforeAll(async () => {
      cluster = await RedisCluster.start()
    }, 30_000)
    afterAll(() => cluster?.close())
    body({
      options: () => ({ clusterNodes: cluster!.startNodes }),
      client: () =>
        new Cluster(cluster!.startNodes, { lazyConnect: true, redisOptions: { lazyConnect: true } }),
    })
  })
}
