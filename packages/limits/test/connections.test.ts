import { duplexPair } from 'node:stream'
import { ErrorCode, type Stack } from '@mqtt-stack/core'
import { connectTestClient, connectTestSocket, PacketPeer, testStack } from '@mqtt-stack/core/testing'
import { describe, expect, it } from 'vitest'
import { Limits, LimitsErrorCode } from '../src/index.js'
import { broker, overTcp, testClock, track } from './helpers.js'

describe('connection limits, in memory', () => {
  it('[MQTT-3.2.2-4] [MQTT-3.2.2-5] refuses a connection past maxConnections with return code 3, then closes', async () => {
    const { stack, limits, errors } = broker({ maxConnections: 2 })
    const a = track(connectTestClient(stack))
    const b = track(connectTestClient(stack))
    expect((await a.connect({ clientId: 'a' })).returnCode).toBe(0)
    expect((await b.connect({ clientId: 'b' })).returnCode).toBe(0)
    const c = track(connectTestClient(stack))
    const refused = await c.connect({ clientId: 'c' })
    expect(refused).toMatchObject({ returnCode: 3, sessionPresent: false })
    await c.closed()
    expect(errors.map((err) => err.code)).toEqual([LimitsErrorCode.TOO_MANY_CONNECTIONS])
    expect(limits.stats).toMatchObject({ connections: 2, refusedMaxConnections: 1 })
    // A slot freed is a slot taken again.
    a.destroy()
    await a.closed()
    expect(limits.stats.connections).toBe(1)
    const d = track(connectTestClient(stack))
    expect((await d.connect({ clientId: 'd' })).returnCode).toBe(0)
  })

  it('past maxRefusedPending refused connections waiting for their CONNECT, a refused one is closed at once', async () => {
    const { stack, limits } = broker({ maxConnections: 1, maxRefusedPending: 1 })
    const a = track(connectTestClient(stack))
    expect((await a.connect({ clientId: 'a' })).returnCode).toBe(0)
    const waiting = track(connectTestClient(stack)) // refused, its CONNECT not sent yet
    const flood = track(connectTestClient(stack))
    await flood.closed()
    expect(flood.received).toEqual([])
    expect((await waiting.connect({ clientId: 'w' })).returnCode).toBe(3)
    await waiting.closed()
    // Nobody waits any more: the next refused connection gets its CONNACK again.
    const next = track(connectTestClient(stack))
    expect((await next.connect({ clientId: 'n' })).returnCode).toBe(3)
    expect(limits.stats).toMatchObject({ refusedMaxConnections: 3, closedRefused: 1 })
  })

  it('[MQTT-3.2.2-6] [MQTT-3.2.2-7] MQTT 5.0: refuses with CONNACK 0x97 Quota exceeded past maxConnectionsPerAddress', async () => {
    let address = '10.0.0.1'
    const { stack, limits } = broker({ maxConnectionsPerAddress: 1, addressOf: () => address })
    const a = track(connectTestClient(stack))
    expect((await a.connect({ clientId: 'a', protocolVersion: 5 })).reasonCode).toBe(0)
    const b = track(connectTestClient(stack))
    expect(await b.connect({ clientId: 'b', protocolVersion: 5 })).toMatchObject({
      reasonCode: 0x97,
      sessionPresent: false,
    })
    await b.closed()
    // Another address has its own count.
    address = '10.0.0.2'
    const c = track(connectTestClient(stack))
    expect((await c.connect({ clientId: 'c', protocolVersion: 5 })).reasonCode).toBe(0)
    expect(limits.stats.refusedMaxConnectionsPerAddress).toBe(1)
  })

  it('MQTT 5.0: refuses with CONNACK 0x9F Connection rate exceeded past the rate of one address, and refills with time', async () => {
    const clock = testClock()
    const { stack, limits } = broker({
      connectionRate: 1,
      connectionBurst: 2,
      now: clock.now,
      addressOf: () => '192.0.2.7',
    })
    for (const id of ['a', 'b']) {
      const peer = track(connectTestClient(stack))
      expect((await peer.connect({ clientId: id, protocolVersion: 5 })).reasonCode).toBe(0)
    }
    const third = track(connectTestClient(stack))
    expect((await third.connect({ clientId: 'c', protocolVersion: 5 })).reasonCode).toBe(0x9f)
    const v3 = track(connectTestClient(stack))
    expect((await v3.connect({ clientId: 'd' })).returnCode).toBe(3)
    clock.advance(1000)
    const later = track(connectTestClient(stack))
    expect((await later.connect({ clientId: 'e', protocolVersion: 5 })).reasonCode).toBe(0)
    expect(limits.stats.refusedConnectionRate).toBe(2)
  })

  it('counts per listener: a connection counts under the name its handler gives (client.listener)', async () => {
    const { stack, limits } = broker({ maxConnectionsPerListener: 1 })
    const handlers = new Map<string | undefined, ReturnType<Stack['handler']>>()
    const open = (listener: string | undefined) => {
      const [brokerSide, testSide] = duplexPair()
      const peer = track(new PacketPeer(testSide))
      brokerSide.once('close', () => testSide.destroy())
      let accept = handlers.get(listener)
      if (accept === undefined) {
        accept = stack.handler(listener === undefined ? {} : { listener })
        handlers.set(listener, accept)
      }
      accept(brokerSide)
      return peer
    }
    expect((await open('mqtt').connect({ clientId: 'a' })).returnCode).toBe(0)
    expect((await open('ws').connect({ clientId: 'b' })).returnCode).toBe(0)
    expect((await open(undefined).connect({ clientId: 'c' })).returnCode).toBe(0)
    expect((await open('ws').connect({ clientId: 'd' })).returnCode).toBe(3)
    expect(limits.stats.refusedMaxConnectionsPerListener).toBe(1)
  })

  it('must stand after connection: a wrong order fails at start', () => {
    const { stack } = testStack()
    stack.use(new Limits()).use({ name: 'connection' })
    expect(() => stack.handler()).toThrow(expect.objectContaining({ code: ErrorCode.WRONG_ORDER }))
  })

  it('flapping: a client id that connects more than flappingConnects times in the window is banned for flappingBan', async () => {
    const clock = testClock()
    const { stack, limits, errors } = broker({
      flappingConnects: 3,
      flappingWindow: 10_000,
      flappingBan: 60_000,
      now: clock.now,
    })
    for (let i = 0; i < 3; i++) {
      const peer = track(connectTestClient(stack))
      expect((await peer.connect({ clientId: 'flappy' })).returnCode).toBe(0)
      peer.destroy()
      await peer.closed()
    }
    const fourth = track(connectTestClient(stack))
    expect((await fourth.connect({ clientId: 'flappy', protocolVersion: 5 })).reasonCode).toBe(0x8a)
    expect(limits.bans()).toEqual([
      { kind: 'clientId', pattern: 'flappy', until: clock.now() + 60_000, reason: 'flapping' },
    ])
    expect(errors.map((err) => err.code)).toContain(LimitsErrorCode.FLAPPING)
    // Another id is not concerned; the banned one is refused until the ban ends (3.1.1: 5 Not authorized).
    const other = track(connectTestClient(stack))
    expect((await other.connect({ clientId: 'steady' })).returnCode).toBe(0)
    clock.advance(59_999)
    const still = track(connectTestClient(stack))
    expect((await still.connect({ clientId: 'flappy' })).returnCode).toBe(5)
    clock.advance(1)
    const free = track(connectTestClient(stack))
    expect((await free.connect({ clientId: 'flappy' })).returnCode).toBe(0)
    expect(limits.bans()).toEqual([])
  })

  it('connects spread wider than the flapping window never ban', async () => {
    const clock = testClock()
    const { stack, limits } = broker({ flappingConnects: 2, flappingWindow: 1000, now: clock.now })
    for (let i = 0; i < 6; i++) {
      const peer = track(connectTestClient(stack))
      expect((await peer.connect({ clientId: 'steady' })).returnCode).toBe(0)
      peer.destroy()
      await peer.closed()
      clock.advance(600)
    }
    expect(limits.stats.bannedFlapping).toBe(0)
  })

  it('failed authentications: too many from one address ban it; too many with one username ban that username', async () => {
    const clock = testClock()
    let address = '198.51.100.1'
    const { stack, limits } = broker({
      authFailuresPerAddress: 3,
      authFailuresPerUsername: 2,
      authFailureWindow: 60_000,
      authFailureBan: 120_000,
      now: clock.now,
      addressOf: () => address,
    })
    const fail = async (username: string) => {
      const peer = track(connectTestClient(stack))
      expect(
        (await peer.connect({ clientId: '', username, password: Buffer.from('guess') })).returnCode,
      ).toBe(4)
      await peer.closed()
    }
    await fail('alice')
    await fail('alice')
    // alice is banned now (2 failures), from any address; the address has 2 of its 3.
    address = '198.51.100.2'
    const alice = track(connectTestClient(stack))
    expect(
      (await alice.connect({ clientId: 'x', username: 'alice', password: Buffer.from('secret') })).returnCode,
    ).toBe(5)
    address = '198.51.100.1'
    await fail('bob')
    const fromThere = track(connectTestClient(stack))
    expect((await fromThere.connect({ clientId: 'y', protocolVersion: 5 })).reasonCode).toBe(0x8a)
    expect(limits.bans().map(({ kind, pattern, reason }) => ({ kind, pattern, reason }))).toEqual([
      { kind: 'username', pattern: 'alice', reason: 'auth-failures' },
      { kind: 'address', pattern: '198.51.100.1', reason: 'auth-failures' },
    ])
    expect(limits.stats).toMatchObject({ authFailures: 3, bannedAuthFailures: 2 })
    clock.advance(120_000)
    const after = track(connectTestClient(stack))
    expect((await after.connect({ clientId: 'z', protocolVersion: 5 })).reasonCode).toBe(0)
  })

  it('an address that is no IP address (addressOf) is counted but never banned as one', async () => {
    const { stack, limits } = broker({ authFailuresPerAddress: 1, addressOf: () => 'unix:/run/mqtt.sock' })
    const peer = track(connectTestClient(stack))
    expect(
      (await peer.connect({ clientId: 'x', username: 'u', password: Buffer.from('guess') })).returnCode,
    ).toBe(4)
    await peer.closed()
    expect(limits.bans()).toEqual([])
    const next = track(connectTestClient(stack))
    expect((await next.connect({ clientId: 'y' })).returnCode).toBe(0)
  })

  it('keeps the per-address rate state bounded by maxTracked', async () => {
    let n = 0
    const { stack, limits } = broker({
      connectionRate: 1,
      connectionBurst: 1,
      maxTracked: 3,
      addressOf: () => `10.1.0.${n}`,
    })
    // Four addresses: the first is forgotten (its bucket is full again when it comes back).
    for (n = 1; n <= 4; n++) {
      const peer = track(connectTestClient(stack))
      expect((await peer.connect({ clientId: `c${n}` })).returnCode).toBe(0)
    }
    n = 1
    const back = track(connectTestClient(stack))
    expect((await back.connect({ clientId: 'back' })).returnCode).toBe(0)
    n = 4
    const again = track(connectTestClient(stack))
    expect((await again.connect({ clientId: 'again' })).returnCode).toBe(3)
    expect(limits.stats.refusedConnectionRate).toBe(1)
  })
})

