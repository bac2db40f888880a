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
import { acceptConnections, connectTestClient, deferred } from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Connection, ConnectionErrorCode, type ConnectionOptions } from '../src/index.js'

/** A tiny fake middleware: a plain object with methods named after the callbacks it answers. */
const fake = (middleware: object): MiddlewareLike => middleware as MiddlewareLike

/**
 * A stack with Connection first, then a stand-in for session-manager: it records every packet that gets
 * past Connection, answers CONNECT with CONNACK, PINGREQ with PINGRESP, and records the disconnect callbacks.
 */
function broker(options: Partial<ConnectionOptions> = {}) {
  const stack = new Stack()
  const errors: MqttStackError[] = []
  stack.on('error', (err) => errors.push(err))
  const passed: Packet[] = []
  const clean: Array<CallbackContext<'cleanDisconnect'>> = []
  const unclean: Array<CallbackContext<'uncleanDisconnect'>> = []
  stack.use(new Connection(options))
  stack.use(
    fake({
      name: 'fake-session',
      handle(client: Client, packet: Packet, next: Next) {
        passed.push(packet)
        if (packet.cmd === 'connect') {
          client.write(
            client.protocolVersion === 5
              ? { cmd: 'connack', reasonCode: 0, sessionPresent: false }
              : { cmd: 'connack', returnCode: 0, sessionPresent: false },
          )
        }
        if (packet.cmd === 'pingreq') client.write({ cmd: 'pingresp' })
        next()
      },
      cleanDisconnect(ctx: CallbackContext<'cleanDisconnect'>, _store: object, next: Next) {
        clean.push(ctx)
        next()
      },
      uncleanDisconnect(ctx: CallbackContext<'uncleanDisconnect'>, _store: object, next: Next) {
        unclean.push(ctx)
        next()
      },
    }),
  )
  return { stack, errors, passed, clean, unclean }
}

const stacks: Stack[] = []
function track<T extends { stack: Stack }>(b: T): T {
  stacks.push(b.stack)
  return b
}

afterEach(async () => {
  vi.useRealTimers()
  await Promise.all(stacks.splice(0).map((stack) => stack.close()))
})

