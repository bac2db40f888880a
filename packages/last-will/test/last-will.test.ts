import {
  type CallbackContext,
  type CallbackStore,
  type Client,
  ErrorCode,
  type IConnectPacket,
  type IDisconnectPacket,
  type IPublishPacket,
  type MiddlewareLike,
  type MqttStackError,
  type Next,
  type Packet,
  Stack,
} from '@mqtt-stack/core'
import { connectTestClient, type TestConnection } from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { LastWill } from '../src/index.js'

/** A tiny fake middleware: a plain object with methods named after the callbacks it answers. */
const fake = (middleware: object): MiddlewareLike => middleware as MiddlewareLike

type Relayed = CallbackContext<'relayMessage'>

interface BrokerOptions {
  /** Answer authorizePublish with this (undefined: nobody answers it). */
  authorize?: (ctx: CallbackContext<'authorizePublish'>, store: CallbackStore<'authorizePublish'>) => void
  /** relayMessage fails with this error. */
  relayError?: Error
  /** The CONNACK the fake session sends. */
  connack?: (client: Client) => Packet
  /** A fake backend store of wills answering storeWill and removeWill. */
  wills?: FakeWills
}

/** What a backend that stores wills keeps: owner -> will, and every call, in order. */
class FakeWills {
  readonly stored = new Map<
    string,
    { clientId: string; packet: IPublishPacket; delay: number; dueAt?: number }
  >()
  readonly calls: string[] = []
  #waiters: (() => void)[] = []
  /** Answer every claim (removeWill by owner) with `removed: false`: another node has it. */
  constructor(readonly refuseClaims = false) {}

  middleware(): MiddlewareLike {
    return fake({
      name: 'fake-will-store',
      storeWill: (ctx: CallbackContext<'storeWill'>, _store: object, next: Next) => {
        const owner = ctx.owner ?? ''
        if (ctx.dueAt !== undefined) {
          const will = this.stored.get(owner)
          if (will !== undefined) will.dueAt = ctx.dueAt
          this.#called(`due ${ctx.clientId} +${ctx.dueAt - Date.now()}`)
        } else {
          this.stored.set(owner, { clientId: ctx.clientId, packet: ctx.packet, delay: ctx.delayInterval })
          this.#called(`store ${ctx.clientId} ${ctx.packet.topic} +${ctx.delayInterval}`)
        }
        next()
      },
      removeWill: (ctx: CallbackContext<'removeWill'>, store: CallbackStore<'removeWill'>, next: Next) => {
        if (ctx.owner === undefined) {
          store.packets = []
          for (const [owner, will] of this.stored) {
            if (will.clientId !== ctx.clientId || will.delay === 0) continue
            this.stored.delete(owner)
            store.packets.push(will.packet)
          }
          this.#called(`take delayed ${ctx.clientId}`)
        } else {
          store.removed = !this.refuseClaims && this.stored.delete(ctx.owner)
          this.#called(`claim ${ctx.clientId} ${store.removed}`)
        }
        next()
      },
    })
  }

  /** Resolves once `count` calls were made. */
  calledTimes(count: number): Promise<void> {
    if (this.calls.length >= count) return Promise.resolve()
    return new Promise((resolve) => {
      this.#waiters.push(() => {
        if (this.calls.length >= count) resolve()
      })
    })
  }

  #called(call: string): void {
    this.calls.push(call)
    for (const wake of this.#waiters) wake()
  }
}

/**
 * LastWill between tiny stand-ins: a fake connection first (announces the end of a connection, DISCONNECT
 * makes it clean), a fake session-manager after LastWill (CONNACK; records that the disconnect chains
 * reach it) and a fake backend that records relayMessage.
 */