describe('connection limits over TCP', () => {
  it('[MQTT-3.2.2-5] refuses the connection past maxConnectionsPerAddress from 127.0.0.1, then closes it', async () => {
    const { stack, limits } = broker({ maxConnectionsPerAddress: 1 })
    await overTcp(stack, async (port) => {
      const a = track(await connectTestSocket(port))
      expect((await a.connect({ clientId: 'a' })).returnCode).toBe(0)
      const b = track(await connectTestSocket(port))
      expect(await b.connect({ clientId: 'b' })).toMatchObject({ returnCode: 3, sessionPresent: false })
      await b.closed()
      expect(limits.stats).toMatchObject({ connections: 1, refusedMaxConnectionsPerAddress: 1 })
      a.end()
      await a.closed()
    })
  })

  it('counts a TCP listener by its local port', async () => {
    const { stack, limits } = broker({ maxConnectionsPerListener: 1 })
    await overTcp(stack, async (port) => {
      const a = track(await connectTestSocket(port))
      expect((await a.connect({ clientId: 'a' })).returnCode).toBe(0)
      const b = track(await connectTestSocket(port))
      expect((await b.connect({ clientId: 'b', protocolVersion: 5 })).reasonCode).toBe(0x97)
      expect(limits.stats.refusedMaxConnectionsPerListener).toBe(1)
    })
  })
})
