import {
  type CallbackContext,
  type CallbackStore,
  type Client,
  type Done,
  ErrorCode,
  type IConnectPacket,
  type MiddlewareLike,
  type Next,
  type Packet,
} from '@mqtt-stack/core'
import { connectTestClient, scramClient, type TestConnection, testStack } from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { Authentication, AuthenticationErrorCode, SCRAM_SHA_256, ScramSha256 } from '../src/index.js'

let cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of cleanup) await close()
  cleanup = []
})

/** Stands in for connection: a second CONNECT on one connection is a protocol violation, as there. */
function fakeConnection() {
  const connects: IConnectPacket[] = []
  const connected = new WeakSet<Client>()
  const middleware: MiddlewareLike = {
    name: 'fake-connection',
    handle(client: Client, packet: Packet, next: Next, done: Done) {
      if (packet.cmd !== 'connect') return next()
      connects.push(packet)
      if (connected.has(client)) {
        client.destroy(new Error('second CONNECT'))
        return done()
      }
      connected.add(client)
      next()
    },
  }
  return { middleware, connects }
}

/** Stands in for last-will and session-manager: sees the CONNECT, runs prepareConnack, sends CONNACK. */
function fakeSessionManager(fail?: Error) {
  const seen: string[] = []
  const middleware: MiddlewareLike = {
    name: 'fake-session-manager',
    packetTypes: ['connect'],
    handle(client: Client, packet: Packet, next: Next, done: Done) {
      if (packet.cmd !== 'connect') return next()
      seen.push(packet.clientId)
      if (fail) return next(fail)
      client.id = packet.clientId
      if (client.protocolVersion !== 5) {
        client.write({ cmd: 'connack', returnCode: 0, sessionPresent: false })
        return done()
      }
      // Answers on a later turn of the event loop, as a session store would.
      setImmediate(() =>
        client.stack.execute('prepareConnack', { client, packet }, { properties: {} }, (err, store) => {
          if (err) return next(err)
          client.write({ cmd: 'connack', reasonCode: 0, sessionPresent: false, properties: store.properties })
          done()
        }),
      )
    },
  }
  return { middleware, seen }
}

/** A middleware between authentication and session-manager that wants CONNECT (last-will's place). */
function fakeLastWill() {
  const seen: string[] = []
  const middleware: MiddlewareLike = {
    name: 'fake-last-will',
    packetTypes: ['connect'],
    handle(_client: Client, packet: Packet, next: Next) {
      if (packet.cmd === 'connect') seen.push(packet.clientId)
      next()
    },
  }
  return { middleware, seen }
}

/** Records each PUBLISH that reaches the end of the stack, with whether CONNACK was out; answers PINGREQ. */
function recordPublishes() {
  const packets: Array<{ packet: Packet; afterConnack: boolean }> = []
  const middleware: MiddlewareLike = {
    name: 'record-publishes',
    packetTypes: ['publish', 'pingreq'],
    handle(client: Client, packet: Packet, _next: Next, done: Done) {
      if (packet.cmd === 'pingreq') client.write({ cmd: 'pingresp' })
      else packets.push({ packet, afterConnack: client.connackSent })
      done()
    },
  }
  return { middleware, packets }
}

/** A provider is any object with callback-named methods (the seed's form). */
function broker(
  provider: object = new ScramSha256({ users: { alice: 'secret' } }),
  fail?: Error,
  authentication = new Authentication(),
) {
  const { stack, errors } = testStack()
  const connection = fakeConnection()
  const will = fakeLastWill()
  const session = fakeSessionManager(fail)
  const publishes = recordPublishes()
  stack
    .use(connection.middleware)
    .use(provider as MiddlewareLike)
    .use(authentication)
    .use(will.middleware)
    .use(session.middleware)
    .use(publishes.middleware)
  cleanup.push(() => stack.close())
  return { stack, errors, connection, will, session, publishes }
}

const V5 = { protocolVersion: 5 } as const

function scramConnect(t: TestConnection, clientId: string, first: Buffer): void {
  t.send({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 5,
    clean: true,
    clientId,
    keepalive: 0,
    properties: { authenticationMethod: SCRAM_SHA_256, authenticationData: first },
  })
}

