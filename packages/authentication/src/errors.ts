/** Error codes of `@mqtt-stack/authentication`; the table in its README says when and how to fix. */
export const AuthenticationErrorCode = {
  /** A CONNECT was refused; the client was closed with this error after its CONNACK. */
  NOT_AUTHENTICATED: 'MQS_ERR_NOT_AUTHENTICATED',
} as const

export type AuthenticationErrorCode = (typeof AuthenticationErrorCode)[keyof typeof AuthenticationErrorCode]
