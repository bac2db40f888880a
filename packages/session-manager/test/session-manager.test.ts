import {
  type CallbackContext,
  type CallbackName,
  ErrorCode,
  type MiddlewareLike,
  MqttStackError,
  type Next,
  type PacketOf,
  Stack,
} from '@mqtt-stack/core'
import { connectTestClient, type TestConnection } from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { SessionManager } from '../src/index.js'
import { collectErrors, fakeBackend, fakeConnection, gate } from './helpers.js'

let stack: Stack

afterEach(async () => {
  await stack?.close()
})

/** The contract's order: backend, connection, ..., session-manager. */
function setup(options: { manager?: SessionManager; before?: MiddlewareLike[] } = {}) {
  const backend = fakeBackend()
  const connection = fakeConnection()
  stack = new Stack().use(backend.middleware).use(connection.middleware)
  for (const middleware of options.before ?? []) stack.use(middleware)
  stack.use(options.manager ?? new SessionManager())
  const errors = collectErrors(stack)
  return { backend, ended: connection.ended, errors }
}

/** A 3.1.1 CONNECT with an empty client id and clean session 0 (mqtt-packet refuses to generate one). */
const CONNECT_EMPTY_ID_PERSISTENT = Uint8Array.of(
  0x10,
  0x0c,
  0x00,
  0x04,
  0x4d,
  0x51,
  0x54,
  0x54,
  0x04,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
)
/** An MQTT 3.1 CONNECT (MQIsdp, level 3) with an empty client id and clean session 1. */
const CONNECT_31_EMPTY_ID = Uint8Array.of(
  0x10,
  0x0e,
  0x00,
  0x06,
  0x4d,
  0x51,
  0x49,
  0x73,
  0x64,
  0x70,
  0x03,
  0x02,
  0x00,
  0x00,
  0x00,
  0x00,
)

/** An MQTT 5.0 CONNECT with an empty client id, Clean Start 0 and no properties. */
const CONNECT_5_EMPTY_ID_PERSISTENT = Uint8Array.of(
  0x10,
  0x0d,
  0x00,
  0x04,
  0x4d,
  0x51,
  0x54,
  0x54,
  0x05,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
)

async function disconnect(t: TestConnection, ended: (client: TestConnection['client']) => Promise<void>) {
  t.send({ cmd: 'disconnect' })
  await t.closed()
  await ended(t.client)
}

/** The clean 3.1.1 CONNECT of client `c`. */
const CLEAN_CONNECT_C = {
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: 4,
  clean: true,
  clientId: 'c',
  keepalive: 0,
} as const

/** A middleware whose `step` callback fails with `err`. */
function failingAt(step: CallbackName, err: MqttStackError): MiddlewareLike {
  return {
    name: 'failing',
    callbacks: () => ({ [step]: (_c: unknown, _s: unknown, next: Next) => next(err) }),
  }
}

/** A middleware whose `storeSession` drops the connection being stored, then goes on (or fails with `err`). */
function dropWhileStored(err?: MqttStackError): MiddlewareLike {
  return {
    name: 'drop-while-stored',
    callbacks: () => ({
      storeSession(ctx, _store, next) {
        for (const client of stack.clients) if (client.id === ctx.clientId) client.destroy()
        next(err)
      },
    }),
  }
}

describe('SessionManager: metadata', () => {
  it('is named after its package and declares what it handles and requires', () => {
    const manager = new SessionManager()
    expect(manager.name).toBe('session-manager')
    expect(manager.packetTypes).toEqual(['connect'])
    expect(manager.requires).toEqual([
      'registerClient',
      'unregisterClient',
      'lookupSession',
      'storeSession',
      'removeSession',
      'lookupSubscriptions',
      'subscribeTopic',
    ])
  })

  it('fails at start when no backend answers the session callbacks', () => {
    stack = new Stack().use(new SessionManager())
    expect(() => stack.handler()).toThrow(expect.objectContaining({ code: ErrorCode.MISSING_PROVIDER }))
  })

  it('refuses a generateClientId that is not a function at construction', () => {
    expect(() => new SessionManager({ generateClientId: 'x' as unknown as () => string })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_OPTION }),
    )
  })
})