function broker(options: BrokerOptions = {}) {
  const stack = new Stack()
  const errors: MqttStackError[] = []
  stack.on('error', (err) => errors.push(err))
  const relayed: Relayed[] = []
  const reachedSession: string[] = []
  const registered = new Map<string, Client>()
  const clean = new WeakMap<Client, IDisconnectPacket>()
  const relayWaiters: (() => void)[] = []
  /** Resolves once `count` wills were relayed. */
  const relays = (count: number): Promise<void> =>
    relayed.length >= count
      ? Promise.resolve()
      : new Promise((resolve) => {
          relayWaiters.push(() => {
            if (relayed.length >= count) resolve()
          })
        })
  const announce = (client: Client) => {
    const packet = clean.get(client)
    if (packet !== undefined) {
      // As connection does: a 5.0 DISCONNECT goes with cleanDisconnect.
      stack.execute(
        'cleanDisconnect',
        client.protocolVersion === 5 ? { client, packet } : { client },
        {},
        () => {},
      )
      return
    }
    stack.execute(
      'uncleanDisconnect',
      client.error ? { client, error: client.error } : { client },
      {},
      () => {},
    )
  }
  stack.use(
    fake({
      name: 'fake-connection',
      install(client: Client) {
        client.once('close', () => announce(client))
      },
      handle(client: Client, packet: Packet, next: Next, done: Next) {
        if (packet.cmd !== 'disconnect') return next()
        clean.set(client, packet)
        client.close()
        done()
      },
    }),
  )
  const lastWill = new LastWill()
  stack.use(lastWill)
  if (options.wills !== undefined) stack.use(options.wills.middleware())
  stack.use(
    fake({
      name: 'fake-session',
      packetTypes: ['connect'],
      handle(client: Client, packet: Packet, _next: Next, done: Next) {
        const connack = options.connack?.(client)
        if (connack !== undefined || packet.cmd !== 'connect') {
          client.write(connack ?? { cmd: 'connack', returnCode: 0, sessionPresent: false })
          return done()
        }
        // What session-manager does: registerClient (the backend closes an earlier connection), CONNACK.
        client.id = packet.clientId
        stack.execute('registerClient', { client, clientId: packet.clientId }, {}, () => {
          client.write(
            client.protocolVersion === 5
              ? { cmd: 'connack', reasonCode: 0, sessionPresent: false }
              : { cmd: 'connack', returnCode: 0, sessionPresent: false },
          )
          done()
        })
      },
      cleanDisconnect(ctx: { client: Client }, _store: object, next: Next) {
        reachedSession.push(`clean ${ctx.client.id}`)
        next()
      },
      uncleanDisconnect(ctx: { client: Client }, _store: object, next: Next) {
        reachedSession.push(`unclean ${ctx.client.id}`)
        next()
      },
    }),
  )
  stack.use(
    fake({
      name: 'fake-backend',
      registerClient(ctx: CallbackContext<'registerClient'>, _store: object, next: Next) {
        const previous = registered.get(ctx.clientId)
        if (previous !== undefined && previous !== ctx.client && !previous.closed) previous.close(0x8e)
        registered.set(ctx.clientId, ctx.client)
        next()
      },
      relayMessage(ctx: Relayed, _store: object, next: Next) {
        relayed.push(ctx)
        for (const wake of relayWaiters) wake()
        next(options.relayError)
      },
      ...(options.authorize
        ? {
            authorizePublish(
              ctx: CallbackContext<'authorizePublish'>,
              store: CallbackStore<'authorizePublish'>,
              next: Next,
            ) {
              options.authorize!(ctx, store)
              next()
            },
          }
        : {}),
    }),
  )
  return { stack, errors, relayed, reachedSession, lastWill, relays }
}

const WILL = { topic: 'status/a', payload: Buffer.from('gone'), qos: 1, retain: false } as const

let current: Stack | undefined
afterEach(async () => {
  vi.useRealTimers()
  await current?.close()
  current = undefined
})

async function connected(
  stack: Stack,
  overrides: Partial<IConnectPacket> = {},
  withWill = true,
): Promise<TestConnection> {
  current = stack
  const t = connectTestClient(stack)
  await t.connect(withWill ? { clientId: 'a', will: WILL, ...overrides } : { clientId: 'a', ...overrides })
  t.client.id = overrides.clientId ?? 'a' // what session-manager would do
  return t
}

/** Drops a connection as a network failure would, and waits until its end has been announced. */
async function drop(t: TestConnection): Promise<void> {
  t.client.destroy(new Error('network gone'))
  await t.closed()
}

