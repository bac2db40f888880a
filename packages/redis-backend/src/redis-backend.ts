import {
  type CallbackContext,
  type CallbackHandler,
  type CallbackHandlers,
  type CallbackName,
  type CallbackStore,
  type Client,
  ErrorCode,
  type IPublishPacket,
  Middleware,
  MqttStackError,
  type Next,
  ReasonCode,
  type Stack,
} from '@mqtt-stack/core'
import { ClusterRouting } from './cluster.js'
import { ORIGIN, type OriginPacket } from './codec.js'
import { RedisBackendErrorCode, redisFailure } from './errors.js'
import { LocalSession } from './local.js'
import { Nodes } from './nodes.js'
import { DEFAULTS, LIMITS, MIN_NODE_TIMEOUT_MS, type RedisBackendOptions } from './options.js'
import { type ForwardedPacket, type Origin, Relay, type RelayContext, SHARED } from './relay.js'
import { type Route, Routes, SharedGroup } from './routes.js'
import { adoptSessions } from './sessions.js'
import { Incoming, inflightView, Queued, RedisStore, RetainedResult } from './store.js'
import { RedisWills } from './wills.js'

/** An offline message handed out by `lookupOfflineMessages`: its stored text, to remove exactly that one. */
interface HandedOut {
  clientId: string
  text: string
  /** Removed from the queue by `removeOfflineMessages`. */
  removed: boolean
  /** Given back undelivered (its connection closed) before it was removed: the removal keeps it. */
  givenBack: boolean
}

/** How long a relay of an inbound QoS 2 message may take before a PUBLISH sent again is relayed anew, in ms. */
const RELAY_STALE_MS = 10_000

/**
 * The Redis backend: it handles no packet and answers the storage and routing callbacks, with sessions,
 * persisted subscriptions, offline queues, QoS 1/2 state, retained messages and wills in Redis, and the
 * routes of this node in memory (those of persistent sessions rebuilt from Redis on start). README.md has
 * the data model and what each failure does.
 */
export class RedisBackend extends Middleware<RedisBackendOptions> implements RelayContext {
  override readonly name = 'redis-backend'
  override readonly requires = ['forwardMessage'] as const
  override readonly roles = ['backend']
  override readonly providerHints = { forwardMessage: 'OutboundManager from @mqtt-stack/outbound-manager' }
  readonly routes = new Routes()
  /** The connection of each client id on this node, as last registered (it may have closed since). */
  readonly clients = new Map<string, Client>()
  stack: Stack | undefined = undefined
  readonly #store: RedisStore
  /** This node's liveness in Redis: its heartbeat, and the sweep that finds dead nodes (`onDead`). */
  readonly nodes: Nodes
  readonly #wills: RedisWills
  readonly #relays: Relay[] = []
  #ready: Promise<void> | undefined = undefined
  #loaded = false
  readonly #handedOut = new WeakMap<IPublishPacket, HandedOut>()
  /**
   * Inbound QoS 2 messages (`<publisher>\0<packet identifier>`) whose identifier is held and whose relay by
   * this node is not done yet, with when it began. One begun more than RELAY_STALE_MS ago never came (its
   * connection closed before the relay): a PUBLISH sent again is relayed, not taken for a duplicate.
   */
  readonly #relaying = new Map<string, number>()
  /** Inbound QoS 2 messages whose relay failed, until inbound-manager's undo (see `relayFailed`). */
  readonly #unrelayed = new Set<string>()
  /** The origin of each inbound QoS 2 PUBLISH held by `storeIncomingMessage`, for its `relayMessage`. */
  readonly #origins = new WeakMap<IPublishPacket, Origin>()
  /** Redis became unreachable and has not been ready since: reported once per outage. */
  #outage = false
  /** Client ids whose full queue was reported, until it has room again. */
  readonly #reportedFull = new Set<string>()
  /**
   * The sessions of this node's connections that end with their connection (expiry interval 0, as
   * `storeSession` said): their QoS 1/2 state is kept here, not in Redis, since nothing of it must outlive
   * the connection.
   */
  readonly #local = new Map<string, LocalSession>()