describe('SessionManager: client identifiers', () => {
  it('[MQTT-3.1.3-8] [MQTT-3.2.2-4] [MQTT-3.2.2-5] refuses an empty client id with clean session 0: CONNACK 0x02, then close (LESSONS 10)', async () => {
    const { backend, ended } = setup()
    const t = connectTestClient(stack)
    t.sendRaw(CONNECT_EMPTY_ID_PERSISTENT)
    const connack = await t.expect('connack')
    expect(connack.returnCode).toBe(0x02)
    expect(connack.sessionPresent).toBe(false)
    await t.closed()
    await ended(t.client)
    // Nothing was registered, so the end of the refused connection unregisters nothing.
    expect(backend.calls).toEqual([])
    expect(t.client.state.sessionManager).toBeUndefined()
  })

  it('refuses an empty client id from an MQTT 3.1 client with 0x02, which 3.1 requires', async () => {
    const { backend } = setup()
    const t = connectTestClient(stack)
    t.sendRaw(CONNECT_31_EMPTY_ID)
    expect((await t.expect('connack')).returnCode).toBe(0x02)
    await t.closed()
    expect(backend.calls).toEqual([])
  })

  it('[MQTT-3.1.3-6] assigns a unique mqs- identifier to an empty client id with clean session 1', async () => {
    const { backend } = setup()
    const a = connectTestClient(stack)
    const b = connectTestClient(stack)
    expect(await a.connect({ clientId: '' })).toMatchObject({ returnCode: 0, sessionPresent: false })
    expect(await b.connect({ clientId: '' })).toMatchObject({ returnCode: 0, sessionPresent: false })
    expect(a.client.id).toMatch(/^mqs-[\w-]{16}$/)
    expect(b.client.id).toMatch(/^mqs-[\w-]{16}$/)
    expect(a.client.id).not.toBe(b.client.id)
    expect(backend.clients.get(a.client.id)).toBe(a.client)
    expect(backend.clients.get(b.client.id)).toBe(b.client)
  })

  it('uses the generateClientId option', async () => {
    let n = 0
    setup({ manager: new SessionManager({ generateClientId: () => `gen-${++n}` }) })
    const t = connectTestClient(stack)
    await t.connect({ clientId: '' })
    expect(t.client.id).toBe('gen-1')
  })

  it('keeps a client id that was given', async () => {
    const { backend } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'given' })
    expect(t.client.id).toBe('given')
    expect(backend.calls[0]).toBe('registerClient given')
  })

  it('MQTT 5.0: assigns an identifier to any empty client id and returns it as assignedClientIdentifier', async () => {
    setup()
    const clean = connectTestClient(stack)
    const connack1 = await clean.connect({ clientId: '', protocolVersion: 5, clean: true })
    expect(connack1.reasonCode).toBe(0)
    expect(clean.client.id).toMatch(/^mqs-/)
    expect(connack1.properties?.assignedClientIdentifier).toBe(clean.client.id)
    const persistent = connectTestClient(stack, { protocolVersion: 5 })
    persistent.sendRaw(CONNECT_5_EMPTY_ID_PERSISTENT)
    const connack2 = await persistent.expect('connack')
    expect(connack2.reasonCode).toBe(0)
    expect(persistent.client.id).toMatch(/^mqs-/)
    expect(connack2.properties?.assignedClientIdentifier).toBe(persistent.client.id)
    const named = connectTestClient(stack)
    const connack = await named.connect({ clientId: 'named', protocolVersion: 5 })
    expect(connack.properties?.assignedClientIdentifier).toBeUndefined()
  })
})

describe('SessionManager: sessions', () => {
  it('[MQTT-3.1.2-6] [MQTT-3.2.2-1] a clean session: register, remove any previous session, store one that ends with the connection; sessionPresent 0', async () => {
    const { backend, ended } = setup()
    backend.sessions.set('c', { clientId: 'c', expiryInterval: 0xffffffff })
    backend.subscriptions.set('c', [{ topic: 'old', qos: 1 }])
    const t = connectTestClient(stack)
    const connack = await t.connect({ clientId: 'c', clean: true })
    expect(connack).toMatchObject({ returnCode: 0, sessionPresent: false })
    expect(backend.calls).toEqual(['registerClient c', 'removeSession c', 'storeSession c 0'])
    expect(backend.subscriptions.has('c')).toBe(false)
    await disconnect(t, ended)
    // The clean session ends with its connection.
    expect(backend.calls.slice(3)).toEqual(['unregisterClient c', 'removeSession c'])
    expect(backend.sessions.has('c')).toBe(false)
    expect(backend.clients.has('c')).toBe(false)
  })

  it('[MQTT-3.1.2-4] [MQTT-3.2.2-3] a persistent session with nothing stored: a new one that never expires; sessionPresent 0', async () => {
    const { backend, ended } = setup()
    const t = connectTestClient(stack)
    const connack = await t.connect({ clientId: 'p', clean: false })
    expect(connack).toMatchObject({ returnCode: 0, sessionPresent: false })
    expect(backend.calls).toEqual(['registerClient p', 'lookupSession p', 'storeSession p 4294967295'])
    // Dropped without DISCONNECT: the persistent session stays, stored with when it was left (its
    // persistentSessionExpiry counts from then, whichever broker sharing the backend follows it).
    t.client.destroy()
    await ended(t.client)
    expect(backend.calls.slice(3)).toEqual(['unregisterClient p', 'storeSession p 4294967295'])
    expect(backend.sessions.get('p')).toEqual({
      clientId: 'p',
      expiryInterval: 0xffffffff,
      disconnectedAt: expect.any(Number),
    })
  })

  it('[MQTT-3.2.2-2] resumes a stored session: subscriptions restored without a packet, sessionPresent 1, then resumeSession after the CONNACK', async () => {
    const { backend } = setup()
    backend.sessions.set('p', { clientId: 'p', expiryInterval: 0xffffffff })
    backend.subscriptions.set('p', [
      { topic: 'a/+', qos: 1 },
      { topic: 'b/#', qos: 2 },
    ])
    const t = connectTestClient(stack)
    const connack = await t.connect({ clientId: 'p', clean: false })
    expect(connack).toMatchObject({ returnCode: 0, sessionPresent: true })
    // Whatever resumeSession sends comes after the CONNACK.
    expect((await t.expect('publish')).topic).toBe('queued')
    expect(backend.calls).toEqual([
      'registerClient p',
      'lookupSession p',
      'lookupSubscriptions p',
      'subscribeTopic a/+',
      'subscribeTopic b/#',
      'resumeSession p',
    ])
    expect(backend.restored).toEqual([
      { clientId: 'p', topic: 'a/+', qos: 1, hasPacket: false },
      { clientId: 'p', topic: 'b/#', qos: 2, hasPacket: false },
    ])
  })

  it('resumes a stored session that has no subscriptions', async () => {
    const { backend } = setup()
    backend.sessions.set('p', { clientId: 'p', expiryInterval: 0xffffffff })
    const t = connectTestClient(stack)
    expect(await t.connect({ clientId: 'p', clean: false })).toMatchObject({ sessionPresent: true })
    expect(backend.restored).toEqual([])
  })

  it('MQTT 3.1: never sets the session present flag, whose byte is reserved in 3.1', async () => {
    const { backend } = setup()
    backend.sessions.set('old', { clientId: 'old', expiryInterval: 0xffffffff })
    const t = connectTestClient(stack)
    const connack = await t.connect({
      clientId: 'old',
      clean: false,
      protocolId: 'MQIsdp',
      protocolVersion: 3,
    })
    expect(connack).toMatchObject({ returnCode: 0, sessionPresent: false })
    expect(backend.calls).toContain('resumeSession old')
  })

  it('MQTT 5.0: a session expiry interval of 0 ends the session with the connection; CONNACK carries reasonCode', async () => {
    const { backend, ended } = setup()
    const t = connectTestClient(stack)
    const connack = await t.connect({ clientId: 'v5', protocolVersion: 5, clean: false })
    expect(connack).toMatchObject({ reasonCode: 0, sessionPresent: false })
    expect(backend.calls).toEqual(['registerClient v5', 'lookupSession v5', 'storeSession v5 0'])
    t.client.destroy()
    await ended(t.client)
    expect(backend.sessions.has('v5')).toBe(false)
  })

  it('MQTT 5.0: keeps the session expiry interval of the CONNECT', async () => {
    const { backend } = setup()
    const t = connectTestClient(stack)
    await t.connect({
      clientId: 'v5',
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    })
    expect(backend.sessions.get('v5')).toEqual({ clientId: 'v5', expiryInterval: 60 })
  })
})

