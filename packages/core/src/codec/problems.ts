import { ErrorCode, MqttStackError } from '../errors.js'
import { ReasonCode } from '../reason-codes.js'

/**
 * Why the codec refused a client's bytes. Callers decide on these codes, never on message text; the
 * detail that goes with one is for people.
 */
export const CodecProblem = Object.freeze({
  /** The remaining length takes more than four bytes, or more bytes than it needs [MQTT-1.5.5-1]. */
  MALFORMED_LENGTH: 'malformed-length',
  /** The packet is larger than the client's `maxPacketSize`. */
  PACKET_TOO_LARGE: 'packet-too-large',
  /** Reserved flag bits of the fixed header are wrong [MQTT-2.2.2-2], or a PUBLISH has QoS 3 [MQTT-3.3.1-4]. */
  INVALID_FLAGS: 'invalid-flags',
  /** A SUBSCRIBE's options byte has reserved bits set or QoS 3 [MQTT-3.8.3-4]. */
  INVALID_SUBSCRIPTION_OPTIONS: 'invalid-subscription-options',
  /** A field runs past the end of the packet, or the packet ends before a field it needs. */
  TRUNCATED: 'truncated',
  /** Bytes after the last field of the packet [MQTT-3.1.4-1]. */
  TRAILING_BYTES: 'trailing-bytes',
  /** A UTF-8 string is not well formed [MQTT-1.5.3-1] (5.0: [MQTT-1.5.4-1]). */
  INVALID_UTF8: 'invalid-utf8',
  /** A UTF-8 string holds U+0000 [MQTT-1.5.3-2] (5.0: [MQTT-1.5.4-2]). */
  NULL_CHARACTER: 'null-character',
  /** A CONNECT names protocol MQTT (or MQIsdp) at a level other than 3, 4 or 5 [MQTT-3.1.2-2]. */
  UNSUPPORTED_PROTOCOL_VERSION: 'unsupported-protocol-version',
  /** MQTT 5.0: a property that does not belong in the packet that carries it. */
  PROPERTY_NOT_ALLOWED: 'property-not-allowed',
  /** MQTT 5.0: a property given twice that may be given once. */
  DUPLICATE_PROPERTY: 'duplicate-property',
  /** A QoS 1/2 PUBLISH, a SUBSCRIBE or an UNSUBSCRIBE with packet identifier 0 [MQTT-2.3.1-1]. */
  ZERO_PACKET_IDENTIFIER: 'zero-packet-identifier',
  /** Anything else the packet format forbids (an unknown packet type, a wrong protocol name, ...). */
  MALFORMED_PACKET: 'malformed-packet',
} as const)

export type CodecProblem = (typeof CodecProblem)[keyof typeof CodecProblem]

/** A problem found in a frame, what it was (for people), and mqtt-packet's error when it found it. */
export class CodecRefusal {
  constructor(
    readonly problem: CodecProblem,
    readonly detail: string,
    readonly cause?: Error,
  ) {}
}

/**
 * The error code and MQTT 5.0 reason code of each problem: the reason a DISCONNECT would carry. A CONNECT
 * of an unsupported level is a Protocol Error here because 0x84 is a CONNACK code only; which CONNACK
 * refuses it is protocol policy, decided by the middleware that answers `decodeFailed`.
 */
const CLASSES: Readonly<Record<CodecProblem, readonly [code: ErrorCode, reasonCode: ReasonCode]>> = {
  'packet-too-large': [ErrorCode.PACKET_TOO_LARGE, ReasonCode.PACKET_TOO_LARGE],
  'unsupported-protocol-version': [ErrorCode.PROTOCOL_ERROR, ReasonCode.PROTOCOL_ERROR],
  'property-not-allowed': [ErrorCode.PROTOCOL_ERROR, ReasonCode.PROTOCOL_ERROR],
  'duplicate-property': [ErrorCode.PROTOCOL_ERROR, ReasonCode.PROTOCOL_ERROR],
  'zero-packet-identifier': [ErrorCode.PROTOCOL_ERROR, ReasonCode.PROTOCOL_ERROR],
  'malformed-length': [ErrorCode.MALFORMED_PACKET, ReasonCode.MALFORMED_PACKET],
  'invalid-flags': [ErrorCode.MALFORMED_PACKET, ReasonCode.MALFORMED_PACKET],
  'invalid-subscription-options': [ErrorCode.MALFORMED_PACKET, ReasonCode.MALFORMED_PACKET],
  truncated: [ErrorCode.MALFORMED_PACKET, ReasonCode.MALFORMED_PACKET],
  'trailing-bytes': [ErrorCode.MALFORMED_PACKET, ReasonCode.MALFORMED_PACKET],
  'invalid-utf8': [ErrorCode.MALFORMED_PACKET, ReasonCode.MALFORMED_PACKET],
  'null-character': [ErrorCode.MALFORMED_PACKET, ReasonCode.MALFORMED_PACKET],
  'malformed-packet': [ErrorCode.MALFORMED_PACKET, ReasonCode.MALFORMED_PACKET],
}

/** The MQTT 5.0 reason code that a DISCONNECT for `problem` carries. */
export function codecProblemReason(problem: CodecProblem): ReasonCode {
  return CLASSES[problem][1]
}

/** The error a codec problem is reported as: `MQS_ERR_MALFORMED_PACKET`, `_PROTOCOL_ERROR` or `_PACKET_TOO_LARGE`. */
export function codecError(problem: CodecProblem, detail: string, cause?: Error): MqttStackError {
  const [code, reasonCode] = CLASSES[problem]
  const kind = code === ErrorCode.PROTOCOL_ERROR ? 'protocol error' : 'malformed packet'
  const message = code === ErrorCode.PACKET_TOO_LARGE ? detail : `${kind} (${problem}): ${detail}`
  return new MqttStackError(code, message, cause === undefined ? { reasonCode } : { reasonCode, cause })
}
