import type {
  CallbackContext,
  CallbackResult,
  Done,
  InflightPacket,
  IPublishPacket,
  Next,
} from '@mqtt-stack/core'
import type { Fifo } from './fifo.js'

/** What the outbound manager keeps per connection. */
export interface OutboundManagerState {
  /** The next packet identifier to try, 1..65535. */
  nextId: number
  /** Unacknowledged messages by packet identifier, in the order they were sent: PUBLISH, or the PUBREL. */
  readonly inflight: Map<number, InflightPacket>
  /** QoS 1/2 messages waiting for room in the window, oldest first. */
  readonly queue: Fifo<IPublishPacket>
  /** `resumeSession` runs: new messages go behind the stored ones. */
  resuming: boolean
  /** Offline messages are being fetched: new messages go behind them. */
  fetching: boolean
  /** Messages of this connection were stored offline and are still to be fetched. */
  backlog: boolean
  /** The connection has closed: new messages are stored offline. */
  closed: boolean
  /** The acknowledgement being processed (one at a time per client) and the ends of its chain. */
  ackId: number
  ackNext: Next
  ackDone: Done
  readonly removeCtx: CallbackContext<'removeInflightMessage'>
  /** Reports the error of work no chain waits for (sending from the queue, fetching the backlog). */
  readonly report: Done
  readonly onRemoved: CallbackResult<'removeInflightMessage'>
  readonly onPubrelStored: CallbackResult<'storeInflightMessage'>
}

declare module '@mqtt-stack/core' {
  interface ClientState {
    /** Per-connection state of `@mqtt-stack/outbound-manager`. */
    outboundManager?: OutboundManagerState
  }
}
