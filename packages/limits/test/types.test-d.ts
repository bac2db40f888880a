import type { Client } from '@mqtt-stack/core'
import { describe, expectTypeOf, it } from 'vitest'
import {
  type Ban,
  type BanRule,
  LIMITS_DEFAULTS,
  type Limits,
  type LimitsOptions,
  type LimitsState,
  validateLimitsOptions,
} from '../src/index.js'

declare const client: Client
declare const limits: Limits

describe('types', () => {
  it('declares its per-connection state on ClientState', () => {
    expectTypeOf(client.state.limits).toEqualTypeOf<LimitsState | undefined>()
  })

  it('takes one of clientId, username or address in a ban rule', () => {
    expectTypeOf(limits.ban).parameter(0).toEqualTypeOf<BanRule>()
    expectTypeOf(limits.ban({ address: '10.0.0.0/8' })).toEqualTypeOf<Ban>()
    // @ts-expect-error: a rule names what it bans
    limits.ban({ topic: 'a' })
  })

  it('has every option optional, with its default in LIMITS_DEFAULTS', () => {
    expectTypeOf(validateLimitsOptions({})).toEqualTypeOf<Partial<LimitsOptions>>()
    expectTypeOf(LIMITS_DEFAULTS).toEqualTypeOf<Readonly<LimitsOptions>>()
  })
})
