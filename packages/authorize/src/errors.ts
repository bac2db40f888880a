/** Error codes of `@mqtt-stack/authorize`; the table in its README says when and how to fix. */
export const AuthorizeErrorCode = {
  /** `authorizePacket` (or, with `closeOnDeniedPublish`, `authorizePublish`) denied a packet; the client was closed. */
  NOT_AUTHORIZED: 'MQS_ERR_NOT_AUTHORIZED',
} as const

export type AuthorizeErrorCode = (typeof AuthorizeErrorCode)[keyof typeof AuthorizeErrorCode]
