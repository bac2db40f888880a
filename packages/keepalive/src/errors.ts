/** Error codes of @mqtt-stack/keepalive. */
export const KeepAliveErrorCode = {
  /** A client sent nothing for 1.5 times its keepalive; it was closed through `closeClient`. */
  KEEPALIVE_TIMEOUT: 'MQS_ERR_KEEPALIVE_TIMEOUT',
} as const

export type KeepAliveErrorCode = (typeof KeepAliveErrorCode)[keyof typeof KeepAliveErrorCode]
