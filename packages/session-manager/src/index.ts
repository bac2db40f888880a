/**
 * @packageDocumentation
 * Sessions for mqtt-stack: client identifiers, takeover, clean and persistent sessions, and the CONNACK
 * that ends the CONNECT chain.
 */
export type { SessionManagerOptions } from './options.js'
export { SessionManager } from './session-manager.js'
export type { SessionManagerState } from './state.js'
