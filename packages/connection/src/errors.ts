/** Error codes of @mqtt-stack/connection. */
export const ConnectionErrorCode = {
  /** A connection sent no CONNECT within `connectTimeout`; it was closed. */
  CONNECT_TIMEOUT: 'MQS_ERR_CONNECT_TIMEOUT',
} as const

export type ConnectionErrorCode = (typeof ConnectionErrorCode)[keyof typeof ConnectionErrorCode]
