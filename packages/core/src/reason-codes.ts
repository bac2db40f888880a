/**
 * The protocol's numbers, named once for every package: MQTT 5.0 reason codes as section 2.4 names them,
 * MQTT 3.1/3.1.1 return codes, and the mapping between the CONNACK codes of the two.
 */
import type { IConnackPacket, ProtocolVersion } from './packets.js'

/**
 * MQTT 5.0 reason codes (section 2.4). A value may have several names, one per packet that uses it
 * (0x00 is Success, Normal disconnection and Granted QoS 0).
 */
export const ReasonCode = Object.freeze({
  SUCCESS: 0x00,
  NORMAL_DISCONNECTION: 0x00,
  GRANTED_QOS_0: 0x00,
  GRANTED_QOS_1: 0x01,
  GRANTED_QOS_2: 0x02,
  DISCONNECT_WITH_WILL_MESSAGE: 0x04,
  NO_MATCHING_SUBSCRIBERS: 0x10,
  NO_SUBSCRIPTION_EXISTED: 0x11,
  CONTINUE_AUTHENTICATION: 0x18,
  RE_AUTHENTICATE: 0x19,
  UNSPECIFIED_ERROR: 0x80,
  MALFORMED_PACKET: 0x81,
  PROTOCOL_ERROR: 0x82,
  IMPLEMENTATION_SPECIFIC_ERROR: 0x83,
  UNSUPPORTED_PROTOCOL_VERSION: 0x84,
  CLIENT_IDENTIFIER_NOT_VALID: 0x85,
  BAD_USER_NAME_OR_PASSWORD: 0x86,
  NOT_AUTHORIZED: 0x87,
  SERVER_UNAVAILABLE: 0x88,
  SERVER_BUSY: 0x89,
  BANNED: 0x8a,
  SERVER_SHUTTING_DOWN: 0x8b,
  BAD_AUTHENTICATION_METHOD: 0x8c,
  KEEP_ALIVE_TIMEOUT: 0x8d,
  SESSION_TAKEN_OVER: 0x8e,
  TOPIC_FILTER_INVALID: 0x8f,
  TOPIC_NAME_INVALID: 0x90,
  PACKET_IDENTIFIER_IN_USE: 0x91,
  PACKET_IDENTIFIER_NOT_FOUND: 0x92,
  RECEIVE_MAXIMUM_EXCEEDED: 0x93,
  TOPIC_ALIAS_INVALID: 0x94,
  PACKET_TOO_LARGE: 0x95,
  MESSAGE_RATE_TOO_HIGH: 0x96,
  QUOTA_EXCEEDED: 0x97,
  ADMINISTRATIVE_ACTION: 0x98,
  PAYLOAD_FORMAT_INVALID: 0x99,
  RETAIN_NOT_SUPPORTED: 0x9a,
  QOS_NOT_SUPPORTED: 0x9b,
  USE_ANOTHER_SERVER: 0x9c,
  SERVER_MOVED: 0x9d,
  SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: 0x9e,
  CONNECTION_RATE_EXCEEDED: 0x9f,
  MAXIMUM_CONNECT_TIME: 0xa0,
  SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: 0xa1,
  WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: 0xa2,
} as const)

export type ReasonCode = (typeof ReasonCode)[keyof typeof ReasonCode]

/** Whether `code` is a reason code that says a request failed: a whole number from 0x80 to 0xFF (section 2.4). */
export function isFailureCode(code: number | undefined): code is number {
  return code !== undefined && Number.isInteger(code) && code >= ReasonCode.UNSPECIFIED_ERROR && code <= 0xff
}

/** MQTT 3.1/3.1.1 return codes: CONNACK's (3.1.1 section 3.2.2.3), and SUBACK's Failure (section 3.9.3). */
export const ReturnCode = Object.freeze({
  ACCEPTED: 0x00,
  UNACCEPTABLE_PROTOCOL_VERSION: 0x01,
  IDENTIFIER_REJECTED: 0x02,
  SERVER_UNAVAILABLE: 0x03,
  BAD_USER_NAME_OR_PASSWORD: 0x04,
  NOT_AUTHORIZED: 0x05,
  /** SUBACK: the subscription was refused. */
  FAILURE: 0x80,
} as const)

export type ReturnCode = (typeof ReturnCode)[keyof typeof ReturnCode]

/**
 * The 3.1.1 CONNACK return code closest to the reason code of a refusing MQTT 5.0 CONNACK, or undefined
 * when none says the same (3.1.1 has no code for a malformed CONNECT, for instance).
 */
export function connackReturnCode(reasonCode: number): ReturnCode | undefined {
  switch (reasonCode) {
    case ReasonCode.UNSUPPORTED_PROTOCOL_VERSION:
      return ReturnCode.UNACCEPTABLE_PROTOCOL_VERSION
    case ReasonCode.CLIENT_IDENTIFIER_NOT_VALID:
      return ReturnCode.IDENTIFIER_REJECTED
    case ReasonCode.SERVER_UNAVAILABLE:
    case ReasonCode.SERVER_BUSY:
      return ReturnCode.SERVER_UNAVAILABLE
    case ReasonCode.BAD_USER_NAME_OR_PASSWORD:
      return ReturnCode.BAD_USER_NAME_OR_PASSWORD
    case ReasonCode.NOT_AUTHORIZED:
    case ReasonCode.BANNED:
      return ReturnCode.NOT_AUTHORIZED
    default:
      return undefined
  }
}

/** The MQTT 5.0 CONNACK reason code that means what a 3.1.1 CONNACK return code means (0 to 5). */
const RETURN_TO_REASON: readonly ReasonCode[] = Object.freeze([
  ReasonCode.SUCCESS,
  ReasonCode.UNSUPPORTED_PROTOCOL_VERSION,
  ReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
  ReasonCode.SERVER_UNAVAILABLE,
  ReasonCode.BAD_USER_NAME_OR_PASSWORD,
  ReasonCode.NOT_AUTHORIZED,
])

/** The MQTT 5.0 CONNACK reason code of a 3.1.1 CONNACK return code, or undefined for one above 5. */
export function connackReasonCode(returnCode: number): ReasonCode | undefined {
  return RETURN_TO_REASON[returnCode]
}

/**
 * A CONNACK refusing a connection for `reasonCode`, in the form of `protocolVersion`: the reason code
 * itself in 5.0, its closest return code in 3.1/3.1.1 (Server unavailable when none is close). A refusal
 * has Session Present 0 [MQTT-3.2.2-4] (5.0: [MQTT-3.2.2-6]).
 */
export function connackRefusal(protocolVersion: ProtocolVersion, reasonCode: number): IConnackPacket {
  return protocolVersion === 5
    ? { cmd: 'connack', reasonCode, sessionPresent: false }
    : {
        cmd: 'connack',
        returnCode: connackReturnCode(reasonCode) ?? ReturnCode.SERVER_UNAVAILABLE,
        sessionPresent: false,
      }
}
