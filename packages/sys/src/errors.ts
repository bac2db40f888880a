/** Error codes of @mqtt-stack/sys (misconfigured options are core's `MQS_ERR_INVALID_OPTION`). */
export const SysErrorCode = {
  /**
   * A CONNECT was refused (CONNACK 0x87, 3.1.1: 5 Not authorized) because its will topic is `$SYS` or a
   * topic under it, where no client publishes.
   */
  WILL_REFUSED: 'MQS_ERR_SYS_WILL_REFUSED',
} as const

export type SysErrorCode = (typeof SysErrorCode)[keyof typeof SysErrorCode]
