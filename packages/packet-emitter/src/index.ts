/**
 * @packageDocumentation
 * A bridge from an mqtt-stack `Stack` to an event emitter: `client`, `packet` and `close` events, typed by
 * `PacketEmitterEvents`. Set the emitter with `new PacketEmitter({ emitter })` or `setClientHandler(emitter)`.
 */
export {
  DEFAULTS as PACKET_EMITTER_DEFAULTS,
  type PacketEmitterEvents,
  type PacketEmitterOptions,
  type PacketEventTarget,
} from './options.js'
export { PacketEmitter } from './packet-emitter.js'
