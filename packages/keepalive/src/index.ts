/**
 * @packageDocumentation
 * Keepalive for mqtt-stack: closes a client silent for 1.5 times its keepalive (capped by `maxKeepalive`)
 * through `closeClient`; core answers PINGREQ with PINGRESP. One timer, armed for the earliest deadline,
 * serves every client; a packet only moves a deadline on.
 * MQTT 5.0: tells a client held to a lower keepalive through the CONNACK's Server Keep Alive.
 */
export { KeepAliveErrorCode } from './errors.js'
export { KeepAlive, type KeepAliveStats } from './keepalive.js'
export { DEFAULTS as KEEPALIVE_DEFAULTS, type KeepAliveOptions } from './options.js'
export { KeepAliveState } from './state.js'
