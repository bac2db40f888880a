/** Where Redis is, the prefix of every key, and the bounds on what clients can make the backend store. */
export interface RedisBackendOptions {
  /** The Redis server, as `redis://[user:password@]host:port[/db]`; not used when `clusterNodes` is given. */
  url: string
  /** Start nodes of a Redis Cluster (`{ host, port }`); empty for one Redis server at `url`. */
  clusterNodes: readonly { host: string; port: number }[]
  /**
   * Prepended to every key: brokers with the same prefix on the same Redis are one broker. No `{` or `}`
   * (the backend puts hash tags after it).
   */
  prefix: string
  /**
   * Messages queued per disconnected persistent session. When the queue is full the new message is dropped
   * (`store.dropped`), counted as `offline-queue-full`, and the first drop until it has room is reported
   * (`MQS_ERR_OFFLINE_QUEUE_FULL`).
   */
  maxOfflineMessages: number
  /**
   * Retained messages in all. When full, a message for a new topic is refused and reported
   * (`MQS_ERR_RETAINED_FULL`); replacing or deleting a stored one still works.
   */
  maxRetainedMessages: number
  /** Payload bytes of all retained messages together; past it, a message is refused as above. */
  maxRetainedBytes: number
  /** Unacknowledged outbound messages per session: a new packet identifier past it fails (`MQS_ERR_INFLIGHT_FULL`). */
  maxInflightMessages: number
  /**
   * Milliseconds a Redis command may wait for its answer, Redis unreachable meanwhile (commands wait while the
   * client reconnects) or too slow, before its callback fails with `MQS_ERR_REDIS`; 0 waits for ever.
   */
  unavailableTimeout: number
  /**
   * Node liveness: the TTL in ms of this node's heartbeat key in Redis (renewed every fifth of it). A node
   * whose heartbeat expired is found dead by another within 1.5 × this; an integer of 100 or more.
   */
  nodeTimeoutMs: number
  /**
   * Milliseconds `close()` gives Redis to take this node's work over (its inbox, its heartbeat, its delayed
   * wills) before it disconnects: with Redis away or unresponsive, a node stops within this, and what it
   * could not hand over is taken over as a dead node's (within 1.5 × `nodeTimeoutMs`).
   */
  closeTimeout: number
}

export const DEFAULTS: Readonly<RedisBackendOptions> = Object.freeze({
  url: 'redis://127.0.0.1:6379',
  clusterNodes: [],
  prefix: 'mqtt-stack:',
  maxOfflineMessages: 1000,
  maxRetainedMessages: 100_000,
  maxRetainedBytes: 256 * 1024 * 1024,
  maxInflightMessages: 65_535,
  unavailableTimeout: 10_000,
  nodeTimeoutMs: 5000,
  closeTimeout: 5000,
})

/** The smallest `nodeTimeoutMs`: shorter, a busy event loop would pass for a dead node. */
export const MIN_NODE_TIMEOUT_MS = 100

/** The options that are bounds: integers of 0 or more. */
export const LIMITS = [
  'maxOfflineMessages',
  'maxRetainedMessages',
  'maxRetainedBytes',
  'maxInflightMessages',
  'unavailableTimeout',
  'closeTimeout',
] as const
