import type { ListenerCounters } from './counters.js'

/** What metrics keeps per connection. */
export interface MetricsClientState {
  /** The counters of the connection's listener. */
  counters: ListenerCounters
  /** A CONNACK that accepts the connection was written. */
  connected: boolean
  /** A DISCONNECT was received: the end is clean. */
  disconnected: boolean
  /** QoS 1/2 PUBLISH packets written and not yet acknowledged (PUBACK, PUBCOMP). */
  inflight: number
}

declare module '@mqtt-stack/core' {
  interface ClientState {
    metrics?: MetricsClientState
  }
}
