import { connectTestClient, connectTestSocket } from '@mqtt-stack/core/testing'
import { describe, expect, it } from 'vitest'
import { type BanRule, LimitsErrorCode } from '../src/index.js'
import { broker, overTcp, testClock, track } from './helpers.js'

describe('ban list', () => {
  it('MQTT 5.0: ban() closes the connected clients it matches with DISCONNECT 0x98 Administrative action', async () => {
    const { stack, limits, errors } = broker()
    const bad5 = track(connectTestClient(stack))
    await bad5.connect({ clientId: 'bad-1', protocolVersion: 5 })
    const bad3 = track(connectTestClient(stack))
    await bad3.connect({ clientId: 'bad-2' })
    const good = track(connectTestClient(stack))
    await good.connect({ clientId: 'good' })
    const ban = limits.ban({ clientId: 'bad-*' }, { reason: 'abuse' })
    expect(ban).toEqual({ kind: 'clientId', pattern: 'bad-*', until: undefined, reason: 'abuse' })
    expect(await bad5.expect('disconnect')).toMatchObject({ reasonCode: 0x98 })
    await bad5.closed()
    await bad3.closed()
    expect(good.isClosed).toBe(false)
    expect(limits.stats.disconnectedBanned).toBe(2)
    expect(errors.map((err) => err.code)).toEqual([LimitsErrorCode.BANNED, LimitsErrorCode.BANNED])
  })

  it('[MQTT-3.2.2-6] [MQTT-3.2.2-7] MQTT 5.0: a banned client id is refused with CONNACK 0x8A Banned until unban()', async () => {
    const { stack, limits } = broker()
    limits.ban({ clientId: 'bad-?' })
    const refused = track(connectTestClient(stack))
    expect(await refused.connect({ clientId: 'bad-1', protocolVersion: 5 })).toMatchObject({
      reasonCode: 0x8a,
      sessionPresent: false,
    })
    await refused.closed()
    // `?` is one character: bad-12 is not matched.
    const other = track(connectTestClient(stack))
    expect((await other.connect({ clientId: 'bad-12', protocolVersion: 5 })).reasonCode).toBe(0)
    expect(limits.unban({ clientId: 'bad-?' })).toBe(true)
    expect(limits.unban({ clientId: 'bad-?' })).toBe(false)
    const back = track(connectTestClient(stack))
    expect((await back.connect({ clientId: 'bad-1', protocolVersion: 5 })).reasonCode).toBe(0)
  })

  it('[MQTT-3.2.2-4] [MQTT-3.2.2-5] 3.1.1: a banned username is refused with return code 5, then closed', async () => {
    const { stack, limits } = broker()
    limits.ban({ username: 'mallory' })
    const peer = track(connectTestClient(stack))
    expect(await peer.connect({ clientId: 'm', username: 'mallory' })).toMatchObject({
      returnCode: 5,
      sessionPresent: false,
    })
    await peer.closed()
    expect(limits.stats.refusedBanned).toBe(1)
  })

  it('a ban with a duration ends by itself', async () => {
    const clock = testClock()
    const { stack, limits } = broker({ now: clock.now })
    limits.ban({ clientId: 'pause' }, { duration: 1000 })
    const refused = track(connectTestClient(stack))
    expect((await refused.connect({ clientId: 'pause' })).returnCode).toBe(5)
    clock.advance(1000)
    expect(limits.bans()).toEqual([])
    const accepted = track(connectTestClient(stack))
    expect((await accepted.connect({ clientId: 'pause' })).returnCode).toBe(0)
  })

  it('bans from the options are in force from the start, and listed', () => {
    const bans: BanRule[] = [{ clientId: 'a' }, { username: 'u*' }, { address: '10.0.0.0/8' }]
    const { limits } = broker({ bans })
    expect(limits.bans().map(({ kind, pattern }) => ({ kind, pattern }))).toEqual([
      { kind: 'clientId', pattern: 'a' },
      { kind: 'username', pattern: 'u*' },
      { kind: 'address', pattern: '10.0.0.0/8' },
    ])
  })

  it('rejects a rule that is not one', () => {
    const { limits } = broker()
    expect(() => limits.ban({ address: 'not-an-ip' })).toThrow(
      /address must be an IP address or a CIDR range/,
    )
    expect(() => limits.ban({ clientId: 'a', username: 'b' } as unknown as BanRule)).toThrow(/exactly one/)
    expect(() => limits.ban({ clientId: 'a' }, { duration: -1 })).toThrow(/duration/)
  })

  it('an address ban (CIDR, IPv4-mapped IPv6 included) refuses at accept: CONNACK 0x8A (3.1.1: 5)', async () => {
    let address = '::ffff:203.0.113.9'
    const { stack, limits } = broker({ addressOf: () => address })
    limits.ban({ address: '203.0.113.0/24' })
    const v5 = track(connectTestClient(stack))
    expect((await v5.connect({ clientId: 'x', protocolVersion: 5 })).reasonCode).toBe(0x8a)
    const v3 = track(connectTestClient(stack))
    expect((await v3.connect({ clientId: 'y' })).returnCode).toBe(5)
    address = '203.0.114.1'
    const outside = track(connectTestClient(stack))
    expect((await outside.connect({ clientId: 'z' })).returnCode).toBe(0)
    limits.ban({ address: '2001:db8::/32' })
    address = '2001:db8::1'
    const v6 = track(connectTestClient(stack))
    expect((await v6.connect({ clientId: 'w' })).returnCode).toBe(5)
  })

  it('over TCP: banning 127.0.0.1 closes the connected client and refuses the next one', async () => {
    const { stack, limits } = broker()
    await overTcp(stack, async (port) => {
      const peer = track(await connectTestSocket(port))
      await peer.connect({ clientId: 'local', protocolVersion: 5 })
      limits.ban({ address: '127.0.0.1' })
      expect(await peer.expect('disconnect')).toMatchObject({ reasonCode: 0x98 })
      await peer.closed()
      const next = track(await connectTestSocket(port))
      expect((await next.connect({ clientId: 'local2', protocolVersion: 5 })).reasonCode).toBe(0x8a)
      await next.closed()
    })
  })
})
