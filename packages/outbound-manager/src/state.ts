import {
  type CallbackContext,
  type CallbackResult,
  type Client,
  type Done,
  type InflightPacket,
  type IPublishPacket,
  type Next,
  toMqttStackError,
} from '@mqtt-stack/core'
import { noop } from './delivery.js'
import { Fifo } from './fifo.js'

/** MQTT 5.0: an outbound topic alias of one topic, and whether a PUBLISH that sets it up was written. */
export interface OutboundTopicAlias {
  readonly alias: number
  sent: boolean
}

/** A forward waiting for room: its message and the end of its chain. */
export interface ParkedForward {
  readonly packet: IPublishPacket
  readonly next: Next
  readonly done: Done
}

/** What the outbound manager keeps per connection. */
export interface OutboundManagerState {
  /**
   * Most unacknowledged QoS 1/2 messages: `maxInflight`, lowered to an MQTT 5.0 client's Receive Maximum
   * [MQTT-3.3.4-9].
   */
  window: number
  /** MQTT 5.0: the client's Topic Alias Maximum from its CONNECT; 0 sends no alias [MQTT-3.1.2-27]. */
  topicAliasMaximum: number
  /** MQTT 5.0: the outbound topic aliases of this connection by topic, created on first use. */
  aliases: Map<string, OutboundTopicAlias> | undefined
  /** The next packet identifier to try, 1..65535. */
  nextId: number
  /** Unacknowledged messages by packet identifier, in the order they were sent: PUBLISH, or the PUBREL. */
  readonly inflight: Map<number, InflightPacket>
  /** QoS 1/2 messages waiting for room in the window, oldest first. */
  readonly queue: Fifo<IPublishPacket>
  /**
   * Beside `queue`: when each waiting message was queued (`Date.now()`), for a message with a Message Expiry
   * Interval; 0 for the others.
   */
  readonly queuedAt: Fifo<number>
  /** Forwards waiting for room in a full queue, oldest first; each completes when its message is queued. */
  readonly parked: Fifo<ParkedForward>
  /** Disconnects the client as a slow consumer if the parked forwards make no progress in time. */
  parkTimer: NodeJS.Timeout | undefined
  /**
   * `Date.now()` when the client last made progress: acknowledged a message of its window, or had its
   * empty window take a message. The slow-consumer clock runs from here, not from the first parked forward.
   */
  progressAt: number
  /** `resumeSession` runs: new messages go behind the stored ones. */
  resuming: boolean
  /** Offline messages are being fetched: new messages go behind them. */
  fetching: boolean
  /** Messages of this connection were stored offline and are still to be fetched. */
  backlog: boolean
  /**
   * The backend keeps this session beyond the process (`durable` in its answer to `storeInflightMessage` or
   * `lookupInflightMessages`): messages with no room in the window are stored offline, not held in `queue`.
   */
  durable: boolean
  /** `storeOfflineMessage` calls not answered yet: new messages go behind them. */
  storing: number
  /**
   * A durable session: the messages in its offline queue (as the last lookup found them, plus those stored
   * since). Past `maxQueued` a forward waits (parked) rather than being stored: the backend's queue would
   * drop it, and a connected client's publishers are held back instead, as with the waiting queue.
   */
  offline: number
  /** `lookupOfflineMessages` calls made: the stores made since the latest are not in its answer. */
  lookups: number
  /** `storeOfflineMessage` calls made since the latest lookup was made, less those dropped or failed. */
  storedSinceLookup: number
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

/**
 * A connection's state, with its acknowledgement callbacks bound once: an acknowledgement frees a packet id,
 * then `drain` fills the window again.
 */
export function createState(
  client: Client,
  window: number,
  drain: (client: Client, state: OutboundManagerState) => void,
): OutboundManagerState {
  const endAck = (err?: Error | null) => {
    const { ackNext, ackDone } = state
    state.ackNext = noop
    state.ackDone = noop
    if (err) ackNext(err)
    else ackDone()
  }
  const state: OutboundManagerState = {
    window,
    topicAliasMaximum: 0,
    aliases: undefined,
    nextId: 1,
    inflight: new Map(),
    queue: new Fifo(),
    queuedAt: new Fifo(),
    parked: new Fifo(),
    parkTimer: undefined,
    progressAt: Date.now(),
    resuming: false,
    fetching: false,
    backlog: false,
    durable: false,
    storing: 0,
    offline: 0,
    lookups: 0,
    storedSinceLookup: 0,
    // Made after its connection closed (a message forwarded meanwhile): messages are stored offline.
    closed: client.closed,
    ackId: 0,
    ackNext: noop,
    ackDone: noop,
    removeCtx: { clientId: '', messageId: 0 },
    report: (err) => {
      if (err) client.stack.reportError(toMqttStackError(err), client, undefined)
    },
    onRemoved: (err) => {
      if (err) {
        endAck(err)
        return
      }
      // [MQTT-2.3.1-3] the packet id is free again once its acknowledgement is processed.
      state.inflight.delete(state.ackId)
      drain(client, state)
      endAck()
    },
    onPubrelStored: (err) => {
      if (err) {
        endAck(err)
        return
      }
      const pubrel = state.inflight.get(state.ackId)
      if (pubrel) client.write(pubrel)
      endAck()
    },
  }
  return state
}

declare module '@mqtt-stack/core' {
  interface ClientState {
    /** Per-connection state of `@mqtt-stack/outbound-manager`. */
    outboundManager?: OutboundManagerState
  }
}
