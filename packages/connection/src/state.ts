import type { IDisconnectPacket } from '@mqtt-stack/core'

/** What connection keeps per client, in `client.state.connection`. */
export class ConnectionState {
  /** A CONNECT has been processed: any further CONNECT is a protocol violation. */
  connected = false
  /** A DISCONNECT was received: the end of this connection is clean. */
  disconnected = false
  /** MQTT 5.0: the DISCONNECT received, passed on in `cleanDisconnect` (its reason code and properties). */
  disconnectPacket: IDisconnectPacket | undefined = undefined
  /** MQTT 5.0: the CONNECT had no (or a zero) Session Expiry Interval, which a DISCONNECT may not raise. */
  sessionExpiryZero = true
  /** `cleanDisconnect` or `uncleanDisconnect` has been executed (it is executed once). */
  ended = false
  /** Closes the connection when no CONNECT arrives in time; cleared on CONNECT and on close. */
  connectTimer: NodeJS.Timeout | undefined = undefined
}

declare module '@mqtt-stack/core' {
  interface ClientState {
    /** Kept by @mqtt-stack/connection. */
    connection?: ConnectionState
  }
}
