import {
  type CallbackHandlers,
  ErrorCode,
  Middleware,
  MqttStackError,
  ownPayload,
  type Stack,
  type StoredSession,
} from '@mqtt-stack/core'
import { DEFAULTS, type MemoryBackendOptions } from './options.js'
import { Relay } from './relay.js'
import { MemoryStore } from './store.js'

/** What a MemoryBackend holds, for monitoring and leak checks. */
export interface MemoryBackendStats {
  /** Client ids with a registered connection. */
  clients: number
  /** Stored sessions, connected or not. */
  sessions: number
  /** Routes: (filter, client id) pairs, members of shared subscriptions included. */
  subscriptions: number
  /** Client ids that have at least one route. */
  subscribers: number
  /** Retained messages. */
  retained: number
  /** Stored wills. */
  wills: number
  /** Messages dropped because an offline queue was full, since the backend was created. */
  droppedOfflineMessages: number
  /** Payload bytes in all offline queues now (bounded by `maxOfflineBytes`). */
  offlineBytes: number
  /** Payload bytes of all retained messages now (bounded by `maxRetainedBytes`). */
  retainedBytes: number
  /** Retained messages refused because the store was full, since the backend was created. */
  refusedRetainedMessages: number
  /** MQTT 5.0: shared subscriptions (`$share/{group}/{filter}`) with at least one member. */
  sharedSubscriptions: number
  /** MQTT 5.0: stored messages dropped because their Message Expiry Interval passed, since creation. */
  expiredMessages: number
}

/**
 * The embedded default backend: it handles no packet and answers the storage and routing callbacks, with
 * everything in memory. `relayMessage` is the router: one delivery per subscribed client id, at the
 * highest QoS granted among its matching subscriptions, through `forwardMessage`, or queued offline for a
 * disconnected persistent session. MQTT 5.0: No Local, Retain As Published, Subscription Identifiers, shared
 * subscriptions (one member per message, round robin) and message expiry in storage; README.md has the details.
 */
export class MemoryBackend extends Middleware<MemoryBackendOptions> {
  override readonly name = 'memory-backend'
  override readonly requires = ['forwardMessage'] as const
  override readonly roles = ['backend']
  override readonly providerHints = { forwardMessage: 'OutboundManager from @mqtt-stack/outbound-manager' }
  readonly #store: MemoryStore
  readonly #relays: Relay[] = []

  constructor(options: Partial<MemoryBackendOptions> = {}) {
    super(options, DEFAULTS)
    for (const key of Object.keys(DEFAULTS) as (keyof MemoryBackendOptions)[]) {
      const value = this.config[key]
      if (!Number.isInteger(value) || value < 0) {
        throw new MqttStackError(
          ErrorCode.INVALID_OPTION,
          `memory-backend: ${key} must be an integer of 0 or more, got ${String(value)}`,
        )
      }
    }
    this.#store = new MemoryStore(this.config)
  }

  /** What is stored now. A getter, so the stack never takes it for a callback. */
  get stats(): MemoryBackendStats {
    const store = this.#store
    return {
      clients: store.clients.size,
      sessions: store.sessions.size,
      subscriptions: store.routeCount,
      subscribers: store.routes.size,
      retained: store.retained.size,
      wills: store.wills.size,
      droppedOfflineMessages: store.droppedOfflineMessages,
      offlineBytes: store.offlineTotal.bytes,
      retainedBytes: store.retainedBytes,
      refusedRetainedMessages: store.refusedRetainedMessages,
      sharedSubscriptions: store.shared.size,
      expiredMessages: store.expiredMessages,
    }
  }

  override setup(stack: Stack): void {
    // Where errors without a client of their own are reported, and server messages relayed.
    this.#store.stack ??= stack
  }

  override close(): void {
    this.#store.clear()
  }

