/**
 * What this package keeps per connection, in `client.state.authorize`: the CONNECT facts TopicAcl records,
 * and TopicAcl's internals.
 */
export interface AuthorizeState {
  /** The CONNECT username, recorded by TopicAcl; undefined for an anonymous client. */
  username: string | undefined
  /** The CONNECT client identifier, recorded by TopicAcl (empty when the server assigns one). */
  connectClientId: string
  /** @internal TopicAcl's rules with `%c` and `%u` replaced for this connection. */
  acl: unknown
}

declare module '@mqtt-stack/core' {
  interface ClientState {
    /** Kept by `@mqtt-stack/authorize` (Authorize and TopicAcl). */
    authorize?: AuthorizeState
  }
}

/** The state of `client`, created on first use with a stable shape. */
export function authorizeState(state: { authorize?: AuthorizeState }): AuthorizeState {
  let own = state.authorize
  if (own === undefined) {
    own = { username: undefined, connectClientId: '', acl: undefined }
    state.authorize = own
  }
  return own
}
