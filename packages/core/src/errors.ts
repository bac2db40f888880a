/**
 * Stable error codes. A code never changes meaning once released; the table in core's README says when
 * each is raised and how to fix it.
 */
export const ErrorCode = {
  /** `use()` was given something that is not a middleware, or a middleware with invalid metadata. */
  INVALID_MIDDLEWARE: 'MQS_ERR_INVALID_MIDDLEWARE',
  /** An option has a wrong type or value. */
  INVALID_OPTION: 'MQS_ERR_INVALID_OPTION',
  /** A callback some middleware `requires` is answered by no middleware in the stack. */
  MISSING_PROVIDER: 'MQS_ERR_MISSING_PROVIDER',
  /**
   * Reported, not thrown, at `use()`: a public method's name is one edit away from a callback the stack
   * knows, so it is probably a misspelled handler; it is not registered.
   */
  MISSPELLED_CALLBACK: 'MQS_ERR_MISSPELLED_CALLBACK',
  /** A handler called `next` or `done` more than once, or after its chain ended. */
  NEXT_TWICE: 'MQS_ERR_NEXT_TWICE',
  /** A handler threw, rejected, or passed a plain error to `next`. The original is the `cause`. */
  MIDDLEWARE: 'MQS_ERR_MIDDLEWARE',
  /** The client sent bytes that are not a valid MQTT packet. */
  MALFORMED_PACKET: 'MQS_ERR_MALFORMED_PACKET',
  /** The client sent a packet larger than `maxPacketSize`. */
  PACKET_TOO_LARGE: 'MQS_ERR_PACKET_TOO_LARGE',
  /** The client broke a protocol rule that a middleware checks (wrong packet order, bad topic, ...). */
  PROTOCOL_ERROR: 'MQS_ERR_PROTOCOL_ERROR',
  /** A write was attempted on a client whose connection is closed. */
  CLIENT_CLOSED: 'MQS_ERR_CLIENT_CLOSED',
  /** The client did not read fast enough and its outgoing buffer passed `disconnectAbove`. */
  SLOW_CONSUMER: 'MQS_ERR_SLOW_CONSUMER',
  /** A QoS 0 message was not written because the client's outgoing buffer passed `dropQoS0Above`. */
  MESSAGE_DROPPED: 'MQS_ERR_MESSAGE_DROPPED',
  /** A packet could not be serialised for the client's protocol version. */
  SERIALIZE: 'MQS_ERR_SERIALIZE',
  /** The stack was used after `close()`. */
  STACK_CLOSED: 'MQS_ERR_STACK_CLOSED',
  /** A CONNECT went through every middleware and none sent CONNACK: nothing in the stack accepts connections. */
  UNANSWERED_CONNECT: 'MQS_ERR_UNANSWERED_CONNECT',
  /** An API was called where it cannot apply (`client.hold()` outside a packet chain). */
  INVALID_STATE: 'MQS_ERR_INVALID_STATE',
  /** The middlewares of a stack stand in an order one of them forbids (see `before`/`after`). */
  WRONG_ORDER: 'MQS_ERR_WRONG_ORDER',
  /** Reported once per broker: a retained message or a will was accepted and no middleware in the stack keeps it. */
  UNSTORED: 'MQS_ERR_UNSTORED',
  /** A topic name or topic filter is not valid. */
  INVALID_TOPIC: 'MQS_ERR_INVALID_TOPIC',
} as const

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

export interface MqttStackErrorOptions {
  /** MQTT 5.0 reason code that describes the failure on the wire, if there is one. */
  reasonCode?: number
  cause?: unknown
}

/**
 * The one error class of mqtt-stack. `code` is stable and machine-readable; third-party middlewares use
 * their own prefix instead of `MQS_ERR_`.
 */
export class MqttStackError extends Error {
  readonly code: string
  readonly reasonCode: number | undefined

  constructor(code: string, message: string, options: MqttStackErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'MqttStackError'
    this.code = code
    this.reasonCode = options.reasonCode
  }
}

/** Wraps anything thrown by a handler so the error channel always carries a code. */
export function toMqttStackError(err: unknown): MqttStackError {
  if (err instanceof MqttStackError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new MqttStackError(ErrorCode.MIDDLEWARE, message, { cause: err })
}