describe('last-will: publishing', () => {
  it('[MQTT-3.1.2-8] publishes the will through relayMessage when the connection ends without DISCONNECT', async () => {
    const { stack, relayed, errors } = broker()
    const t = await connected(stack)
    expect(relayed).toEqual([]) // nothing is published at CONNECT
    await drop(t)
    expect(relayed).toHaveLength(1)
    const [ctx] = relayed
    expect(ctx!.client).toBe(t.client)
    expect(ctx!.topic).toBe('status/a')
    expect(ctx!.payload).toEqual(Buffer.from('gone'))
    expect(ctx!.packet).toEqual({
      cmd: 'publish',
      topic: 'status/a',
      payload: Buffer.from('gone'),
      qos: 1,
      retain: false,
      dup: false,
    })
    expect(errors).toEqual([])
  })

  it('[MQTT-3.1.2-17] a will with the retain flag is published as a retained message (QoS kept)', async () => {
    const { stack, relayed } = broker()
    const t = await connected(stack, {
      will: { topic: 'r', payload: Buffer.from('x'), qos: 2, retain: true },
    })
    await drop(t)
    expect(relayed[0]!.packet).toMatchObject({ topic: 'r', qos: 2, retain: true })
  })

  it('[MQTT-3.1.2-16] a will without the retain flag is published as a non-retained message', async () => {
    const { stack, relayed } = broker()
    const t = await connected(stack, { will: { topic: 'r', payload: Buffer.from('x') } })
    await drop(t)
    expect(relayed[0]!.packet).toMatchObject({ qos: 0, retain: false })
  })

  it('[MQTT-3.14.4-3] [MQTT-3.1.2-10] drops the will after DISCONNECT: never published', async () => {
    const { stack, relayed, reachedSession } = broker()
    const t = await connected(stack)
    t.send({ cmd: 'disconnect' })
    await t.closed()
    // Even an unclean end announced afterwards (it should never come) finds no will.
    await stack.run('uncleanDisconnect', { client: t.client }, {})
    expect(relayed).toEqual([])
    expect(reachedSession).toEqual(['clean a', 'unclean a'])
  })

  it('LESSONS 6: publishes the will once, however many times the unclean end is announced', async () => {
    const { stack, relayed } = broker()
    const t = await connected(stack)
    // The 2015 original published it from the keepalive timeout and again from the close event.
    await stack.run('uncleanDisconnect', { client: t.client }, {})
    await drop(t)
    await stack.run('uncleanDisconnect', { client: t.client }, {})
    expect(relayed).toHaveLength(1)
    expect(t.client.state.lastWill).toMatchObject({ published: true, will: undefined })
  })

  it('LESSONS 6: a second CONNECT neither replaces nor duplicates the will', async () => {
    const { stack, relayed } = broker()
    const t = await connected(stack)
    t.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: 'a',
      keepalive: 0,
      will: { topic: 'other', payload: Buffer.from('y'), qos: 0, retain: false },
    })
    await t.expect('connack') // the fake session answers it; connection would have closed the client
    await drop(t)
    expect(relayed.map((ctx) => ctx.topic)).toEqual(['status/a'])
  })

  it('LESSONS 6: without a will, the disconnect chains go on to the next middleware', async () => {
    const { stack, relayed, reachedSession } = broker()
    const a = await connected(stack, { clientId: 'a' }, false)
    const b = await connected(stack, { clientId: 'b' }, false)
    await drop(a)
    b.send({ cmd: 'disconnect' })
    await b.closed()
    expect(relayed).toEqual([])
    expect(reachedSession.sort()).toEqual(['clean b', 'unclean a'])
  })

  it('[MQTT-3.1.2-8] a 5.0 CONNECT refused by CONNACK leaves no will to publish', async () => {
    const { stack, relayed } = broker({
      connack: () => ({ cmd: 'connack', reasonCode: 0x85, sessionPresent: false }),
    })
    const t = await connected(stack, { protocolVersion: 5 })
    await drop(t)
    expect(relayed).toEqual([])
  })

  it('[MQTT-3.1.2-8] a 3.1.1 CONNECT refused by CONNACK 0x02 leaves no will to publish', async () => {
    const { stack, relayed } = broker({
      connack: () => ({ cmd: 'connack', returnCode: 0x02, sessionPresent: false }),
    })
    const t = await connected(stack)
    await drop(t)
    expect(relayed).toEqual([])
  })
})

