/**
 * @packageDocumentation
 * SUBSCRIBE and UNSUBSCRIBE for mqtt-stack: validates and authorises each filter, answers with SUBACK or
 * UNSUBACK, and routes and persists subscriptions through the backend's callbacks.
 */
export type { SubscriptionManagerOptions } from './options.js'
export { SubscriptionManager } from './subscription-manager.js'
