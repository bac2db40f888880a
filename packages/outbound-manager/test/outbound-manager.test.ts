import { once } from 'node:events'
import {
  type CallbackHandlers,
  type Client,
  ErrorCode,
  type InflightPacket,
  type IPublishPacket,
  type MiddlewareLike,
  Stack,
} from '@mqtt-stack/core'
import {
  acceptConnections,
  collectErrors,
  connectTestClient,
  deferred,
  recordWrites,
  type TestConnection,
} from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { OutboundManager, type OutboundManagerOptions } from '../src/index.js'

/**
 * A backend answering what the outbound manager executes, with in-test Maps; `durable`: it says it keeps the
 * sessions beyond the process.
 */
function fakeBackend(options: { persistent?: boolean; durable?: boolean; maxOffline?: number } = {}) {
  const inflight = new Map<string, Map<number, InflightPacket>>()
  const offline = new Map<string, IPublishPacket[]>()
  const calls: string[] = []
  const inflightOf = (clientId: string) => {
    const map = inflight.get(clientId) ?? new Map<number, InflightPacket>()
    inflight.set(clientId, map)
    return map
  }
  const offlineOf = (clientId: string) => {
    const list = offline.get(clientId) ?? []
    offline.set(clientId, list)
    return list
  }
  const backend = {
    name: 'fake-backend',
    inflight,
    offline,
    calls,
    inflightOf,
    offlineOf,
    callbacks(): CallbackHandlers {
      return {
        storeInflightMessage(ctx, store, _next, done) {
          calls.push(`storeInflight ${ctx.packet.cmd} ${ctx.packet.messageId}`)
          if (options.durable) store.durable = true
          inflightOf(ctx.clientId).set(ctx.packet.messageId!, ctx.packet)
          done()
        },
        removeInflightMessage(ctx, _store, _next, done) {
          calls.push(`removeInflight ${ctx.messageId}`)
          inflightOf(ctx.clientId).delete(ctx.messageId)
          done()
        },
        lookupInflightMessages(ctx, store, _next, done) {
          store.packets = [...inflightOf(ctx.clientId).values()]
          if (options.durable) store.durable = true
          done()
        },
        storeOfflineMessage(ctx, store, _next, done) {
          calls.push(`storeOffline ${ctx.packet.topic}`)
          const queue = offlineOf(ctx.clientId)
          if (options.persistent && queue.length < (options.maxOffline ?? Infinity)) queue.push(ctx.packet)
          else store.dropped = true
          done()
        },
        lookupOfflineMessages(ctx, store, _next, done) {
          store.packets = [...offlineOf(ctx.clientId)]
          done()
        },
        removeOfflineMessages(ctx, _store, _next, done) {
          calls.push(`removeOffline ${ctx.packets.length}`)
          const gone = new Set(ctx.packets)
          offline.set(
            ctx.clientId,
            offlineOf(ctx.clientId).filter((p) => !gone.has(p)),
          )
          done()
        },
      }
    },
  }
  return backend
}

const open: Stack[] = []

afterEach(async () => {
  await Promise.all(open.splice(0).map((stack) => stack.close()))
})

function setup(
  options: Partial<OutboundManagerOptions> = {},
  extra: MiddlewareLike[] = [],
  persistent = false,
) {
  const backend = fakeBackend({ persistent })
  const stack = managedStack(backend, options)
  for (const middleware of extra) stack.use(middleware)
  const errors = collectErrors(stack)
  return { stack, backend, errors }
}

/**
 * A stack that accepts connections, with an OutboundManager, then `between` (whose handlers run before
 * the backend's), then `backend`; closed after the test.
 */
function managedStack(
  backend: MiddlewareLike,
  options: Partial<OutboundManagerOptions> = {},
  between: MiddlewareLike[] = [],
): Stack {
  const stack = new Stack().use(acceptConnections({ answerPings: true })).use(new OutboundManager(options))
  for (const middleware of between) stack.use(middleware)
  stack.use(backend)
  open.push(stack)
  return stack
}

async function subscriber(stack: Stack, clientId: string, protocolVersion: 4 | 5 = 4) {
  const t = connectTestClient(stack)
  await t.connect({ clientId, protocolVersion })
  return t
}

function message(topic: string, qos: 0 | 1 | 2, extra: Partial<IPublishPacket> = {}): IPublishPacket {
  return { cmd: 'publish', topic, payload: Buffer.from(topic), qos, dup: false, retain: false, ...extra }
}

function forward(stack: Stack, client: Client, packet: IPublishPacket) {
  return stack.run('forwardMessage', { client, packet }, {})
}

/** Forwards a message at `qos` to `t` and returns its packet id; `released`: PUBREC sent, PUBREL received. */
async function inflight(stack: Stack, t: TestConnection, qos: 1 | 2, released: boolean): Promise<number> {
  await forward(stack, t.client, message('q', qos))
  const id = (await t.expect('publish')).messageId!
  if (released) {
    t.send({ cmd: 'pubrec', messageId: id })
    await t.expect('pubrel')
  }
  return id
}

/** Everything the broker sends before the PINGRESP answering a PINGREQ sent now. */
async function drainUntilPingresp(t: TestConnection): Promise<string[]> {
  t.send({ cmd: 'pingreq' })
  const seen: string[] = []
  for (;;) {
    const packet = await t.next()
    if (packet.cmd === 'pingresp') return seen
    seen.push(packet.cmd)
  }
}

