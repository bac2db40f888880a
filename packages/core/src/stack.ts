import { EventEmitter, once } from 'node:events'
import type { Duplex } from 'node:stream'
import {
  type CallbackContext,
  type CallbackName,
  type CallbackResult,
  type CallbackStore,
  type CallbackThen,
  type Done,
  type DropReason,
  type Next,
  STANDARD_CALLBACK_NAMES,
} from './callbacks.js'
import {
  type ChainEnd,
  type ChainHandler,
  ChainRunner,
  type ChainThen,
  EMPTY_LIST,
  type HandlerList,
  OWN_PAIR,
} from './chain.js'
import { CLIENT_CLOSED, Client } from './client.js'
import { ErrorCode, MqttStackError } from './errors.js'
import { type MiddlewareLike, nameOf } from './middleware.js'
import type { StackOptions } from './options.js'
import { type IPublishPacket, PACKET_TYPES, type Packet, type PacketType } from './packets.js'
import { checkOrder, checkProviders } from './startup-checks.js'
import { Traffic } from './traffic.js'

export interface StackEvents {
  /** Every reported error, with the client and packet where known. */
  error: [err: MqttStackError, client: Client | undefined, packet: Packet | undefined]
  /** A connection was accepted and every middleware's `install` has run. */
  client: [client: Client]
}

/** What `stack.handler()` tells each client it makes. */
export interface HandlerOptions {
  /** The name of the listener the connections come from (`client.listener`), for metrics and logs. */
  listener?: string
}

/**
 * Sees every packet written to a client, as the bytes handed to its stream (the first byte carries the
 * packet type, `bytes[0] >> 4`). Called synchronously on the write path: count, never allocate or throw.
 */
export type WriteObserver = (client: Client, bytes: Uint8Array) => void

const PRINT_INTERVAL_MS = 10_000

/** Where `strict` is on by default: the checks cost a closure per middleware per packet. */
const STRICT_ENVIRONMENTS = new Set(['development', 'test'])

/** Members of a middleware that are its life cycle, never callback handlers. */
const RESERVED = new Set([
  'constructor',
  'setup',
  'install',
  'uninstall',
  'handle',
  'callbacks',
  'close',
  'name',
  'config',
  'requires',
  'providerHints',
  'roles',
  'after',
  'before',
  'declares',
  'packetTypes',
])

const STANDARD_NAMES: ReadonlySet<string> = new Set(STANDARD_CALLBACK_NAMES)

/**
 * A broker: the middlewares given to `use()`, in dispatch order.
 *
 * `process` runs `handle` of each middleware interested in a packet; `execute` runs the handlers of a
 * named callback. Both lists are computed at `use()`, so dispatch does no lookups beyond one Map read.
 */
export class Stack extends EventEmitter<StackEvents> {
  readonly options: Readonly<StackOptions>
  /** Bytes and packets read and written by every connection so far, counted by core. */
  readonly traffic = new Traffic()
  readonly #middlewares: MiddlewareLike[] = []
  /** Clients whose installs stopped before the end, with how many middlewares they went through (rare). */
  readonly #partlyInstalled = new WeakMap<Client, number>()
  readonly #clients = new Set<Client>()
  readonly #runner: ChainRunner
  #packetLists = new Map<PacketType, HandlerList>()
  #callbackLists = new Map<string, HandlerList>()
  /** The callback names whose methods are handlers: the standard catalogue and what middlewares declare. */
  #known: ReadonlySet<string> = STANDARD_NAMES
  /** The names and roles of the middlewares used (see `uses`). */
  #refs = new Set<string>()
  #closing: Promise<void> | undefined = undefined
  readonly #printed = new Map<string, { at: number; suppressed: number }>()
  /** Null while nobody observes writes, so an unobserved write costs one comparison. */
  #writeObservers: WriteObserver[] | null = null

