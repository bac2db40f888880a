import type { IConnectPacket } from '@mqtt-stack/core'

/** The will of a CONNECT, as mqtt-packet parses it. */
export type Will = NonNullable<IConnectPacket['will']>

/** What last-will keeps per client, in `client.state.lastWill`, from its CONNECT on. */
export class LastWillState {
  /** Set once the will has been handed to `relayMessage`: it is never published twice. */
  published = false

  constructor(
    /** The will still held; undefined when the CONNECT had none, or once published or dropped. */
    public will: Will | undefined,
  ) {}
}

declare module '@mqtt-stack/core' {
  interface ClientState {
    /** Kept by @mqtt-stack/last-will. */
    lastWill?: LastWillState
  }
}
