/** What authentication keeps per connection, in `client.state.authentication`. */
export interface AuthenticationState {
  /** `store.user` of the accepting `authenticateConnection` provider (StaticCredentials: the username). */
  user: unknown
}

declare module '@mqtt-stack/core' {
  interface ClientState {
    /** Set by `@mqtt-stack/authentication` once the CONNECT was accepted. */
    authentication?: AuthenticationState
  }
}