describe('connection: CONNECT', () => {
  it('[MQTT-3.1.0-1] [MQTT-4.8.0-1] closes a connection whose first packet is not CONNECT, and passes that packet on to nobody', async () => {
    const { stack, errors, passed, unclean } = track(broker())
    const t = connectTestClient(stack)
    t.send({ cmd: 'pingreq' })
    await t.closed()
    expect(t.received).toEqual([])
    expect(passed).toEqual([])
    expect(errors.map((err) => err.code)).toEqual([ErrorCode.PROTOCOL_ERROR])
    expect(unclean).toHaveLength(1)
    expect(unclean[0]!.error).toBe(errors[0])
  })

  it('[MQTT-3.1.0-1] [MQTT-4.8.0-1] a SUBSCRIBE before CONNECT is a protocol violation too', async () => {
    const { stack, errors, passed } = track(broker())
    const t = connectTestClient(stack)
    t.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] })
    await t.closed()
    expect(passed).toEqual([])
    expect(errors[0]?.message).toMatch(/first packet must be CONNECT, not subscribe/)
  })

  it('[MQTT-3.1.0-2] a second CONNECT is a protocol violation: the client is disconnected', async () => {
    const { stack, errors, passed, unclean, clean } = track(broker())
    const t = connectTestClient(stack)
    await t.connect()
    t.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: 'again',
      keepalive: 0,
    })
    await t.closed()
    expect(passed.filter((p) => p.cmd === 'connect')).toHaveLength(1)
    expect(t.received.map((p) => p.cmd)).toEqual(['connack'])
    expect(errors.map((err) => err.code)).toEqual([ErrorCode.PROTOCOL_ERROR])
    expect(unclean).toHaveLength(1)
    expect(clean).toHaveLength(0)
  })

  it.each([
    { protocolId: 'MQIsdp', protocolVersion: 4 },
    { protocolId: 'MQTT', protocolVersion: 3 },
  ] as const)(
    '[MQTT-3.1.2-2] $protocolId with level $protocolVersion gets CONNACK 0x01, then the connection closes',
    async (header) => {
      const { stack, errors, passed } = track(broker())
      const t = connectTestClient(stack)
      t.send({ cmd: 'connect', ...header, clean: true, clientId: 'x', keepalive: 0 })
      const connack = await t.expect('connack')
      expect(connack.returnCode).toBe(0x01)
      await t.closed()
      expect(passed).toEqual([])
      expect(errors.map((err) => err.code)).toEqual([ErrorCode.PROTOCOL_ERROR])
    },
  )

  it.each([0, 2, 6, 0x86])(
    '[MQTT-3.1.2-2] a CONNECT at protocol level %i, which core cannot decode, gets CONNACK 0x01, then the connection closes',
    async (level) => {
      const { stack, errors, passed, unclean } = track(broker())
      const t = connectTestClient(stack)
      // CONNECT, protocol name MQTT, this level, clean session, keepalive 0, client id "x".
      t.sendRaw(Buffer.from([0x10, 0x0d, 0, 4, 0x4d, 0x51, 0x54, 0x54, level, 0x02, 0, 0, 0, 1, 0x78]))
      await t.closed()
      expect(t.received).toEqual([
        expect.objectContaining({ cmd: 'connack', returnCode: 0x01, sessionPresent: false }),
      ])
      expect(passed).toEqual([])
      expect(errors.map((err) => err.code)).toEqual([ErrorCode.PROTOCOL_ERROR])
      expect(unclean).toHaveLength(1)
    },
  )

  it('[MQTT-3.1.0-2] a second CONNECT at an unsupported level gets no CONNACK: a 5.0 client gets DISCONNECT 0x82', async () => {
    const { stack, errors } = track(broker())
    const t = connectTestClient(stack, { protocolVersion: 5 })
    await t.connect({ protocolVersion: 5 })
    t.sendRaw(Buffer.from([0x10, 0x0d, 0, 4, 0x4d, 0x51, 0x54, 0x54, 6, 0x02, 0, 0, 0, 1, 0x78]))
    await t.closed()
    expect(t.received.map((p) => p.cmd)).toEqual(['connack', 'disconnect'])
    expect(t.received[1]).toMatchObject({ reasonCode: 0x82 })
    expect(errors.map((err) => err.code)).toEqual([ErrorCode.PROTOCOL_ERROR])
  })

  it('[MQTT-3.1.2-1] a 5.0 CONNECT named MQIsdp gets CONNACK with reason code 0x84', async () => {
    const { stack, passed } = track(broker())
    const t = connectTestClient(stack)
    t.send({
      cmd: 'connect',
      protocolId: 'MQIsdp',
      protocolVersion: 5,
      clean: true,
      clientId: 'x',
      keepalive: 0,
    })
    const connack = await t.expect('connack')
    expect(connack.reasonCode).toBe(0x84)
    await t.closed()
    expect(passed).toEqual([])
  })

  it.each([
    { protocolId: 'MQIsdp', protocolVersion: 3 },
    { protocolId: 'MQTT', protocolVersion: 4 },
    { protocolId: 'MQTT', protocolVersion: 5 },
  ] as const)(
    'passes on a CONNECT $protocolId level $protocolVersion, and the packets after it',
    async (header) => {
      const { stack, errors, passed } = track(broker())
      const t = connectTestClient(stack)
      const connack = await t.connect(header)
      expect(connack.returnCode ?? connack.reasonCode).toBe(0)
      t.send({ cmd: 'pingreq' })
      await t.expect('pingresp')
      expect(passed.map((p) => p.cmd)).toEqual(['connect', 'pingreq'])
      expect(t.isClosed).toBe(false)
      expect(errors).toEqual([])
    },
  )
})

/** The connect timeout's timers only: the event-loop lag sampling (an interval) is not counted. */
const CONNECT_TIMERS: Parameters<typeof vi.useFakeTimers>[0] = { toFake: ['setTimeout', 'clearTimeout'] }

