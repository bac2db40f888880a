import type { Client } from '@mqtt-stack/core'

/** Options of {@link Authentication}. It has none yet: what is accepted is the provider's business. */
// biome-ignore lint/complexity/noBannedTypes: an options object that takes no members yet
export type AuthenticationOptions = {}

export const AUTHENTICATION_DEFAULTS: Readonly<AuthenticationOptions> = Object.freeze({})

/** Decides whether `username` and `password` may connect; may be async. Only `true` accepts. */
export type CredentialsCheck = (
  username: string,
  password: Buffer | undefined,
  client: Client,
) => boolean | Promise<boolean>

/** Options of {@link StaticCredentials}: give `users` or `check` (not both), and/or `allowAnonymous`. */
export interface StaticCredentialsOptions {
  /** Username to password (UTF-8). Looked up as own keys only, compared in constant time. */
  users: Readonly<Record<string, string>> | undefined
  /** Your own check instead of `users`. */
  check: CredentialsCheck | undefined
  /** Accept a CONNECT without a username. */
  allowAnonymous: boolean
}

export const STATIC_CREDENTIALS_DEFAULTS: Readonly<StaticCredentialsOptions> = Object.freeze({
  users: undefined,
  check: undefined,
  allowAnonymous: false,
})
