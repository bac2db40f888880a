/**
 * @packageDocumentation
 * The embedded default backend of mqtt-stack: routes PUBLISH messages to subscriptions and keeps sessions,
 * subscriptions, retained messages, offline queues, inflight state and wills in memory.
 */
export { MemoryBackendErrorCode } from './errors.js'
export { MemoryBackend, type MemoryBackendStats } from './memory-backend.js'
export { DEFAULTS as MEMORY_BACKEND_DEFAULTS, type MemoryBackendOptions } from './options.js'
