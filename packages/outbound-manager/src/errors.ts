/** Error codes of `@mqtt-stack/outbound-manager`. */
export const OutboundErrorCode = {
  /**
   * A client's waiting queue was full and the backend did not keep the message offline (its session is not
   * kept, or its offline queue is full too): the message was not delivered to that client.
   */
  QUEUE_FULL: 'MQS_ERR_QUEUE_FULL',
} as const

export type OutboundErrorCode = (typeof OutboundErrorCode)[keyof typeof OutboundErrorCode]
