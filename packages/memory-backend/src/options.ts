/** Limits of the in-memory store. Each one bounds memory that a client could otherwise grow at will. */
export interface MemoryBackendOptions {
  /**
   * Messages queued per disconnected persistent session. When the queue is full the new message is dropped
   * and counted; the first drop until the queue has room again is reported (`MQS_ERR_OFFLINE_QUEUE_FULL`);
   * `store.dropped` is set.
   */
  maxOfflineMessages: number
  /**
   * Payload bytes queued offline for all sessions together: the global ceiling of what disconnected
   * sessions hold. When a message would pass it, that message is dropped as if its queue were full.
   */
  maxOfflineBytes: number
  /**
   * Retained messages kept in all. When full, a message for a new topic is refused and reported
   * (`MQS_ERR_RETAINED_FULL`); replacing or deleting the message of a stored topic still works.
   */
  maxRetainedMessages: number
  /**
   * Payload bytes of all retained messages together. A message that would pass it is refused as when
   * `maxRetainedMessages` is reached (replacing a stored one with a smaller or equal payload still works).
   */
  maxRetainedBytes: number
  /**
   * Unacknowledged outbound messages kept per session. A new packet identifier past this fails
   * `storeInflightMessage` with `MQS_ERR_INFLIGHT_FULL`. Packet identifiers are 1..65535, so the default
   * is reached only by a caller that reuses no identifier.
   */
  maxInflightMessages: number
}

export const DEFAULTS: Readonly<MemoryBackendOptions> = Object.freeze({
  maxOfflineMessages: 1000,
  maxOfflineBytes: 256 * 1024 * 1024,
  maxRetainedMessages: 100_000,
  maxRetainedBytes: 256 * 1024 * 1024,
  maxInflightMessages: 65_535,
})
