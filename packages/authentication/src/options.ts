import type { Client } from '@mqtt-stack/core'

/** Options of {@link Authentication}. What is accepted is the provider's business. */
export interface AuthenticationOptions {
  /**
   * MQTT 5.0: milliseconds an AUTH exchange (at CONNECT or a re-authentication) may take before the client is
   * refused (CONNACK 0x87, or DISCONNECT 0x87 after CONNACK) and closed. 0: no limit.
   */
  authenticationTimeout: number
}

export const AUTHENTICATION_DEFAULTS: Readonly<AuthenticationOptions> = Object.freeze({
  authenticationTimeout: 30_000,
})

/** Decides whether `username` and `password` may connect; may be async. Only `true` accepts. */
export type CredentialsCheck = (
  username: string,
  password: Buffer | undefined,
  client: Client,
) => boolean | Promise<boolean>

/**
 * Options of {@link StaticCredentials}: give `users` or `check` (not both), and/or `allowAnonymous`. With
 * neither `users` nor `check`, every CONNECT that carries a username is accepted (open mode).
 */
export interface StaticCredentialsOptions {
  /** Username to password (UTF-8). Looked up as own keys only, compared in constant time. */
  users: Readonly<Record<string, string>> | undefined
  /** Your own check instead of `users`. */
  check: CredentialsCheck | undefined
  /** Accept a CONNECT without a username (whatever `users` or `check` say about those with one). */
  allowAnonymous: boolean
}

export const STATIC_CREDENTIALS_DEFAULTS: Readonly<StaticCredentialsOptions> = Object.freeze({
  users: undefined,
  check: undefined,
  allowAnonymous: false,
})

/** Options of {@link ScramSha256}. */
export interface ScramSha256Options {
  /** Username to password (UTF-8, used as given: no SASLprep). Read once; only salted keys are kept. */
  users: Readonly<Record<string, string>>
  /** PBKDF2 iterations of the salted passwords; RFC 7677 asks for at least 4096. */
  iterations: number
}

export const SCRAM_SHA_256_DEFAULTS: Readonly<ScramSha256Options> = Object.freeze({
  users: Object.freeze({}),
  iterations: 4096,
})