describe('OutboundManager', () => {
  it('has the metadata the stack checks', () => {
    const outbound = new OutboundManager()
    expect(outbound.name).toBe('outbound-manager')
    expect(outbound.packetTypes).toEqual(['puback', 'pubrec', 'pubcomp'])
    expect([...outbound.requires].sort()).toEqual([
      'lookupInflightMessages',
      'lookupOfflineMessages',
      'removeInflightMessage',
      'removeOfflineMessages',
      'storeInflightMessage',
      'storeOfflineMessage',
    ])
    expect(outbound.config).toEqual({ maxInflight: 1000, maxQueued: 1000, slowConsumerTimeout: 2000 })
    expect(new Stack().use(outbound).provides('forwardMessage')).toBe(true)
  })

  it('refuses invalid options at construction', () => {
    for (const options of [
      { maxInflight: 0 },
      { maxInflight: 65536 },
      { maxInflight: 1.5 },
      { maxQueued: -1 },
    ]) {
      expect(() => new OutboundManager(options)).toThrowError(
        expect.objectContaining({ code: ErrorCode.INVALID_OPTION }),
      )
    }
  })

  it('fails at handler() when no middleware answers what it requires', () => {
    const stack = new Stack().use(new OutboundManager())
    expect(() => stack.handler()).toThrowError(expect.objectContaining({ code: ErrorCode.MISSING_PROVIDER }))
  })

  it('[MQTT-4.3.2-1] QoS 1: a non-zero packet id, stored inflight before the write, forgotten on PUBACK (LESSONS 3)', async () => {
    const { stack, backend } = setup()
    const t = await subscriber(stack, 's')
    await forward(stack, t.client, message('a/b', 1))
    const publish = await t.expect('publish')
    expect(publish).toMatchObject({ topic: 'a/b', qos: 1, dup: false })
    expect(publish.messageId).toBeGreaterThan(0)
    expect(backend.calls).toEqual([`storeInflight publish ${publish.messageId}`])
    expect(backend.inflightOf('s').get(publish.messageId!)).toMatchObject({ topic: 'a/b' })
    t.send({ cmd: 'puback', messageId: publish.messageId! })
    expect(await drainUntilPingresp(t)).toEqual([])
    expect(backend.calls).toEqual([
      `storeInflight publish ${publish.messageId}`,
      `removeInflight ${publish.messageId}`,
    ])
    expect(backend.inflightOf('s').size).toBe(0)
  })

  it('[MQTT-3.3.1-3] sends a new message with DUP 0 whatever the publisher sent, and keeps the given packet unchanged', async () => {
    const { stack } = setup()
    const t = await subscriber(stack, 's')
    const packet = message('a/b', 1, { dup: true })
    await forward(stack, t.client, packet)
    expect(await t.expect('publish')).toMatchObject({ dup: false })
    expect(packet.messageId).toBeUndefined()
  })

  it('[MQTT-2.3.1-1] [MQTT-2.3.1-4] packet ids are non-zero, unique among inflight, skip ids in use and wrap around after 65535', {
    timeout: 20_000,
  }, async () => {
    const { stack } = setup({ maxInflight: 10, maxQueued: 70_000 })
    const t = await subscriber(stack, 's')
    const total = 70_000
    const forwards: Array<Promise<unknown>> = []
    for (let i = 0; i < total; i++) forwards.push(forward(stack, t.client, message(`m/${i}`, 1)))
    await Promise.all(forwards)
    const inflight = new Set<number>()
    const ids: number[] = []
    const problems: string[] = []
    for (let i = 0; i < total; i++) {
      const publish = await t.expect('publish')
      const id = publish.messageId ?? 0
      if (publish.topic !== `m/${i}`) problems.push(`${publish.topic} arrived as message ${i}`)
      if (id < 1 || id > 65535) problems.push(`id ${id} out of range`)
      if (inflight.has(id)) problems.push(`id ${id} given twice while inflight`)
      inflight.add(id)
      ids.push(id)
      // The first message is never acknowledged: its id stays in use across the wrap-around.
      if (i > 0) {
        inflight.delete(id)
        t.send({ cmd: 'puback', messageId: id })
      }
    }
    expect(problems).toEqual([])
    expect(ids[0]).toBe(1)
    expect(ids.filter((id) => id === 1)).toHaveLength(1)
    const wrap = ids.indexOf(65535)
    expect(wrap).toBe(65534)
    expect(ids[wrap + 1]).toBe(2) // 1 is still inflight
    expect(await drainUntilPingresp(t)).toEqual([])
    expect(t.client.state.outboundManager?.inflight.size).toBe(1)
  })

  it('respects the window, then sends waiting messages in order as acknowledgements come', async () => {
    const { stack } = setup({ maxInflight: 2 })
    const t = await subscriber(stack, 's')
    const written = recordWrites(t.client)
    for (let i = 0; i < 5; i++) await forward(stack, t.client, message(`m/${i}`, 1))
    expect(written.map((p) => (p as IPublishPacket).topic)).toEqual(['m/0', 'm/1'])
    const first = await t.expect('publish')
    const second = await t.expect('publish')
    t.send({ cmd: 'puback', messageId: second.messageId! })
    expect((await t.expect('publish')).topic).toBe('m/2')
    t.send({ cmd: 'puback', messageId: first.messageId! })
    expect((await t.expect('publish')).topic).toBe('m/3')
    expect(await drainUntilPingresp(t)).toEqual([])
    expect(written.filter((p) => p.cmd === 'publish')).toHaveLength(4)
    expect(t.client.state.outboundManager?.queue.toArray().map((p) => p.topic)).toEqual(['m/4'])
  })

  it('a durable session: what the window has no room for is stored offline, not held in memory, and sent in order as acknowledgements come', async () => {
    const backend = fakeBackend({ persistent: true, durable: true })
    const stack = managedStack(backend, { maxInflight: 2 })
    const t = await subscriber(stack, 'd')
    for (let i = 0; i < 5; i++) await forward(stack, t.client, message(`m/${i}`, 1))
    const topics = (list: IPublishPacket[]) => list.map((p) => p.topic)
    expect(t.client.state.outboundManager?.queue.length).toBe(0)
    expect(topics(backend.offlineOf('d'))).toEqual(['m/2', 'm/3', 'm/4'])
    const sent = [await t.expect('publish'), await t.expect('publish')]
    expect(topics(sent)).toEqual(['m/0', 'm/1'])
    for (let i = 2; i < 5; i++) {
      t.send({ cmd: 'puback', messageId: sent.shift()!.messageId! })
      const next = await t.expect('publish')
      expect(next.topic).toBe(`m/${i}`)
      sent.push(next)
      // Only what the window takes leaves the backend.
      expect(topics(backend.offlineOf('d'))).toEqual(['m/2', 'm/3', 'm/4'].slice(i - 1))
    }
    expect(await drainUntilPingresp(t)).toEqual([])
  })

  it('a durable session stores no more than maxQueued offline: the next forward waits (its publisher held back) until there is room, and the order is kept', async () => {
    const backend = fakeBackend({ persistent: true, durable: true })
    const stack = managedStack(backend, { maxInflight: 1, maxQueued: 2 })
    const t = await subscriber(stack, 'd')
    for (let i = 0; i < 3; i++) await forward(stack, t.client, message(`m/${i}`, 1))
    expect(backend.offlineOf('d').map((p) => p.topic)).toEqual(['m/1', 'm/2'])
    let waited = true
    const fourth = forward(stack, t.client, message('m/3', 1)).then(() => {
      waited = false
    })
    const got: string[] = []
    for (let i = 0; i < 4; i++) {
      const next = await t.expect('publish')
      got.push(next.topic)
      // Never more than maxQueued in the backend's queue: it would drop the next one.
      expect(backend.offlineOf('d').length).toBeLessThanOrEqual(2)
      if (i === 0) expect(waited).toBe(true)
      t.send({ cmd: 'puback', messageId: next.messageId! })
    }
    await fourth
    expect(got).toEqual(['m/0', 'm/1', 'm/2', 'm/3'])
    expect(backend.calls.filter((c) => c.startsWith('storeOffline'))).toHaveLength(3)
  })

  it("a durable session counts what it stored behind a lookup whose answer comes after the stores' answers: its queue stays within maxQueued", async () => {
    // The backend's queue drops past 2, as Redis's does past maxOfflineMessages.
    const backend = fakeBackend({ persistent: true, durable: true, maxOffline: 2 })
    const answer = deferred<void>()
    let lookups = 0
    // The lookup runs first (its packets are read when it is made) but is answered last, as one reply batch
    // of Redis can resolve.
    const lateLookup: MiddlewareLike = {
      name: 'late-lookup',
      callbacks: (): CallbackHandlers => ({
        lookupOfflineMessages(ctx, store, next, done) {
          if (++lookups !== 1) return next()
          store.packets = [...backend.offlineOf(ctx.clientId)]
          answer.promise.then(() => done())
        },
      }),
    }
    const stack = managedStack(backend, { maxInflight: 1, maxQueued: 2 }, [lateLookup])
    const errors = collectErrors(stack)
    const t = await subscriber(stack, 'd')
    await forward(stack, t.client, message('m/0', 1))
    await forward(stack, t.client, message('m/1', 1)) // no room: stored offline
    const first = await t.expect('publish')
    t.send({ cmd: 'puback', messageId: first.messageId! })
    expect(await drainUntilPingresp(t)).toEqual([]) // the lookup is made, not answered
    expect(lookups).toBe(1)
    await forward(stack, t.client, message('m/2', 1)) // behind the fetch: stored, answered
    const forwards = [3, 4, 5].map((i) => forward(stack, t.client, message(`m/${i}`, 1)))
    answer.resolve()
    const got: string[] = []
    for (let i = 1; i < 6; i++) {
      const next = await t.expect('publish')
      got.push(next.topic)
      t.send({ cmd: 'puback', messageId: next.messageId! })
    }
    await Promise.all(forwards)
    expect(got).toEqual(['m/1', 'm/2', 'm/3', 'm/4', 'm/5'])
    expect(errors).toEqual([]) // nothing dropped
    expect(backend.offlineOf('d')).toEqual([])
  })

  it('a durable session: a message forwarded while an earlier one is being stored offline goes behind it', async () => {
    const backend = fakeBackend({ persistent: true, durable: true })
    const stored = deferred<void>()
    const late: MiddlewareLike = {
      name: 'late-store',
      callbacks: (): CallbackHandlers => ({
        storeOfflineMessage(_ctx, _store, next) {
          stored.promise.then(() => next())
        },
      }),
    }
    const stack = managedStack(backend, { maxInflight: 1 }, [late])
    const t = await subscriber(stack, 'd')
    await forward(stack, t.client, message('m/0', 1))
    const first = await t.expect('publish')
    const second = forward(stack, t.client, message('m/1', 1)) // no room: stored offline, slowly
    t.send({ cmd: 'puback', messageId: first.messageId! })
    expect(await drainUntilPingresp(t)).toEqual([]) // the window has room now...
    const third = forward(stack, t.client, message('m/2', 1)) // ...but m/1 is not stored yet
    stored.resolve()
    await Promise.all([second, third])
    const next = await t.expect('publish')
    expect(next.topic).toBe('m/1')
    t.send({ cmd: 'puback', messageId: next.messageId! })
    expect((await t.expect('publish')).topic).toBe('m/2')
  })

  it('[MQTT-4.3.3-1] QoS 2: PUBLISH, PUBREC, PUBREL stored in place of the PUBLISH, PUBCOMP forgets it', async () => {
    const { stack, backend } = setup({ maxInflight: 1 })
    const t = await subscriber(stack, 's')
    await forward(stack, t.client, message('q/2', 2))
    await forward(stack, t.client, message('q/next', 2))
    const publish = await t.expect('publish')
    const id = publish.messageId!
    expect(publish).toMatchObject({ qos: 2, dup: false })
    t.send({ cmd: 'pubrec', messageId: id })
    expect((await t.expect('pubrel')).messageId).toBe(id)
    expect(backend.inflightOf('s').get(id)).toEqual(expect.objectContaining({ cmd: 'pubrel', messageId: id }))
    t.send({ cmd: 'pubrec', messageId: id }) // again: PUBREL again, never the PUBLISH
    expect((await t.expect('pubrel')).messageId).toBe(id)
    t.send({ cmd: 'pubcomp', messageId: id })
    const next = await t.expect('publish')
    expect(next.topic).toBe('q/next')
    expect(backend.calls).toEqual([
      `storeInflight publish ${id}`,
      `storeInflight pubrel ${id}`,
      `removeInflight ${id}`,
      `storeInflight publish ${next.messageId}`,
    ])
  })

  it('QoS 1 and 2 to a 5.0 client, whose PUBREC with an error code ends the exchange', async () => {
    const { stack, backend } = setup()
    const t = await subscriber(stack, 's', 5)
    await forward(stack, t.client, message('a', 1))
    await forward(stack, t.client, message('b', 2))
    await forward(stack, t.client, message('c', 2))
    const [a, b, c] = [await t.expect('publish'), await t.expect('publish'), await t.expect('publish')]
    t.send({ cmd: 'puback', messageId: a.messageId!, reasonCode: 0 })
    t.send({ cmd: 'pubrec', messageId: b.messageId!, reasonCode: 0 })
    expect(await t.expect('pubrel')).toMatchObject({ messageId: b.messageId, reasonCode: 0 })
    t.send({ cmd: 'pubcomp', messageId: b.messageId!, reasonCode: 0 })
    t.send({ cmd: 'pubrec', messageId: c.messageId!, reasonCode: 0x80 })
    expect(await drainUntilPingresp(t)).toEqual([])
    expect(backend.inflightOf('s').size).toBe(0)
  })

  it('[MQTT-4.3.3-4] MQTT 5.0: a PUBREC of 0x80 or more after our PUBREL ends the exchange with no PUBREL again, freeing its packet id', async () => {
    const { stack, backend } = setup({ maxInflight: 1 })
    const t = await subscriber(stack, 's', 5)
    await forward(stack, t.client, message('q/2', 2))
    await forward(stack, t.client, message('q/next', 2))
    const publish = await t.expect('publish')
    const id = publish.messageId!
    t.send({ cmd: 'pubrec', messageId: id, reasonCode: 0 })
    expect(await t.expect('pubrel')).toMatchObject({ messageId: id })
    t.send({ cmd: 'pubrec', messageId: id, reasonCode: 0x80 })
    expect(await t.expect('publish')).toMatchObject({ topic: 'q/next' })
    expect(t.received.filter((p) => p.cmd === 'pubrel')).toHaveLength(1)
    expect(backend.calls).toContain(`removeInflight ${id}`)
  })

  it('ignores a PUBACK or PUBCOMP of an unknown packet id, and answers a PUBREC of one with PUBREL', async () => {
    const { stack, errors, backend } = setup()
    const t = await subscriber(stack, 's')
    t.send({ cmd: 'puback', messageId: 999 })
    t.send({ cmd: 'pubcomp', messageId: 999 })
    expect(await drainUntilPingresp(t)).toEqual([])
    // The client holds the id until PUBREL: it gets one, though nothing is stored for it.
    t.send({ cmd: 'pubrec', messageId: 998 })
    expect(await t.expect('pubrel')).toMatchObject({ messageId: 998 })
    t.send({ cmd: 'pubcomp', messageId: 998 })
    expect(await drainUntilPingresp(t)).toEqual([])
    expect(backend.calls).toEqual([])
    expect(errors).toEqual([])
    expect(t.isClosed).toBe(false)
  })

  it.each([
    ['PUBACK of a QoS 2 PUBLISH', 2, 'puback', false],
    ['PUBCOMP of a QoS 2 PUBLISH not yet PUBREC-ed', 2, 'pubcomp', false],
    ['PUBREC of a QoS 1 PUBLISH', 1, 'pubrec', false],
    ['PUBCOMP of a QoS 1 PUBLISH', 1, 'pubcomp', false],
    ['PUBACK of a PUBREL', 2, 'puback', true],
  ] as const)(
    '[MQTT-4.8.0-1] closes a client that sends a %s: a protocol violation; the message stays inflight',
    async (_name, qos, cmd, released) => {
      const { stack, errors, backend } = setup()
      const t = await subscriber(stack, 's')
      const id = await inflight(stack, t, qos, released)
      t.send({ cmd, messageId: id })
      await t.closed()
      expect(errors.map((err) => [err.code, err.reasonCode])).toEqual([[ErrorCode.PROTOCOL_ERROR, 0x82]])
      expect(backend.inflightOf('s').get(id)).toMatchObject({ cmd: released ? 'pubrel' : 'publish' })
    },
  )

  it.each([
    ['pubrec', 2, false],
    ['puback', 1, false],
    ['pubcomp', 2, true],
  ] as const)(
    'ignores a %s processed after its connection closed: the session, maybe resumed elsewhere, keeps its message inflight',
    async (cmd, qos, released) => {
      const backend = fakeBackend({ persistent: true })
      const held = deferred<void>()
      // Holds the acknowledgement's chain, as packets wait behind a slow one, until the connection has closed.
      const slow: MiddlewareLike = {
        name: 'slow',
        packetTypes: [cmd],
        handle(_client, _packet, next) {
          held.promise.then(() => next())
        },
      }
      const stack = new Stack()
        .use(acceptConnections({ answerPings: true }))
        .use(slow)
        .use(new OutboundManager())
        .use(backend)
      open.push(stack)
      const t = await subscriber(stack, 's')
      const id = await inflight(stack, t, qos, released)
      const calls = backend.calls.length
      t.send({ cmd, messageId: id })
      t.destroy()
      await once(t.client, 'close')
      held.resolve()
      await held.promise // the chain goes on in the same turn: the backend answers at once
      // A PUBREL stored or an id removed now could undo what a newer connection of the session did with this id.
      expect(backend.inflightOf('s').get(id)).toMatchObject({ cmd: released ? 'pubrel' : 'publish' })
      expect(backend.calls.slice(calls)).toEqual([])
    },
  )

  it('[MQTT-4.4.0-1] [MQTT-3.3.1-1] resumeSession: inflight PUBLISH again with DUP and its id, PUBREL again, then the offline queue in order', async () => {
    const { stack, backend } = setup({}, [], true)
    const held = backend.inflightOf('p')
    held.set(7, message('old/7', 1, { messageId: 7 }))
    held.set(8, { cmd: 'pubrel', messageId: 8 })
    held.set(1, message('old/1', 2, { messageId: 1 }))
    backend.offlineOf('p').push(message('off/a', 1), message('off/b', 2), message('off/c', 0))
    const t = await subscriber(stack, 'p')
    await stack.run('resumeSession', { client: t.client, clientId: 'p' }, {})
    expect(await t.expect('publish')).toMatchObject({ topic: 'old/7', messageId: 7, dup: true })
    expect(await t.expect('pubrel')).toMatchObject({ messageId: 8 })
    expect(await t.expect('publish')).toMatchObject({ topic: 'old/1', messageId: 1, dup: true })
    const a = await t.expect('publish')
    const b = await t.expect('publish')
    const c = await t.expect('publish')
    expect([a.topic, b.topic, c.topic]).toEqual(['off/a', 'off/b', 'off/c'])
    expect([a.dup, b.dup]).toEqual([false, false])
    // New messages take ids the resent ones do not hold.
    expect([7, 8, 1]).not.toContain(a.messageId)
    expect([7, 8, 1]).not.toContain(b.messageId)
    expect(backend.offlineOf('p')).toEqual([])
    // The resent messages are acknowledged as usual.
    t.send({ cmd: 'puback', messageId: 7 })
    t.send({ cmd: 'pubcomp', messageId: 8 })
    t.send({ cmd: 'pubrec', messageId: 1 })
    expect((await t.expect('pubrel')).messageId).toBe(1)
    expect([...backend.inflightOf('p').keys()].sort()).toEqual([1, a.messageId, b.messageId].sort())
  })

  it('keeps the packet id of a forwarded message that carries one, with DUP set', async () => {
    const { stack, backend } = setup()
    const t = await subscriber(stack, 's')
    await forward(stack, t.client, message('again', 1, { messageId: 300 }))
    expect(await t.expect('publish')).toMatchObject({ messageId: 300, dup: true })
    expect(t.client.state.outboundManager?.inflight.has(300)).toBe(true)
    t.send({ cmd: 'puback', messageId: 300 })
    expect(await drainUntilPingresp(t)).toEqual([])
    expect(backend.calls).toEqual(['removeInflight 300'])
  })

  it('serialises a QoS 0 message once per protocol version for a fan-out and writes the same bytes', async () => {
    const { stack } = setup()
    const subs = [
      await subscriber(stack, 'a'),
      await subscriber(stack, 'b'),
      await subscriber(stack, 'c', 5),
      await subscriber(stack, 'd', 5),
    ]
    const buffers = subs.map(() => [] as Uint8Array[])
    subs.forEach((sub, i) => {
      const writeBuffer = sub.client.writeBuffer.bind(sub.client)
      sub.client.writeBuffer = (bytes, qos, cb) => {
        buffers[i]!.push(bytes)
        return writeBuffer(bytes, qos, cb)
      }
    })
    const packet = message('fan/out', 0)
    for (const sub of subs) await forward(stack, sub.client, packet)
    expect(buffers.map((b) => b.length)).toEqual([1, 1, 1, 1])
    expect(buffers[1]![0]).toBe(buffers[0]![0])
    expect(buffers[3]![0]).toBe(buffers[2]![0])
    expect(buffers[2]![0]).not.toBe(buffers[0]![0])
    for (const sub of subs) expect(await sub.expect('publish')).toMatchObject({ topic: 'fan/out', qos: 0 })
    // Another message is serialised again.
    await forward(stack, subs[0]!.client, message('other', 0))
    expect(buffers[0]![1]).not.toBe(buffers[0]![0])
    expect((await subs[0]!.expect('publish')).topic).toBe('other')
  })

  it('[MQTT-3.3.1-2] sends QoS 0 with DUP 0', async () => {
    const { stack } = setup()
    const t = await subscriber(stack, 's')
    await forward(stack, t.client, message('zero', 0, { dup: true }))
    expect(await t.expect('publish')).toMatchObject({ topic: 'zero', qos: 0, dup: false })
  })

  it('[MQTT-4.6.0-6] a forward to a full queue waits for room: nothing is dropped and the order is kept', async () => {
    const { stack, backend, errors } = setup({ maxInflight: 1, maxQueued: 2 })
    const t = await subscriber(stack, 's')
    for (const topic of ['m/0', 'm/1', 'm/2']) await forward(stack, t.client, message(topic, 1))
    let parkedDone = false
    const parked = forward(stack, t.client, message('m/3', 1)).then(() => {
      parkedDone = true
    })
    const first = await t.expect('publish')
    expect(first.topic).toBe('m/0')
    expect(parkedDone).toBe(false) // the relay, and so the publisher's PUBACK, waits
    t.send({ cmd: 'puback', messageId: first.messageId! })
    await parked // room in the queue: the forward completes
    const topics = [first.topic]
    for (let i = 0; i < 3; i++) {
      const publish = await t.expect('publish')
      topics.push(publish.topic)
      t.send({ cmd: 'puback', messageId: publish.messageId! })
    }
    expect(topics).toEqual(['m/0', 'm/1', 'm/2', 'm/3'])
    expect(await drainUntilPingresp(t)).toEqual([])
    expect(backend.calls.filter((c) => c.startsWith('storeOffline'))).toEqual([])
    expect(errors).toEqual([])
  })

  describe('offline messages fetched for the window', () => {
    /**
     * A stack whose backend answers storeInflightMessage only when the test says; with `authorizeLater`, an
     * authorizeForward that answers in a later turn, the first message of the queue last.
     */
    function lateStores(authorizeLater: boolean) {
      const backend = fakeBackend({ persistent: true })
      for (const name of ['a', 'b', 'c', 'd']) backend.offlineOf('p').push(message(`off/${name}`, 1))
      const waiting: (() => void)[] = []
      const late: MiddlewareLike = {
        name: 'late-inflight',
        callbacks: (): CallbackHandlers => ({
          storeInflightMessage(_ctx, _store, next) {
            waiting.push(() => next())
          },
          ...(authorizeLater
            ? {
                authorizeForward(ctx, store, _next, done) {
                  const delay = ctx.packet.topic === 'off/a' ? 3 : 1
                  let turns = 0
                  const later = (): void => {
                    if (++turns < delay) setImmediate(later)
                    else {
                      store.authorized = true
                      done()
                    }
                  }
                  setImmediate(later)
                },
              }
            : {}),
        }),
      }
      const stack = managedStack(backend, {}, [late])
      return { stack, backend, waiting }
    }

    it('without authorizeForward, stores every message the window takes at once, in order, and sends them in order', async () => {
      const { stack, backend, waiting } = lateStores(false)
      const t = await subscriber(stack, 'p')
      const resumed = stack.run('resumeSession', { client: t.client, clientId: 'p' }, {})
      await vi.waitFor(() => expect(waiting).toHaveLength(4)) // four stores asked before any answer
      for (const answer of waiting.splice(0)) answer()
      await resumed
      const topics = [await t.expect('publish'), await t.expect('publish'), await t.expect('publish')]
      topics.push(await t.expect('publish'))
      expect(topics.map((p) => p.topic)).toEqual(['off/a', 'off/b', 'off/c', 'off/d'])
      expect(backend.offlineOf('p')).toEqual([])
    })

    it('[MQTT-4.6.0-6] with an authorizeForward that answers later, one at a time: the order holds', async () => {
      const { stack, backend, waiting } = lateStores(true)
      const t = await subscriber(stack, 'p')
      const resumed = stack.run('resumeSession', { client: t.client, clientId: 'p' }, {})
      for (let i = 0; i < 4; i++) {
        await vi.waitFor(() => expect(waiting).toHaveLength(1)) // the next waits for this one
        waiting.shift()!()
      }
      await resumed
      const topics = []
      for (let i = 0; i < 4; i++) topics.push((await t.expect('publish')).topic)
      expect(topics).toEqual(['off/a', 'off/b', 'off/c', 'off/d'])
      expect(backend.offlineOf('p')).toEqual([])
    })
  })

  it('puts messages forwarded while a session resumes behind its offline messages', async () => {
    const backend = fakeBackend({ persistent: true })
    backend.offlineOf('p').push(message('off/1', 1))
    let forwarded: Promise<unknown> = Promise.resolve()
    let subscriberClient: Client | undefined
    // A live message arrives while resumeSession is looking up the inflight messages.
    const live: MiddlewareLike = {
      name: 'live-message',
      callbacks: (): CallbackHandlers => ({
        lookupInflightMessages(_ctx, _store, next) {
          if (subscriberClient) forwarded = forward(stack, subscriberClient, message('live/2', 1))
          next()
        },
      }),
    }
    const stack = managedStack(backend, {}, [live])
    const t = await subscriber(stack, 'p')
    subscriberClient = t.client
    await stack.run('resumeSession', { client: t.client, clientId: 'p' }, {})
    await forwarded
    expect((await t.expect('publish')).topic).toBe('off/1')
    expect((await t.expect('publish')).topic).toBe('live/2')
    expect(backend.offlineOf('p')).toEqual([])
  })

  it('fetches a message stored offline during a resume when the store answers after the resume has ended (a late backend)', async () => {
    const backend = fakeBackend({ persistent: true })
    const stored = deferred<void>()
    let forwarded: Promise<unknown> = Promise.resolve()
    let subscriberClient: Client | undefined
    const live: MiddlewareLike = {
      name: 'live-message',
      callbacks: (): CallbackHandlers => ({
        // A live message arrives while resumeSession is looking up the inflight messages...
        lookupInflightMessages(_ctx, _store, next) {
          if (subscriberClient) forwarded = forward(stack, subscriberClient, message('live/1', 1))
          next()
        },
        // ...and the store of it answers only once the resume is over.
        storeOfflineMessage(_ctx, _store, next) {
          stored.promise.then(() => next())
        },
      }),
    }
    const stack = managedStack(backend, {}, [live])
    const t = await subscriber(stack, 'p')
    subscriberClient = t.client
    await stack.run('resumeSession', { client: t.client, clientId: 'p' }, {})
    stored.resolve()
    await forwarded
    expect((await t.expect('publish')).topic).toBe('live/1')
    expect(backend.offlineOf('p')).toEqual([])
  })

  it('disconnects a consumer that makes no room for slowConsumerTimeout; its waiting forwards complete and go offline', async () => {
    const { stack, backend, errors } = setup(
      { maxInflight: 1, maxQueued: 1, slowConsumerTimeout: 20 },
      [],
      true,
    )
    const t = await subscriber(stack, 's')
    await forward(stack, t.client, message('m/0', 1))
    await forward(stack, t.client, message('m/1', 1))
    const parked = forward(stack, t.client, message('m/2', 1))
    await t.closed()
    await parked
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.SLOW_CONSUMER])
    expect(t.client.error).toMatchObject({ code: ErrorCode.SLOW_CONSUMER, reasonCode: 0x97 })
    expect(backend.offlineOf('s').map((p) => p.topic)).toEqual(['m/1', 'm/2'])
  })

  it('gives up on a consumer as its first forward parks when it has acknowledged nothing for slowConsumerTimeout already: no publisher waits out the clock', async () => {
    const { stack, backend, errors } = setup(
      { maxInflight: 1, maxQueued: 1, slowConsumerTimeout: 60_000 },
      [],
      true,
    )
    const t = await subscriber(stack, 's')
    await forward(stack, t.client, message('m/0', 1))
    await forward(stack, t.client, message('m/1', 1))
    // Its window has waited a minute for an acknowledgement: it stopped reading long before the queue filled.
    t.client.state.outboundManager!.progressAt -= 60_000
    await forward(stack, t.client, message('m/2', 1))
    await t.closed()
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.SLOW_CONSUMER])
    expect(errors[0]!.message).toMatch(/acknowledged nothing for 600\d\d ms/)
    expect(backend.offlineOf('s').map((p) => p.topic)).toEqual(['m/1', 'm/2'])
  })

  it('completes the parked forwards as it disconnects a slow consumer, not when its stream has closed', async () => {
    const { stack } = setup({ maxInflight: 1, maxQueued: 1, slowConsumerTimeout: 20 }, [], true)
    const t = await subscriber(stack, 's')
    await forward(stack, t.client, message('m/0', 1))
    await forward(stack, t.client, message('m/1', 1))
    const order: string[] = []
    t.client.once('close', () => order.push('stream closed'))
    // A peer that reads nothing never lets the stream finish: it closes only at closeTimeout (1 s), when it
    // is destroyed. The publisher behind the parked forward must not wait that long.
    t.client.stream.end = () => t.client.stream
    await forward(stack, t.client, message('m/2', 1)).then(() => order.push('parked forward done'))
    await t.closed()
    expect(order).toEqual(['parked forward done', 'stream closed'])
  })

  it('stores the waiting messages offline when the connection closes', async () => {
    const { stack, backend } = setup({ maxInflight: 1 }, [], true)
    const t = await subscriber(stack, 's')
    for (const topic of ['m/0', 'm/1', 'm/2']) await forward(stack, t.client, message(topic, 1))
    const closed = new Promise<void>((resolve) => t.client.once('close', () => resolve()))
    t.end()
    await closed
    expect(backend.offlineOf('s').map((p) => p.topic)).toEqual(['m/1', 'm/2'])
    expect(backend.inflightOf('s').size).toBe(1) // m/0, for a resumed session
    // Later messages to the closed connection go offline too.
    await forward(stack, t.client, message('m/3', 2))
    expect(backend.offlineOf('s').map((p) => p.topic)).toEqual(['m/1', 'm/2', 'm/3'])
  })

  it('asks authorizeForward when some middleware answers it, and skips a denied delivery silently, notifying the drop', async () => {
    const asked: string[] = []
    const authorizer: MiddlewareLike = {
      name: 'fake-authorize',
      callbacks: (): CallbackHandlers => ({
        authorizeForward(ctx, store, _next, done) {
          asked.push(`${ctx.client.id} ${ctx.packet.topic}`)
          store.authorized = !ctx.packet.topic.startsWith('secret')
          done()
        },
      }),
    }
    const drops: string[] = []
    const counter: MiddlewareLike = {
      messageDropped(ctx, _store, next) {
        drops.push(`${ctx.reason} ${ctx.clientId} ${ctx.packet?.topic}`)
        next()
      },
    }
    const { stack, backend, errors } = setup({}, [authorizer, counter])
    const t = await subscriber(stack, 's')
    await forward(stack, t.client, message('secret/1', 1))
    await forward(stack, t.client, message('secret/0', 0))
    await forward(stack, t.client, message('open/1', 1))
    expect(await t.expect('publish')).toMatchObject({ topic: 'open/1' })
    expect(await drainUntilPingresp(t)).toEqual([])
    expect(asked).toEqual(['s secret/1', 's secret/0', 's open/1'])
    // Silently for the subscriber, but counted (metrics answers messageDropped).
    expect(drops).toEqual(['not-authorized s secret/1', 'not-authorized s secret/0'])
    expect(backend.calls.filter((c) => c.startsWith('storeInflight'))).toHaveLength(1)
    expect(errors).toEqual([])
  })

  it('ends forwardMessage with the error when storeInflightMessage fails, and frees the packet id', async () => {
    const failing: MiddlewareLike = {
      name: 'failing-store',
      callbacks: (): CallbackHandlers => ({
        storeInflightMessage(_ctx, _store, next) {
          next(new Error('down'))
        },
      }),
    }
    const stack = managedStack(fakeBackend(), {}, [failing])
    collectErrors(stack)
    const t = await subscriber(stack, 's')
    await expect(forward(stack, t.client, message('m', 1))).rejects.toMatchObject({
      code: ErrorCode.MIDDLEWARE,
    })
    expect(t.client.state.outboundManager?.inflight.size).toBe(0)
    expect(await drainUntilPingresp(t)).toEqual([])
  })
})

