/**
 * Redis away: the backend's connection cut by a proxy. Callbacks wait for Redis up to unavailableTimeout,
 * then fail with MQS_ERR_REDIS; the outage is reported once; everything works again once Redis is back.
 */
import { once } from 'node:events'
import { Stack } from '@mqtt-stack/core'
import { describe, expect, it, onTestFinished } from 'vitest'
import { RedisBackend } from '../src/index.js'
import { hasRedis, RedisServer, TcpProxy } from '../src/testing/index.js'
import { harness } from './support.js'

describe('RedisBackend unavailableTimeout', () => {
  it('must be an integer of 0 or more', () => {
    expect(() => new RedisBackend({ unavailableTimeout: -1 })).toThrow(/unavailableTimeout/)
    expect(() => new RedisBackend({ unavailableTimeout: 0.5 })).toThrow(/unavailableTimeout/)
    expect(() => new RedisBackend({ closeTimeout: -1 })).toThrow(/closeTimeout/)
  })
})

describe.runIf(hasRedis())('RedisBackend when Redis is away', { timeout: 20_000 }, () => {
  async function cutOff(unavailableTimeout: number) {
    const server = await RedisServer.start()
    onTestFinished(() => server.close())
    const proxy = await TcpProxy.start(server.port)
    onTestFinished(() => proxy.close())
    const { h } = await harness({ url: proxy.url } as RedisServer, { unavailableTimeout })
    const c = await h.connect('waiting', { persistent: true })
    return { h, proxy, c }
  }

  it('a callback waits while Redis is away and answers once it is back', async () => {
    const { h, proxy } = await cutOff(10_000)
    const outage = once(h.stack, 'error')
    proxy.cut()
    const answer = h.run('lookupSession', { clientId: 'waiting' })
    // The backend has seen Redis go away while the lookup was pending; it comes back only now.
    const [reported] = await outage
    expect(reported.message).toMatch(/the connection to Redis/)
    proxy.restore()
    expect((await answer).session?.clientId).toBe('waiting')
    expect(h.errors.filter((err) => err.code === 'MQS_ERR_REDIS')).toHaveLength(1)
  })

  it('past unavailableTimeout the callback fails with MQS_ERR_REDIS (0x89 for a DISCONNECT); the outage is reported once', async () => {
    const { h, proxy } = await cutOff(300)
    proxy.cut()
    const failures = await Promise.allSettled([
      h.run('lookupSession', { clientId: 'waiting' }),
      h.run('lookupSubscriptions', { clientId: 'waiting' }),
    ])
    for (const failure of failures) {
      expect(failure.status).toBe('rejected')
      const err = (failure as PromiseRejectedResult).reason
      expect(err.code).toBe('MQS_ERR_REDIS')
      expect(err.reasonCode).toBe(0x89)
    }
    const reported = h.errors.filter((err) => /the connection to Redis/.test(err.message))
    expect(reported).toHaveLength(1)
    proxy.restore()
    expect((await h.run('lookupSession', { clientId: 'waiting' })).session?.clientId).toBe('waiting')
  })

  it('close() ends while Redis does not answer, even when commands wait for ever: it disconnects after closeTimeout, failing what waited', async () => {
    const server = await RedisServer.start()
    onTestFinished(() => server.close())
    const proxy = await TcpProxy.start(server.port)
    onTestFinished(() => proxy.close())
    const backend = new RedisBackend({ url: proxy.url, unavailableTimeout: 0, closeTimeout: 200 })
    const stack = new Stack().use(backend)
    const reported: Error[] = []
    stack.on('error', (err) => reported.push(err))
    await backend.ready()
    proxy.cut()
    // Redis unreachable, and commands wait for it for ever: without closeTimeout, this close would never end.
    const waiting = stack.run('lookupSession', { clientId: 'waiting' }, {})
    await stack.close()
    await expect(waiting).rejects.toMatchObject({ code: 'MQS_ERR_REDIS' })
    expect(reported.map((err) => err.message).join('\n')).toMatch(/the connection to Redis/)
  })
})
