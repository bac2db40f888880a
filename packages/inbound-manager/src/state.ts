import type {
  CallbackContext,
  CallbackStore,
  Client,
  IPubackPacket,
  IPubcompPacket,
  IPublishPacket,
  IPubrecPacket,
} from '@mqtt-stack/core'

/**
 * A reused callback context that also carries its client: the answers go on through `executeThen` in
 * functions made once, which find the client's state from the context. A backend reads only the fields of
 * the callback.
 */
export type ClientContext = { readonly client: Client }

/**
 * What the inbound manager keeps per connection. Packets of one client are processed one at a time, so
 * one set of callback contexts, stores and acknowledgement packets serves every PUBLISH and PUBREL of
 * that client; the chain's next/done travel with each answer (`stack.executeThen`), not here.
 */
export interface InboundManagerState {
  /** The PUBLISH (or the PUBREL's message id) being processed. */
  packet: IPublishPacket | undefined
  messageId: number
  relayError: Error | undefined
  /**
   * MQTT 5.0: the QoS 2 packet ids of this connection that had PUBREC and wait for PUBREL (no PUBCOMP sent
   * yet), counted against the receive maximum; created on a 5.0 client's first QoS 2 PUBLISH.
   */
  held: Set<number> | undefined
  readonly relayCtx: CallbackContext<'relayMessage'>
  readonly relayStore: CallbackStore<'relayMessage'>
  readonly incomingCtx: CallbackContext<'storeIncomingMessage'> & ClientContext
  readonly incomingStore: CallbackStore<'storeIncomingMessage'>
  readonly releaseCtx: CallbackContext<'releaseIncomingMessage'> & ClientContext
  readonly puback: IPubackPacket
  readonly pubrec: IPubrecPacket
  readonly pubcomp: IPubcompPacket
}

declare module '@mqtt-stack/core' {
  interface ClientState {
    /** Per-connection state of `@mqtt-stack/inbound-manager`. */
    inboundManager?: InboundManagerState
  }
}
