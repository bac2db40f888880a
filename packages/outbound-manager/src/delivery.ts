import type { Client, Done, IPublishPacket, Next } from '@mqtt-stack/core'
import type { OutboundTopicAlias } from './state.js'

/** The end of a chain nobody waits for. */
export const noop = (): void => {}

/**
 * One QoS 1/2 delivery (or one authorisation): it is the `ctx` and the `store` of the callbacks it goes
 * through (`authorizeForward`, `storeInflightMessage`, `storeOfflineMessage`) and carries the ends of its
 * chain, so that their results are handled by functions bound once, with no closure per message.
 */
export class Delivery {
  authorized?: boolean
  dropped?: boolean
  /** `storeInflightMessage`: the backend keeps this session beyond the process. */
  durable?: boolean
  /** `storeOfflineMessage`: the number of lookups made when it was stored (`OutboundManagerState.lookups`). */
  lookups = 0
  readonly clientId: string
  /** MQTT 5.0: the bytes to write, serialised before the packet id was given (size check, topic alias). */
  bytes: Buffer | undefined = undefined
  /** MQTT 5.0: the topic alias these bytes set up, marked sent once they are written. */
  alias: OutboundTopicAlias | undefined = undefined

  constructor(
    readonly client: Client,
    public packet: IPublishPacket,
    readonly next: Next,
    readonly done: Done,
    /** A new message taken from the offline queue: it is neither a resend nor put behind the backlog. */
    readonly fresh: boolean,
  ) {
    this.clientId = client.id
  }
}