function auth(reasonCode: number, data?: Buffer, method: string = SCRAM_SHA_256): Packet {
  return {
    cmd: 'auth',
    reasonCode,
    properties:
      data === undefined
        ? { authenticationMethod: method }
        : { authenticationMethod: method, authenticationData: data },
  }
}

const PUBLISH: Packet = {
  cmd: 'publish',
  topic: 't',
  payload: Buffer.from('x'),
  qos: 0,
  dup: false,
  retain: false,
}

/** Runs a SCRAM exchange to its CONNACK; returns it and what the client computed. */
async function scramLogin(t: TestConnection, username: string, password: string, clientId = 'c1') {
  const client = scramClient(username, password)
  scramConnect(t, clientId, client.first)
  const challenge = await t.expect('auth')
  const final = client.final(challenge.properties!.authenticationData!.toString('utf8'))
  t.send(auth(0x18, final.message))
  return { challenge, final, connack: await t.expect('connack') }
}

describe('the SCRAM-SHA-256 test client', () => {
  it('computes the client-final and server-final messages of RFC 7677 section 3', () => {
    const client = scramClient('user', 'pencil', 'rOprNGfwEbeRWgbNEkqO')
    expect(client.first.toString()).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO')
    const final = client.final(
      'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    )
    expect(final.message.toString()).toBe(
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    )
    expect(final.expectedServerFinal).toBe('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')
  })
})

describe('MQTT 5.0 enhanced authentication with ScramSha256', () => {
  it('[MQTT-4.12.0-2] [MQTT-4.12.0-3] [MQTT-4.12.0-5] CONNECT, AUTH 0x18 both ways, then CONNACK 0 with the method and server-final', async () => {
    const { stack, connection, will, session } = broker()
    const t = connectTestClient(stack)
    const { challenge, final, connack } = await scramLogin(t, 'alice', 'secret')
    expect(challenge).toMatchObject({ reasonCode: 0x18, properties: { authenticationMethod: SCRAM_SHA_256 } })
    expect(connack).toMatchObject({ reasonCode: 0, properties: { authenticationMethod: SCRAM_SHA_256 } })
    // The client checks the server's signature: the server knew the password's keys too.
    expect(connack.properties?.authenticationData?.toString()).toBe(final.expectedServerFinal)
    expect(t.client.state.authentication).toMatchObject({
      user: 'alice',
      method: SCRAM_SHA_256,
      phase: 'idle',
    })
    // The CONNECT went once through connection and once through the rest of its chain, in order.
    expect(connection.connects).toHaveLength(1)
    expect(will.seen).toEqual(['c1'])
    expect(session.seen).toEqual(['c1'])
    expect(t.isClosed).toBe(false)
  })

  it('processes a packet sent right after the last AUTH only once the CONNACK is out', async () => {
    const { stack, publishes } = broker()
    const t = connectTestClient(stack)
    const client = scramClient('alice', 'secret')
    scramConnect(t, 'c1', client.first)
    const challenge = await t.expect('auth')
    const final = client.final(challenge.properties!.authenticationData!.toString())
    t.send(auth(0x18, final.message))
    t.send(PUBLISH)
    t.send({ cmd: 'pingreq' })
    await t.expect('connack')
    await t.expect('pingresp')
    expect(publishes.packets).toEqual([
      { packet: expect.objectContaining({ topic: 't' }), afterConnack: true },
    ])
  })

  it('[MQTT-4.12.0-4] refuses a wrong password: CONNACK 0x86, close; the CONNECT goes no further', async () => {
    const { stack, will, session } = broker()
    const t = connectTestClient(stack)
    const { connack } = await scramLogin(t, 'alice', 'wrong')
    expect(connack).toMatchObject({ reasonCode: 0x86, sessionPresent: false })
    await t.closed()
    expect(will.seen).toEqual([])
    expect(session.seen).toEqual([])
    expect(t.client.error).toMatchObject({ code: AuthenticationErrorCode.NOT_AUTHENTICATED })
  })

  it('answers an unknown user like a known one (a stable made-up salt), and refuses at the proof with 0x86', async () => {
    const { stack } = broker()
    const salts: string[] = []
    for (const clientId of ['u1', 'u2']) {
      const t = connectTestClient(stack)
      const client = scramClient('mallory', 'guess')
      scramConnect(t, clientId, client.first)
      const challenge = await t.expect('auth')
      const serverFirst = challenge.properties!.authenticationData!.toString()
      salts.push(/s=([^,]+)/.exec(serverFirst)![1]!)
      t.send(auth(0x18, client.final(serverFirst).message))
      expect(await t.expect('connack')).toMatchObject({ reasonCode: 0x86 })
      await t.closed()
    }
    expect(salts[0]).toBe(salts[1])
  })

  it('refuses a client-final with a nonce that is not the combined one', async () => {
    const { stack } = broker()
    const t = connectTestClient(stack)
    const client = scramClient('alice', 'secret')
    scramConnect(t, 'c1', client.first)
    const challenge = await t.expect('auth')
    const forged = challenge.properties!.authenticationData!.toString().replace(/^r=[^,]+/, 'r=forged')
    t.send(auth(0x18, Buffer.from(`c=biws,r=forged,p=${Buffer.alloc(32).toString('base64')}`)))
    expect(forged).toContain('r=forged')
    expect(await t.expect('connack')).toMatchObject({ reasonCode: 0x86 })
    await t.closed()
  })

  it('refuses a client-first that is not SCRAM (channel binding asked for): CONNACK 0x87', async () => {
    const { stack } = broker()
    const t = connectTestClient(stack)
    scramConnect(t, 'c1', Buffer.from('p=tls-unique,,n=alice,r=abc'))
    expect(await t.expect('connack')).toMatchObject({ reasonCode: 0x87 })
    await t.closed()
  })

  it('[MQTT-3.1.2-30] closes a client that sends PUBLISH before the CONNACK of its AUTH exchange', async () => {
    const { stack, errors, publishes, session } = broker()
    const t = connectTestClient(stack)
    scramConnect(t, 'c1', scramClient('alice', 'secret').first)
    await t.expect('auth')
    t.send(PUBLISH)
    await t.closed()
    expect(publishes.packets).toEqual([])
    expect(session.seen).toEqual([])
    expect(errors).toEqual([expect.objectContaining({ code: ErrorCode.PROTOCOL_ERROR, reasonCode: 0x82 })])
  })

  it('[MQTT-4.12.0-3] closes a client that answers the server AUTH with another reason code than 0x18', async () => {
    const { stack, errors, session } = broker()
    const t = connectTestClient(stack)
    scramConnect(t, 'c1', scramClient('alice', 'secret').first)
    await t.expect('auth')
    t.send(auth(0x19, Buffer.from('n,,n=alice,r=x')))
    await t.closed()
    expect(session.seen).toEqual([])
    expect(errors).toEqual([expect.objectContaining({ code: ErrorCode.PROTOCOL_ERROR })])
  })

  it('[MQTT-4.12.0-5] closes a client whose AUTH names another method', async () => {
    const { stack, errors, session } = broker()
    const t = connectTestClient(stack)
    scramConnect(t, 'c1', scramClient('alice', 'secret').first)
    await t.expect('auth')
    t.send(auth(0x18, Buffer.from('c=biws'), 'SCRAM-SHA-1'))
    await t.closed()
    expect(session.seen).toEqual([])
    expect(errors[0]?.message).toContain('[MQTT-4.12.0-5]')
  })

  it('[MQTT-4.12.0-7] [MQTT-4.12.0-6] a client that named no method gets no method in CONNACK, and its AUTH is a protocol error: DISCONNECT 0x82', async () => {
    const { stack, errors } = broker({
      name: 'anyone',
      authenticateConnection: (_ctx: unknown, store: { authenticated?: boolean }, next: Next) => {
        store.authenticated = true
        next()
      },
      continueAuthentication: (_ctx: unknown, _store: unknown, next: Next) => next(),
    })
    const t = connectTestClient(stack, { protocolVersion: 5 })
    const connack = await t.connect({ clientId: 'plain', ...V5 })
    expect(connack.reasonCode).toBe(0)
    expect(connack.properties?.authenticationMethod).toBeUndefined()
    t.send(auth(0x19, Buffer.from('x')))
    expect(await t.expect('disconnect')).toMatchObject({ reasonCode: 0x82 })
    await t.closed()
    expect(errors[0]?.message).toContain('[MQTT-4.12.0-7]')
  })

  it('[MQTT-4.12.0-1] refuses a method that no provider takes up with CONNACK 0x8C', async () => {
    const { stack, session } = broker()
    const t = connectTestClient(stack)
    const connack = await t.connect({
      clientId: 'k',
      ...V5,
      properties: { authenticationMethod: 'GS2-KRB5' },
    })
    expect(connack).toMatchObject({ reasonCode: 0x8c })
    await t.closed()
    expect(session.seen).toEqual([])
  })

  it('puts the data of a provider that accepts a CONNECT at once into the CONNACK, with the method', async () => {
    const { stack } = broker({
      name: 'token',
      authenticateConnection: (
        _ctx: unknown,
        store: { authenticated?: boolean; authenticationData?: Buffer },
        next: Next,
      ) => {
        store.authenticated = true
        store.authenticationData = Buffer.from('welcome')
        next()
      },
      continueAuthentication: (_ctx: unknown, _store: unknown, next: Next) => next(),
    })
    const t = connectTestClient(stack)
    const connack = await t.connect({ clientId: 'tk', ...V5, properties: { authenticationMethod: 'TOKEN' } })
    expect(connack).toMatchObject({ reasonCode: 0, properties: { authenticationMethod: 'TOKEN' } })
    expect(connack.properties?.authenticationData?.toString()).toBe('welcome')
  })

  it('a failing continueAuthentication provider: CONNACK 0x88, the error reported, the client closed', async () => {
    const { stack, errors, session } = broker({
      name: 'flaky',
      authenticateConnection: (_ctx: unknown, store: { reasonCode?: number }, next: Next) => {
        store.reasonCode = 0x18
        next()
      },
      continueAuthentication: (_ctx: unknown, _store: unknown, next: Next) =>
        next(new Error('directory down')),
    })
    const t = connectTestClient(stack)
    t.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clean: true,
      clientId: 'f',
      keepalive: 0,
      properties: { authenticationMethod: 'FLAKY' },
    })
    expect(await t.expect('auth')).toMatchObject({ reasonCode: 0x18 })
    t.send(auth(0x18, undefined, 'FLAKY'))
    expect(await t.expect('connack')).toMatchObject({ reasonCode: 0x88 })
    await t.closed()
    expect(session.seen).toEqual([])
    expect(errors.map((e) => e.message)).toEqual(['directory down'])
  })

  it('a failure in the resumed CONNECT chain is reported and closes the client', async () => {
    const { stack, errors } = broker(undefined, new Error('session store down'))
    const t = connectTestClient(stack)
    const client = scramClient('alice', 'secret')
    scramConnect(t, 'c1', client.first)
    const challenge = await t.expect('auth')
    t.send(auth(0x18, client.final(challenge.properties!.authenticationData!.toString()).message))
    await t.closed()
    expect(errors.map((e) => e.message)).toEqual(['session store down'])
  })

  describe('re-authentication', () => {
    it('[MQTT-4.12.1-1] AUTH 0x19 after CONNACK runs the exchange again: AUTH 0x18, then AUTH 0x00 with server-final; other packets go on meanwhile', async () => {
      const { stack, publishes } = broker()
      const t = connectTestClient(stack)
      await scramLogin(t, 'alice', 'secret')
      const again = scramClient('alice', 'secret')
      t.send(auth(0x19, again.first))
      const challenge = await t.expect('auth')
      expect(challenge).toMatchObject({
        reasonCode: 0x18,
        properties: { authenticationMethod: SCRAM_SHA_256 },
      })
      expect(t.client.state.authentication?.phase).toBe('reauthenticating')
      t.send(PUBLISH) // traffic goes on under the previous authentication
      t.send({ cmd: 'pingreq' })
      await t.expect('pingresp')
      const final = again.final(challenge.properties!.authenticationData!.toString())
      t.send(auth(0x18, final.message))
      const success = await t.expect('auth')
      expect(success).toMatchObject({ reasonCode: 0x00, properties: { authenticationMethod: SCRAM_SHA_256 } })
      expect(success.properties?.authenticationData?.toString()).toBe(final.expectedServerFinal)
      expect(publishes.packets).toHaveLength(1)
      expect(t.client.state.authentication?.phase).toBe('idle')
      expect(t.isClosed).toBe(false)
    })

    it('[MQTT-4.12.1-2] a failed re-authentication: DISCONNECT 0x87, then close', async () => {
      const { stack } = broker()
      const t = connectTestClient(stack)
      await scramLogin(t, 'alice', 'secret')
      const again = scramClient('alice', 'not the password')
      t.send(auth(0x19, again.first))
      const challenge = await t.expect('auth')
      t.send(auth(0x18, again.final(challenge.properties!.authenticationData!.toString()).message))
      expect(await t.expect('disconnect')).toMatchObject({ reasonCode: 0x87 })
      await t.closed()
      expect(t.client.error).toMatchObject({ code: AuthenticationErrorCode.NOT_AUTHENTICATED })
    })

    it('[MQTT-4.12.1-1] AUTH 0x18 out of the blue after CONNACK is a protocol error: DISCONNECT 0x82', async () => {
      const { stack } = broker()
      const t = connectTestClient(stack)
      await scramLogin(t, 'alice', 'secret')
      t.send(auth(0x18, Buffer.from('c=biws,r=x,p=AAAA')))
      expect(await t.expect('disconnect')).toMatchObject({ reasonCode: 0x82 })
      await t.closed()
    })
  })

  it('leaves 3.1.1 clients alone: a plain CONNECT still goes through authenticateConnection once', async () => {
    const calls: string[] = []
    const { stack, connection } = broker({
      name: 'plain',
      authenticateConnection: (
        ctx: CallbackContext<'authenticateConnection'>,
        store: CallbackStore<'authenticateConnection'>,
        next: Next,
      ) => {
        calls.push(ctx.packet.clientId)
        store.authenticated = true
        next()
      },
    })
    const t = connectTestClient(stack)
    expect(await t.connect({ clientId: 'old' })).toMatchObject({ returnCode: 0 })
    t.send(PUBLISH)
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    expect(calls).toEqual(['old'])
    expect(connection.connects).toHaveLength(1)
  })
})

