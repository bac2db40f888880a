import type {
  CallbackContext,
  CallbackStore,
  Client,
  Done,
  IPubackPacket,
  IPubcompPacket,
  IPublishPacket,
  IPubrecPacket,
  Next,
} from '@mqtt-stack/core'
import type { ParkedChain, PipelinedRelay } from './pipeline.js'

/**
 * A reused callback context that also carries its client: the answers go on through `executeThen` in
 * functions made once, which find the client's state from the context. A backend reads only the fields of
 * the callback.
 */
export type ClientContext = { readonly client: Client }

/**
 * What the inbound manager keeps per connection. Packets of one client are processed one at a time, so
 * one set of callback contexts, stores and acknowledgement packets serves every PUBLISH and PUBREL of
 * that client; the chain's next/done travel with each answer (`stack.executeThen`), not here. A relay that
 * answers later lets the next PUBLISH go on (pipeline.ts): those that run meanwhile have their own.
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
  /** QoS 1 PUBLISH packets whose relay runs while the next packets are processed, in the order received. */
  readonly pipeline: PipelinedRelay[]
  /** The pipelined relay that runs on `relayCtx` and `relayStore`: others take their own meanwhile. */
  shared: PipelinedRelay | undefined
  /** Relays the pipeline holds at most: PIPELINE_DEPTH, or the Receive Maximum when it is lower. */
  readonly depth: number
  /** A chain waiting for the pipeline (see ParkedChain). */
  parked: ParkedChain | undefined
  /** The acknowledgements of the pipeline are being written (no re-entry). */
  acknowledging: boolean
  /** `relayMessage` on the reused context was answered before it returned. */
  answered: boolean
  /** Processes a parked QoS 2 PUBLISH again, once the pipeline is empty. */
  readonly resume: (packet: IPublishPacket, next: Next, done: Done) => void
}

declare module '@mqtt-stack/core' {
  interface ClientState {
    /** Per-connection state of `@mqtt-stack/inbound-manager`. */
    inboundManager?: InboundManagerState
  }
}
