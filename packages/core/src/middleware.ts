import type { CallbackHandlers, CallbackName, DeclaredCallbackName, Done, Next } from './callbacks.js'
import type { Client } from './client.js'
import type { Packet, PacketType } from './packets.js'
import type { Stack } from './stack.js'
import { withDefaults } from './util.js'

/**
 * The base class of every middleware. A subclass calls `super(config, defaults)`, which sets
 * `this.config` (defaults merged with the given config, frozen) and `this.name`.
 *
 * Every member below is optional; a plain object with the same members works too (the 2015 form).
 *
 * - `setup(stack)` runs once, when `stack.use()` adds it: keep the stack for work outside a client's chains.
 * - `install(client)` runs once per connection.
 * - `handle(client, packet, next, done)` runs per packet, for the types in `packetTypes` (all if unset).
 * - A callback is answered by a method named after it, `forwardMessage(ctx, store, next, done)`, or by
 *   `callbacks()` returning `{ forwardMessage(ctx, store, next, done) {} } satisfies CallbackHandlers`,
 *   which is typed by context. A method is a handler only when its name is a callback the Stack knows:
 *   the standard catalogue, plus the names some middleware in the stack `declares`.
 * - `close()` releases timers, sockets and stores when the stack closes.
 */
export abstract class Middleware<Config extends object = Record<never, never>> {
  readonly name: string
  readonly config: Readonly<Config>
  /** The packet types `handle` wants. Unset: every packet. Checked at `use()`. */
  readonly packetTypes?: readonly PacketType[]
  /** Callbacks this middleware executes and needs another middleware to answer. Checked at start. */
  readonly requires?: readonly CallbackName[]
  /**
   * What to `use()` when a required callback has no provider, for the start-up error: a hint such as
   * "MemoryBackend from @mqtt-stack/memory-backend", by callback name.
   */
  readonly providerHints?: Readonly<Partial<Record<CallbackName, string>>>
  /** Roles this middleware fills (`'backend'`, `'credentials'`), which `before`/`after` of others may name. */
  readonly roles?: readonly string[]
  /** Names or roles of middlewares this one must be used after, when they are in the stack. Checked at start. */
  readonly after?: readonly string[]
  /** Names or roles of middlewares this one must be used before, when they are in the stack. Checked at start. */
  readonly before?: readonly string[]
  /**
   * The callbacks this plugin adds to the catalogue (its `declare module` block), by name: once it is
   * used, a method of one of these names, on any middleware of the stack, is a handler. Checked at `use()`.
   */
  readonly declares?: readonly DeclaredCallbackName[]

  constructor(config?: Partial<Config>, defaults?: Config) {
    this.config = Object.freeze(withDefaults(defaults, config))
    this.name = middlewareName(this.constructor.name)
  }

  setup?(stack: Stack): void
  install?(client: Client): void
  /**
   * Once per connection, when it has closed (the client's `close`, with its error if any): release what
   * `install` or a handler keeps for it. Called in `use()` order, before the client's `close` listeners,
   * and costs no listener per connection.
   */
  uninstall?(client: Client): void
  handle?(client: Client, packet: Packet, next: Next, done: Done): void | Promise<void>
  callbacks?(): CallbackHandlers
  close?(): void | Promise<void>
}

/**
 * What `Stack.use()` accepts: a `Middleware` subclass or any object of the same shape. Its callback
 * handlers are typed by the catalogue, so a plain object gets contextual types,
 * `stack.use({ relayMessage(ctx, store, next) {} })`, and a misspelled name is a compile error.
 */
export interface MiddlewareLike extends CallbackHandlers {
  readonly name?: string
  readonly packetTypes?: readonly PacketType[]
  readonly requires?: readonly CallbackName[]
  readonly providerHints?: Readonly<Partial<Record<CallbackName, string>>>
  readonly roles?: readonly string[]
  readonly after?: readonly string[]
  readonly before?: readonly string[]
  readonly declares?: readonly DeclaredCallbackName[]
  setup?(stack: Stack): void
  install?(client: Client): void
  uninstall?(client: Client): void
  handle?(client: Client, packet: Packet, next: Next, done: Done): void | Promise<void>
  callbacks?(): CallbackHandlers
  close?(): void | Promise<void>
}

/** How errors name a middleware: its `name`, else its class, for plain objects and instances alike. */
export function nameOf(middleware: object): string {
  const { name } = middleware as { name?: unknown }
  return typeof name === 'string' && name ? name : middleware.constructor?.name || 'anonymous middleware'
}

/** `RetainManager` -> `retain-manager`: the package short name of a built-in. */
export function middlewareName(className: string): string {
  return className
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1-$2')
    .toLowerCase()
}