  override callbacks(): CallbackHandlers {
    const s = this.#store
    return {
      // Connections
      registerClient: (ctx, store, next) => {
        const previous = s.register(ctx.client, ctx.clientId)
        if (previous !== undefined) store.previous = previous
        next()
      },
      unregisterClient: (ctx, store, next) => {
        store.removed = s.unregister(ctx.client, ctx.clientId)
        next()
      },

      // Sessions
      lookupSession: (ctx, store, next) => {
        const session = s.sessions.get(ctx.clientId)
        if (session !== undefined) store.session = { ...session.stored } satisfies StoredSession
        next()
      },
      storeSession: (ctx, _store, next) => {
        s.storeSession(ctx.clientId, ctx.session)
        next()
      },
      removeSession: (ctx, _store, next) => {
        const again = s.removeSession(ctx.clientId)
        if (again === undefined || s.stack === undefined) return next()
        // Its unacknowledged shared-subscription messages go to another member of their group.
        let pending = again.length
        const relayed = (): void => {
          if (--pending === 0) next()
        }
        for (const { group, packet } of again) {
          const relay = this.#relays.pop() ?? new Relay(s, this.#relays)
          relay.runGroup(group, packet, s.stack, relayed)
        }
      },

      // Routes
      subscribeTopic: (ctx, store, next) => {
        store.existed = s.subscribe(ctx.client.id, ctx.topic, ctx.qos, ctx.subscription)
        next()
      },
      unsubscribeTopic: (ctx, store, next) => {
        store.removed = s.unsubscribe(ctx.client.id, ctx.topic)
        next()
      },
      relayMessage: (ctx, store, next) => {
        if (s.trie.size === 0) {
          store.matched = store.matched ?? 0
          return next()
        }
        const relay = this.#relays.pop() ?? new Relay(s, this.#relays)
        relay.run(ctx, store, next)
      },

      // Persisted subscriptions: kept only for a session that outlives its connection.
      storeSubscription: (ctx, _store, next) => {
        const session = s.sessions.get(ctx.clientId)
        if (session?.persistent) session.subscriptions.set(ctx.topic, { ...ctx.subscription, qos: ctx.qos })
        next()
      },
      removeSubscription: (ctx, _store, next) => {
        s.sessions.get(ctx.clientId)?.peek('subscriptions')?.delete(ctx.topic)
        next()
      },
      clearSubscriptions: (ctx, _store, next) => {
        s.sessions.get(ctx.clientId)?.peek('subscriptions')?.clear()
        next()
      },
      lookupSubscriptions: (ctx, store, next) => {
        const session = s.sessions.get(ctx.clientId)
        if (session !== undefined) store.subscriptions = [...(session.peek('subscriptions')?.values() ?? [])]
        next()
      },

      // Retained messages
      storeRetainedMessage: (ctx, _store, next) => {
        s.storeRetained(ctx.topic, ctx.packet, ctx.client)
        next()
      },
      lookupRetainedMessages: (ctx, store, next) => {
        store.packets = s.lookupRetained(ctx.topic)
        next()
      },

      // Offline queues
      storeOfflineMessage: (ctx, store, next) => {
        if (s.enqueueOffline(ctx.clientId, ctx.packet, s.relayedAt.get(ctx.packet))) store.dropped = true
        next()
      },
      lookupOfflineMessages: (ctx, store, next) => {
        const session = s.sessions.get(ctx.clientId)
        if (session !== undefined) store.packets = s.lookupOffline(session)
        next()
      },
      removeOfflineMessages: (ctx, _store, next) => {
        const session = s.sessions.get(ctx.clientId)
        if (session !== undefined) s.removeOffline(session, ctx.packets)
        next()
      },
      clearOfflineMessages: (ctx, _store, next) => {
        s.sessions.get(ctx.clientId)?.peek('offline')?.clear()
        next()
      },

      // Outbound QoS 1/2
      storeInflightMessage: (ctx, _store, next) => {
        next(s.storeInflight(ctx.clientId, ctx.packet))
      },
      removeInflightMessage: (ctx, _store, next) => {
        s.sessions.get(ctx.clientId)?.peek('inflight')?.delete(ctx.messageId)
        next()
      },
      lookupInflightMessages: (ctx, store, next) => {
        const session = s.sessions.get(ctx.clientId)
        if (session !== undefined) store.packets = s.lookupInflight(session)
        next()
      },
      clearInflightMessages: (ctx, _store, next) => {
        s.sessions.get(ctx.clientId)?.peek('inflight')?.clear()
        next()
      },

      // Inbound QoS 2
      storeIncomingMessage: (ctx, store, next) => {
        store.duplicate = s.storeIncoming(ctx.clientId, ownPayload(ctx.packet))
        next()
      },
      releaseIncomingMessage: (ctx, store, next) => {
        const incoming = s.sessions.get(ctx.clientId)?.peek('incoming')
        const packet = incoming?.get(ctx.messageId)
        if (packet !== undefined) {
          incoming!.delete(ctx.messageId)
          store.packet = packet
        }
        next()
      },

      // Wills
      storeWill: (ctx, _store, next) => {
        const owner = ctx.owner ?? ''
        if (ctx.dueAt !== undefined) s.wills.due(ctx.clientId, owner, ctx.dueAt)
        else {
          const packet = ownPayload(ctx.packet)
          s.wills.store(ctx.clientId, owner, { packet, delayInterval: ctx.delayInterval, dueAt: undefined })
        }
        next()
      },
      lookupWill: (ctx, store, next) => {
        const will = s.wills.lookup(ctx.clientId, ctx.owner)
        if (will !== undefined) {
          store.packet = will.packet
          store.delayInterval = will.delayInterval
          if (will.dueAt !== undefined) store.dueAt = will.dueAt
        }
        next()
      },
      removeWill: (ctx, store, next) => {
        if (ctx.owner !== undefined) store.removed = s.wills.take(ctx.clientId, ctx.owner)
        else {
          store.packets = s.wills.takeDelayed(ctx.clientId)
          store.removed = store.packets.length > 0
        }
        next()
      },

      // Monitoring: every few seconds at most, so counting the disconnected sessions may walk them all.
      collectStats: (_ctx, store, next) => {
        let disconnected = 0
        for (const [clientId, session] of s.sessions) {
          if (!session.persistent) continue
          const client = s.clients.get(clientId)
          if (client === undefined || client.closed) disconnected++
        }
        store.sessions = s.sessions.size
        store.disconnectedSessions = disconnected
        store.subscriptions = s.routeCount
        store.sharedSubscriptions = s.shared.size
        store.retainedMessages = s.retained.size
        store.retainedBytes = s.retainedBytes
        store.offlineBytes = s.offlineTotal.bytes
        store.wills = s.wills.size
        next()
      },
    }
  }
}