describe('SessionManager: MQTT 5.0 session expiry on resumption', () => {
  it('stores the new expiry interval of a resumed session', async () => {
    const { backend } = setup()
    backend.sessions.set('v5', { clientId: 'v5', expiryInterval: 60 })
    const t = connectTestClient(stack)
    const connack = await t.connect({
      clientId: 'v5',
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 120 },
    })
    expect(connack).toMatchObject({ reasonCode: 0, sessionPresent: true })
    expect(backend.sessions.get('v5')).toEqual({ clientId: 'v5', expiryInterval: 120 })
  })
})

describe('SessionManager: takeover and reconnection', () => {
  it('[MQTT-3.1.4-2] a second connection with the same client id closes the first, whose end leaves the new session alone (LESSONS 8)', async () => {
    const { backend, ended } = setup()
    const first = connectTestClient(stack)
    await first.connect({ clientId: 'same' })
    const second = connectTestClient(stack)
    expect(await second.connect({ clientId: 'same' })).toMatchObject({ returnCode: 0, sessionPresent: false })
    await first.closed()
    await ended(first.client)
    // The taken-over connection was not the current one: its end removed neither the registration nor the
    // session of the new one (each removeSession so far is the start of a clean session).
    expect(backend.calls.filter((call) => call === 'unregisterClient same')).toHaveLength(1)
    expect(backend.calls.filter((call) => call === 'removeSession same')).toHaveLength(2)
    expect(backend.clients.get('same')).toBe(second.client)
    expect(backend.sessions.get('same')).toEqual({ clientId: 'same', expiryInterval: 0 })
    expect(second.isClosed).toBe(false)
    await disconnect(second, ended)
    expect(backend.calls.slice(-2)).toEqual(['unregisterClient same', 'removeSession same'])
    expect(backend.sessions.has('same')).toBe(false)
  })

  it('a persistent session taken over by a persistent connection is resumed by the new one', async () => {
    const { backend, ended } = setup()
    backend.subscriptions.set('p', [{ topic: 't', qos: 1 }])
    const first = connectTestClient(stack)
    expect(await first.connect({ clientId: 'p', clean: false })).toMatchObject({ sessionPresent: false })
    backend.subscriptions.set('p', [{ topic: 't', qos: 1 }])
    const second = connectTestClient(stack)
    expect(await second.connect({ clientId: 'p', clean: false })).toMatchObject({ sessionPresent: true })
    await first.closed()
    await ended(first.client)
    expect(backend.sessions.has('p')).toBe(true)
    expect(backend.restored.map((r) => r.topic)).toEqual(['t'])
  })

  it('[MQTT-3.1.2-6] the clean session of a taken-over connection is not resumed by a persistent one', async () => {
    const { backend } = setup()
    const first = connectTestClient(stack)
    await first.connect({ clientId: 'x', clean: true })
    backend.subscriptions.set('x', [{ topic: 'from-clean', qos: 0 }])
    const second = connectTestClient(stack)
    expect(await second.connect({ clientId: 'x', clean: false })).toMatchObject({ sessionPresent: false })
    expect(backend.calls.slice(3).filter((call) => !call.startsWith('unregisterClient'))).toEqual([
      'registerClient x',
      'lookupSession x',
      'removeSession x',
      'storeSession x 4294967295',
    ])
    expect(backend.restored).toEqual([])
  })

  it('a clean client that reconnects with the same id after its connection dropped is the registered one; the dead one is forgotten (LESSONS 7)', async () => {
    const { backend, ended } = setup()
    const first = connectTestClient(stack)
    await first.connect({ clientId: 'c' })
    first.client.destroy()
    await ended(first.client)
    // The client map was pruned and the clean session removed.
    expect(backend.clients.has('c')).toBe(false)
    expect(backend.sessions.has('c')).toBe(false)
    const second = connectTestClient(stack)
    expect(await second.connect({ clientId: 'c' })).toMatchObject({ returnCode: 0 })
    expect(backend.clients.get('c')).toBe(second.client)
    expect(backend.sessions.get('c')).toEqual({ clientId: 'c', expiryInterval: 0 })
  })

  it('a connection that ends while its CONNECT is processed leaves nothing registered and no clean session behind', async () => {
    const { backend, ended } = setup()
    const hold = gate()
    const reached = gate()
    backend.holds.lookupSession = { reached: reached.release, opened: hold.opened }
    // A clean session left by a connection being taken over: it is discarded, then a new one is stored.
    backend.sessions.set('p', { clientId: 'p', expiryInterval: 0 })
    const t = connectTestClient(stack)
    t.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: false,
      clientId: 'p',
      keepalive: 0,
    })
    await reached.opened
    t.client.destroy()
    await ended(t.client)
    // The end is deferred while the CONNECT is processed: nothing unregistered yet.
    expect(backend.calls).toEqual(['registerClient p', 'lookupSession p'])
    const unregistered = backend.nextCall('unregisterClient p')
    hold.release()
    await unregistered
    expect(backend.calls).toEqual([
      'registerClient p',
      'lookupSession p',
      'removeSession p',
      'storeSession p 4294967295',
      'unregisterClient p',
    ])
    expect(backend.clients.has('p')).toBe(false)
    expect(t.received).toEqual([])
  })

  it('a clean connection that ends while its CONNECT is processed removes the session it stored', async () => {
    const { backend, ended } = setup({ before: [dropWhileStored()] })
    const t = connectTestClient(stack)
    t.send(CLEAN_CONNECT_C)
    await t.closed()
    await ended(t.client)
    expect(backend.calls).toEqual([
      'registerClient c',
      'removeSession c',
      'storeSession c 0',
      'unregisterClient c',
      'removeSession c',
    ])
    expect(backend.sessions.has('c')).toBe(false)
    expect(t.received).toEqual([])
  })
})

