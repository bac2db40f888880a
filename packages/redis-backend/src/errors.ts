import { MqttStackError, ReasonCode } from '@mqtt-stack/core'

/** Error codes of `@mqtt-stack/redis-backend`; README.md says when each is raised and how to fix it. */
export const RedisBackendErrorCode = {
  /** An offline queue was full: the new message was dropped (`maxOfflineMessages`). */
  OFFLINE_QUEUE_FULL: 'MQS_ERR_OFFLINE_QUEUE_FULL',
  /** The retained store was full: a message was refused (`maxRetainedMessages`, `maxRetainedBytes`). */
  RETAINED_FULL: 'MQS_ERR_RETAINED_FULL',
  /** A session had `maxInflightMessages` unacknowledged messages: a new one could not be stored. */
  INFLIGHT_FULL: 'MQS_ERR_INFLIGHT_FULL',
  /** A Redis command failed (Redis unreachable, or refusing): the callback failed with this error. */
  REDIS: 'MQS_ERR_REDIS',
} as const

export type RedisBackendErrorCode = (typeof RedisBackendErrorCode)[keyof typeof RedisBackendErrorCode]

/**
 * A Redis command that failed, as the callback's error. A chain that fails on it closes its client: MQTT 5.0
 * says why with DISCONNECT 0x89 Server busy.
 */
export function redisFailure(err: unknown, what: string): MqttStackError {
  if (err instanceof MqttStackError && err.code === RedisBackendErrorCode.REDIS) return err
  return new MqttStackError(RedisBackendErrorCode.REDIS, `redis-backend: ${what} failed: ${String(err)}`, {
    cause: err,
    reasonCode: ReasonCode.SERVER_BUSY,
  })
}
