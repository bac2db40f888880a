/**
 * @packageDocumentation
 * Retained messages for mqtt-stack: stores them as they are relayed and sends the matching ones, with the
 * retain flag set, to each new subscription.
 */
export { RetainManager } from './retain-manager.js'
