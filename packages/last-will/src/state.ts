import type { IConnectPacket } from '@mqtt-stack/core'

/** The will of a CONNECT, as mqtt-packet parses it. */
export type Will = NonNullable<IConnectPacket['will']>

/** What last-will keeps per client, in `client.state.lastWill`, from its CONNECT on. */
export class LastWillState {
  /** Set once the will has been handed to `relayMessage`: it is never published twice. */
  published = false
  /**
   * MQTT 5.0: a newer connection registered the same client id while this one held a delayed will:
   * `resumed` (Clean Start 0: the will is not sent [MQTT-3.1.3-9]) or `ended` (Clean Start 1: the session
   * ended, so the will is sent at once).
   */
  superseded: 'resumed' | 'ended' | undefined = undefined
  /**
   * When a backend stores wills (`storeWill`): the owner the will is stored under, unique to this
   * connection, once it is stored; it is claimed (`removeWill`) before it is published.
   */
  owner: string | undefined = undefined
  /** The `storeWill` under way, which what removes or claims the will waits for. */
  storing: Promise<void> | undefined = undefined

  constructor(
    /** The will still held; undefined when the CONNECT had none, or once published, scheduled or dropped. */
    public will: Will | undefined,
    /** The CONNECT's Clean Start (3.1.1: Clean Session) flag. */
    readonly cleanStart = true,
  ) {}
}

declare module '@mqtt-stack/core' {
  interface ClientState {
    /** Kept by @mqtt-stack/last-will. */
    lastWill?: LastWillState
  }
}
