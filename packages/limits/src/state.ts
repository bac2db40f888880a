import type { Done, ISubscribePacket, MqttStackError, Next } from '@mqtt-stack/core'

/** What limits keeps per connection, in `client.state.limits`, from the moment it is accepted. */
export class LimitsState {
  /** Counted in the open connections (a connection refused when accepted is not). */
  counted = false
  /** Set when the connection was refused as it was accepted: its CONNECT gets this refusal. */
  refusal: MqttStackError | undefined = undefined
  /** Refused when accepted, and counted among those waiting for their CONNECT to be answered. */
  pending = false
  /** The username of the CONNECT. */
  username: string | undefined = undefined
  /**
   * Publish token buckets: messages and bytes left, refilled at each PUBLISH for the time since `refilledAt`
   * (on the clock of the publish rate; 0, long ago, while they are full from the start).
   */
  messages: number
  bytes: number
  refilledAt = 0
  /** MQTT 3.1/3.1.1: a PUBLISH held back by the rate, and when it goes on. */
  next: Next | undefined = undefined
  done: Done | undefined = undefined
  wakeAt = 0
  /** The topic filters this client holds (kept from `subscribeTopic` / `unsubscribeTopic`). */
  filters: Set<string> | undefined = undefined
  /** The SUBSCRIBE whose filters are being authorised, and how many new ones it has been granted so far. */
  subscribing: ISubscribePacket | undefined = undefined
  subscribingNew = 0

  constructor(
    /** The IP address of the connection, if its stream has one. */
    readonly address: string | undefined,
    /** The listener it was accepted on (`client.listener`, named by `stack.handler({ listener })`). */
    readonly listener: string,
    messages: number,
    bytes: number,
  ) {
    this.messages = messages
    this.bytes = bytes
  }
}

declare module '@mqtt-stack/core' {
  interface ClientState {
    /** Kept by @mqtt-stack/limits. */
    limits?: LimitsState
  }
}