describe('SessionManager: connections that end early', () => {
  it('does not resume the session of a connection that dropped while its subscriptions were restored', async () => {
    const { backend, ended } = setup({
      before: [
        {
          name: 'dropping',
          callbacks: () => ({
            lookupSubscriptions(ctx, _store, next) {
              ctx.client?.destroy()
              next()
            },
          }),
        },
      ],
    })
    backend.sessions.set('p', { clientId: 'p', expiryInterval: 0xffffffff })
    const t = connectTestClient(stack)
    t.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: false,
      clientId: 'p',
      keepalive: 0,
    })
    await t.closed()
    await ended(t.client)
    expect(backend.calls).not.toContain('resumeSession p')
    expect(backend.calls.slice(-2)).toEqual(['unregisterClient p', 'storeSession p 4294967295'])
    expect(backend.sessions.has('p')).toBe(true)
  })

  it('unregisters a connection that ended while a failing CONNECT was processed', async () => {
    const failure = new MqttStackError('ACME_ERR_DOWN', 'session store down')
    const { backend, ended, errors } = setup({
      before: [failingAt('lookupSession', failure)],
    })
    const hold = gate()
    const reached = gate()
    backend.holds.lookupSession = { reached: reached.release, opened: hold.opened }
    const t = connectTestClient(stack)
    t.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: false,
      clientId: 'p',
      keepalive: 0,
    })
    await reached.opened
    t.client.destroy()
    await ended(t.client)
    const unregistered = backend.nextCall('unregisterClient p')
    hold.release()
    await unregistered
    expect(errors).toContain(failure)
    expect(backend.clients.has('p')).toBe(false)
  })

  it('handles the end of a connection once, whichever disconnect callbacks run', async () => {
    const { backend, ended } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c' })
    await stack.run('cleanDisconnect', { client: t.client }, {})
    await stack.run('uncleanDisconnect', { client: t.client }, {})
    t.client.destroy()
    await ended(t.client)
    expect(backend.calls.filter((call) => call === 'unregisterClient c')).toHaveLength(1)
  })
})

