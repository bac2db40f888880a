/**
 * @packageDocumentation
 * Connection life cycle for mqtt-stack: CONNECT first and once, protocol name and level, connect timeout,
 * DISCONNECT, and the clean or unclean end of every connection (`cleanDisconnect`, `uncleanDisconnect`).
 * Answers `closeClient`.
 */
export { Connection, type ConnectionStats } from './connection.js'
export { ConnectionErrorCode } from './errors.js'
export { type ConnectionOptions, DEFAULTS as CONNECTION_DEFAULTS } from './options.js'
export { ConnectionState } from './state.js'
