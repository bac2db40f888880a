import { once } from 'node:events'
import {
  type CallbackContext,
  type Client,
  ErrorCode,
  type MiddlewareLike,
  type MqttStackError,
  type Next,
  type Packet,
  Stack,
} from '@mqtt-stack/core'
import { connectTestClient } from '@mqtt-stack/core/testing'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { KeepAlive, KeepAliveErrorCode, type KeepAliveOptions } from '../src/index.js'

/** A tiny fake middleware: a plain object with methods named after the callbacks it answers. */
const fake = (middleware: object): MiddlewareLike => middleware as MiddlewareLike

/**
 * KeepAlive with a stand-in for connection (answers closeClient by closing the client) and for
 * session-manager (CONNACK). Records closeClient calls and the packets that get past KeepAlive.
 */
function broker(options: Partial<KeepAliveOptions> = {}) {
  const stack = new Stack()
  const errors: MqttStackError[] = []
  stack.on('error', (err) => errors.push(err))
  const closes: Array<CallbackContext<'closeClient'>> = []
  const passed: Packet[] = []
  const keepalive = new KeepAlive(options)
  stack.use(
    fake({
      name: 'fake-connection',
      closeClient(ctx: CallbackContext<'closeClient'>, _store: object, next: Next) {
        closes.push(ctx)
        ctx.client.close(ctx.reasonCode, ctx.error)
        next()
      },
    }),
  )
  stack.use(keepalive)
  stack.use(
    fake({
      name: 'fake-session',
      handle(client: Client, packet: Packet, next: Next) {
        passed.push(packet)
        if (packet.cmd === 'connect' && client.protocolVersion === 5) {
          // What session-manager does: prepareConnack, then the CONNACK with the properties gathered.
          client.stack.execute('prepareConnack', { client, packet }, { properties: {} }, (_err, store) => {
            const { properties } = store
            client.write({ cmd: 'connack', reasonCode: 0, sessionPresent: false, properties })
            next()
          })
          return
        }
        if (packet.cmd === 'connect') client.write({ cmd: 'connack', returnCode: 0, sessionPresent: false })
        if (packet.cmd === 'publish' && packet.messageId !== undefined)
          client.write({ cmd: 'puback', messageId: packet.messageId })
        next()
      },
    }),
  )
  return { stack, errors, closes, passed, keepalive }
}

let stack: Stack | undefined
function track<T extends { stack: Stack }>(b: T): T {
  stack = b.stack
  return b
}

beforeEach(() => {
  vi.useFakeTimers()
})

afterEach(async () => {
  vi.useRealTimers()
  await stack?.close()
  stack = undefined
})

describe('keepalive: PINGREQ', () => {
  it('[MQTT-3.12.4-1] lets PINGREQ through as activity; core answers it with PINGRESP, once', async () => {
    const { stack, passed } = track(broker({ checkInterval: 1000 }))
    const t = connectTestClient(stack)
    await t.connect({ keepalive: 10 })
    vi.advanceTimersByTime(14_000)
    t.send({ cmd: 'pingreq' })
    t.send({ cmd: 'pingreq' })
    t.send({ cmd: 'publish', topic: 'a', payload: 'x', qos: 1, messageId: 1, retain: false, dup: false })
    await t.expect('pingresp')
    await t.expect('pingresp')
    await t.expect('puback') // one PINGRESP per PINGREQ, nothing between
    expect(passed.map((p) => p.cmd)).toEqual(['connect', 'pingreq', 'pingreq', 'publish'])
    // The PINGREQ moved the deadline on: 14 s after it the client is still open.
    vi.advanceTimersByTime(14_000)
    expect(t.client.closed).toBe(false)
  })
})

