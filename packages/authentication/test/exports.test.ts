import { ReasonCode } from '@mqtt-stack/core'
import { describe, expect, it } from 'vitest'
import { AUTH_SUCCESS, CONTINUE_AUTHENTICATION, RE_AUTHENTICATE } from '../src/index.js'

describe('deprecated exports', () => {
  it("keeps the AUTH reason codes as aliases of core's ReasonCode for one release", () => {
    expect([AUTH_SUCCESS, CONTINUE_AUTHENTICATION, RE_AUTHENTICATE]).toEqual([
      ReasonCode.SUCCESS,
      ReasonCode.CONTINUE_AUTHENTICATION,
      ReasonCode.RE_AUTHENTICATE,
    ])
    expect([AUTH_SUCCESS, CONTINUE_AUTHENTICATION, RE_AUTHENTICATE]).toEqual([0x00, 0x18, 0x19])
  })
})