describe('SessionManager: failures', () => {
  it('answers CONNACK 0x03 (server unavailable) and closes when a session callback fails', async () => {
    const failure = new MqttStackError('ACME_ERR_DOWN', 'session store down')
    const { errors } = setup({
      before: [failingAt('lookupSession', failure)],
    })
    const t = connectTestClient(stack)
    const connack = await t.connect({ clientId: 'p', clean: false })
    expect(connack).toMatchObject({ returnCode: 0x03, sessionPresent: false })
    await t.closed()
    expect(errors).toContain(failure)
  })

  // A clean 3.1.1 CONNECT goes through callbacks, not promises: each of its three steps may fail.
  for (const step of ['registerClient', 'removeSession', 'storeSession'] as const) {
    it(`a clean 3.1.1 session: a ${step} failure answers CONNACK 0x03, is reported, and leaves nothing behind`, async () => {
      const failure = new MqttStackError('ACME_ERR_DOWN', 'session store down')
      const { backend, errors } = setup({ before: [failingAt(step, failure)] })
      const t = connectTestClient(stack)
      expect(await t.connect({ clientId: 'c', clean: true })).toMatchObject({
        returnCode: 0x03,
        sessionPresent: false,
      })
      await t.closed()
      expect(errors).toContain(failure)
      // The connection's end leaves nothing behind: no registration, no clean session.
      await vi.waitFor(() => expect(backend.clients.has('c')).toBe(false))
      expect(backend.sessions.has('c')).toBe(false)
    })
  }

  it('a clean 3.1.1 connection that ends while its failing CONNECT is processed is unregistered', async () => {
    const failure = new MqttStackError('ACME_ERR_DOWN', 'session store down')
    const { backend, ended, errors } = setup({ before: [dropWhileStored(failure)] })
    const t = connectTestClient(stack)
    t.send(CLEAN_CONNECT_C)
    await t.closed()
    await ended(t.client)
    await vi.waitFor(() => expect(backend.calls).toContain('unregisterClient c'))
    expect(errors).toContain(failure)
    expect(backend.clients.has('c')).toBe(false)
    expect(backend.sessions.has('c')).toBe(false)
  })

  it('MQTT 5.0: answers CONNACK 0x88 (server unavailable) when a session callback fails', async () => {
    const failure = new MqttStackError('ACME_ERR_DOWN', 'session store down')
    setup({
      before: [failingAt('registerClient', failure)],
    })
    const t = connectTestClient(stack)
    const connack = await t.connect({ clientId: 'p', protocolVersion: 5 })
    expect(connack).toMatchObject({ reasonCode: 0x88, sessionPresent: false })
    await t.closed()
  })

  it('passes a resumeSession failure on with next(err): reported, the client closed after its CONNACK', async () => {
    const failure = new MqttStackError('ACME_ERR_OUT', 'inflight store down')
    const { backend, errors } = setup({
      before: [failingAt('resumeSession', failure)],
    })
    backend.sessions.set('p', { clientId: 'p', expiryInterval: 0xffffffff })
    const t = connectTestClient(stack)
    expect(await t.connect({ clientId: 'p', clean: false })).toMatchObject({
      returnCode: 0,
      sessionPresent: true,
    })
    await t.closed()
    expect(errors).toContain(failure)
  })

  it('passes an unregisterClient failure on with next(err) from the disconnect chain', async () => {
    const failure = new MqttStackError('ACME_ERR_DOWN', 'registry down')
    const { backend, ended } = setup({
      before: [failingAt('unregisterClient', failure)],
    })
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c' })
    const err = await stack.run('cleanDisconnect', { client: t.client }, {}).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBe(failure)
    // The session of a connection whose end failed is not removed blindly.
    expect(backend.sessions.has('c')).toBe(true)
    t.client.destroy()
    await ended(t.client)
  })
})

/** A 5.0 CONNECT with these overrides; returns the connection and its CONNACK. */
async function connect5(overrides: Partial<PacketOf<'connect'>> = {}) {
  const t = connectTestClient(stack)
  const connack = await t.connect({ clientId: 'v5', protocolVersion: 5, clean: false, ...overrides })
  return { t, connack }
}

const expiring = (seconds: number) => ({ properties: { sessionExpiryInterval: seconds } })

describe('SessionManager: MQTT 5.0 Clean Start', () => {
  it('[MQTT-3.1.2-4] Clean Start 1 discards an existing session and starts a new one; sessionPresent 0', async () => {
    const { backend } = setup()
    backend.sessions.set('v5', { clientId: 'v5', expiryInterval: 60 })
    backend.subscriptions.set('v5', [{ topic: 'old', qos: 1 }])
    const { connack } = await connect5({ clean: true, ...expiring(30) })
    expect(connack).toMatchObject({ reasonCode: 0, sessionPresent: false })
    expect(backend.calls).toEqual(['registerClient v5', 'removeSession v5', 'storeSession v5 30'])
    expect(backend.restored).toEqual([])
  })

  it('[MQTT-3.1.2-5] Clean Start 0 resumes an existing session, even with a Session Expiry Interval of 0 now', async () => {
    const { backend } = setup()
    backend.sessions.set('v5', { clientId: 'v5', expiryInterval: 60 })
    backend.subscriptions.set('v5', [{ topic: 't', qos: 1 }])
    const { connack } = await connect5()
    expect(connack).toMatchObject({ reasonCode: 0, sessionPresent: true })
    expect(backend.restored.map((r) => r.topic)).toEqual(['t'])
    expect(backend.sessions.get('v5')).toEqual({ clientId: 'v5', expiryInterval: 0 })
  })

  it('[MQTT-3.1.2-5] Clean Start 0 resumes the expiry-0 session of a connection being taken over (it exists until that connection ends)', async () => {
    const { backend, ended } = setup()
    const first = await connect5()
    backend.subscriptions.set('v5', [{ topic: 't', qos: 0 }])
    const second = await connect5()
    expect(second.connack).toMatchObject({ reasonCode: 0, sessionPresent: true })
    await first.t.closed()
    await ended(first.t.client)
    // The taken-over connection's end leaves the resumed session alone.
    expect(backend.sessions.has('v5')).toBe(true)
  })

  it('[MQTT-3.1.2-6] Clean Start 0 without a session starts a new one; sessionPresent 0', async () => {
    const { backend } = setup()
    const { connack } = await connect5(expiring(60))
    expect(connack).toMatchObject({ reasonCode: 0, sessionPresent: false })
    expect(backend.calls).toEqual(['registerClient v5', 'lookupSession v5', 'storeSession v5 60'])
  })
})