describe('authenticationTimeout', () => {
  it('refuses an unanswered AUTH exchange at CONNECT: CONNACK 0x87, then close', async () => {
    const { stack, session } = broker(undefined, undefined, new Authentication({ authenticationTimeout: 20 }))
    const t = connectTestClient(stack)
    scramConnect(t, 'slow', scramClient('alice', 'secret').first)
    await t.expect('auth')
    expect(await t.expect('connack')).toMatchObject({ reasonCode: 0x87 })
    await t.closed()
    expect(session.seen).toEqual([])
    expect(t.client.error).toMatchObject({ code: AuthenticationErrorCode.AUTHENTICATION_TIMEOUT })
  })

  it('[MQTT-4.12.1-2] ends an unanswered MQTT 5.0 re-authentication with DISCONNECT 0x87', async () => {
    const { stack } = broker(undefined, undefined, new Authentication({ authenticationTimeout: 50 }))
    const t = connectTestClient(stack)
    await scramLogin(t, 'alice', 'secret')
    t.send(auth(0x19, scramClient('alice', 'secret').first))
    await t.expect('auth')
    expect(await t.expect('disconnect')).toMatchObject({ reasonCode: 0x87 })
    await t.closed()
  })

  it('is cleared once the exchange has succeeded, so it cannot fire', async () => {
    const { stack } = broker(undefined, undefined, new Authentication({ authenticationTimeout: 30_000 }))
    const t = connectTestClient(stack)
    const client = scramClient('alice', 'secret')
    scramConnect(t, 'c1', client.first)
    const challenge = await t.expect('auth')
    expect(t.client.state.authentication?.timer).toBeDefined()
    t.send(auth(0x18, client.final(challenge.properties!.authenticationData!.toString()).message))
    await t.expect('connack')
    expect(t.client.state.authentication?.timer).toBeUndefined()
  })

  it('refuses a timeout that is not a whole number of ms', () => {
    expect(() => new Authentication({ authenticationTimeout: -1 })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_OPTION }),
    )
  })
})

describe('ScramSha256 options', () => {
  it('refuses iterations that are not a positive integer, and passwords that are not strings', () => {
    expect(() => new ScramSha256({ users: {}, iterations: 0 })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_OPTION }),
    )
    expect(() => new ScramSha256({ users: { a: 1 as unknown as string } })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_OPTION }),
    )
  })

  it('is named scram-sha-256 and answers both authentication callbacks', () => {
    const scram = new ScramSha256({ users: {} })
    expect(scram.name).toBe('scram-sha-256')
    expect(Object.keys(scram.callbacks())).toEqual(['authenticateConnection', 'continueAuthentication'])
  })
})
