/**
 * @packageDocumentation
 * `@mqtt-stack/outbound-manager`: delivers messages to clients with packet identifiers of their own, an
 * inflight window, a waiting queue, QoS 1 and 2 acknowledgements, and resends on a resumed session.
 */
export { OutboundErrorCode } from './errors.js'
export type { OutboundManagerOptions } from './options.js'
export { OutboundManager } from './outbound-manager.js'
export type { OutboundManagerState, OutboundTopicAlias } from './state.js'