describe('keepalive: 1.5 times the keepalive', () => {
  it('[MQTT-3.1.2-24] LESSONS 11: a silent client is not closed at 1.4x, and is closed by 1.5x plus a 32nd of that (never 2x)', async () => {
    const { stack, closes } = track(broker({ checkInterval: 1000 }))
    const t = connectTestClient(stack)
    await t.connect({ keepalive: 10 })
    vi.advanceTimersByTime(14_000)
    expect(closes).toEqual([])
    expect(t.client.closed).toBe(false)
    vi.advanceTimersByTime(1000 + 15_000 / 32)
    expect(closes).toHaveLength(1)
    expect(closes[0]!.client).toBe(t.client)
    expect(closes[0]!.reasonCode).toBe(0x8d)
    expect((closes[0]!.error as MqttStackError).code).toBe(KeepAliveErrorCode.KEEPALIVE_TIMEOUT)
    expect(t.client.closed).toBe(true)
    expect(t.client.error).toBe(closes[0]!.error)
  })

  it.each([
    // keepalive (s), checkInterval (ms), how late at most (ms): a 32nd of 1.5 x keepalive as a power of two,
    // or checkInterval when that is finer.
    [1, 1000, 32],
    [2, 1000, 64],
    [10, 1000, 256],
    [60, 1000, 1000],
    [600, 1000, 1000],
    [60, 100, 100],
    [1, 10, 10],
  ])(
    '[MQTT-3.1.2-24] keepalive %i s, checkInterval %i ms: closed after 1.5 times the keepalive, at most %i ms late',
    async (keepalive, checkInterval, late) => {
      const { stack, closes } = track(broker({ checkInterval }))
      const t = connectTestClient(stack)
      await t.connect({ keepalive })
      const last = Date.now() // the CONNECT, the last packet: fake time stands still until advanced
      vi.advanceTimersByTime(keepalive * 1500)
      expect(closes).toEqual([])
      let closedAfter = 0
      while (closes.length === 0 && closedAfter < keepalive * 1500 + 2 * late) {
        vi.advanceTimersByTime(1)
        closedAfter = Date.now() - last
      }
      expect(closes).toHaveLength(1)
      expect(closedAfter).toBeGreaterThan(keepalive * 1500)
      expect(closedAfter).toBeLessThanOrEqual(keepalive * 1500 + late)
    },
  )

  it('[MQTT-3.1.2-24] every packet from the client moves its deadline on', async () => {
    const { stack, closes } = track(broker({ checkInterval: 500 }))
    const t = connectTestClient(stack)
    await t.connect({ keepalive: 2 })
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(2500) // under 3 s (1.5 x 2 s) each time
      t.send({
        cmd: 'publish',
        topic: 'a',
        payload: Buffer.from('x'),
        qos: 1,
        messageId: i + 1,
        dup: false,
        retain: false,
      })
      await t.expect('puback')
      expect(t.client.state.keepalive?.deadline).toBe(Date.now() + 3000)
    }
    expect(closes).toEqual([])
    vi.advanceTimersByTime(3000 + 500)
    expect(closes).toHaveLength(1)
  })

  it('PINGREQ is activity: a client that only pings stays connected', async () => {
    const { stack, closes } = track(broker({ checkInterval: 100 }))
    const t = connectTestClient(stack)
    await t.connect({ keepalive: 1 })
    for (let i = 0; i < 20; i++) {
      vi.advanceTimersByTime(1000)
      t.send({ cmd: 'pingreq' })
      await t.expect('pingresp')
    }
    expect(closes).toEqual([])
    expect(t.client.closed).toBe(false)
  })

  it('a 5.0 client gets DISCONNECT with reason 0x8d (Keep Alive timeout)', async () => {
    const { stack } = track(broker({ checkInterval: 100 }))
    const t = connectTestClient(stack)
    await t.connect({ protocolVersion: 5, keepalive: 1 })
    vi.advanceTimersByTime(1600)
    const disconnect = await t.expect('disconnect')
    expect(disconnect.reasonCode).toBe(0x8d)
  })

  it('[MQTT-3.1.2-24] a keepalive of 0 is never enforced, and starts no timer', async () => {
    const { stack, closes, keepalive } = track(broker({ checkInterval: 100 }))
    const t = connectTestClient(stack)
    await t.connect({ keepalive: 0 })
    expect(keepalive.watching).toBe(0)
    expect(keepalive.sweeping).toBe(false)
    vi.advanceTimersByTime(24 * 3600 * 1000)
    expect(closes).toEqual([])
    expect(t.client.closed).toBe(false)
    expect(t.client.state.keepalive).toMatchObject({ requested: 0, interval: 0, timeout: 0 })
  })

  it('maxKeepalive caps the keepalive a client asks for', async () => {
    const { stack, closes } = track(broker({ maxKeepalive: 10, checkInterval: 1000 }))
    const t = connectTestClient(stack)
    await t.connect({ keepalive: 600 })
    expect(t.client.state.keepalive).toMatchObject({ requested: 600, interval: 10, timeout: 15_000 })
    vi.advanceTimersByTime(14_000)
    expect(closes).toEqual([])
    vi.advanceTimersByTime(2000)
    expect(closes).toHaveLength(1)
  })

  it('the default maxKeepalive, 65535 s, caps nothing', async () => {
    const { stack } = track(broker())
    const t = connectTestClient(stack)
    await t.connect({ keepalive: 65_535 })
    expect(t.client.state.keepalive).toMatchObject({ interval: 65_535, timeout: 65_535 * 1500 })
  })

  it('watches each client with its own keepalive', async () => {
    const { stack, closes } = track(broker({ checkInterval: 100 }))
    const short = connectTestClient(stack)
    const long = connectTestClient(stack)
    await short.connect({ clientId: 'short', keepalive: 1 })
    await long.connect({ clientId: 'long', keepalive: 4 })
    vi.advanceTimersByTime(1600)
    expect(closes.map((ctx) => ctx.client)).toEqual([short.client])
    vi.advanceTimersByTime(4500)
    expect(closes.map((ctx) => ctx.client)).toEqual([short.client, long.client])
  })
})