function setup5(
  options: Partial<OutboundManagerOptions> = {},
  extra: MiddlewareLike[] = [],
  persistent = false,
) {
  const backend = fakeBackend({ persistent })
  const sessions = acceptConnections({ answerPings: true })
  const stack = new Stack().use(sessions).use(new OutboundManager(options))
  for (const middleware of extra) stack.use(middleware)
  stack.use(backend)
  const errors = collectErrors(stack)
  open.push(stack)
  return { stack, backend, errors, sessions }
}

async function subscriber5(stack: Stack, clientId: string, properties: Record<string, number> = {}) {
  const t = connectTestClient(stack)
  await t.connect({ clientId, protocolVersion: 5, properties })
  return t
}

describe('OutboundManager, MQTT 5.0', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('reads the CONNECT in prepareConnack and adds nothing to the CONNACK', async () => {
    const { stack, sessions } = setup5()
    const t = await subscriber5(stack, 's', { receiveMaximum: 3, topicAliasMaximum: 4 })
    expect(sessions.prepared).toEqual([{}])
    expect(t.client.state.outboundManager).toMatchObject({ window: 3, topicAliasMaximum: 4 })
  })

  it("[MQTT-3.3.4-9] sends no more unacknowledged QoS 1/2 PUBLISH packets than the client's Receive Maximum", async () => {
    const { stack } = setup5({ maxInflight: 10 })
    const t = await subscriber5(stack, 's', { receiveMaximum: 2 })
    for (let i = 0; i < 4; i++) await forward(stack, t.client, message(`m/${i}`, i % 2 === 0 ? 1 : 2))
    const first = await t.expect('publish')
    const second = await t.expect('publish')
    expect([first.topic, second.topic]).toEqual(['m/0', 'm/1'])
    expect(await drainUntilPingresp(t)).toEqual([])
    t.send({ cmd: 'puback', messageId: first.messageId!, reasonCode: 0 })
    expect((await t.expect('publish')).topic).toBe('m/2')
    // A QoS 2 message holds its place until PUBCOMP, not PUBREC.
    t.send({ cmd: 'pubrec', messageId: second.messageId!, reasonCode: 0 })
    expect((await t.expect('pubrel')).messageId).toBe(second.messageId)
    expect(await drainUntilPingresp(t)).toEqual([])
    t.send({ cmd: 'pubcomp', messageId: second.messageId!, reasonCode: 0 })
    expect((await t.expect('publish')).topic).toBe('m/3')
  })

  it('keeps no state for a connection until it carries a QoS 1/2 message (memory per connection)', async () => {
    const { stack } = setup5({ maxInflight: 2 })
    const t = await subscriber5(stack, 's')
    await forward(stack, t.client, message('zero', 0))
    expect((await t.expect('publish')).topic).toBe('zero')
    expect(t.client.state.outboundManager).toBeUndefined()
    await forward(stack, t.client, message('one', 1))
    expect(t.client.state.outboundManager?.inflight.size).toBe(1)
  })

  it("keeps maxInflight when it is below the client's Receive Maximum, and for a 3.1.1 client", async () => {
    const { stack } = setup5({ maxInflight: 2 })
    const t = await subscriber5(stack, 's', { receiveMaximum: 50 })
    const old = connectTestClient(stack)
    await old.connect({ clientId: 'old' })
    expect(t.client.state.outboundManager?.window).toBe(2)
    for (const client of [t.client, old.client]) {
      for (let i = 0; i < 3; i++) await forward(stack, client, message(`m/${i}`, 1))
      expect(client.state.outboundManager?.window).toBe(2)
      expect(client.state.outboundManager?.inflight.size).toBe(2)
      expect(client.state.outboundManager?.queue.length).toBe(1)
    }
  })

  it('answers a PUBREC of an unknown packet id with PUBREL 0x92, unless the PUBREC refused the message', async () => {
    const { stack, backend } = setup5()
    const t = await subscriber5(stack, 's')
    t.send({ cmd: 'pubrec', messageId: 41, reasonCode: 0x80 })
    t.send({ cmd: 'pubrec', messageId: 42, reasonCode: 0 })
    expect(await t.expect('pubrel')).toMatchObject({ messageId: 42, reasonCode: 0x92 })
    expect(await drainUntilPingresp(t)).toEqual([])
    expect(backend.calls).toEqual([])
  })

  it('sends DISCONNECT 0x82 to a 5.0 client whose PUBACK is for a QoS 2 PUBLISH', async () => {
    const { stack, backend } = setup5()
    const t = await subscriber5(stack, 's')
    await forward(stack, t.client, message('q', 2))
    const id = (await t.expect('publish')).messageId!
    t.send({ cmd: 'puback', messageId: id, reasonCode: 0 })
    expect(await t.expect('disconnect')).toMatchObject({ reasonCode: 0x82 })
    await t.closed()
    expect(backend.inflightOf('s').get(id)).toMatchObject({ cmd: 'publish' })
  })

  it("[MQTT-4.4.0-2] a PUBACK with a reason code of 0x80 or more ends the message's flow, with no resend", async () => {
    const { stack, backend } = setup5({ maxInflight: 1 })
    const t = await subscriber5(stack, 's')
    await forward(stack, t.client, message('a', 1))
    await forward(stack, t.client, message('b', 1))
    const a = await t.expect('publish')
    t.send({ cmd: 'puback', messageId: a.messageId!, reasonCode: 0x80 })
    const b = await t.expect('publish')
    expect(b.topic).toBe('b')
    expect(backend.calls).toContain(`removeInflight ${a.messageId}`)
    expect([...backend.inflightOf('s').keys()]).toEqual([b.messageId])
    expect(await drainUntilPingresp(t)).toEqual([]) // a is not sent again
  })

  it("[MQTT-3.1.2-26] [MQTT-3.3.2-11] assigns topic aliases up to the client's Topic Alias Maximum, and stores full topics", async () => {
    const { stack, backend } = setup5()
    const t = await subscriber5(stack, 's', { topicAliasMaximum: 2 })
    for (const topic of ['a/x', 'a/x', 'b/y', 'c/z', 'b/y', 'c/z'])
      await forward(stack, t.client, message(topic, 1))
    const seen: Array<[string, number | undefined]> = []
    for (let i = 0; i < 6; i++) {
      const p = await t.expect('publish')
      seen.push([p.topic, p.properties?.topicAlias])
      t.send({ cmd: 'puback', messageId: p.messageId!, reasonCode: 0 })
    }
    expect(seen).toEqual([
      ['a/x', 1], // sets up alias 1
      ['', 1], // uses it
      ['b/y', 2],
      ['c/z', undefined], // every alias taken: in full
      ['', 2],
      ['c/z', undefined],
    ])
    // [MQTT-3.3.2-7] aliases do not outlive the connection: what is kept for a resend has the topic name.
    const stored = backend.calls.filter((c) => c.startsWith('storeInflight')).length
    expect(stored).toBe(6)
    expect(t.client.state.outboundManager?.aliases?.size).toBe(2)
  })

  it('keeps the topic name and no alias in the packet stored inflight', async () => {
    const { stack, backend } = setup5()
    const t = await subscriber5(stack, 's', { topicAliasMaximum: 5 })
    await forward(stack, t.client, message('a/x', 1))
    await forward(stack, t.client, message('a/x', 2))
    const first = await t.expect('publish')
    const second = await t.expect('publish')
    expect([first.topic, second.topic]).toEqual(['a/x', ''])
    for (const packet of backend.inflightOf('s').values()) {
      expect(packet).toMatchObject({ topic: 'a/x' })
      expect((packet as IPublishPacket).properties?.topicAlias).toBeUndefined()
    }
  })

  it('[MQTT-3.1.2-27] sends no topic alias when the client set no Topic Alias Maximum', async () => {
    const { stack } = setup5()
    const t = await subscriber5(stack, 's')
    await forward(stack, t.client, message('a/x', 1))
    await forward(stack, t.client, message('a/x', 1))
    for (let i = 0; i < 2; i++) {
      const p = await t.expect('publish')
      expect(p.topic).toBe('a/x')
      expect(p.properties?.topicAlias).toBeUndefined()
    }
  })

  it('uses an alias alone only after the PUBLISH that set it up was written', async () => {
    const gate = deferred<void>()
    let held = false
    const slowStore: MiddlewareLike = {
      name: 'slow-store',
      callbacks: (): CallbackHandlers => ({
        storeInflightMessage(_ctx, _store, next) {
          if (held) {
            next()
            return
          }
          held = true // the first store waits for the test
          gate.promise.then(() => next())
        },
      }),
    }
    const { stack } = setup5({}, [slowStore])
    const t = await subscriber5(stack, 's', { topicAliasMaximum: 1 })
    const first = forward(stack, t.client, message('a/x', 1, { payload: Buffer.from('1') }))
    await forward(stack, t.client, message('a/x', 1, { payload: Buffer.from('2') }))
    // The second is written first: it must set the alias up itself.
    const second = await t.expect('publish')
    expect([second.payload.toString(), second.topic, second.properties?.topicAlias]).toEqual(['2', 'a/x', 1])
    gate.resolve()
    await first
    const one = await t.expect('publish')
    expect([one.payload.toString(), one.topic, one.properties?.topicAlias]).toEqual(['1', 'a/x', 1])
    await forward(stack, t.client, message('a/x', 1, { payload: Buffer.from('3') }))
    const third = await t.expect('publish')
    expect([third.payload.toString(), third.topic, third.properties?.topicAlias]).toEqual(['3', '', 1])
  })

  it("[MQTT-3.1.2-26] [MQTT-3.1.2-27] sends QoS 0 with each client's own aliases; the bytes shared by the others carry none", async () => {
    const { stack } = setup5()
    const one = await subscriber5(stack, 'one', { topicAliasMaximum: 1 })
    const two = await subscriber5(stack, 'two', { topicAliasMaximum: 5 })
    const plain5 = await subscriber5(stack, 'plain5')
    const plain4 = await subscriber(stack, 'plain4')
    const subs = [one, two, plain5, plain4]
    // `two` has alias 1 for another topic first: the aliases of one client are not the other's.
    await forward(stack, two.client, message('other', 0))
    await two.expect('publish')
    // One packet object per message, as a fan-out passes it, DUP 1 from its publisher.
    for (const topic of ['fan/out', 'fan/out', 'fan/in'])
      for (const sub of subs) await forward(stack, sub.client, message(topic, 0, { dup: true }))
    const seen = []
    for (const sub of subs) {
      const row = []
      for (let i = 0; i < 3; i++) {
        const p = await sub.expect('publish')
        expect(p.dup).toBe(false) // [MQTT-3.3.1-2]
        row.push([p.topic, p.properties?.topicAlias])
      }
      seen.push(row)
    }
    expect(seen).toEqual([
      [
        ['fan/out', 1],
        ['', 1],
        ['fan/in', undefined],
      ], // its one alias taken: in full
      [
        ['fan/out', 2],
        ['', 2],
        ['fan/in', 3],
      ],
      [
        ['fan/out', undefined],
        ['fan/out', undefined],
        ['fan/in', undefined],
      ],
      [
        ['fan/out', undefined],
        ['fan/out', undefined],
        ['fan/in', undefined],
      ],
    ])
  })

  it('sets a QoS 0 alias up again after the PUBLISH that carried it was dropped', async () => {
    const { stack } = setup5()
    const t = await subscriber5(stack, 's', { topicAliasMaximum: 2, maximumPacketSize: 64 })
    await forward(stack, t.client, message('a/x', 0, { payload: Buffer.alloc(100) }))
    await forward(stack, t.client, message('a/x', 0))
    expect(t.client.droppedMessages).toBe(1)
    const p = await t.expect('publish')
    expect([p.topic, p.properties?.topicAlias]).toEqual(['a/x', 1])
  })

  it("[MQTT-3.1.2-25] discards a QoS 1/2 PUBLISH over the client's Maximum Packet Size as if delivered: no id, nothing inflight", async () => {
    const drops: string[] = []
    const counter: MiddlewareLike = {
      messageDropped(ctx, _store, next) {
        drops.push(`${ctx.reason} ${ctx.packet?.topic}`)
        next()
      },
    }
    const { stack, backend, errors } = setup5({}, [counter])
    const t = await subscriber5(stack, 's', { maximumPacketSize: 64, receiveMaximum: 1 })
    const big = Buffer.alloc(100, 0x61)
    await forward(stack, t.client, message('big/1', 1, { payload: big }))
    await forward(stack, t.client, message('big/2', 2, { payload: big }))
    await forward(stack, t.client, message('small', 1))
    const p = await t.expect('publish')
    expect(p).toMatchObject({ topic: 'small', messageId: 1 })
    expect(await drainUntilPingresp(t)).toEqual([])
    expect(backend.calls).toEqual(['storeInflight publish 1'])
    expect(t.client.droppedMessages).toBe(2)
    // Each counted once, as a drop (metrics answers messageDropped).
    expect(drops).toEqual(['too-large big/1', 'too-large big/2'])
    expect(errors).toEqual([])
  })

  it("[MQTT-3.1.2-25] a resumed session's unacknowledged PUBLISH over the new Maximum Packet Size is discarded as if delivered", async () => {
    const { stack, backend, errors } = setup5({}, [], true)
    const held = backend.inflightOf('p')
    held.set(7, message('big/7', 1, { messageId: 7, payload: Buffer.alloc(100, 0x61) }))
    held.set(8, message('small/8', 1, { messageId: 8 }))
    const t = await subscriber5(stack, 'p', { maximumPacketSize: 64, receiveMaximum: 1 })
    await stack.run('resumeSession', { client: t.client, clientId: 'p' }, {})
    expect(await t.expect('publish')).toMatchObject({ topic: 'small/8', messageId: 8, dup: true })
    expect(t.client.droppedMessages).toBe(1)
    expect([...backend.inflightOf('p').keys()]).toEqual([8])
    // Its place in the window is free again: once 8 is acknowledged, a new message goes out.
    t.send({ cmd: 'puback', messageId: 8 })
    await forward(stack, t.client, message('next', 1))
    expect((await t.expect('publish')).topic).toBe('next')
    expect(errors).toEqual([])
  })

  it("[MQTT-3.1.2-24] discards a QoS 0 PUBLISH over the client's Maximum Packet Size", async () => {
    const { stack, errors } = setup5()
    const t = await subscriber5(stack, 's', { maximumPacketSize: 64 })
    await forward(stack, t.client, message('big', 0, { payload: Buffer.alloc(100) }))
    await forward(stack, t.client, message('small', 0))
    expect((await t.expect('publish')).topic).toBe('small')
    expect(errors).toEqual([])
  })

  it('[MQTT-3.3.2-6] forwards a live message with its Message Expiry Interval as received', async () => {
    const { stack } = setup5()
    const t = await subscriber5(stack, 's')
    await forward(stack, t.client, message('e', 1, { properties: { messageExpiryInterval: 10 } }))
    expect((await t.expect('publish')).properties?.messageExpiryInterval).toBe(10)
  })

  it('[MQTT-3.3.2-5] [MQTT-3.3.2-6] drops a message that expired while waiting for the window, and sends the remaining interval of the others', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(1_000_000)
    const { stack } = setup5()
    const t = await subscriber5(stack, 's', { receiveMaximum: 1 })
    await forward(stack, t.client, message('m/0', 1))
    await forward(stack, t.client, message('m/1', 1, { properties: { messageExpiryInterval: 10 } }))
    await forward(stack, t.client, message('m/2', 2, { properties: { messageExpiryInterval: 3 } }))
    await forward(stack, t.client, message('m/3', 1))
    vi.setSystemTime(1_000_000 + 4_500)
    const m0 = await t.expect('publish')
    t.send({ cmd: 'puback', messageId: m0.messageId!, reasonCode: 0 })
    const m1 = await t.expect('publish')
    expect(m1.topic).toBe('m/1')
    expect(m1.properties?.messageExpiryInterval).toBe(6) // 10 s - 4.5 s waited, rounded up
    t.send({ cmd: 'puback', messageId: m1.messageId!, reasonCode: 0 })
    const m3 = await t.expect('publish') // m/2 expired after 3 s
    expect(m3.topic).toBe('m/3')
    expect(m3.properties?.messageExpiryInterval).toBeUndefined()
  })

  it('stores waiting messages offline at close with their remaining interval, and not those expired', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(2_000_000)
    const { stack, backend } = setup5({}, [], true)
    const t = await subscriber5(stack, 's', { receiveMaximum: 1 })
    await forward(stack, t.client, message('m/0', 1))
    await forward(stack, t.client, message('m/1', 1, { properties: { messageExpiryInterval: 2 } }))
    await forward(stack, t.client, message('m/2', 1, { properties: { messageExpiryInterval: 60 } }))
    await forward(stack, t.client, message('m/3', 1))
    vi.setSystemTime(2_000_000 + 30_000)
    const closed = new Promise<void>((resolve) => t.client.once('close', () => resolve()))
    t.end()
    await closed
    expect(backend.offlineOf('s').map((p) => [p.topic, p.properties?.messageExpiryInterval])).toEqual([
      ['m/2', 30],
      ['m/3', undefined],
    ])
  })
})
