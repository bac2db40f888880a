/**
 * @packageDocumentation
 * The Redis backend of mqtt-stack: keeps sessions, subscriptions, offline queues, QoS 1/2 state, retained
 * messages and wills in Redis (or a Redis Cluster), so that a broker restarted on the same Redis carries on.
 */
export { RedisBackendErrorCode } from './errors.js'
export { DEFAULTS as REDIS_BACKEND_DEFAULTS, type RedisBackendOptions } from './options.js'
export { RedisBackend } from './redis-backend.js'
