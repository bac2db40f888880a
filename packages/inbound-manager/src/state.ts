import type {
  CallbackContext,
  CallbackResult,
  CallbackStore,
  Done,
  IPubackPacket,
  IPubcompPacket,
  IPublishPacket,
  IPubrecPacket,
  Next,
} from '@mqtt-stack/core'

/**
 * What the inbound manager keeps per connection. Packets of one client are processed one at a time, so
 * one set of callback contexts, stores and acknowledgement packets serves every PUBLISH and PUBREL of
 * that client, and the result handlers are bound once, when the client connects.
 */
export interface InboundManagerState {
  /** The PUBLISH (or the PUBREL's message id) being processed, and the ends of its chain. */
  packet: IPublishPacket | undefined
  messageId: number
  next: Next
  done: Done
  relayError: Error | undefined
  /**
   * MQTT 5.0: the QoS 2 packet ids of this connection that had PUBREC and wait for PUBREL (no PUBCOMP sent
   * yet), counted against the receive maximum; created on a 5.0 client's first QoS 2 PUBLISH.
   */
  held: Set<number> | undefined
  readonly relayCtx: CallbackContext<'relayMessage'>
  readonly relayStore: CallbackStore<'relayMessage'>
  readonly incomingCtx: CallbackContext<'storeIncomingMessage'>
  readonly incomingStore: CallbackStore<'storeIncomingMessage'>
  readonly releaseCtx: CallbackContext<'releaseIncomingMessage'>
  readonly puback: IPubackPacket
  readonly pubrec: IPubrecPacket
  readonly pubcomp: IPubcompPacket
  readonly onIncomingStored: CallbackResult<'storeIncomingMessage'>
  readonly onRelayed: CallbackResult<'relayMessage'>
  readonly onReleased: CallbackResult<'releaseIncomingMessage'>
  readonly onUndone: CallbackResult<'releaseIncomingMessage'>
}

declare module '@mqtt-stack/core' {
  interface ClientState {
    /** Per-connection state of `@mqtt-stack/inbound-manager`. */
    inboundManager?: InboundManagerState
  }
}
