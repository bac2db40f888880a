import {
  type CallbackContext,
  type CallbackStore,
  type Done,
  ErrorCode,
  type Next,
  serializePacket,
} from '@mqtt-stack/core'
import {
  acceptConnections,
  connectTestClient,
  deferred,
  recordPackets,
  testStack,
} from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { Authentication, AuthenticationErrorCode } from '../src/index.js'

type Ctx = CallbackContext<'authenticateConnection'>
type Store = CallbackStore<'authenticateConnection'>
type Answer = Store | ((ctx: Ctx, store: Store, next: Next, done: Done) => void)

/** A provider answering with a fixed verdict (or a function) and recording what it was asked. */
function provider(answer: Answer) {
  const calls: Ctx[] = []
  return {
    calls,
    name: 'fake-provider',
    authenticateConnection(ctx: Ctx, store: Store, next: Next, done: Done) {
      calls.push(ctx)
      if (typeof answer === 'function') return answer(ctx, store, next, done)
      Object.assign(store, answer)
      next()
    },
  }
}

let cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of cleanup) await close()
  cleanup = []
})

/** provider, Authentication, a fake session-manager and a PUBLISH recorder, in the documented order. */
function broker(answer: Answer | undefined) {
  const { stack, errors } = testStack()
  const auth = answer === undefined ? undefined : provider(answer)
  const session = acceptConnections()
  const publishes = recordPackets(['publish'])
  // An unanswering provider: it is there (so the stack starts) but never sets anything.
  const silent = { name: 'silent', authenticateConnection: (_c: Ctx, _s: Store, next: Next) => next() }
  stack.use(auth ?? silent)
  stack.use(new Authentication()).use(session).use(publishes)
  cleanup.push(() => stack.close())
  return { stack, errors, auth, session, publishes }
}

const V31 = { protocolId: 'MQIsdp', protocolVersion: 3 } as const
const V5 = { protocolVersion: 5 } as const
const CREDENTIALS = { username: 'alice', password: Buffer.from('wrong') }
const CONNECT_BYTES = serializePacket(
  { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'eager', keepalive: 0 },
  4,
)
const PUBLISH_BYTES = serializePacket(
  { cmd: 'publish', topic: 'a', payload: Buffer.from('x'), qos: 0, dup: false, retain: false },
  4,
)