describe('connection: connect timeout', () => {
  it('closes a connection that sends no CONNECT within connectTimeout', async () => {
    const { stack, errors, unclean } = track(broker({ connectTimeout: 20 }))
    const t = connectTestClient(stack)
    await t.closed()
    expect(unclean).toHaveLength(1)
    expect((unclean[0]!.error as MqttStackError).code).toBe(ConnectionErrorCode.CONNECT_TIMEOUT)
    expect(errors).toEqual([]) // an idle socket is not reported
  })

  it('does not close a connection that sent its CONNECT in time', async () => {
    vi.useFakeTimers(CONNECT_TIMERS)
    const { stack } = track(broker({ connectTimeout: 1000 }))
    const t = connectTestClient(stack)
    await t.connect()
    expect(t.client.state.connection?.connectTimer).toBeUndefined()
    expect(vi.getTimerCount()).toBe(0) // cleared on CONNACK, not left to fire
    vi.advanceTimersByTime(5000)
    expect(t.client.closed).toBe(false)
  })

  it('reports and closes a CONNECT that no middleware answers within connectTimeout (MQS_ERR_UNANSWERED_CONNECT)', async () => {
    vi.useFakeTimers(CONNECT_TIMERS)
    const stack = new Stack()
    stacks.push(stack)
    const errors: MqttStackError[] = []
    stack.on('error', (err) => errors.push(err))
    // A middleware that takes the CONNECT and never ends its chain.
    const taken = deferred<void>()
    stack
      .use(new Connection({ connectTimeout: 1000 }))
      .use(fake({ packetTypes: ['connect'], handle: () => taken.resolve() }))
    const t = connectTestClient(stack)
    t.sendConnect({ clientId: 'c' })
    await taken.promise
    vi.advanceTimersByTime(999)
    expect(t.client.closed).toBe(false)
    vi.advanceTimersByTime(1)
    expect(t.client.closed).toBe(true)
    expect(errors).toEqual([expect.objectContaining({ code: ErrorCode.UNANSWERED_CONNECT })])
    expect(errors[0]!.message).toContain('no CONNACK within 1000 ms')
    vi.useRealTimers()
    await t.closed()
  })

  it('fires at connectTimeout, not before', async () => {
    vi.useFakeTimers(CONNECT_TIMERS)
    const { stack } = track(broker({ connectTimeout: 1000 }))
    const t = connectTestClient(stack)
    vi.advanceTimersByTime(999)
    expect(t.client.closed).toBe(false)
    vi.advanceTimersByTime(1)
    expect(t.client.closed).toBe(true)
    vi.useRealTimers()
    await t.closed()
  })

  it('connectTimeout 0 never closes a silent connection', async () => {
    vi.useFakeTimers(CONNECT_TIMERS)
    const { stack } = track(broker({ connectTimeout: 0 }))
    const t = connectTestClient(stack)
    expect(vi.getTimerCount()).toBe(0)
    vi.advanceTimersByTime(60_000)
    expect(t.client.closed).toBe(false)
  })

  it('clears its timer when a connection closes before CONNECT (no timer left behind)', async () => {
    vi.useFakeTimers(CONNECT_TIMERS)
    const { stack } = track(broker({ connectTimeout: 60_000 }))
    const t = connectTestClient(stack)
    expect(vi.getTimerCount()).toBe(1)
    const closed = new Promise((resolve) => t.client.once('close', resolve))
    t.client.destroy()
    await closed
    expect(vi.getTimerCount()).toBe(0)
    expect(t.client.state.connection?.connectTimer).toBeUndefined()
  })

  it('refuses a connectTimeout that is not a number of milliseconds >= 0', () => {
    expect(() => new Connection({ connectTimeout: -1 })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_OPTION }),
    )
    expect(() => new Connection({ connectTimeout: Number.NaN })).toThrow(/connectTimeout/)
  })
})

describe('connection: MQTT 5.0 Will QoS and the Maximum QoS', () => {
  const will = (qos: 0 | 1 | 2) => ({ topic: 'w', payload: Buffer.from('x'), qos, retain: false })

  it('[MQTT-3.2.2-12] refuses a Will QoS above maximumQoS with CONNACK 0x9B, then closes', async () => {
    const { stack, passed } = track(broker({ maximumQoS: 1 }))
    const t = connectTestClient(stack)
    const connack = await t.connect({ protocolVersion: 5, will: will(2) })
    expect(connack.reasonCode).toBe(0x9b)
    await t.closed()
    expect(passed).toEqual([])
  })

  it('accepts a Will QoS at or below maximumQoS, and any Will QoS of a 3.1.1 client', async () => {
    const { stack, passed } = track(broker({ maximumQoS: 1 }))
    const v5 = connectTestClient(stack)
    expect((await v5.connect({ protocolVersion: 5, clientId: 'a', will: will(1) })).reasonCode).toBe(0)
    const v4 = connectTestClient(stack)
    expect((await v4.connect({ clientId: 'b', will: will(2) })).returnCode).toBe(0)
    expect(passed.map((p) => p.cmd)).toEqual(['connect', 'connect'])
  })

  it('refuses a maximumQoS that is not 0, 1 or 2', () => {
    expect(() => new Connection({ maximumQoS: 3 as 2 })).toThrow(/maximumQoS/)
  })
})

