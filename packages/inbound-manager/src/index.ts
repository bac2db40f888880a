/**
 * @packageDocumentation
 * `@mqtt-stack/inbound-manager`: PUBLISH and PUBREL from clients, at QoS 0, 1 and exactly-once 2, with one
 * acknowledgement per message once it has been relayed.
 */
export { InboundManager } from './inbound-manager.js'
export type { InboundManagerOptions } from './options.js'
export type { InboundManagerState } from './state.js'