describe('Authentication', () => {
  it('is named after its package, handles every packet a client sends and requires authenticateConnection', () => {
    const auth = new Authentication()
    expect(auth.name).toBe('authentication')
    // CONNECT and AUTH; the others only to stop them during an MQTT 5.0 AUTH exchange [MQTT-3.1.2-30]
    expect([...auth.packetTypes].sort()).toEqual([
      'auth',
      'connect',
      'disconnect',
      'pingreq',
      'puback',
      'pubcomp',
      'publish',
      'pubrec',
      'pubrel',
      'subscribe',
      'unsubscribe',
    ])
    expect(auth.requires).toEqual(['authenticateConnection'])
  })

  it('fails at start when no middleware answers authenticateConnection', () => {
    const { stack } = testStack()
    stack.use(new Authentication())
    expect(() => stack.handler()).toThrow(expect.objectContaining({ code: ErrorCode.MISSING_PROVIDER }))
  })

  it('passes client, packet, username and password to authenticateConnection', async () => {
    const { stack, auth } = broker({ authenticated: true })
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'c1', username: 'alice', password: Buffer.from('pw') })
    const ctx = auth!.calls[0]!
    expect(ctx.client).toBe(t.client)
    expect(ctx.packet.clientId).toBe('c1')
    expect(ctx.username).toBe('alice')
    expect(ctx.password).toEqual(Buffer.from('pw'))
  })

  it('lets an accepted CONNECT go on and keeps store.user in client.state.authentication', async () => {
    const { stack, session } = broker({ authenticated: true, user: { id: 7 } })
    const t = connectTestClient(stack)
    const connack = await t.connect({ clientId: 'ok', ...CREDENTIALS })
    expect(connack.returnCode).toBe(0)
    expect(session.accepted).toEqual(['ok'])
    expect(t.client.state.authentication).toEqual({ user: { id: 7 } })
    expect(t.isClosed).toBe(false)
  })

  describe('refusal', () => {
    const cases = [
      { version: 'MQTT 3.1.1', connect: {}, credentials: true, code: { returnCode: 0x04 } },
      { version: 'MQTT 3.1.1', connect: {}, credentials: false, code: { returnCode: 0x05 } },
      { version: 'MQTT 3.1', connect: V31, credentials: true, code: { returnCode: 0x04 } },
      { version: 'MQTT 3.1', connect: V31, credentials: false, code: { returnCode: 0x05 } },
      { version: 'MQTT 5.0', connect: V5, credentials: true, code: { reasonCode: 0x86 } },
      { version: 'MQTT 5.0', connect: V5, credentials: false, code: { reasonCode: 0x87 } },
    ]
    for (const { version, connect, credentials, code } of cases) {
      it(`[MQTT-3.2.2-4] [MQTT-3.2.2-5] ${version}, credentials ${credentials ? 'given' : 'absent'}: CONNACK ${JSON.stringify(code)}, Session Present 0, then close`, async () => {
        const { stack, session } = broker({ authenticated: false })
        const t = connectTestClient(stack)
        const connack = await t.connect({
          clientId: 'x',
          clean: false,
          ...connect,
          ...(credentials ? CREDENTIALS : {}),
        })
        expect(connack).toMatchObject({ ...code, sessionPresent: false })
        await t.closed()
        expect(session.accepted).toEqual([])
        expect(t.client.state.authentication).toBeUndefined()
        expect(t.client.error).toMatchObject({ code: AuthenticationErrorCode.NOT_AUTHENTICATED })
      })
    }

    it('refuses a CONNECT no provider answered (store.authenticated unset): 0x05', async () => {
      const { stack, session } = broker(undefined)
      const t = connectTestClient(stack)
      expect(await t.connect()).toMatchObject({ returnCode: 0x05 })
      await t.closed()
      expect(session.accepted).toEqual([])
    })

    it('refuses anything but authenticated === true (a truthy non-boolean is not acceptance)', async () => {
      const { stack, session } = broker({ authenticated: 1 as unknown as boolean })
      const t = connectTestClient(stack)
      expect(await t.connect()).toMatchObject({ returnCode: 0x05 })
      expect(session.accepted).toEqual([])
    })

    it("uses the provider's return code, and maps it for MQTT 5.0", async () => {
      const v4 = broker({ authenticated: false, returnCode: 0x02 })
      expect(await connectTestClient(v4.stack).connect()).toMatchObject({ returnCode: 0x02 })
      const v5 = broker({ authenticated: false, returnCode: 0x02 })
      expect(await connectTestClient(v5.stack).connect(V5)).toMatchObject({ reasonCode: 0x85 })
    })

    it("uses the provider's reason code, and maps it for MQTT 3.1.1", async () => {
      const v5 = broker({ authenticated: false, reasonCode: 0x8a })
      expect(await connectTestClient(v5.stack).connect(V5)).toMatchObject({ reasonCode: 0x8a })
      const v4 = broker({ authenticated: false, reasonCode: 0x8a })
      expect(await connectTestClient(v4.stack).connect()).toMatchObject({ returnCode: 0x05 })
    })

    it('ignores a provider code that would not refuse (0, or a 5.0 success code)', async () => {
      const v4 = broker({ authenticated: false, returnCode: 0 })
      expect(await connectTestClient(v4.stack).connect(CREDENTIALS)).toMatchObject({ returnCode: 0x04 })
      const v5 = broker({ authenticated: false, reasonCode: 0 })
      expect(await connectTestClient(v5.stack).connect({ ...V5, ...CREDENTIALS })).toMatchObject({
        reasonCode: 0x86,
      })
    })

    it('[MQTT-3.1.4-5] processes nothing the client sent after a refused CONNECT', async () => {
      const { stack, publishes } = broker({ authenticated: false })
      const t = connectTestClient(stack)
      // One chunk: the PUBLISH is parsed and queued before the CONNECT chain has finished.
      t.sendRaw(Buffer.concat([CONNECT_BYTES, PUBLISH_BYTES, PUBLISH_BYTES]))
      expect(await t.expect('connack')).toMatchObject({ returnCode: 0x05 })
      await t.closed()
      expect(publishes.packets).toEqual([])
    })

    it('[MQTT-3.1.4-5] also when the verdict comes asynchronously, after the PUBLISH arrived', async () => {
      const verdict = deferred<boolean>()
      const { stack, publishes } = broker((_ctx, store, next) => {
        verdict.promise.then((ok) => {
          store.authenticated = ok
          next()
        })
      })
      const t = connectTestClient(stack)
      // The client's own 'data' listener runs first: once ours runs, both packets are parsed and queued.
      const parsed = new Promise<void>((resolve) => t.client.stream.once('data', () => resolve()))
      t.sendRaw(Buffer.concat([CONNECT_BYTES, PUBLISH_BYTES]))
      await parsed
      verdict.resolve(false)
      expect(await t.expect('connack')).toMatchObject({ returnCode: 0x05 })
      await t.closed()
      expect(publishes.packets).toEqual([])
    })
  })

  describe('a failing provider', () => {
    for (const [version, connect, code] of [
      ['MQTT 3.1.1', {}, { returnCode: 0x03 }],
      ['MQTT 5.0', V5, { reasonCode: 0x88 }],
    ] as const) {
      it(`${version}: CONNACK ${JSON.stringify(code)} (server unavailable), the error reported, then close`, async () => {
        const { stack, errors, session } = broker((_ctx, _store, next) => next(new Error('user store down')))
        const t = connectTestClient(stack)
        expect(await t.connect(connect)).toMatchObject({ ...code, sessionPresent: false })
        await t.closed()
        expect(session.accepted).toEqual([])
        expect(errors).toHaveLength(1)
        expect(errors[0]).toMatchObject({ code: ErrorCode.MIDDLEWARE, message: 'user store down' })
      })
    }

    it('an async provider that rejects is a failure too', async () => {
      const { stack, errors } = broker(async () => {
        throw new Error('timeout')
      })
      const t = connectTestClient(stack)
      expect(await t.connect()).toMatchObject({ returnCode: 0x03 })
      await t.closed()
      expect(errors.map((e) => e.message)).toEqual(['timeout'])
    })
  })

  it('writes nothing when the client has gone before an asynchronous verdict', async () => {
    const verdict = deferred<boolean>()
    let asked!: () => void
    const wasAsked = new Promise<void>((resolve) => {
      asked = resolve
    })
    const { stack, session } = broker((_ctx, store, next) => {
      asked()
      verdict.promise.then((ok) => {
        store.authenticated = ok
        next()
      })
    })
    const t = connectTestClient(stack)
    t.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: 'gone',
      keepalive: 0,
    })
    await wasAsked
    // The harness's t.destroy() does not reach the broker side of a duplexPair on Node 20: drop it there.
    t.client.destroy()
    await t.closed()
    verdict.resolve(true)
    await verdict.promise
    expect(session.accepted).toEqual([])
    expect(t.received).toEqual([])
  })

  it('[MQTT-4.12.0-1] refuses an MQTT 5.0 authentication method nobody supports: CONNACK 0x8C, then close', async () => {
    const { stack, auth, session } = broker({ authenticated: true })
    const t = connectTestClient(stack)
    const connack = await t.connect({ ...V5, properties: { authenticationMethod: 'SCRAM-SHA-1' } })
    expect(connack).toMatchObject({ reasonCode: 0x8c, sessionPresent: false })
    await t.closed()
    expect(auth!.calls).toEqual([])
    expect(session.accepted).toEqual([])
  })
})
