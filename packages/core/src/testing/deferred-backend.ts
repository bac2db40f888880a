import {
  type CallbackName,
  type DeclaredCallbackName,
  type Done,
  type Next,
  STANDARD_CALLBACK_NAMES,
} from '../callbacks.js'
import type { Client } from '../client.js'
import { toMqttStackError } from '../errors.js'
import type { MiddlewareLike } from '../middleware.js'
import type { Packet, PacketType } from '../packets.js'
import type { Stack } from '../stack.js'

export interface DeferredBackendOptions {
  /** Seed of the pseudo-random delays: the same seed gives the same sequence. Default: a random one. */
  seed?: number
  /** The longest delay of one step, in ms. Default 2. */
  maxDelay?: number
}

type Handler = (this: unknown, ctx: unknown, store: unknown, next: Next, done: Done) => unknown

/** One client's steps, in the order they were deferred, each with the time it is due. */
interface Lane {
  key: string
  steps: Array<{ due: number; run: () => void }>
  timer: boolean
}

/**
 * Wraps a backend so that it answers every callback asynchronously, as a backend over the network does: each
 * call reaches the wrapped handler after a pseudo-random 0 to `maxDelay` ms, and its `next`/`done` reaches
 * the chain after another. A broker that passes its tests with it never acts as if an answer came in the same
 * tick. Like a connection to Redis, steps of one client id (`ctx.clientId`, else `ctx.client.id`) keep their
 * order; steps of different clients come out in any order.
 *
 * The handler contract holds: an error passed to `next`/`done`, a throw or a rejection of the wrapped handler
 * ends the chain with that error, as it would unwrapped. Handlers are those of `callbacks()`, and methods
 * named after a standard callback or one the wrapped middleware `declares`. Packets, `setup`, `install` and
 * `close` go to it unchanged.
 *
 * ```ts
 * const backend = new DeferredBackend(new MemoryBackend(), { seed: Number(process.env.SEED) })
 * stack.use(backend) // a failure replays with the same `backend.seed`
 * ```
 */
export class DeferredBackend implements MiddlewareLike {
  readonly name: string
  readonly seed: number
  readonly inner: MiddlewareLike
  // Set only when the wrapped backend has them: a `handle` would put this in every packet's chain.
  declare readonly requires?: readonly CallbackName[]
  declare readonly declares?: readonly DeclaredCallbackName[]
  declare readonly packetTypes?: readonly PacketType[]
  declare readonly handle?: (client: Client, packet: Packet, next: Next, done: Done) => void | Promise<void>
  readonly #maxDelay: number
  readonly #random: () => number
  readonly #lanes = new Map<string, Lane>()
  #stack: Stack | undefined = undefined

  constructor(inner: MiddlewareLike, options: DeferredBackendOptions = {}) {
    this.inner = inner
    this.name = inner.name ?? 'deferred-backend'
    this.seed = options.seed ?? Math.floor(Math.random() * 0x7fffffff)
    this.#maxDelay = options.maxDelay ?? 2
    this.#random = mulberry32(this.seed)
    const { requires, declares, packetTypes, handle } = inner
    if (requires !== undefined) Object.assign(this, { requires })
    if (declares !== undefined) Object.assign(this, { declares })
    if (packetTypes !== undefined) Object.assign(this, { packetTypes })
    if (handle !== undefined) Object.assign(this, { handle: handle.bind(inner) })
  }

  /** Keeps the stack, and hands it to the wrapped backend, which may relay or report outside a client's chain. */
  setup(stack: Stack): void {
    this.#stack ??= stack
    this.inner.setup?.(stack)
  }

  install(client: Client): void {
    this.#stack ??= client.stack
    this.inner.install?.(client)
  }

  close(): void | Promise<void> {
    return this.inner.close?.()
  }

  callbacks(): Record<string, Handler> {
    const inner = this.inner as unknown as Record<string, unknown>
    const found: Record<string, Handler> = {}
    for (const name of [...STANDARD_CALLBACK_NAMES, ...(this.inner.declares ?? [])]) {
      const fn = inner[name]
      if (typeof fn === 'function') found[name] = this.#defer(fn as Handler)
    }
    for (const [name, fn] of Object.entries(this.inner.callbacks?.() ?? {})) {
      if (typeof fn === 'function') found[name] = this.#defer(fn as Handler)
    }
    return found
  }

  /** `fn`, called after a delay, whose `next`/`done` reach the chain after another. */
  #defer(fn: Handler): Handler {
    return (ctx, store, next, done) => {
      const lane = this.#lane(laneKey(ctx))
      this.#schedule(lane, () => {
        let answered = false
        const answer =
          (end: Next) =>
          (err?: Error | null): void => {
            answered = true
            this.#schedule(lane, () => end(err))
          }
        const fail = (reason: unknown): void => {
          if (answered) this.#stack?.reportError(toMqttStackError(reason), undefined, undefined)
          else answer(next)(toMqttStackError(reason))
        }
        try {
          const result = fn.call(this.inner, ctx, store, answer(next), answer(done))
          if (result instanceof Promise) result.then(undefined, fail)
        } catch (thrown) {
          fail(thrown)
        }
      })
    }
  }

  #lane(key: string): Lane {
    let lane = this.#lanes.get(key)
    if (lane === undefined) {
      lane = { key, steps: [], timer: false }
      this.#lanes.set(key, lane)
    }
    return lane
  }

  /** Queues `run` on its lane, due after a fresh random delay. */
  #schedule(lane: Lane, run: () => void): void {
    lane.steps.push({ due: performance.now() + this.#random() * this.#maxDelay, run })
    this.#arm(lane)
  }

  /** Waits for the first step of `lane`; then runs it and every later one already due, in order. */
  #arm(lane: Lane): void {
    if (lane.timer) return
    const first = lane.steps[0]
    if (first === undefined) {
      this.#lanes.delete(lane.key)
      return
    }
    lane.timer = true
    const fire = (): void => {
      lane.timer = false
      const now = performance.now()
      // Only steps queued before this turn: one a step queues (its answer) waits for a turn of its own.
      const queued = lane.steps.length
      try {
        for (let i = 0; i < queued; i++) {
          const step = lane.steps[0]!
          if (i > 0 && step.due > now) break
          lane.steps.shift()
          step.run()
        }
      } finally {
        this.#arm(lane)
      }
    }
    const wait = first.due - performance.now()
    // Under half a millisecond: the next turn of the event loop (a timer waits at least 1 ms).
    if (wait < 0.5) setImmediate(fire)
    else setTimeout(fire, wait)
  }
}

/** The lane of a step: its client id, so that one client's steps stay in order. */
function laneKey(ctx: unknown): string {
  const { clientId, client } = ctx as { clientId?: unknown; client?: { id?: unknown } }
  if (typeof clientId === 'string') return clientId
  if (typeof client?.id === 'string') return client.id
  return ''
}

/** A small seeded generator of numbers in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