describe('SessionManager: MQTT 5.0 session expiry', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('[MQTT-3.1.2-23] keeps a session with an expiry after its connection, and removes it once the interval has passed: removeSession, then sessionExpired', async () => {
    vi.useFakeTimers()
    const manager = new SessionManager({ expiryCheckInterval: 1000 })
    const { backend, ended } = setup({ manager })
    const { t } = await connect5(expiring(60))
    t.client.destroy()
    await ended(t.client)
    expect(backend.calls.slice(3)).toEqual(['unregisterClient v5', 'storeSession v5 60'])
    expect(backend.sessions.get('v5')).toMatchObject({ expiryInterval: 60, disconnectedAt: Date.now() })
    expect(manager.expiring).toBe(1)
    vi.advanceTimersByTime(59_000)
    expect(backend.calls).not.toContain('removeSession v5')
    const expired = backend.nextCall('sessionExpired v5')
    vi.advanceTimersByTime(2000)
    await expired
    expect(backend.calls.slice(-2)).toEqual(['removeSession v5', 'sessionExpired v5'])
    expect(backend.sessions.has('v5')).toBe(false)
    expect(manager.expiring).toBe(0)
    expect(vi.getTimerCount()).toBe(0) // the sweep stops when no session is left to expire
  })

  it('a session with expiry 0 is removed when its connection ends, and announced with sessionExpired', async () => {
    const { backend, ended } = setup()
    const { t } = await connect5()
    t.client.destroy()
    await ended(t.client)
    expect(backend.calls.slice(3)).toEqual(['unregisterClient v5', 'removeSession v5', 'sessionExpired v5'])
  })

  it('a session with expiry 0xFFFFFFFF never expires: nothing is scheduled', async () => {
    const manager = new SessionManager()
    const { backend, ended } = setup({ manager })
    const { t } = await connect5(expiring(0xffffffff))
    t.client.destroy()
    await ended(t.client)
    expect(manager.expiring).toBe(0)
    expect(backend.sessions.has('v5')).toBe(true)
  })

  it('a reconnection before the expiry cancels it: the session is resumed and never removed', async () => {
    vi.useFakeTimers()
    const manager = new SessionManager({ expiryCheckInterval: 1000 })
    const { backend, ended } = setup({ manager })
    const first = await connect5(expiring(60))
    first.t.client.destroy()
    await ended(first.t.client)
    vi.advanceTimersByTime(30_000)
    const second = await connect5(expiring(60))
    expect(second.connack.sessionPresent).toBe(true)
    expect(manager.expiring).toBe(0)
    vi.advanceTimersByTime(120_000)
    expect(backend.calls).not.toContain('removeSession v5')
    expect(backend.sessions.has('v5')).toBe(true)
  })

  it('MQTT 5.0: [MQTT-3.1.2-23] orphanedSession: a session a backend hands over (its node died) is followed and ends once its interval has passed', async () => {
    vi.useFakeTimers()
    const manager = new SessionManager({ expiryCheckInterval: 1000 })
    const { backend } = setup({ manager })
    const disconnectedAt = Date.now() - 30_000
    backend.sessions.set('orphan', { clientId: 'orphan', expiryInterval: 60, disconnectedAt })
    await stack.run('orphanedSession', { clientId: 'orphan', disconnectedAt }, {})
    expect(manager.expiring).toBe(1)
    await vi.advanceTimersByTimeAsync(2000)
    expect(backend.calls).not.toContain('removeSession orphan')
    const expired = backend.nextCall('sessionExpired orphan')
    await vi.advanceTimersByTimeAsync(30_000)
    await expired
    expect(backend.sessions.has('orphan')).toBe(false)
  })

  it('brokers sharing one backend: a session resumed through another one is not ended by the timer of the one it left', async () => {
    vi.useFakeTimers()
    const manager = new SessionManager({ expiryCheckInterval: 1000 })
    const { backend, ended } = setup({ manager })
    const { t } = await connect5(expiring(60))
    t.client.destroy()
    await ended(t.client)
    // The other broker's session-manager resumed it: stored again, connected, no disconnectedAt.
    backend.sessions.set('v5', { clientId: 'v5', expiryInterval: 60 })
    const checked = backend.nextCall('lookupSession v5')
    await vi.advanceTimersByTimeAsync(61_000)
    await checked
    await vi.advanceTimersByTimeAsync(0)
    expect(backend.calls).not.toContain('removeSession v5')
    expect(backend.sessions.has('v5')).toBe(true)
    expect(manager.expiring).toBe(0)
  })

  it('brokers sharing one backend: a session left again later through another one ends at its later deadline', async () => {
    vi.useFakeTimers()
    const manager = new SessionManager({ expiryCheckInterval: 1000 })
    const { backend, ended } = setup({ manager })
    const { t } = await connect5(expiring(60))
    t.client.destroy()
    await ended(t.client)
    // Resumed and left again 30 s later through the other broker.
    backend.sessions.set('v5', { clientId: 'v5', expiryInterval: 60, disconnectedAt: Date.now() + 30_000 })
    await vi.advanceTimersByTimeAsync(61_000)
    expect(backend.calls).not.toContain('removeSession v5')
    expect(manager.expiring).toBe(1)
    const expired = backend.nextCall('sessionExpired v5')
    await vi.advanceTimersByTimeAsync(30_000)
    await expired
    expect(backend.sessions.has('v5')).toBe(false)
  })

  it('a session whose expiry passed before the sweep saw it ends before the CONNECT that comes for it', async () => {
    vi.useFakeTimers()
    const manager = new SessionManager({ expiryCheckInterval: 3_600_000 })
    const { backend, ended } = setup({ manager })
    const first = await connect5(expiring(10))
    first.t.client.destroy()
    await ended(first.t.client)
    vi.setSystemTime(Date.now() + 11_000)
    const second = await connect5(expiring(10))
    expect(second.connack.sessionPresent).toBe(false)
    expect(backend.calls.slice(5)).toEqual([
      'lookupSession v5',
      'removeSession v5',
      'sessionExpired v5',
      'registerClient v5',
      'lookupSession v5',
      'storeSession v5 10',
    ])
  })

  it('MQTT 5.0 3.14.2.2.2: the Session Expiry Interval of a DISCONNECT replaces the CONNECT one', async () => {
    vi.useFakeTimers()
    const manager = new SessionManager({ expiryCheckInterval: 100 })
    const { backend, ended } = setup({ manager })
    const { t } = await connect5(expiring(3600))
    t.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 5 } })
    await t.closed()
    await ended(t.client)
    expect(backend.sessions.get('v5')).toMatchObject({ expiryInterval: 5 })
    const expired = backend.nextCall('sessionExpired v5')
    vi.advanceTimersByTime(5100)
    await expired
    expect(backend.sessions.has('v5')).toBe(false)
  })

  it('a DISCONNECT with Session Expiry Interval 0 ends a session that had one, at once', async () => {
    const { backend, ended } = setup()
    const { t } = await connect5(expiring(3600))
    t.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } })
    await t.closed()
    await ended(t.client)
    expect(backend.calls.slice(3)).toEqual(['unregisterClient v5', 'removeSession v5', 'sessionExpired v5'])
  })

  it('MQTT 5.0 3.14.2.2.2: a non-zero Session Expiry Interval at DISCONNECT after 0 in CONNECT is a protocol error (0x82); the session ends as 0', async () => {
    const { backend, ended, errors } = setup()
    const { t } = await connect5()
    t.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 60 } })
    await t.closed()
    await ended(t.client)
    expect(errors.map((err) => [err.code, err.reasonCode])).toEqual([[ErrorCode.PROTOCOL_ERROR, 0x82]])
    expect(backend.calls.slice(3)).toEqual(['unregisterClient v5', 'removeSession v5', 'sessionExpired v5'])
  })

  it('maxSessionExpiryInterval caps the CONNECT and DISCONNECT intervals; the CONNACK tells the interval in force', async () => {
    const { backend, ended } = setup({ manager: new SessionManager({ maxSessionExpiryInterval: 60 }) })
    const { t, connack } = await connect5(expiring(3600))
    expect(connack.properties?.sessionExpiryInterval).toBe(60)
    expect(backend.sessions.get('v5')).toEqual({ clientId: 'v5', expiryInterval: 60 })
    t.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 7200 } })
    await t.closed()
    await ended(t.client)
    expect(backend.sessions.get('v5')).toMatchObject({ expiryInterval: 60 })
    const within = await connect5({ clientId: 'w', ...expiring(30) })
    expect(within.connack.properties?.sessionExpiryInterval).toBeUndefined()
  })

  it('close() stops the expiry sweep (no handle left behind)', async () => {
    vi.useFakeTimers()
    const manager = new SessionManager({ expiryCheckInterval: 100 })
    const { ended } = setup({ manager })
    const { t } = await connect5(expiring(60))
    t.client.destroy()
    await ended(t.client)
    expect(vi.getTimerCount()).toBe(1)
    manager.close()
    expect(manager.expiring).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('a 3.1.1 persistent session is not re-stored when its connection ends, and kept forever with persistentSessionExpiry 0xFFFFFFFF', async () => {
    const manager = new SessionManager({ persistentSessionExpiry: 0xffffffff })
    const { backend, ended } = setup({ manager })
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'p', clean: false })
    t.client.destroy()
    await ended(t.client)
    expect(backend.calls.slice(3)).toEqual(['unregisterClient p'])
    expect(manager.expiring).toBe(0)
  })
})