describe('connection: the end of a connection', () => {
  it('[MQTT-3.14.4-3] DISCONNECT closes the connection and executes cleanDisconnect, never uncleanDisconnect', async () => {
    const { stack, passed, clean, unclean, errors } = track(broker())
    const t = connectTestClient(stack)
    await t.connect()
    t.send({ cmd: 'disconnect' })
    await t.closed()
    await stack.close()
    expect(clean).toEqual([{ client: t.client }])
    expect(unclean).toEqual([])
    expect(passed.map((p) => p.cmd)).toEqual(['connect']) // connection ends the DISCONNECT chain
    expect(errors).toEqual([])
  })

  it('a dropped connection executes uncleanDisconnect once, with the error that ended it', async () => {
    const { stack, clean, unclean } = track(broker())
    const t = connectTestClient(stack)
    await t.connect()
    t.client.destroy(new Error('network gone'))
    await t.closed()
    await stack.close()
    expect(clean).toEqual([])
    expect(unclean).toHaveLength(1)
    expect(unclean[0]!.client).toBe(t.client)
    expect(unclean[0]!.error?.message).toBe('network gone')
  })

  it('the peer closing without DISCONNECT is an unclean end', async () => {
    const { stack, clean, unclean } = track(broker())
    const t = connectTestClient(stack)
    await t.connect()
    t.end()
    await t.closed()
    await stack.close()
    expect(clean).toEqual([])
    expect(unclean).toEqual([{ client: t.client }])
  })

  it('a 3.1.1 DISCONNECT passes no packet in cleanDisconnect', async () => {
    const { stack, clean } = track(broker())
    const t = connectTestClient(stack)
    await t.connect()
    t.send({ cmd: 'disconnect' })
    await t.closed()
    await stack.close()
    expect(clean).toHaveLength(1)
    expect(clean[0]).not.toHaveProperty('packet')
  })
})

describe('connection: MQTT 5.0 DISCONNECT', () => {
  it('passes the DISCONNECT in cleanDisconnect ctx.packet, with its Session Expiry Interval', async () => {
    const { stack, clean, unclean } = track(broker())
    const t = connectTestClient(stack)
    await t.connect({ protocolVersion: 5, properties: { sessionExpiryInterval: 60 } })
    t.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 120 } })
    await t.closed()
    await stack.close()
    expect(unclean).toEqual([])
    expect(clean).toHaveLength(1)
    expect(clean[0]!.client).toBe(t.client)
    expect(clean[0]!.packet).toMatchObject({
      cmd: 'disconnect',
      reasonCode: 0,
      properties: { sessionExpiryInterval: 120 },
    })
    expect(t.received.map((p) => p.cmd)).toEqual(['connack']) // no DISCONNECT back
  })

  it.each([
    { reasonCode: 0x04, hex: '04' },
    { reasonCode: 0x80, hex: '80' },
    { reasonCode: 0x83, hex: '83' },
  ])(
    '[MQTT-3.1.2-8] a DISCONNECT with reason 0x$hex is a clean end whose packet tells last-will to publish the will',
    async ({ reasonCode }) => {
      const { stack, clean, unclean } = track(broker())
      const t = connectTestClient(stack)
      await t.connect({ protocolVersion: 5 })
      t.send({ cmd: 'disconnect', reasonCode })
      await t.closed()
      await stack.close()
      expect(unclean).toEqual([])
      expect(clean).toHaveLength(1)
      expect(clean[0]!.packet?.reasonCode).toBe(reasonCode)
    },
  )

  it.each([
    { connect: undefined, label: 'absent' },
    { connect: 0, label: '0' },
  ])(
    'MQTT 5.0 3.14.2.2.2: a non-zero Session Expiry Interval at DISCONNECT after $label in CONNECT is a protocol error: DISCONNECT 0x82, an unclean end',
    async ({ connect }) => {
      const { stack, clean, unclean, errors } = track(broker())
      const t = connectTestClient(stack)
      await t.connect(
        connect === undefined
          ? { protocolVersion: 5 }
          : { protocolVersion: 5, properties: { sessionExpiryInterval: connect } },
      )
      t.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 30 } })
      const disconnect = await t.expect('disconnect')
      expect(disconnect.reasonCode).toBe(0x82)
      await t.closed()
      await stack.close()
      expect(clean).toEqual([])
      expect(unclean).toHaveLength(1)
      expect(errors.map((err) => [err.code, err.reasonCode])).toEqual([[ErrorCode.PROTOCOL_ERROR, 0x82]])
    },
  )

  it('a DISCONNECT with Session Expiry Interval 0 after a CONNECT with 0 is a clean end', async () => {
    const { stack, clean, errors } = track(broker())
    const t = connectTestClient(stack)
    await t.connect({ protocolVersion: 5 })
    t.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } })
    await t.closed()
    await stack.close()
    expect(clean).toHaveLength(1)
    expect(errors).toEqual([])
  })

  it('a DISCONNECT may lower a non-zero Session Expiry Interval to 0', async () => {
    const { stack, clean, errors } = track(broker())
    const t = connectTestClient(stack)
    await t.connect({ protocolVersion: 5, properties: { sessionExpiryInterval: 60 } })
    t.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } })
    await t.closed()
    await stack.close()
    expect(clean[0]!.packet?.properties?.sessionExpiryInterval).toBe(0)
    expect(errors).toEqual([])
  })
})

