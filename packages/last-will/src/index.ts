/**
 * @packageDocumentation
 * Last will for mqtt-stack: keeps the will of a CONNECT in `client.state.lastWill`, publishes it once
 * through `relayMessage` (after `authorizePublish`, when provided) on an unclean end, and drops it on
 * DISCONNECT (MQTT 5.0: with reason 0x00). MQTT 5.0: the Will Delay Interval and the will properties.
 */
export { LastWill } from './last-will.js'
export { DEFAULTS as LAST_WILL_DEFAULTS, type LastWillOptions } from './options.js'
export { LastWillState, type Will } from './state.js'