  constructor(options: Partial<RedisBackendOptions> = {}) {
    super(options, DEFAULTS)
    for (const key of LIMITS) {
      const value = this.config[key]
      if (!Number.isInteger(value) || value < 0) {
        throw new MqttStackError(
          ErrorCode.INVALID_OPTION,
          `redis-backend: ${key} must be an integer of 0 or more, got ${String(value)}`,
        )
      }
    }
    if (/[{}]/.test(this.config.prefix)) {
      throw new MqttStackError(
        ErrorCode.INVALID_OPTION,
        `redis-backend: prefix must not contain { or } (the backend adds hash tags), got ${this.config.prefix}`,
      )
    }
    const timeout = this.config.nodeTimeoutMs
    if (!Number.isInteger(timeout) || timeout < MIN_NODE_TIMEOUT_MS) {
      throw new MqttStackError(
        ErrorCode.INVALID_OPTION,
        `redis-backend: nodeTimeoutMs must be an integer of ${MIN_NODE_TIMEOUT_MS} or more, got ${String(timeout)}`,
      )
    }
    this.#store = new RedisStore(this.config)
    // What fails in the background (heartbeat, readers) while Redis is away is the outage, reported once.
    const background = (err: unknown, what: string) => {
      if (!this.#outage) this.stack?.reportError(this.#failure(err, what), undefined, undefined)
    }
    this.nodes = new Nodes(this.#store.redis, this.config.prefix, timeout, (err) =>
      background(err, 'node liveness'),
    )
    this.#wills = new RedisWills(this.#store.redis, this.#store.keys, this.nodes.id)
    // The wills of a dead node: taken over by the survivor that swept it, published once by its last-will.
    this.nodes.onDead((id, lastSeen) => this.#wills.adopt(this.stack, id, lastSeen))
    this.cluster = new ClusterRouting(this, this.#store, this.nodes, background)
    // After the cluster's own listener has released the dead node's client ids.
    this.nodes.onDead((id, lastSeen) =>
      adoptSessions(this.stack, this.#store, this.cluster, { id, lastSeen }),
    )
  }

  /** The other nodes on the same Redis and prefix: client registry, route log, inboxes (cluster.ts). */
  readonly cluster: ClusterRouting

  /** The connection of `clientId` on this node, if it is connected (CONNACK sent, not closed). */
  connected(clientId: string): Client | undefined {
    const client = this.clients.get(clientId)
    return client !== undefined && !client.closed && client.connackSent ? client : undefined
  }

  /** This node's id (random per start): the key `<prefix>{nodes}:<id>` exists while it is alive. */
  get nodeId(): string {
    return this.nodes.id
  }

  /** The key prefix: brokers on the same Redis with the same prefix share their state. */
  get prefix(): string {
    return this.config.prefix
  }

  /**
   * Resolves once the backend has connected to Redis and rebuilt the routes of the persistent sessions; rejects
   * when Redis could not be reached (the next call, or the next callback, tries again).
   */
  ready(): Promise<void> {
    // A failed start (Redis unreachable) is tried again by the next call, not remembered for ever.
    this.#ready ??= this.#load().catch((err: unknown) => {
      this.#ready = undefined
      throw err
    })
    return this.#ready
  }

  async #load(): Promise<void> {
    for (const { clientId, subscriptions } of await this.#store.persistentRoutes()) {
      for (const subscription of subscriptions)
        this.routes.subscribe(clientId, subscription.topic, subscription.qos, subscription)
    }
    await this.cluster.start()
    this.#loaded = true
    await this.nodes.start()
    // In the background: ready() does not wait for a walk over every stored session.
    adoptSessions(this.stack, this.#store, this.cluster).catch((err: unknown) =>
      this.stack?.reportError(
        this.#failure(err, 'handing over the disconnected sessions'),
        undefined,
        undefined,
      ),
    )
  }

  override setup(stack: Stack): void {
    this.stack ??= stack
    this.#store.onConnectionError = (err) => {
      if (this.#outage) return
      this.#outage = true
      this.#report(
        this.#failure(
          err,
          `the connection to Redis (callbacks wait up to unavailableTimeout, ${this.config.unavailableTimeout} ms, for it to come back)`,
        ),
        undefined,
      )
    }
    this.#store.onReady = () => {
      this.#outage = false
    }
    this.ready().catch((err: unknown) =>
      stack.reportError(this.#failure(err, 'loading the sessions'), undefined, undefined),
    )
  }

  /**
   * Hands this node's work over in Redis and disconnects, within `closeTimeout`: past it (Redis away, or
   * too slow) it disconnects at once, and other nodes take over what is left as a dead node's.
   */
  override async close(): Promise<void> {
    await this.#ready?.catch(() => undefined)
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(resolve, this.config.closeTimeout, false)
    })
    const orderly = (async () => {
      await this.#handOver()
      return this.#store.quit()
    })()
    const done = await Promise.race([orderly, late])
    clearTimeout(timer)
    if (!done) {
      this.nodes.halt()
      // Fails what still waits for Redis, the hand-over included.
      this.#store.disconnect()
    }
    this.routes.clear()
    this.clients.clear()
    this.#local.clear()
  }

  async #handOver(): Promise<void> {
    await this.cluster.stop().catch(() => undefined)
    await this.nodes.stop().catch(() => undefined)
    // Delayed wills still waiting are left to the next sweep: the stopped node is found dead.
    if (this.#loaded && this.#store.redis.status === 'ready')
      await this.#wills.release(this.nodes.setKey).catch(() => undefined)
  }

  override callbacks(): CallbackHandlers {
    const s = this.#store
    const handlers: CallbackHandlers = {
      // Connections: this node's
      registerClient: (ctx, store, next) => {
        const previous = this.clients.get(ctx.clientId)
        this.clients.set(ctx.clientId, ctx.client)
        if (previous !== undefined && previous !== ctx.client && !previous.closed) {
          // The server MUST disconnect the existing client with the same client id [MQTT-3.1.4-2] (0x8E)
          previous.close(ReasonCode.SESSION_TAKEN_OVER)
          store.previous = previous
        }
        // On another node, that node closes it.
        this.#answer(this.cluster.register(ctx.client, ctx.clientId), next)
      },
      unregisterClient: (ctx, store, next) => {
        const current = this.clients.get(ctx.clientId) === ctx.client
        if (current) this.clients.delete(ctx.clientId)
        if (!current) {
          store.removed = false
          return next()
        }
        // Not removed when a connection on another node took the client id over meanwhile.
        this.#answer(this.cluster.unregister(ctx.client, ctx.clientId), next, (released) => {
          store.removed = released
          // Taken over on another node: a session kept here is not resumed there (README, round trips).
          if (!released) this.#local.delete(ctx.clientId)
        })
      },

      // Sessions
      lookupSession: (ctx, store, next) => {
        this.#answer(s.lookupSession(ctx.clientId), next, (session) => {
          if (session !== undefined) store.session = session
        })
      },
      storeSession: (ctx, _store, next) => {
        const { clientId, session } = ctx
        const local = this.#local.get(clientId)
        if (session.expiryInterval !== 0) {
          if (local === undefined) return this.#answer(s.storeSession(clientId, session), next)
          // It outlives its connection after all: its state goes to Redis, after the session hash.
          this.#local.delete(clientId)
          const state = local.state()
          return this.#answer(
            Promise.all([s.storeSession(clientId, session), s.restoreState(clientId, state)]),
            next,
          )
        }
        if (local !== undefined) return this.#answer(s.storeSession(clientId, session), next)
        // Ends with its connection: what Redis held of its QoS 1/2 state comes to this node's memory.
        const created = new LocalSession()
        this.#local.set(clientId, created)
        this.#answer(s.storeSession(clientId, session, true), next, (taken) => {
          if (taken !== undefined) created.adopt(taken)
        })
      },
      removeSession: (ctx, _store, next) => {
        this.#answer(this.dropSession(ctx.clientId), next)
      },

      // Routes: in this node's memory
      subscribeTopic: (ctx, store, next) => {
        store.existed = this.routes.subscribe(ctx.client.id, ctx.topic, ctx.qos, ctx.subscription)
        // Known to the other nodes before the SUBACK.
        this.#answer(this.cluster.subscribed(ctx.client.id, ctx.topic, ctx.qos, ctx.subscription), next)
      },
      unsubscribeTopic: (ctx, store, next) => {
        store.removed = this.routes.unsubscribe(ctx.client.id, ctx.topic)
        this.#answer(this.cluster.unsubscribed(ctx.client.id, ctx.topic), next)
      },
      relayMessage: (ctx, store, next) => {
        const origin = ctx.packet.qos === 2 ? this.#origins.get(ctx.packet) : undefined
        if (this.routes.trie.size === 0) {
          store.matched = store.matched ?? 0
          return origin === undefined ? next() : this.relayed(origin, next)
        }
        if (origin === undefined || !origin.unrelayed) return this.#relay(ctx, store, next, origin)
        this.#origins.delete(ctx.packet)
        // Relayed before by a node that died before it was done: not again to those who got it then.
        this.#holdersOf(ctx.topic, origin.key).then(
          (holders) => {
            origin.holders = holders
            this.#relay(ctx, store, next, origin)
          },
          (err: unknown) => next(this.#failure(err, 'looking up an interrupted relay')),
        )
      },

      // Persisted subscriptions: kept only for a session that outlives its connection
      storeSubscription: (ctx, _store, next) => {
        this.#answer(
          s.storeSubscription(ctx.clientId, ctx.topic, { ...ctx.subscription, qos: ctx.qos }),
          next,
        )
      },
      removeSubscription: (ctx, _store, next) => {
        this.#answer(s.redis.hdel(s.keys.subscriptions(ctx.clientId), ctx.topic), next)
      },
      clearSubscriptions: (ctx, _store, next) => {
        this.#answer(s.redis.del(s.keys.subscriptions(ctx.clientId)), next)
      },
      lookupSubscriptions: (ctx, store, next) => {
        this.#answer(s.lookupSubscriptions(ctx.clientId), next, (subscriptions) => {
          if (subscriptions !== undefined) store.subscriptions = subscriptions
        })
      },

      // Retained messages
      storeRetainedMessage: (ctx, _store, next) => {
        this.#answer(s.storeRetained(ctx.topic, ctx.packet), next, (result) => {
          if (result !== RetainedResult.FULL && result !== RetainedResult.TOO_MANY_BYTES) return
          const why = result === RetainedResult.FULL ? 'maxRetainedMessages' : 'maxRetainedBytes'
          this.#report(
            new MqttStackError(
              RedisBackendErrorCode.RETAINED_FULL,
              `the retained store is full (${why}); the message of ${ctx.topic} was refused`,
            ),
            ctx.client,
          )
        })
      },
      lookupRetainedMessages: (ctx, store, next) => {
        this.#answer(s.lookupRetained(ctx.topic), next, (packets) => {
          store.packets = packets
        })
      },

      // Offline queues
      storeOfflineMessage: (ctx, store, next) => {
        const handed = this.#handedOut.get(ctx.packet)
        if (handed !== undefined && handed.clientId === ctx.clientId) {
          // Handed out and given back undelivered: it stays where it is in the queue, or goes back to its head.
          if (!handed.removed) {
            handed.givenBack = true
            return next()
          }
          handed.removed = false
          return this.#answer(s.redis.lpush(s.keys.offline(ctx.clientId), handed.text), next)
        }
        const shared = (ctx.packet as ForwardedPacket)[SHARED]
        this.#answer(s.storeOffline(ctx.clientId, ctx.packet, shared), next, (queued) => {
          if (queued === Queued.OK) {
            this.#reportedFull.delete(ctx.clientId)
            return
          }
          store.dropped = true
          if (queued === Queued.FULL) this.#queueFull(ctx.clientId, ctx.packet)
        })
      },
      lookupOfflineMessages: (ctx, store, next) => {
        this.#answer(s.lookupOffline(ctx.clientId, ctx.limit), next, ({ queue, queued }) => {
          store.queued = queued
          const packets: IPublishPacket[] = []
          for (const { packet, text } of queue) {
            this.#handedOut.set(packet, { clientId: ctx.clientId, text, removed: false, givenBack: false })
            packets.push(packet)
          }
          store.packets = packets
        })
      },
      removeOfflineMessages: (ctx, _store, next) => {
        const texts: string[] = []
        for (const packet of ctx.packets) {
          const handed = this.#handedOut.get(packet)
          if (handed === undefined || handed.clientId !== ctx.clientId || handed.removed || handed.givenBack)
            continue
          handed.removed = true
          texts.push(handed.text)
        }
        this.#reportedFull.delete(ctx.clientId)
        if (texts.length === 0) return next()
        this.#answer(s.removeOffline(ctx.clientId, texts), next)
      },
      clearOfflineMessages: (ctx, _store, next) => {
        this.#answer(s.redis.del(s.keys.offline(ctx.clientId)), next)
      },

      // Outbound QoS 1/2
      storeInflightMessage: (ctx, store, next) => {
        const { clientId, packet } = ctx
        if (packet.messageId === undefined) return next()
        const local = this.#local.get(clientId)
        if (local === undefined) {
          // A session kept in Redis: what waits for room in its window is kept here too.
          store.durable = true
          return this.#answer(s.storeInflight(clientId, packet), next, (result) =>
            result === -1 ? this.#inflightFull(clientId) : undefined,
          )
        }
        const origin = (packet as OriginPacket)[ORIGIN]
        const max = this.config.maxInflightMessages
        if (local.storeInflight(packet, origin, max, Date.now()) === -1)
          return next(this.#inflightFull(clientId))
        if (origin === undefined) return next()
        // The origin of a QoS 2 delivery is in Redis even so: a relay done again after the publisher's node
        // died skips this subscriber.
        this.#answer(s.storeOrigin(clientId, packet.messageId, origin), next)
      },
      removeInflightMessage: (ctx, _store, next) => {
        const local = this.#local.get(ctx.clientId)
        // The origin of a completed QoS 2 delivery moves to `done` in Redis (removeInflight).
        if (local !== undefined && local.removeInflight(ctx.messageId) === undefined) return next()
        this.#answer(s.removeInflight(ctx.clientId, ctx.messageId), next)
      },
      lookupInflightMessages: (ctx, store, next) => {
        const local = this.#local.get(ctx.clientId)
        if (local === undefined) {
          store.durable = true
          return this.#answer(s.lookupInflight(ctx.clientId), next, (packets) => {
            store.packets = packets
          })
        }
        const { out, expired } = inflightView(local.sent(), Date.now())
        for (const id of expired) local.removeInflight(id)
        store.packets = out
        next()
      },
      clearInflightMessages: (ctx, _store, next) => {
        this.#local.get(ctx.clientId)?.inflight.clear()
        this.#answer(s.clearInflight(ctx.clientId), next)
      },

      // Inbound QoS 2: the identifier is read and stored in one step [MQTT-4.3.3-2]
      storeIncomingMessage: (ctx, store, next) => {
        if (ctx.packet.messageId === undefined) return next()
        const local = this.#local.get(ctx.clientId)
        if (local === undefined)
          return this.#answer(s.storeIncoming(ctx.clientId, ctx.packet), next, (found) =>
            this.#incoming(ctx.clientId, ctx.packet, store, found),
          )
        this.#incoming(ctx.clientId, ctx.packet, store, local.storeIncoming(ctx.packet))
        next()
      },
      releaseIncomingMessage: (ctx, store, next) => {
        if (this.#unrelayed.delete(`${ctx.clientId}\0${ctx.messageId}`)) return next()
        const local = this.#local.get(ctx.clientId)
        if (local === undefined)
          return this.#answer(s.releaseIncoming(ctx.clientId, ctx.messageId), next, (packet) => {
            if (packet !== undefined) store.packet = packet
          })
        const packet = local.releaseIncoming(ctx.messageId)
        if (packet !== undefined) store.packet = packet
        next()
      },

      // Wills: by owner, each with the node that holds it (wills.ts)
      storeWill: (ctx, _store, next) => {
        const owner = ctx.owner ?? ''
        this.#answer(
          ctx.dueAt === undefined
            ? this.#wills.store(ctx.clientId, owner, ctx.packet, ctx.delayInterval)
            : this.#wills.due(ctx.clientId, owner, ctx.dueAt),
          next,
        )
      },
      lookupWill: (ctx, store, next) => {
        this.#answer(this.#wills.lookup(ctx.clientId, ctx.owner), next, (will) => {
          if (will === undefined) return
          store.packet = will.packet
          store.delayInterval = will.delayInterval
          if (will.dueAt !== undefined) store.dueAt = will.dueAt
        })
      },
      removeWill: (ctx, store, next) => {
        if (ctx.owner !== undefined) {
          return this.#answer(this.#wills.take(ctx.clientId, ctx.owner), next, (removed) => {
            store.removed = removed
          })
        }
        this.#answer(this.#wills.takeDelayed(ctx.clientId), next, (packets) => {
          store.packets = packets
          store.removed = packets.length > 0
        })
      },

      // Monitoring: sessions and retained messages in Redis, connections and routes of this node
      collectStats: (_ctx, store, next) => {
        const counted = Promise.all([s.counts(), this.#wills.count(this.nodes.setKey)])
        this.#answer(counted, next, ([{ sessions, retainedMessages }, wills]) => {
          let disconnected = 0
          for (const [clientId, persistent] of sessions) {
            const client = this.clients.get(clientId)
            const connected =
              (client !== undefined && !client.closed) || this.cluster.nodeOf(clientId) !== undefined
            if (persistent && !connected) disconnected++
          }
          store.sessions = sessions.length
          store.disconnectedSessions = disconnected
          store.retainedMessages = retainedMessages
          store.subscriptions = this.routes.count
          store.wills = wills
        })
      },
    }
    return this.#gated(handlers)
  }

  /**
   * Removes a session and its routes on every node, unless a connection on another node that is alive holds
   * its client id (an expiry timer of a node the session has left must not end it where it was resumed).
   */
  async dropSession(clientId: string): Promise<void> {
    // Kept here for a connection of this node: not the session of a connection elsewhere, if one holds it.
    this.#local.delete(clientId)
    if (await this.cluster.heldElsewhere(clientId)) return
    this.routes.removeClient(clientId)
    this.#reportedFull.delete(clientId)
    await Promise.all([this.#store.removeSession(clientId), this.cluster.removed(clientId)])
  }

  #relay(
    ctx: CallbackContext<'relayMessage'>,
    store: CallbackStore<'relayMessage'>,
    next: Next,
    origin: Origin | undefined,
  ): void {
    const relay = this.#relays.pop() ?? new Relay(this, this.#relays)
    relay.run(ctx, store, next, origin)
  }

  /**
   * The relay of an inbound QoS 2 message is done: recorded in Redis before it is acknowledged (PUBREC), so
   * that a PUBLISH sent again is a duplicate, and one whose relay a crash cut short is relayed again.
   */
  relayed(origin: Origin, next: Next): void {
    const local = this.#local.get(origin.publisherId)
    if (local !== undefined) {
      local.markRelayed(origin.messageId)
      this.#relaying.delete(origin.key)
      return next()
    }
    this.#store.markRelayed(origin.publisherId, origin.messageId).then(
      () => {
        this.#relaying.delete(origin.key)
        next()
      },
      (err: unknown) => {
        this.#relaying.delete(origin.key)
        next(this.#failure(err, 'recording a relay'))
      },
    )
  }

  /**
   * The relay of an inbound QoS 2 message failed (a delivery Redis could not store): its identifier stays
   * held as "relaying" in Redis, so that the publisher's resend is relayed again except to the subscribers
   * that hold it already, rather than to all of them. inbound-manager's undo (`releaseIncomingMessage`)
   * that follows is skipped for it.
   */
  relayFailed(origin: Origin): void {
    this.#relaying.delete(origin.key)
    this.#unrelayed.add(origin.key)
  }

  /** The subscribers of `topic` (shared members too) that hold a delivery of the message `origin`. */
  async #holdersOf(topic: string, origin: string): Promise<Set<string>> {
    const candidates = new Set<string>()
    this.routes.trie.forEachMatch(topic, (route: Route | SharedGroup) => {
      if (route instanceof SharedGroup) for (const member of route.members) candidates.add(member.clientId)
      else candidates.add(route.clientId)
    })
    const ids = [...candidates]
    const held = await Promise.all(ids.map((clientId) => this.#store.holdsOrigin(clientId, origin)))
    return new Set(ids.filter((_, i) => held[i]))
  }

  /**
   * Every handler, held until the routes of the persistent sessions are rebuilt (a message relayed before
   * would miss them); once they are, the handler itself, at no cost.
   */
  #gated(handlers: CallbackHandlers): CallbackHandlers {
    const gated: Record<string, CallbackHandler<CallbackName>> = {}
    for (const [name, handler] of Object.entries(handlers) as [string, CallbackHandler<CallbackName>][]) {
      gated[name] = (ctx, store, next, done) => {
        if (this.#loaded) return handler(ctx, store, next, done)
        this.ready().then(
          () => handler(ctx, store, next, done),
          (err: unknown) => next(this.#failure(err, name)),
        )
      }
    }
    return gated as CallbackHandlers
  }

  /**
   * Calls `next` once `pending` settles: after `then` (an MqttStackError it returns fails the callback),
   * or with the Redis failure.
   */
  #answer<T>(pending: Promise<T>, next: Next, then?: (value: T) => unknown): void {
    pending.then(
      (value) => {
        const failed = then?.(value)
        next(failed instanceof MqttStackError ? failed : undefined)
      },
      (err: unknown) => next(this.#failure(err, 'a Redis command')),
    )
  }

  #failure(err: unknown, what: string): MqttStackError {
    return redisFailure(err, what)
  }

  /**
   * An inbound QoS 2 identifier was looked up and held (`found`: what was held before): a duplicate, or the
   * origin its relay records.
   */
  #incoming(
    clientId: string,
    packet: IPublishPacket,
    store: CallbackStore<'storeIncomingMessage'>,
    found: Incoming,
  ): void {
    const key = `${clientId}\0${packet.messageId}`
    // Held, and relayed or being relayed here: a duplicate [MQTT-4.3.3-2].
    const since = this.#relaying.get(key)
    const relaying = since !== undefined && Date.now() - since < RELAY_STALE_MS
    store.duplicate = found === Incoming.DUPLICATE || (found === Incoming.UNRELAYED && relaying)
    if (store.duplicate) return
    this.#relaying.set(key, Date.now())
    this.#origins.set(packet, {
      publisherId: clientId,
      messageId: packet.messageId!,
      key,
      unrelayed: found === Incoming.UNRELAYED,
      holders: undefined,
    })
  }

  #inflightFull(clientId: string): MqttStackError {
    return new MqttStackError(
      RedisBackendErrorCode.INFLIGHT_FULL,
      `client ${clientId} has ${this.config.maxInflightMessages} unacknowledged messages (maxInflightMessages)`,
    )
  }

  /** Counted every time (`messageDropped`); reported the first time until the queue has room again. */
  #queueFull(clientId: string, packet: IPublishPacket): void {
    const client = this.clients.get(clientId)
    this.stack?.notifyDropped('offline-queue-full', client, packet, clientId)
    if (this.#reportedFull.has(clientId)) return
    this.#reportedFull.add(clientId)
    this.#report(
      new MqttStackError(
        RedisBackendErrorCode.OFFLINE_QUEUE_FULL,
        `client ${clientId}: its offline queue holds ${this.config.maxOfflineMessages} messages (maxOfflineMessages); a message to ${packet.topic} was dropped, and later ones are dropped and counted until it has room`,
      ),
      client,
    )
  }

  #report(err: MqttStackError, client: Client | undefined): void {
    ;(client?.stack ?? this.stack)?.reportError(err, client, undefined)
  }
}