describe('keepalive: MQTT 5.0 Server Keep Alive', () => {
  it('[MQTT-3.2.2-21] a keepalive above maxKeepalive: CONNACK carries serverKeepAlive, and that value is enforced', async () => {
    const { stack, closes } = track(broker({ maxKeepalive: 10, checkInterval: 1000 }))
    const t = connectTestClient(stack)
    const connack = await t.connect({ protocolVersion: 5, keepalive: 600 })
    expect(connack.properties?.serverKeepAlive).toBe(10)
    vi.advanceTimersByTime(14_000)
    expect(closes).toEqual([])
    vi.advanceTimersByTime(2000)
    expect(closes).toHaveLength(1)
    expect(await t.expect('disconnect')).toMatchObject({ reasonCode: 0x8d })
  })

  it('[MQTT-3.2.2-22] a keepalive within maxKeepalive: no serverKeepAlive, the client value is enforced', async () => {
    const { stack, closes } = track(broker({ maxKeepalive: 10, checkInterval: 100 }))
    const t = connectTestClient(stack)
    const connack = await t.connect({ protocolVersion: 5, keepalive: 4 })
    expect(connack.properties?.serverKeepAlive).toBeUndefined()
    vi.advanceTimersByTime(5900)
    expect(closes).toEqual([])
    vi.advanceTimersByTime(200)
    expect(closes).toHaveLength(1)
  })

  it('[MQTT-3.2.2-21] a keepalive of 0 while maxKeepalive is configured: held to maxKeepalive, told by serverKeepAlive', async () => {
    const { stack, closes, keepalive } = track(broker({ maxKeepalive: 30, checkInterval: 1000 }))
    const t = connectTestClient(stack)
    const connack = await t.connect({ protocolVersion: 5, keepalive: 0 })
    expect(connack.properties?.serverKeepAlive).toBe(30)
    expect(keepalive.watching).toBe(1)
    vi.advanceTimersByTime(44_000)
    expect(closes).toEqual([])
    vi.advanceTimersByTime(2000)
    expect(closes).toHaveLength(1)
  })

  it('a keepalive of 0 with the default maxKeepalive (no cap): no serverKeepAlive, never enforced', async () => {
    const { stack, closes, keepalive } = track(broker({ checkInterval: 100 }))
    const t = connectTestClient(stack)
    const connack = await t.connect({ protocolVersion: 5, keepalive: 0 })
    expect(connack.properties?.serverKeepAlive).toBeUndefined()
    expect(keepalive.watching).toBe(0)
    vi.advanceTimersByTime(24 * 3600 * 1000)
    expect(closes).toEqual([])
  })

  it('a 3.1.1 keepalive of 0 stays unenforced whatever maxKeepalive (it cannot be told otherwise)', async () => {
    const { stack, closes, keepalive } = track(broker({ maxKeepalive: 30, checkInterval: 100 }))
    const t = connectTestClient(stack)
    await t.connect({ keepalive: 0 })
    expect(keepalive.watching).toBe(0)
    vi.advanceTimersByTime(3600 * 1000)
    expect(closes).toEqual([])
  })

  it('answers prepareConnack and adds nothing for a 3.1.1 client', async () => {
    const { stack } = track(broker({ maxKeepalive: 10 }))
    const t = connectTestClient(stack)
    await t.connect({ keepalive: 600 })
    const store = await stack.run(
      'prepareConnack',
      { client: t.client, packet: { cmd: 'connect', clientId: 'x' } },
      { properties: {} },
    )
    expect(store.properties).toEqual({})
  })
})

