import type { Client } from './client.js'
import type { MqttStackError } from './errors.js'
import type { Packet } from './packets.js'

/** Per-connection limits. Every limit is in bytes unless its name says otherwise. */
export interface ClientOptions {
  /** The largest packet accepted from a client, fixed header included; a larger one closes it. */
  maxPacketSize?: number
  /** While more than this is waiting to be written, QoS 0 PUBLISH packets to this client are dropped. */
  dropQoS0Above?: number
  /** While more than this is waiting to be written, the client is disconnected as a slow consumer. */
  disconnectAbove?: number
  /** Packets parsed while a chain for this client is still running; past this, reading pauses. */
  maxQueuedPackets?: number
  /**
   * Milliseconds one client's packets may take in one turn of the event loop; past this, the client waits
   * for the next turn (reading pauses) so that every other connection, a new CONNECT included, is served
   * first. One flooding publisher cannot hold the broker's attention, and cheap packets still go in large
   * batches (one write per subscriber per batch).
   */
  timePerTurn?: number
  /** MQTT 5.0: the most topic aliases a client may set up towards the server (0: none). */
  topicAliasMaximum?: number
  /** Milliseconds `close()` waits for buffered writes to flush before destroying the stream. */
  closeTimeout?: number
  /**
   * Turns off Nagle's algorithm (TCP_NODELAY) on a stream that has `setNoDelay` (a TCP or TLS socket).
   * Writes are batched per tick already; Nagle would only hold a batch back until the previous one is
   * acknowledged, up to the peer's delayed ACK (40 ms on Linux) of latency for nothing.
   */
  noDelay?: boolean
}

export const CLIENT_DEFAULTS: Readonly<Required<ClientOptions>> = Object.freeze({
  maxPacketSize: 1024 * 1024,
  dropQoS0Above: 1024 * 1024,
  disconnectAbove: 8 * 1024 * 1024,
  maxQueuedPackets: 64,
  timePerTurn: 10,
  closeTimeout: 1000,
  topicAliasMaximum: 64,
  noDelay: true,
})

export type ErrorHandler = (
  err: MqttStackError,
  client: Client | undefined,
  packet: Packet | undefined,
) => void

export interface StackOptions {
  /**
   * Give every step of a chain its own `next`/`done`, so that every misuse (MQS_ERR_NEXT_TWICE) is pinned on
   * the middleware at fault. In both modes a misused `next`/`done` is ignored and can never advance, end or
   * skip another chain; the fast mode names the culprit in most cases (see core's README). Costs two
   * closures per middleware per packet, so it is off on the hot path of a production broker. Default: on
   * when NODE_ENV is `development` or `test`, off otherwise.
   */
  strict?: boolean
  /** Receives every error the stack reports, with the client and packet where known. */
  onError?: ErrorHandler
  /** Limits applied to every connection. */
  client?: ClientOptions
}
