import { describe, expect, it } from 'vitest'
import {
  connackReasonCode,
  connackRefusal,
  connackReturnCode,
  isFailureCode,
  ReasonCode,
  ReturnCode,
} from '../src/index.js'

describe('reason codes', () => {
  it('names the MQTT 5.0 reason codes with the values of section 2.4', () => {
    expect(ReasonCode.NOT_AUTHORIZED).toBe(0x87)
    expect(ReasonCode.UNSUPPORTED_PROTOCOL_VERSION).toBe(0x84)
    expect(ReasonCode.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED).toBe(0xa2)
    // Every error code is 0x80 or above; the others are below.
    for (const [name, value] of Object.entries(ReasonCode)) {
      expect(value >= 0x80, name).toBe(
        !/^(SUCCESS|NORMAL|GRANTED|DISCONNECT_WITH|NO_|CONTINUE|RE_)/.test(name),
      )
    }
    expect(Object.isFrozen(ReasonCode)).toBe(true)
  })

  it('tells a failure code (0x80 to 0xFF) from the rest, and from what is not a reason code at all', () => {
    expect([0x80, 0x87, 0xff].map(isFailureCode)).toEqual([true, true, true])
    expect([undefined, 0, 0x7f, 0x100, 0x87 + 0.5, Number.NaN].map(isFailureCode)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ])
  })

  it('maps every refusing 3.1.1 CONNACK return code to a 5.0 reason code and back', () => {
    for (let returnCode = 1; returnCode <= 5; returnCode++) {
      const reason = connackReasonCode(returnCode)
      expect(reason).toBeGreaterThanOrEqual(0x80)
      expect(connackReturnCode(reason!)).toBe(returnCode)
    }
    expect(connackReasonCode(ReturnCode.ACCEPTED)).toBe(ReasonCode.SUCCESS)
    expect(connackReasonCode(6)).toBeUndefined()
  })

  it('maps 5.0 refusals with no 3.1.1 twin to the closest return code, or none', () => {
    expect(connackReturnCode(ReasonCode.SERVER_BUSY)).toBe(ReturnCode.SERVER_UNAVAILABLE)
    expect(connackReturnCode(ReasonCode.BANNED)).toBe(ReturnCode.NOT_AUTHORIZED)
    expect(connackReturnCode(ReasonCode.MALFORMED_PACKET)).toBeUndefined()
    // Success is not a refusal: a caller mapping refusals never turns one into an acceptance.
    expect(connackReturnCode(ReasonCode.SUCCESS)).toBeUndefined()
  })

  it('[MQTT-3.2.2-4] [MQTT-3.2.2-6] writes a refusing CONNACK in the form of each protocol version, Session Present 0', () => {
    expect(connackRefusal(5, ReasonCode.SERVER_BUSY)).toEqual({
      cmd: 'connack',
      reasonCode: 0x89,
      sessionPresent: false,
    })
    expect(connackRefusal(4, ReasonCode.UNSUPPORTED_PROTOCOL_VERSION)).toEqual({
      cmd: 'connack',
      returnCode: 0x01,
      sessionPresent: false,
    })
    expect(connackRefusal(3, ReasonCode.QUOTA_EXCEEDED)).toMatchObject({ returnCode: 0x03 })
  })
})
