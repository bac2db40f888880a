/** Error codes of `@mqtt-stack/authentication`; the table in its README says when and how to fix. */
export const AuthenticationErrorCode = {
  /** A CONNECT was refused; the client was closed with this error after its CONNACK. */
  NOT_AUTHENTICATED: 'MQS_ERR_NOT_AUTHENTICATED',
  /** MQTT 5.0: an AUTH exchange took longer than `authenticationTimeout`; the client was closed. */
  AUTHENTICATION_TIMEOUT: 'MQS_ERR_AUTHENTICATION_TIMEOUT',
} as const

export type AuthenticationErrorCode = (typeof AuthenticationErrorCode)[keyof typeof AuthenticationErrorCode]