describe('SessionManager: MQTT 5.0 CONNACK properties', () => {
  /** A provider of prepareConnack, recording what it saw. */
  function advertiser(raise: (properties: Record<string, unknown>) => void) {
    const seen: Array<{ ctx: CallbackContext<'prepareConnack'>; properties: Record<string, unknown> }> = []
    const middleware: MiddlewareLike = {
      name: 'advertiser',
      callbacks: () => ({
        prepareConnack(ctx, store, next) {
          seen.push({ ctx, properties: { ...store.properties } })
          raise(store.properties as Record<string, unknown>)
          next()
        },
      }),
    }
    return { middleware, seen }
  }

  it('executes prepareConnack with everything "not available" plus its own properties, and sends the result', async () => {
    const ad = advertiser(() => {})
    setup({ before: [ad.middleware] })
    const { t, connack } = await connect5()
    expect(ad.seen).toHaveLength(1)
    expect(ad.seen[0]!.ctx.client).toBe(t.client)
    expect(ad.seen[0]!.ctx.packet).toMatchObject({ cmd: 'connect', clientId: 'v5' })
    const expected = {
      retainAvailable: false,
      wildcardSubscriptionAvailable: false,
      subscriptionIdentifiersAvailable: false,
      sharedSubscriptionAvailable: false,
      maximumQoS: 0,
      topicAliasMaximum: 64,
      maximumPacketSize: 1024 * 1024,
    }
    expect(ad.seen[0]!.properties).toEqual(expected)
    expect(connack.properties).toEqual(expected)
  })

  it('leaves out the properties a middleware raised to their defaults', async () => {
    const ad = advertiser((p) => {
      p.retainAvailable = true
      p.maximumQoS = 2
      p.wildcardSubscriptionAvailable = true
      p.subscriptionIdentifiersAvailable = true
      p.sharedSubscriptionAvailable = true
      p.receiveMaximum = 65_535
      p.serverKeepAlive = 30
    })
    setup({ before: [ad.middleware], manager: new SessionManager() })
    const { connack } = await connect5()
    expect(connack.properties).toEqual({
      topicAliasMaximum: 64,
      maximumPacketSize: 1024 * 1024,
      receiveMaximum: 65_535,
      serverKeepAlive: 30,
    })
  })

  it('maximumPacketSize and topicAliasMaximum come from client.limits', async () => {
    const backend = fakeBackend()
    const connection = fakeConnection()
    stack = new Stack({ client: { maxPacketSize: 4096, topicAliasMaximum: 0 } })
      .use(backend.middleware)
      .use(connection.middleware)
      .use(new SessionManager())
    const { connack } = await connect5()
    expect(connack.properties?.maximumPacketSize).toBe(4096)
    expect(connack.properties?.topicAliasMaximum).toBe(0)
  })

  it('[MQTT-3.2.2-16] returns the identifier it assigned in assignedClientIdentifier', async () => {
    setup()
    const { t, connack } = await connect5({ clientId: '', clean: true })
    expect(connack.properties?.assignedClientIdentifier).toBe(t.client.id)
  })

  it('sends responseInformation only to a client that requests it, when the option is set', async () => {
    setup({ manager: new SessionManager({ responseInformation: 'replies/' }) })
    const asked = await connect5({ clientId: 'a', properties: { requestResponseInformation: true } })
    expect(asked.connack.properties?.responseInformation).toBe('replies/')
    const notAsked = await connect5({ clientId: 'b' })
    expect(notAsked.connack.properties).not.toHaveProperty('responseInformation')
  })

  it('sends no responseInformation when the option is not set', async () => {
    setup()
    const { connack } = await connect5({ properties: { requestResponseInformation: true } })
    expect(connack.properties).not.toHaveProperty('responseInformation')
  })

  it('does not execute prepareConnack for a 3.1.1 client', async () => {
    const ad = advertiser(() => {})
    setup({ before: [ad.middleware] })
    const t = connectTestClient(stack)
    const connack = await t.connect({ clientId: 'old' })
    expect(ad.seen).toEqual([])
    expect(connack).not.toHaveProperty('properties')
  })

  it('a prepareConnack failure is a server failure: CONNACK 0x88, reported, closed', async () => {
    const failure = new MqttStackError('ACME_ERR_DOWN', 'feature store down')
    const { errors } = setup({
      before: [failingAt('prepareConnack', failure)],
    })
    const { t, connack } = await connect5()
    expect(connack).toMatchObject({ reasonCode: 0x88, sessionPresent: false })
    await t.closed()
    expect(errors).toContain(failure)
  })
})