describe('connection: the end of a connection (continued)', () => {
  it('a server shutdown is an unclean end, announced once per client', async () => {
    const { stack, clean, unclean } = track(broker())
    const a = connectTestClient(stack)
    const b = connectTestClient(stack)
    await a.connect({ clientId: 'a' })
    await b.connect({ clientId: 'b' })
    await stack.close()
    expect(clean).toEqual([])
    expect(unclean).toHaveLength(2)
    expect(unclean.map((ctx) => ctx.client)).toEqual(expect.arrayContaining([a.client, b.client]))
  })

  it('LESSONS 6: the disconnect chains never stall, whether nobody answers or every answer calls next()', async () => {
    // Nobody answers: the stack has Connection alone, and something that sends CONNACK.
    const lone = new Stack()
    stacks.push(lone)
    lone.use(new Connection()).use(acceptConnections())
    const errors: MqttStackError[] = []
    lone.on('error', (err) => errors.push(err))
    const t1 = connectTestClient(lone)
    t1.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: 'a',
      keepalive: 0,
    })
    t1.send({ cmd: 'disconnect' })
    await t1.closed()
    await lone.close()
    expect(errors).toEqual([])

    // A first answer with nothing to do (a last-will without a will) passes on; the one after it still runs.
    const withPassThrough = new Stack()
    stacks.push(withPassThrough)
    const seen: string[] = []
    withPassThrough
      .use(new Connection())
      .use(acceptConnections())
      .use(
        fake({
          name: 'no-will',
          cleanDisconnect: (_ctx: unknown, _store: unknown, next: Next) => next(),
          uncleanDisconnect: (_ctx: unknown, _store: unknown, next: Next) => next(),
        }),
      )
      .use(
        fake({
          name: 'after',
          cleanDisconnect: (_ctx: unknown, _store: unknown, next: Next) => {
            seen.push('clean')
            next()
          },
          uncleanDisconnect: (_ctx: unknown, _store: unknown, next: Next) => {
            seen.push('unclean')
            next()
          },
        }),
      )
    const t2 = connectTestClient(withPassThrough)
    t2.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: 'b',
      keepalive: 0,
    })
    t2.send({ cmd: 'disconnect' })
    const t3 = connectTestClient(withPassThrough)
    await t2.closed()
    t3.client.destroy()
    await t3.closed()
    await withPassThrough.close()
    expect(seen.sort()).toEqual(['clean', 'unclean'])
  })

  it('reports an error of a disconnect chain instead of swallowing it', async () => {
    const stack = new Stack()
    stacks.push(stack)
    const errors: MqttStackError[] = []
    stack.on('error', (err) => errors.push(err))
    stack.use(new Connection()).use(
      fake({
        name: 'failing',
        uncleanDisconnect: (_ctx: unknown, _store: unknown, next: Next) => next(new Error('store down')),
      }),
    )
    const t = connectTestClient(stack)
    t.client.destroy()
    await t.closed()
    await stack.close()
    expect(errors.map((err) => err.cause)).toEqual([expect.objectContaining({ message: 'store down' })])
  })
})

