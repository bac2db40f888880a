import type { Client, Packet } from '@mqtt-stack/core'

/** The events a PacketEmitter emits, with their arguments. */
export interface PacketEmitterEvents {
  /** A connection was accepted (emitted from `install`). */
  client: [client: Client]
  /** A packet from `client` reached the PacketEmitter. */
  packet: [packet: Packet, client: Client]
  /** The connection of `client` has closed; `error` is what ended it, if anything went wrong. */
  close: [client: Client, error: Error | undefined]
}

/**
 * What the events are emitted on: a Node `EventEmitter` (typed with `PacketEmitterEvents` or not), or
 * anything with a compatible `emit`.
 */
export interface PacketEventTarget {
  emit<E extends keyof PacketEmitterEvents>(event: E, ...args: PacketEmitterEvents[E]): boolean
}

export interface PacketEmitterOptions {
  /** Where events go. Also settable later with `setClientHandler`. Default: none (packets pass through). */
  emitter: PacketEventTarget | undefined
}

export const DEFAULTS: Readonly<PacketEmitterOptions> = Object.freeze({
  emitter: undefined,
})
