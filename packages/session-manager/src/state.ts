/** What session-manager keeps per connection, in `client.state.sessionManager`. */
export interface SessionManagerState {
  /** The client identifier the session belongs to. */
  clientId: string
  /**
   * Seconds the session outlives the connection: 0 (a clean session) removes it when the connection ends,
   * 0xFFFFFFFF never expires. MQTT 5.0: the CONNECT's (capped by `maxSessionExpiryInterval`), replaced by
   * the DISCONNECT's.
   */
  expiryInterval: number
  /** MQTT 5.0: the Session Expiry Interval the CONNECT asked for (absent: 0), before any cap. */
  requestedExpiryInterval: number
  /** True while the CONNECT is being processed (before its CONNACK). */
  connecting: boolean
  /** True once the end of the connection has been handled (or deferred until the CONNECT is processed). */
  ended: boolean
}

declare module '@mqtt-stack/core' {
  interface ClientState {
    /** session-manager: the session of this connection, once its CONNECT was accepted. */
    sessionManager?: SessionManagerState
  }
}
