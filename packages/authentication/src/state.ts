import type { HeldChain, IConnectPacket } from '@mqtt-stack/core'

/** Where a connection stands in MQTT 5.0 enhanced authentication. */
export type AuthenticationPhase =
  /** No AUTH exchange: a CONNECT without Authentication Method, or an exchange that has ended. */
  | 'idle'
  /** AUTH packets are exchanged between CONNECT and CONNACK. */
  | 'connecting'
  /** A re-authentication (AUTH 0x19) is in progress after CONNACK. */
  | 'reauthenticating'

/** What authentication keeps per connection, in `client.state.authentication`. */
export interface AuthenticationState {
  /** `store.user` of the accepting provider (StaticCredentials, ScramSha256: the username). */
  user: unknown
  /** MQTT 5.0: the Authentication Method of the CONNECT, when it had one. */
  method?: string | undefined
  /** MQTT 5.0: the enhanced authentication phase. */
  phase?: AuthenticationPhase
  /** MQTT 5.0: Authentication Data for the CONNACK, from the provider's last step. */
  connackData?: Buffer | undefined
  /** MQTT 5.0: the CONNECT held while AUTH packets are exchanged; its chain resumes on success. */
  connect?: IConnectPacket | undefined
  /** @internal The CONNECT's chain, held through core (`client.hold`) while AUTH packets are exchanged. */
  held?: HeldChain | undefined
  /** @internal The timer bounding the AUTH exchange in progress. */
  timer?: NodeJS.Timeout | undefined
  /** @internal The per-exchange data of the provider of the method (ScramSha256 keeps its nonces here). */
  exchange?: unknown
}

declare module '@mqtt-stack/core' {
  interface ClientState {
    /** Set by `@mqtt-stack/authentication` once the CONNECT was accepted (5.0: when an AUTH exchange starts). */
    authentication?: AuthenticationState
  }
}