describe('SessionManager: MQTT 5.0 options', () => {
  it.each([
    { maxSessionExpiryInterval: -1 },
    { maxSessionExpiryInterval: 2 ** 32 },
    { maxSessionExpiryInterval: 1.5 },
    { expiryCheckInterval: 0 },
    { responseInformation: 42 as unknown as string },
  ])('refuses %o at construction', (options) => {
    expect(() => new SessionManager(options)).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_OPTION }),
    )
  })
})

describe('SessionManager: MQTT 3.1.1 persistent sessions that never come back', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  async function leave(manager: SessionManager) {
    const { backend, ended } = setup({ manager })
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'p', clean: false })
    t.client.destroy()
    await ended(t.client)
    return { backend, ended }
  }

  it('removes a persistent session that is not resumed within persistentSessionExpiry', async () => {
    vi.useFakeTimers()
    const manager = new SessionManager({ expiryCheckInterval: 1000, persistentSessionExpiry: 60 })
    const { backend } = await leave(manager)
    expect(manager.expiring).toBe(1)
    vi.advanceTimersByTime(59_000)
    expect(backend.calls).not.toContain('removeSession p')
    const expired = backend.nextCall('sessionExpired p')
    vi.advanceTimersByTime(2000)
    await expired
    expect(backend.calls.slice(-2)).toEqual(['removeSession p', 'sessionExpired p'])
    expect(backend.sessions.has('p')).toBe(false)
  })

  it('is resumed by a CONNECT in time, and then not removed', async () => {
    vi.useFakeTimers()
    const manager = new SessionManager({ expiryCheckInterval: 1000, persistentSessionExpiry: 60 })
    const { backend } = await leave(manager)
    vi.advanceTimersByTime(30_000)
    const again = connectTestClient(stack)
    expect((await again.connect({ clientId: 'p', clean: false })).sessionPresent).toBe(true)
    expect(manager.expiring).toBe(0)
    vi.advanceTimersByTime(120_000)
    expect(backend.calls).not.toContain('removeSession p')
  })

  it('defaults to 7 days and refuses a value that is not a number of seconds', () => {
    expect(new SessionManager().config.persistentSessionExpiry).toBe(604_800)
    for (const bad of [-1, 1.5, 2 ** 32]) {
      expect(() => new SessionManager({ persistentSessionExpiry: bad })).toThrow(/persistentSessionExpiry/)
    }
  })
})