describe('last-will: authorisation and failures', () => {
  it('asks authorizePublish when some middleware answers it; a refusal drops the will', async () => {
    const asked: Array<CallbackContext<'authorizePublish'>> = []
    const { stack, relayed, reachedSession } = broker({
      authorize: (ctx, store) => {
        asked.push(ctx)
        store.authorized = false
      },
    })
    const t = await connected(stack)
    await drop(t)
    expect(asked).toHaveLength(1)
    expect(asked[0]!.client).toBe(t.client)
    expect(asked[0]!.packet).toMatchObject({ cmd: 'publish', topic: 'status/a' })
    expect(relayed).toEqual([])
    expect(reachedSession).toEqual(['unclean a'])
  })

  it('publishes the will that authorizePublish allows', async () => {
    const { stack, relayed } = broker({
      authorize: (_ctx, store) => {
        store.authorized = true
      },
    })
    const t = await connected(stack)
    await drop(t)
    expect(relayed).toHaveLength(1)
  })

  it('reports a failed relay and lets the disconnect chain go on (the session still ends)', async () => {
    const { stack, relayed, errors, reachedSession } = broker({ relayError: new Error('backend down') })
    const t = await connected(stack)
    await drop(t)
    expect(relayed).toHaveLength(1)
    expect(errors.map((err) => err.cause)).toEqual([expect.objectContaining({ message: 'backend down' })])
    expect(reachedSession).toEqual(['unclean a'])
  })
})

describe('last-will: metadata', () => {
  it('is named last-will, handles CONNECT only and requires relayMessage', () => {
    const lastWill = new LastWill()
    expect(lastWill.name).toBe('last-will')
    expect(lastWill.packetTypes).toEqual(['connect'])
    expect(() => new Stack().use(lastWill).handler()).toThrow(
      expect.objectContaining({ code: ErrorCode.MISSING_PROVIDER }),
    )
  })

  it('keeps the will in client.state.lastWill until the end of the connection', async () => {
    const { stack } = broker()
    const t = await connected(stack)
    expect(t.client.state.lastWill).toMatchObject({ published: false, will: { topic: 'status/a' } })
  })
})

/** A 5.0 will with a Will Delay Interval of `delay` seconds. */
const delayedWill = (delay: number) => ({ ...WILL, properties: { willDelayInterval: delay } })

async function reconnect(stack: Stack, clean: boolean): Promise<TestConnection> {
  const t = connectTestClient(stack)
  await t.connect({ clientId: 'a', protocolVersion: 5, clean })
  return t
}

describe('last-will: MQTT 5.0 will properties and DISCONNECT reason codes', () => {
  it('copies the will properties into the PUBLISH, the Will Delay Interval excepted', async () => {
    const { stack, relayed } = broker()
    const properties = {
      willDelayInterval: 0,
      payloadFormatIndicator: true,
      messageExpiryInterval: 60,
      contentType: 'text/plain',
      responseTopic: 'replies/a',
      correlationData: Buffer.from('c1'),
      userProperties: { site: 'north' },
    }
    const t = await connected(stack, { protocolVersion: 5, will: { ...WILL, properties } })
    await drop(t)
    expect(relayed).toHaveLength(1)
    expect(relayed[0]!.packet.properties).toEqual({
      payloadFormatIndicator: true,
      messageExpiryInterval: 60,
      contentType: 'text/plain',
      responseTopic: 'replies/a',
      correlationData: Buffer.from('c1'),
      userProperties: { site: 'north' },
    })
  })

  it('a will with only a Will Delay Interval gives a PUBLISH without properties', async () => {
    const { stack, relayed, lastWill } = broker()
    const t = await connected(stack, { protocolVersion: 5, will: delayedWill(0) })
    await drop(t)
    expect(relayed[0]!.packet).not.toHaveProperty('properties')
    expect(lastWill.pending).toBe(0)
  })

  it('[MQTT-3.14.4-3] a DISCONNECT with reason 0x00 discards the will', async () => {
    const { stack, relayed, reachedSession } = broker()
    const t = await connected(stack, { protocolVersion: 5 })
    t.send({ cmd: 'disconnect', reasonCode: 0 })
    await t.closed()
    expect(relayed).toEqual([])
    expect(reachedSession).toEqual(['clean a'])
  })

  it.each([
    { reasonCode: 0x04, hex: '04' },
    { reasonCode: 0x80, hex: '80' },
    { reasonCode: 0x93, hex: '93' },
  ])(
    '[MQTT-3.1.2-8] a DISCONNECT with reason 0x$hex does not discard the will: it is published',
    async ({ reasonCode }) => {
      const { stack, relayed, reachedSession } = broker()
      const t = await connected(stack, { protocolVersion: 5 })
      t.send({ cmd: 'disconnect', reasonCode })
      await t.closed()
      expect(relayed.map((ctx) => ctx.topic)).toEqual(['status/a'])
      expect(reachedSession).toEqual(['clean a'])
    },
  )
})

