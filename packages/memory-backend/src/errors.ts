/** Error codes of `@mqtt-stack/memory-backend`; README.md says when each is raised and how to fix it. */
export const MemoryBackendErrorCode = {
  /** An offline queue was full: the new message was dropped (`maxOfflineMessages`, `maxOfflineBytes`). */
  OFFLINE_QUEUE_FULL: 'MQS_ERR_OFFLINE_QUEUE_FULL',
  /** The retained store was full: a message was refused (`maxRetainedMessages`, `maxRetainedBytes`). */
  RETAINED_FULL: 'MQS_ERR_RETAINED_FULL',
  /** A session had `maxInflightMessages` unacknowledged messages: a new one could not be stored. */
  INFLIGHT_FULL: 'MQS_ERR_INFLIGHT_FULL',
} as const

export type MemoryBackendErrorCode = (typeof MemoryBackendErrorCode)[keyof typeof MemoryBackendErrorCode]