  constructor(options: StackOptions = {}) {
    super()
    this.options = Object.freeze({ ...options })
    const strict = options.strict ?? STRICT_ENVIRONMENTS.has(process.env.NODE_ENV ?? '')
    this.#runner = new ChainRunner(strict, {
      reportError: (err) => this.reportError(err, undefined, undefined),
    })
  }

  /** True when next/done calls are checked (see `StackOptions.strict`). */
  get strict(): boolean {
    return this.#runner.strict
  }

  get middlewares(): readonly MiddlewareLike[] {
    return this.#middlewares
  }

  /** The open connections. */
  get clients(): ReadonlySet<Client> {
    return this.#clients
  }

  /**
   * Appends a middleware; the order of `use` is the order of dispatch. Invalid metadata throws here; a
   * method named one edit away from a known callback is reported (MQS_ERR_MISSPELLED_CALLBACK).
   */
  use(middleware: MiddlewareLike): this {
    if (this.#closing) throw new MqttStackError(ErrorCode.STACK_CLOSED, 'use() after close()')
    checkMiddleware(middleware, this.#middlewares)
    if (middleware.setup !== undefined) {
      try {
        middleware.setup(this)
      } catch (cause) {
        throw new MqttStackError(ErrorCode.MIDDLEWARE, `${nameOf(middleware)}.setup() failed`, { cause })
      }
    }
    const before = this.#known
    const known = new Set(before)
    for (const name of middleware.declares ?? []) known.add(name)
    this.#known = known
    this.#middlewares.push(middleware)
    this.#refs.add(nameOf(middleware))
    for (const role of middleware.roles ?? []) this.#refs.add(role)
    this.#packetLists = buildPacketLists(this.#middlewares, this.strict)
    this.#callbackLists = buildCallbackLists(this.#middlewares, known, this.strict)
    // The new middleware against every known name; those used before it against the names it declares.
    const added = [...known].filter((name) => !before.has(name))
    for (const used of this.#middlewares) {
      const against = used === middleware ? [...known] : added
      if (against.length === 0) continue
      for (const [method, callback] of nearMisses(used, known, against)) {
        this.reportError(
          new MqttStackError(
            ErrorCode.MISSPELLED_CALLBACK,
            `${nameOf(used)}.${method}() is one edit away from the callback "${callback}" and is not a handler` +
              ` of it: rename it "${callback}", or make it private (#${method} or _${method}) if it is not one`,
          ),
          undefined,
          undefined,
        )
      }
    }
    return this
  }

  /** Whether a method named `name` is a callback handler in this stack: a known callback name. */
  knows(name: string): boolean {
    return this.#known.has(name)
  }

  /** Whether a middleware of this name, or one that fills this role, is in the stack. */
  uses(nameOrRole: string): boolean {
    return this.#refs.has(nameOrRole)
  }

  /** Whether some middleware answers callback `name`. */
  provides(name: CallbackName): boolean {
    return this.#callbackLists.has(name)
  }

  /**
   * The start-up checks: every callback some middleware `requires` is answered by another
   * (MQS_ERR_MISSING_PROVIDER), and the order of `use()` keeps every middleware's `before`/`after`
   * (MQS_ERR_WRONG_ORDER). `handler()` calls it; call it yourself to fail earlier.
   */
  validate(): void {
    const err =
      checkProviders(this.#middlewares, (name) => this.#callbackLists.has(name)) ??
      checkOrder(this.#middlewares)
    if (err) throw err
  }

  /**
   * `(stream) => Client`: give it to `net.createServer`, `tls.createServer` or a WebSocket stream.
   * `options.listener` names where the connections come from: each client's `listener`, set before any
   * middleware's `install` runs.
   */
  handler(options: HandlerOptions = {}): (stream: Duplex) => Client {
    this.validate()
    const { listener } = options
    return (stream) => this.#accept(stream, listener)
  }

  /**
   * Calls `observer` with every packet written to any client of this stack (see `WriteObserver`); returns
   * the function that stops it. Without observers a write checks one field and goes on.
   */
  observeWrites(observer: WriteObserver): () => void {
    this.#writeObservers = [...(this.#writeObservers ?? []), observer]
    return () => {
      const rest = (this.#writeObservers ?? []).filter((o) => o !== observer)
      this.#writeObservers = rest.length === 0 ? null : rest
    }
  }

  /** The write observers, or null when there are none (read by `Client` on every write). */
  get writeObservers(): readonly WriteObserver[] | null {
    return this.#writeObservers
  }

  /**
   * Tells whoever answers `messageDropped` (metrics) that a message was dropped, and why. Costs one Map
   * lookup when nobody answers it. `clientId` defaults to the client's.
   */
  notifyDropped(
    reason: DropReason,
    client: Client | undefined,
    packet: IPublishPacket | undefined,
    clientId: string = client?.id ?? '',
  ): void {
    if (!this.#callbackLists.has('messageDropped')) return
    this.execute('messageDropped', { client, clientId, packet, reason }, {}, this.#droppedNotified)
  }

  /** Made once: a failing `messageDropped` handler is reported, and nothing else depends on it. */
  readonly #droppedNotified = (err: MqttStackError | null): void => {
    if (err) this.reportError(err, undefined, undefined)
  }

  /** Runs `handle` of every middleware that wants `packet`, in order; `done` runs once at the end. */
  process(client: Client, packet: Packet, done: (err: MqttStackError | null, packet: Packet) => void): void {
    this.#runner.run(this.#packetLists.get(packet.cmd) ?? EMPTY_LIST, client, packet, done as ChainEnd)
  }

  /**
   * Runs every handler of callback `name` as `(ctx, store, next, done)`, in order; `callback(err, store)`
   * runs once when the chain ends. With no handler, `callback` runs at once.
   */
  execute<N extends CallbackName>(
    name: N,
    ctx: CallbackContext<N>,
    store: CallbackStore<N>,
    callback: CallbackResult<N>,
  ): void {
    this.#runner.run(this.#callbackLists.get(name) ?? EMPTY_LIST, ctx, store, callback as ChainEnd)
  }

  /**
   * `execute` from inside a chain, continued by `then(err, store, ctx, next, done)` with the caller's own
   * `next`/`done`: a middleware that decides how its chain goes on from a callback's answer needs no closure,
   * and no per-client object, to carry them. Give it a function made once (a module function, or a field).
   */
  executeThen<N extends CallbackName>(
    name: N,
    ctx: CallbackContext<N>,
    store: CallbackStore<N>,
    then: CallbackThen<N>,
    next: Next,
    done: Done,
  ): void {
    this.#runner.runThen(
      this.#callbackLists.get(name) ?? EMPTY_LIST,
      ctx,
      store,
      then as ChainThen,
      next,
      done,
    )
  }

  /** The promise form of `execute`: resolves with the store, rejects with the chain's error. */
  run<N extends CallbackName>(
    name: N,
    ctx: CallbackContext<N>,
    store: CallbackStore<N>,
  ): Promise<CallbackStore<N>> {
    return new Promise((resolve, reject) => {
      this.execute(name, ctx, store, (err, result) => (err ? reject(err) : resolve(result)))
    })
  }

  /**
   * Reports an error to `options.onError` and the `error` event. With neither, it is printed, never
   * thrown: a reported error does not stop the broker.
   */
  reportError(err: MqttStackError, client: Client | undefined, packet: Packet | undefined): void {
    const { onError } = this.options
    if (onError) {
      try {
        onError(err, client, packet)
      } catch (thrown) {
        console.error('[mqtt-stack] onError threw:', thrown)
      }
    }
    if (this.listenerCount('error') > 0) this.emit('error', err, client, packet)
    else if (!onError) this.#print(err)
  }

  /**
   * The default sink: stderr, at most one line per error code every 10 s with a count of the others, so a
   * flood of one error (a slow consumer dropping thousands of messages) cannot slow the broker down.
   */
  #print(err: MqttStackError): void {
    const now = Date.now()
    const seen = this.#printed.get(err.code)
    if (seen !== undefined && now - seen.at < PRINT_INTERVAL_MS) {
      seen.suppressed++
      return
    }
    const more = seen?.suppressed ? ` (and ${seen.suppressed} more since the last one)` : ''
    console.error(`[mqtt-stack] ${err.code}: ${err.message}${more}`)
    this.#printed.set(err.code, { at: now, suppressed: 0 })
  }

  /** Closes every client, then lets each middleware release what it holds (last used, first closed). */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    // A client leaves the set when its stream closes, which close() bounds by `client.closeTimeout`.
    const closed = [...this.#clients].map((client) => {
      const gone = once(client, 'close')
      client.close()
      return gone
    })
    await Promise.all(closed)
    for (const middleware of [...this.#middlewares].reverse()) {
      try {
        await middleware.close?.()
      } catch (cause) {
        this.reportError(
          new MqttStackError(ErrorCode.MIDDLEWARE, `${nameOf(middleware)}.close() failed`, { cause }),
          undefined,
          undefined,
        )
      }
    }
  }

  /**
   * Called by the client once its stream has closed, before its `close` event: the stack forgets it, then
   * each middleware's `uninstall` runs, in `use()` order. No listener per connection.
   * @internal
   */
  [CLIENT_CLOSED](client: Client): void {
    this.#clients.delete(client)
    const middlewares = this.#middlewares
    // A client whose installs stopped part way (one threw, or the stack was closing) is uninstalled only
    // from the middlewares it went through.
    const reached = this.#partlyInstalled.get(client) ?? middlewares.length
    for (let i = 0; i < reached; i++) {
      const middleware = middlewares[i]!
      if (!middleware.uninstall) continue
      try {
        middleware.uninstall(client)
      } catch (cause) {
        const err = new MqttStackError(ErrorCode.MIDDLEWARE, `${nameOf(middleware)}.uninstall() failed`, {
          cause,
        })
        this.reportError(err, client, undefined)
      }
    }
  }

  #accept(stream: Duplex, listener: string | undefined): Client {
    const client = new Client(this, stream, this.options.client, listener)
    if (this.#closing) {
      this.#partlyInstalled.set(client, 0)
      client.destroy(new MqttStackError(ErrorCode.STACK_CLOSED, 'connection refused: the stack is closing'))
      return client
    }
    this.#clients.add(client)
    const middlewares = this.#middlewares
    for (let i = 0; i < middlewares.length; i++) {
      const middleware = middlewares[i]!
      if (!middleware.install) continue
      try {
        middleware.install(client)
      } catch (cause) {
        this.#partlyInstalled.set(client, i)
        const err = new MqttStackError(ErrorCode.MIDDLEWARE, `${nameOf(middleware)}.install() failed`, {
          cause,
        })
        this.reportError(err, client, undefined)
        client.destroy(err)
        return client
      }
    }
    this.emit('client', client)
    return client
  }
}

function invalid(middleware: unknown, why: string): MqttStackError {
  const name = typeof middleware === 'object' && middleware ? nameOf(middleware) : String(middleware)
  return new MqttStackError(ErrorCode.INVALID_MIDDLEWARE, `use(${name}): ${why}`)
}

/** Validate at registration, trust at dispatch. */
function checkMiddleware(middleware: MiddlewareLike, used: readonly MiddlewareLike[]): void {
  if (typeof middleware !== 'object' || middleware === null) throw invalid(middleware, 'not an object')
  if (used.includes(middleware)) throw invalid(middleware, 'this instance is already in the stack')
  const { packetTypes, requires, handle } = middleware
  if (packetTypes !== undefined) {
    if (!Array.isArray(packetTypes)) throw invalid(middleware, 'packetTypes must be an array')
    for (const type of packetTypes) {
      if (!PACKET_TYPES.includes(type))
        throw invalid(middleware, `unknown packet type "${String(type)}" in packetTypes`)
    }
    if (typeof handle !== 'function') throw invalid(middleware, 'packetTypes is set but handle() is missing')
  }
  if (handle !== undefined && typeof handle !== 'function')
    throw invalid(middleware, 'handle must be a function')
  if (requires !== undefined) {
    if (!Array.isArray(requires) || requires.some((name) => typeof name !== 'string')) {
      throw invalid(middleware, 'requires must be an array of callback names')
    }
  }
  for (const key of ['roles', 'after', 'before'] as const) {
    const list = middleware[key]
    if (list === undefined) continue
    if (!Array.isArray(list) || list.some((ref) => typeof ref !== 'string' || ref === ''))
      throw invalid(middleware, `${key} must be an array of middleware names or roles`)
  }
  const { providerHints } = middleware
  if (providerHints !== undefined) {
    if (typeof providerHints !== 'object' || providerHints === null || Array.isArray(providerHints))
      throw invalid(middleware, 'providerHints must be an object of hints by callback name')
    for (const [name, hint] of Object.entries(providerHints)) {
      if (typeof hint !== 'string') throw invalid(middleware, `providerHints.${name} must be a string`)
    }
  }
  const { declares } = middleware
  if (declares !== undefined) {
    if (!Array.isArray(declares)) throw invalid(middleware, 'declares must be an array of callback names')
    for (const name of declares as unknown[]) {
      if (typeof name !== 'string' || name === '' || name.startsWith('_') || RESERVED.has(name))
        throw invalid(middleware, `declares cannot name "${String(name)}" as a callback`)
    }
  }
  if (middleware.setup !== undefined && typeof middleware.setup !== 'function')
    throw invalid(middleware, 'setup must be a function')
  if (middleware.callbacks !== undefined && typeof middleware.callbacks !== 'function') {
    throw invalid(middleware, 'callbacks must be a function returning handlers by name')
  }
}

type MutableList = { owners: object[]; fns: ChainHandler[] }

function append<K>(lists: Map<K, MutableList>, key: K, owner: object, fn: ChainHandler): void {
  const list = lists.get(key)
  if (list) {
    list.owners.push(owner)
    list.fns.push(fn)
  } else {
    lists.set(key, { owners: [owner], fns: [fn] })
  }
}

/**
 * The final lists: a handler that is an `async function`, or any handler in strict mode, is marked to get a
 * next/done of its own step (see chain.ts).
 */
function seal<K>(lists: Map<K, MutableList>, strict: boolean): Map<K, HandlerList> {
  const sealed = new Map<K, HandlerList>()
  for (const [key, { owners, fns }] of lists) {
    const own = fns.map(() => 0)
    for (const [i, fn] of fns.entries()) {
      if (strict) own[i] = OWN_PAIR.STRICT
      else if (isAsyncFunction(fn)) own[i] = OWN_PAIR.ASYNC
    }
    sealed.set(key, { owners, fns, own })
  }
  return sealed
}

function isAsyncFunction(fn: ChainHandler): boolean {
  return Object.prototype.toString.call(fn) === '[object AsyncFunction]'
}

function buildPacketLists(
  middlewares: readonly MiddlewareLike[],
  strict: boolean,
): Map<PacketType, HandlerList> {
  const lists = new Map<PacketType, MutableList>()
  for (const middleware of middlewares) {
    if (!middleware.handle) continue
    for (const type of middleware.packetTypes ?? PACKET_TYPES) {
      append(lists, type, middleware, middleware.handle as ChainHandler)
    }
  }
  return seal(lists, strict)
}

/**
 * A function-valued member of a middleware (own or inherited) is a handler of the callback of that name,
 * as in the seed, when the name is a known callback; `callbacks()` adds the typed object form.
 */
function buildCallbackLists(
  middlewares: readonly MiddlewareLike[],
  known: ReadonlySet<string>,
  strict: boolean,
): Map<string, HandlerList> {
  const lists = new Map<string, MutableList>()
  for (const middleware of middlewares) {
    for (const [name, fn] of handlersOf(middleware, known)) append(lists, name, middleware, fn)
  }
  return seal(lists, strict)
}

function handlersOf(middleware: MiddlewareLike, known: ReadonlySet<string>): Map<string, ChainHandler> {
  const found = new Map<string, ChainHandler>()
  for (const [key, value] of methodsOf(middleware)) if (known.has(key)) found.set(key, value)
  // The object form names its handlers explicitly: each entry is one, under its own name.
  const typed = middleware.callbacks?.() ?? {}
  for (const [key, value] of Object.entries(typed)) {
    if (typeof value === 'function') found.set(key, value as ChainHandler)
  }
  return found
}

/** The public function-valued members of a middleware, own or inherited, but its life cycle. */
function methodsOf(middleware: MiddlewareLike): Map<string, ChainHandler> {
  const found = new Map<string, ChainHandler>()
  const record = middleware as unknown as Record<string, unknown>
  for (
    let proto: object | null = middleware;
    proto && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (RESERVED.has(key) || found.has(key) || key.startsWith('_')) continue
      const value = Object.getOwnPropertyDescriptor(proto, key)?.get ? undefined : record[key]
      if (typeof value === 'function') found.set(key, value as ChainHandler)
    }
  }
  return found
}

/** Methods of `middleware` that are not handlers but one edit away from a name in `against`. */
function nearMisses(
  middleware: MiddlewareLike,
  known: ReadonlySet<string>,
  against: readonly string[],
): Array<[method: string, callback: string]> {
  const misses: Array<[string, string]> = []
  for (const method of methodsOf(middleware).keys()) {
    if (known.has(method)) continue
    const callback = against.find((name) => oneEditApart(method, name))
    if (callback !== undefined) misses.push([method, callback])
  }
  return misses
}

/** Levenshtein distance exactly 1: one character inserted, removed or replaced. */
export function oneEditApart(a: string, b: string): boolean {
  if (a === b || Math.abs(a.length - b.length) > 1) return false
  const [short, long] = a.length <= b.length ? [a, b] : [b, a]
  let i = 0
  while (i < short.length && short[i] === long[i]) i++
  const rest = short.length === long.length ? i + 1 : i
  return short.slice(rest) === long.slice(i + 1)
}
