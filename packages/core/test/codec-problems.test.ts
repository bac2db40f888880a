import { describe, expect, it } from 'vitest'
import { codecError } from '../src/codec/problems.js'
import { CodecProblem, codecProblemReason, ErrorCode, ReasonCode } from '../src/index.js'

describe('codec problems', () => {
  it('reports each problem with the error code and the DISCONNECT reason code of its kind', () => {
    const kinds = Object.values(CodecProblem).map((problem) => {
      const error = codecError(problem, 'detail')
      expect(error.reasonCode).toBe(codecProblemReason(problem))
      expect(error.message).toContain('detail')
      return [problem, error.code, error.reasonCode]
    })
    expect(kinds).toContainEqual([
      CodecProblem.PACKET_TOO_LARGE,
      ErrorCode.PACKET_TOO_LARGE,
      ReasonCode.PACKET_TOO_LARGE,
    ])
    expect(kinds).toContainEqual([
      CodecProblem.TRUNCATED,
      ErrorCode.MALFORMED_PACKET,
      ReasonCode.MALFORMED_PACKET,
    ])
    for (const problem of [
      CodecProblem.PROPERTY_NOT_ALLOWED,
      CodecProblem.DUPLICATE_PROPERTY,
      CodecProblem.ZERO_PACKET_IDENTIFIER,
      // 0x84 is a CONNACK code: a DISCONNECT says Protocol Error.
      CodecProblem.UNSUPPORTED_PROTOCOL_VERSION,
    ]) {
      expect(kinds).toContainEqual([problem, ErrorCode.PROTOCOL_ERROR, ReasonCode.PROTOCOL_ERROR])
    }
  })

  it('keeps the cause it is given', () => {
    const cause = new Error('from mqtt-packet')
    expect(codecError(CodecProblem.MALFORMED_PACKET, 'x', cause).cause).toBe(cause)
  })
})
