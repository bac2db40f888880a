/**
 * @packageDocumentation
 * Sessions for mqtt-stack: client identifiers, takeover, clean and persistent sessions, and the CONNACK
 * that ends the CONNECT chain. MQTT 5.0: Clean Start, session expiry (one coarse timer), and the CONNACK
 * properties gathered through `prepareConnack`.
 */
export type { SessionManagerOptions } from './options.js'
export { SessionManager } from './session-manager.js'
export type { SessionManagerState } from './state.js'
