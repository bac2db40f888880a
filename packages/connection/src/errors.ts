/** Error codes of @mqtt-stack/connection. */
export const ConnectionErrorCode = {
  /** A connection sent no CONNECT within `connectTimeout`; it was closed. */
  CONNECT_TIMEOUT: 'MQS_ERR_CONNECT_TIMEOUT',
  /**
   * The event loop lagged more than `busyLag`: new CONNECTs are refused with Server busy (reported once per
   * busy spell; each refusal is counted in `stats.refusedBusy`).
   */
  SERVER_BUSY: 'MQS_ERR_SERVER_BUSY',
} as const

export type ConnectionErrorCode = (typeof ConnectionErrorCode)[keyof typeof ConnectionErrorCode]
