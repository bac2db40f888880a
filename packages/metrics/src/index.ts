/**
 * @packageDocumentation
 * Metrics for mqtt-stack: a middleware that counts connections, packets and bytes by type, messages by
 * QoS, drops by reason, refusals and auth failures, per listener, and serves them in the Prometheus text
 * format (prom-client) with `/healthz`.
 */
export { type ListenerSnapshot, Metrics, type MetricsSnapshot } from './metrics.js'
export { DEFAULTS as METRICS_DEFAULTS, type MetricsOptions, validateMetricsOptions } from './options.js'
export { MetricsErrorCode } from './server.js'
export type { MetricsClientState } from './state.js'