describe('keepalive: one timer, no work per packet', () => {
  it('arms one timer for every watched client, and stops it once none is left', async () => {
    const { stack, keepalive } = track(broker({ checkInterval: 100 }))
    expect(keepalive.sweeping).toBe(false)
    const a = connectTestClient(stack)
    const b = connectTestClient(stack)
    await a.connect({ clientId: 'a', keepalive: 60 })
    await b.connect({ clientId: 'b', keepalive: 1 })
    expect(keepalive.watching).toBe(2)
    expect(keepalive.sweeping).toBe(true)
    expect(vi.getTimerCount()).toBe(1) // one timeout for both clients
    const closed = Promise.all([once(a.client, 'close'), once(b.client, 'close')])
    a.client.destroy()
    b.client.destroy()
    await closed
    // A closed client is no longer watched, long before its deadline.
    expect(keepalive.watching).toBe(0)
    expect(keepalive.sweeping).toBe(false)
    expect(keepalive.stats.checks).toBe(0)
  })

  it('[MQTT-3.1.2-24] a packet only moves the deadline on: no timer is set or cleared, no client is checked', async () => {
    const { stack, keepalive } = track(broker())
    // The harness times its own waits out with this delay: its timers are told apart from keepalive's by it.
    const harnessTimeout = 4321
    const t = connectTestClient(stack, { timeout: harnessTimeout })
    await t.connect({ keepalive: 1 })
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout')
    const clearTimeoutSpy = vi.spyOn(globalThis, 'clearTimeout')
    for (let i = 0; i < 50; i++) {
      vi.advanceTimersByTime(10)
      t.send({ cmd: 'pingreq' })
      await t.expect('pingresp')
    }
    const harness = new Set<unknown>()
    setTimeoutSpy.mock.calls.forEach(([, delay], i) => {
      if (delay === harnessTimeout) harness.add(setTimeoutSpy.mock.results[i]!.value)
    })
    expect(harness.size).toBe(50)
    expect(setTimeoutSpy.mock.calls.filter(([, delay]) => delay !== harnessTimeout)).toEqual([])
    expect(clearTimeoutSpy.mock.calls.filter(([timer]) => !harness.has(timer))).toEqual([])
    expect(keepalive.stats.checks).toBe(0)
    expect(t.client.state.keepalive?.deadline).toBe(Date.now() + 1500)
  })

  it('many clients: the timer looks only at a client whose deadline has come, about once per packet interval of a client that pings', async () => {
    const { stack, keepalive, closes } = track(broker())
    const clients = []
    for (let i = 0; i < 300; i++) {
      const t = connectTestClient(stack)
      await t.connect({ clientId: `pinger-${i}`, keepalive: 10 })
      clients.push(t)
    }
    const silent = connectTestClient(stack)
    await silent.connect({ clientId: 'silent', keepalive: 1 })
    // 9 s in ticks of 10 ms, every client pinging once in that time: only the silent client is ever due.
    for (let tick = 1; tick <= 900; tick++) {
      vi.advanceTimersByTime(10)
      if (tick % 3 === 0) {
        const t = clients[tick / 3 - 1]!
        t.send({ cmd: 'pingreq' })
        await t.expect('pingresp')
      }
    }
    expect(closes.map((ctx) => ctx.client)).toEqual([silent.client])
    expect(keepalive.stats).toEqual({ checks: 1, timeouts: 1 })
    // 54 s more, every client pinging every 9 s (its timeout is 15 s): the deadline of each comes every 9 s,
    // and is looked at then, 6 times in all; a sweep every second would have looked at each one 54 times.
    for (let round = 0; round < 6; round++) {
      for (const t of clients) {
        t.send({ cmd: 'pingreq' })
        await t.expect('pingresp')
      }
      vi.advanceTimersByTime(9000)
    }
    expect(closes).toHaveLength(1)
    expect(keepalive.stats).toEqual({ checks: 1 + 300 * 6, timeouts: 1 })
  })

  it('stops its timer when the stack closes (no handle left behind)', async () => {
    const { stack, keepalive } = track(broker({ checkInterval: 100 }))
    const t = connectTestClient(stack)
    await t.connect({ keepalive: 60 })
    expect(keepalive.sweeping).toBe(true)
    const closing = stack.close()
    await vi.runOnlyPendingTimersAsync()
    await closing
    expect(keepalive.sweeping).toBe(false)
    expect(keepalive.watching).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('reports an error of the closeClient chain', async () => {
    const stack = new Stack()
    const errors: MqttStackError[] = []
    stack.on('error', (err) => errors.push(err))
    stack.use(
      fake({
        name: 'broken-connection',
        closeClient: (_ctx: unknown, _store: unknown, next: Next) => next(new Error('cannot close')),
      }),
    )
    stack.use(new KeepAlive({ checkInterval: 100 }))
    stack.use(
      fake({
        name: 'fake-session',
        handle: (client: Client, _packet: Packet, next: Next) => {
          client.write({ cmd: 'connack', returnCode: 0, sessionPresent: false })
          next()
        },
      }),
    )
    track({ stack })
    const t = connectTestClient(stack)
    await t.connect({ keepalive: 1 })
    vi.advanceTimersByTime(1600)
    expect(errors.map((err) => err.cause)).toEqual([expect.objectContaining({ message: 'cannot close' })])
  })
})

describe('keepalive: metadata and options', () => {
  it('is named keepalive, sees every packet and requires closeClient', () => {
    const keepalive = new KeepAlive()
    expect(keepalive.name).toBe('keepalive')
    expect(keepalive.packetTypes).toHaveLength(15)
    expect(() => new Stack().use(keepalive).handler()).toThrow(
      expect.objectContaining({ code: ErrorCode.MISSING_PROVIDER }),
    )
  })

  it.each([
    { maxKeepalive: 0 },
    { maxKeepalive: 65_536 },
    { maxKeepalive: 1.5 },
    { checkInterval: 0 },
    { checkInterval: Number.POSITIVE_INFINITY },
  ])('refuses %o', (options) => {
    expect(() => new KeepAlive(options)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_OPTION }))
  })
})
