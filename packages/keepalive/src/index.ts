/**
 * @packageDocumentation
 * Keepalive for mqtt-stack: closes a client silent for 1.5 times its keepalive (capped by `maxKeepalive`)
 * through `closeClient`, and answers PINGREQ with PINGRESP. One coarse sweep timer serves every client.
 */
export { KeepAliveErrorCode } from './errors.js'
export { KeepAlive } from './keepalive.js'
export { DEFAULTS as KEEPALIVE_DEFAULTS, type KeepAliveOptions } from './options.js'
export { KeepAliveState } from './state.js'