describe('connection: closeClient', () => {
  /** A middleware that closes the client through closeClient when it sees a PINGREQ. */
  function closerOnPing(reasonCode: number, error?: Error) {
    return {
      name: 'closer',
      packetTypes: ['pingreq'] as const,
      handle(client: Client, _packet: Packet, _next: Next, done: Next) {
        client.stack.execute(
          'closeClient',
          error ? { client, reasonCode, error } : { client, reasonCode },
          {},
          () => done(),
        )
      },
    }
  }

  it('closes the client; a 5.0 client that had its CONNACK gets DISCONNECT with the reason code', async () => {
    const { stack, unclean } = track(broker())
    stack.use(closerOnPing(0x8d))
    const t = connectTestClient(stack)
    await t.connect({ protocolVersion: 5 })
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    const disconnect = await t.expect('disconnect')
    expect(disconnect.reasonCode).toBe(0x8d)
    await t.closed()
    await stack.close()
    expect(unclean).toHaveLength(1)
  })

  it('the error given to closeClient is what uncleanDisconnect receives', async () => {
    const { stack, unclean } = track(broker())
    const why = new Error('taken over')
    stack.use(closerOnPing(0x8e, why))
    const t = connectTestClient(stack)
    await t.connect()
    t.send({ cmd: 'pingreq' })
    await t.closed()
    await stack.close()
    expect(t.received.map((p) => p.cmd)).toEqual(['connack', 'pingresp'])
    expect(unclean).toEqual([{ client: t.client, error: why }])
  })

  it('declares what it handles: every packet type, requires nothing, named connection', () => {
    const connection = new Connection()
    expect(connection.name).toBe('connection')
    expect(connection.packetTypes).toHaveLength(15)
    expect(connection.requires).toEqual([])
    expect(new Stack().use(connection).provides('closeClient')).toBe(true)
  })
})

describe('connection: shedding new connections while the event loop lags', () => {
  /** Keeps the event loop busy for `ms`, as a saturated broker does, then lets the lag sample run. */
  async function stall(ms: number): Promise<void> {
    const until = performance.now() + ms
    while (performance.now() < until) {
      // busy: nothing else runs
    }
    // The sample timer is overdue now; a timer set after it fires after it.
    await new Promise((resolve) => setTimeout(resolve, 0))
  }

  it('refuses a CONNECT with 0x89 Server busy (3.1.1: 0x03) while the lag is over busyLag, counts each and reports the spell once', async () => {
    const b = track(broker({ busyLag: 50 }))
    const connection = b.stack.middlewares[0] as Connection
    // The first connection starts the sampling.
    const first = connectTestClient(b.stack)
    expect(await first.connect({ clientId: 'first' })).toMatchObject({ returnCode: 0 })
    await stall(300)
    expect(connection.lag).toBeGreaterThan(50)
    // Both at once, before the next sample can end the spell.
    const v5 = connectTestClient(b.stack)
    const v4 = connectTestClient(b.stack)
    const [connack5, connack4] = await Promise.all([
      v5.connect({ clientId: 'busy5', protocolVersion: 5 }),
      v4.connect({ clientId: 'busy4' }),
    ])
    expect(connack5).toMatchObject({ reasonCode: 0x89 })
    expect(connack4).toMatchObject({ returnCode: 0x03 })
    await Promise.all([v5.closed(), v4.closed()])
    expect(connection.stats.refusedBusy).toBe(2)
    expect(b.errors.map((e) => e.code)).toEqual([ConnectionErrorCode.SERVER_BUSY])
    // Nothing of a refused connection goes further: the session stand-in saw the first CONNECT only.
    expect(b.passed.filter((p) => p.cmd === 'connect')).toHaveLength(1)
  })

  it('accepts again once the event loop has caught up, and never sheds with busyLag 0', async () => {
    const b = track(broker({ busyLag: 50 }))
    const connection = b.stack.middlewares[0] as Connection
    await connectTestClient(b.stack).connect({ clientId: 'first' })
    await stall(300)
    // The next sample, on time, ends the busy spell.
    await vi.waitUntil(() => connection.lag <= 50, { timeout: 2000, interval: 20 })
    expect(await connectTestClient(b.stack).connect({ clientId: 'later' })).toMatchObject({ returnCode: 0 })
    const never = track(broker({ busyLag: 0 }))
    await connectTestClient(never.stack).connect({ clientId: 'first' })
    await stall(300)
    expect(await connectTestClient(never.stack).connect({ clientId: 'stalled' })).toMatchObject({
      returnCode: 0,
    })
    expect(connection.stats.refusedBusy).toBe(0)
  })

  it('refuses a busyLag that is not a number of milliseconds', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, '5' as unknown as number]) {
      expect(() => new Connection({ busyLag: bad })).toThrow(/busyLag/)
    }
    expect(new Connection().config.busyLag).toBe(1000)
  })
})
