import { ErrorCode } from '@mqtt-stack/core'
import { connectTestClient } from '@mqtt-stack/core/testing'
import { describe, expect, it } from 'vitest'
import { LIMITS_DEFAULTS, Limits, validateLimitsOptions } from '../src/index.js'
import { broker } from './helpers.js'

describe('options', () => {
  it('validates plain options as a config file gives them, naming the bad key', () => {
    expect(validateLimitsOptions({ maxConnections: 10, bans: [{ clientId: 'x' }] })).toEqual({
      maxConnections: 10,
      bans: [{ clientId: 'x' }],
    })
    expect(validateLimitsOptions(undefined)).toEqual({})
    const cases: Array<[unknown, RegExp]> = [
      [{ maxConections: 1 }, /limits\.maxConections is not a limit/],
      [{ maxConnections: -1 }, /limits\.maxConnections must be a number >= 0/],
      [{ maxTopicLevels: '5' }, /limits\.maxTopicLevels must be a number/],
      [{ maxSubscriptionsPerClient: 1.5 }, /limits\.maxSubscriptionsPerClient must be a whole number/],
      [{ bans: { clientId: 'x' } }, /limits\.bans must be an array/],
      [{ bans: [{ address: '300.1.1.1' }] }, /limits\.bans\[0\] address must be an IP address/],
      [[], /limits must be an object/],
    ]
    for (const [options, message] of cases) {
      expect(() => validateLimitsOptions(options)).toThrow(message)
      try {
        validateLimitsOptions(options)
      } catch (err) {
        expect((err as { code: string }).code).toBe(ErrorCode.INVALID_OPTION)
      }
    }
    // Rates may have a fraction.
    expect(validateLimitsOptions({ publishRate: 0.5 })).toEqual({ publishRate: 0.5 })
  })

  it('the constructor checks its options too', () => {
    expect(() => new Limits({ maxTopicLevels: -3 })).toThrow(/limits\.maxTopicLevels/)
    expect(() => new Limits({ now: 5 as unknown as () => number })).toThrow(/limits\.now must be a function/)
  })

  it('the defaults are generous and frozen', () => {
    expect(Object.isFrozen(LIMITS_DEFAULTS)).toBe(true)
    expect(LIMITS_DEFAULTS).toMatchObject({
      maxTopicLength: 65_535,
      maxTopicLevels: 128,
      maxConnections: 1_000_000,
    })
  })

  it('0 turns a limit off', async () => {
    const { stack, published } = broker({ maxTopicLevels: 0, publishRate: 0, publishBurst: 0 })
    const peer = connectTestClient(stack)
    await peer.connect({ clientId: 'free', protocolVersion: 5 })
    for (let id = 1; id <= 3; id++) {
      peer.send({
        cmd: 'publish',
        topic: 'a/'.repeat(300).concat('z'),
        payload: Buffer.from('x'),
        qos: 1,
        messageId: id,
        dup: false,
        retain: false,
      })
      expect(await peer.expect('puback')).toMatchObject({ messageId: id })
    }
    expect(published).toHaveLength(3)
    peer.destroy()
  })
})