describe('last-will: MQTT 5.0 Will Delay Interval', () => {
  it('[MQTT-3.1.2-8] publishes the will once its delay has passed, not before', async () => {
    vi.useFakeTimers()
    const { stack, relayed, lastWill } = broker()
    const t = await connected(stack, { protocolVersion: 5, will: delayedWill(10) })
    await drop(t)
    expect(relayed).toEqual([])
    expect(lastWill.pending).toBe(1)
    vi.advanceTimersByTime(9999)
    expect(relayed).toEqual([])
    vi.advanceTimersByTime(1)
    expect(relayed.map((ctx) => ctx.topic)).toEqual(['status/a'])
    expect(lastWill.pending).toBe(0)
    vi.advanceTimersByTime(60_000)
    expect(relayed).toHaveLength(1)
  })

  it('[MQTT-3.1.3-9] a connection resuming the session (Clean Start 0) within the delay: the will is never sent', async () => {
    vi.useFakeTimers()
    const { stack, relayed, lastWill } = broker()
    const t = await connected(stack, { protocolVersion: 5, will: delayedWill(10) })
    await drop(t)
    vi.advanceTimersByTime(5000)
    await reconnect(stack, false)
    expect(lastWill.pending).toBe(0)
    vi.advanceTimersByTime(60_000)
    expect(relayed).toEqual([])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('a connection with Clean Start 1 within the delay ends the session: the will is sent at once (3.1.3.2.2)', async () => {
    vi.useFakeTimers()
    const { stack, relayed, lastWill } = broker()
    const t = await connected(stack, { protocolVersion: 5, will: delayedWill(10) })
    await drop(t)
    await reconnect(stack, true)
    expect(relayed.map((ctx) => ctx.client)).toEqual([t.client])
    expect(lastWill.pending).toBe(0)
  })

  it('[MQTT-3.1.2-8] the session ending first (sessionExpired) publishes the will at once', async () => {
    vi.useFakeTimers()
    const { stack, relayed, lastWill } = broker()
    const t = await connected(stack, { protocolVersion: 5, will: delayedWill(3600) })
    await drop(t)
    await stack.run('sessionExpired', { clientId: 'a' }, {})
    expect(relayed.map((ctx) => ctx.topic)).toEqual(['status/a'])
    expect(lastWill.pending).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
    // Another session's expiry publishes nothing.
    await stack.run('sessionExpired', { clientId: 'other' }, {})
    expect(relayed).toHaveLength(1)
  })

  it('[MQTT-3.1.3-9] a takeover resuming the session (Clean Start 0): the delayed will of the old connection is never sent', async () => {
    vi.useFakeTimers()
    const { stack, relayed, lastWill } = broker()
    const old = await connected(stack, { protocolVersion: 5, will: delayedWill(10) })
    await reconnect(stack, false)
    await old.closed() // the backend closed it (0x8e)
    expect(lastWill.pending).toBe(0)
    vi.advanceTimersByTime(60_000)
    expect(relayed).toEqual([])
  })

  it("a takeover with Clean Start 1: the old connection's session ended, its will is sent at once", async () => {
    vi.useFakeTimers()
    const { stack, relayed, lastWill } = broker()
    const old = await connected(stack, { protocolVersion: 5, will: delayedWill(10) })
    await reconnect(stack, true)
    await old.closed()
    expect(relayed.map((ctx) => ctx.client)).toEqual([old.client])
    expect(lastWill.pending).toBe(0)
  })

  it('a will delay of 0 or from a takeover without a delay is published at once', async () => {
    const { stack, relayed } = broker()
    const old = await connected(stack, { protocolVersion: 5 })
    await reconnect(stack, false)
    await old.closed()
    expect(relayed.map((ctx) => ctx.client)).toEqual([old.client])
  })

  it('a delayed will still asks authorizePublish when it is published', async () => {
    vi.useFakeTimers()
    const asked: string[] = []
    const { stack, relayed } = broker({
      authorize: (ctx, store) => {
        asked.push(ctx.packet.topic)
        store.authorized = false
      },
    })
    const t = await connected(stack, { protocolVersion: 5, will: delayedWill(1) })
    await drop(t)
    vi.advanceTimersByTime(1000)
    expect(asked).toEqual(['status/a'])
    expect(relayed).toEqual([])
  })

  it('close() clears the timers of wills still waiting (no handle left behind)', async () => {
    vi.useFakeTimers()
    const { stack, relayed, lastWill } = broker()
    const t = await connected(stack, { protocolVersion: 5, will: delayedWill(60) })
    await drop(t)
    expect(vi.getTimerCount()).toBeGreaterThan(0)
    lastWill.close()
    expect(lastWill.pending).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
    vi.advanceTimersByTime(120_000)
    expect(relayed).toEqual([])
  })

  it('a 3.1.1 will is published at once and has no properties (the delay is MQTT 5.0 only)', async () => {
    const { stack, relayed, lastWill } = broker()
    const t = await connected(stack)
    await drop(t)
    expect(relayed).toHaveLength(1)
    expect(relayed[0]!.packet).not.toHaveProperty('properties')
    expect(lastWill.pending).toBe(0)
  })
})

describe('last-will: wills stored in a backend (storeWill), claimed before they are published', () => {
  it('[MQTT-3.1.2-8] stores the will once the connection is registered, claims it at the unclean end, publishes it once', async () => {
    const wills = new FakeWills()
    const { stack, relayed, relays } = broker({ wills })
    const t = await connected(stack)
    expect(wills.calls).toEqual(['take delayed a', 'store a status/a +0'])
    expect([...wills.stored.keys()][0]).toMatch(/^[0-9a-f-]{36}$/)
    await drop(t)
    await relays(1)
    expect(wills.calls).toEqual(['take delayed a', 'store a status/a +0', 'claim a true'])
    expect(relayed.map((ctx) => ctx.topic)).toEqual(['status/a'])
    expect(wills.stored.size).toBe(0)
  })

  it('a claim the backend refuses (removed: false: another node has it) publishes nothing', async () => {
    const wills = new FakeWills(true)
    const { stack, relayed, reachedSession } = broker({ wills })
    const t = await connected(stack)
    await drop(t)
    await wills.calledTimes(3)
    expect(wills.calls[2]).toBe('claim a false')
    expect(relayed).toEqual([])
    expect(reachedSession).toEqual(['unclean a'])
  })

  it('[MQTT-3.1.2-10] a DISCONNECT removes the stored will', async () => {
    const wills = new FakeWills()
    const { stack, relayed } = broker({ wills })
    const t = await connected(stack)
    t.send({ cmd: 'disconnect' })
    await t.closed()
    await wills.calledTimes(3)
    expect(wills.calls[2]).toBe('claim a true')
    expect(wills.stored.size).toBe(0)
    expect(relayed).toEqual([])
  })

  it('a will authorizePublish refuses at CONNECT is not stored (a will taken over from a dead node is not authorised again)', async () => {
    const wills = new FakeWills()
    const { stack } = broker({
      wills,
      authorize: (_ctx, store) => {
        store.authorized = false
      },
    })
    await connected(stack)
    expect(wills.calls).toEqual(['take delayed a'])
  })

  it('MQTT 5.0 [MQTT-3.1.3-9]: a delayed will stays stored with when it is due; a connection resuming the session cancels it', async () => {
    vi.useFakeTimers({ now: 1_000_000 })
    const wills = new FakeWills()
    const { stack, relayed } = broker({ wills })
    const t = await connected(stack, { protocolVersion: 5, will: delayedWill(10) })
    await drop(t)
    await wills.calledTimes(3)
    expect(wills.calls).toEqual(['take delayed a', 'store a status/a +10', 'due a +10000'])
    vi.advanceTimersByTime(5000)
    await reconnect(stack, false)
    expect(wills.calls.slice(3)).toEqual(['claim a true', 'take delayed a'])
    vi.advanceTimersByTime(60_000)
    expect(relayed).toEqual([])
  })

  it('[MQTT-3.1.2-8] a delayed will is claimed when due, then published', async () => {
    vi.useFakeTimers()
    const wills = new FakeWills()
    const { stack, relayed, relays } = broker({ wills })
    const t = await connected(stack, { protocolVersion: 5, will: delayedWill(10) })
    await drop(t)
    await wills.calledTimes(3)
    vi.advanceTimersByTime(10_000)
    await relays(1)
    expect(wills.calls[3]).toBe('claim a true')
    expect(relayed.map((ctx) => ctx.topic)).toEqual(['status/a'])
  })

  it('orphanedWill: the will of a dead node is published once due, claimed by its new owner, without a client', async () => {
    vi.useFakeTimers({ now: 1_000_000 })
    for (const refuse of [false, true]) {
      const wills = new FakeWills(refuse)
      const { stack, relayed, lastWill, relays } = broker({ wills })
      current = stack
      const packet = {
        cmd: 'publish',
        topic: 'w',
        payload: Buffer.from('x'),
        qos: 1,
        retain: false,
        dup: false,
      } as const
      wills.stored.set('survivor:o', { clientId: 'dead', packet, delay: 5 })
      const ctx = {
        clientId: 'dead',
        packet,
        delayInterval: 5,
        dueAt: Date.now() + 3000,
        owner: 'survivor:o',
      }
      await stack.run('orphanedWill', ctx, {})
      expect(lastWill.pending).toBe(1)
      vi.advanceTimersByTime(2999)
      expect(wills.calls).toEqual([])
      vi.advanceTimersByTime(1)
      await wills.calledTimes(1)
      if (!refuse) await relays(1)
      expect(wills.calls).toEqual([`claim dead ${!refuse}`])
      await stack.close()
      expect(relayed.map((r) => [r.client, r.topic])).toEqual(refuse ? [] : [[undefined, 'w']])
    }
  })

  /** The will of a connection of 'a' on another node, waiting out its delay. */
  const ELSEWHERE = {
    clientId: 'a',
    packet: {
      cmd: 'publish',
      topic: 'elsewhere',
      payload: Buffer.from('x'),
      qos: 1,
      retain: false,
      dup: false,
    },
    delay: 30,
  } as const

  it('a connection with Clean Start 1 ends the session: the delayed wills of its client id held elsewhere are published now', async () => {
    const wills = new FakeWills()
    const { stack, relayed, relays } = broker({ wills })
    wills.stored.set('other-node:o', ELSEWHERE)
    await connected(stack, { protocolVersion: 5, clean: true }, false)
    await relays(1)
    expect(relayed.map((r) => [r.client, r.topic])).toEqual([[undefined, 'elsewhere']])
    expect(wills.stored.size).toBe(0)
  })

  it('MQTT 5.0 [MQTT-3.1.3-9]: with Clean Start 0 the delayed wills of its client id held elsewhere are not sent', async () => {
    const wills = new FakeWills()
    const { stack, relayed } = broker({ wills })
    wills.stored.set('other-node:o', ELSEWHERE)
    await connected(stack, { protocolVersion: 5, clean: false }, false)
    expect(wills.calls).toEqual(['take delayed a'])
    expect(wills.stored.size).toBe(0)
    await stack.close()
    expect(relayed).toEqual([])
  })
})
