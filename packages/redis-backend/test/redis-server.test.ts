import { Cluster, Redis } from 'ioredis'
import { describe, expect, it, onTestFinished } from 'vitest'
import { hasRedis, RedisCluster, RedisServer } from '../src/testing/index.js'

describe.runIf(hasRedis())('the redis-server processes of the tests', { timeout: 30_000 }, () => {
  it('starts one on a free loopback port, keeps what it wrote across a restart with AOF, and stops it', async () => {
    const server = await RedisServer.start({ appendonly: true })
    onTestFinished(() => server.close())
    const pid = server.pid!
    const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
    onTestFinished(() => client.disconnect())
    await client.set('k', 'v')
    await server.restart()
    expect(server.pid).not.toBe(pid)
    expect(() => process.kill(pid, 0)).toThrow()
    const again = new Redis(server.port, '127.0.0.1')
    onTestFinished(() => again.disconnect())
    expect(await again.get('k')).toBe('v')
    await server.stop()
    expect(() => process.kill(server.pid ?? pid, 0)).toThrow()
  })

  it('creates a Redis Cluster of three masters on which keys of every slot are served', async () => {
    const cluster = await RedisCluster.start()
    onTestFinished(() => cluster.close())
    const client = new Cluster(cluster.startNodes)
    onTestFinished(() => client.disconnect())
    const nodes = (await client.cluster('NODES')) as string
    expect(nodes.split('\n').filter((line) => line.includes('master')).length).toBe(3)
    for (const key of ['a', 'b', 'c', 'd', 'e']) await client.set(key, key)
    expect(await Promise.all(['a', 'b', 'c', 'd', 'e'].map((key) => client.get(key)))).toEqual([
      'a',
      'b',
      'c',
      'd',
      'e',
    ])
  })
})
