/** Error codes of @mqtt-stack/sys (misconfigured options are core's `MQS_ERR_INVALID_OPTION`). */
export const SysErrorCode = {
  /**
   * Reported once, at the first connection: nothing in the stack executes `authorizePublish` for client
   * PUBLISH packets (no `Authorize` of @mqtt-stack/authorize), so clients are not kept from publishing to
   * `$SYS/...`. Fix: `use(new Authorize())`.
   */
  UNGUARDED: 'MQS_ERR_SYS_UNGUARDED',
} as const

export type SysErrorCode = (typeof SysErrorCode)[keyof typeof SysErrorCode]
