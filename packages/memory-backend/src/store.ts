import {
  type Client,
  type InflightPacket,
  type IPublishPacket,
  MqttStackError,
  parseSharedFilter,
  type QoS,
  RetainedIndex,
  type Stack,
  type StoredSession,
  type Subscription,
  SubscriptionTrie,
} from '@mqtt-stack/core'
import { MemoryBackendErrorCode } from './errors.js'
import type { MemoryBackendOptions } from './options.js'

/** One subscription of one client id, as the trie holds it. Every field is set here: one V8 shape. */
export class Route {
  constructor(
    /** The subscribing client id. */
    readonly clientId: string,
    /** Where the route sits in the trie: the filter, or a shared subscription's inner filter. */
    readonly filter: string,
    /** The route's key in the trie: the client id, with `\0{group}` appended for a shared subscription. */
    readonly key: string,
    readonly subscription: Subscription,
    /** The granted QoS. */
    readonly qos: QoS,
  ) {}
}

/** Everything kept for one client id between `storeSession` and `removeSession`. */
export class Session {
  stored: StoredSession
  /** Persisted subscriptions by filter; kept only while the session is persistent. */
  readonly subscriptions = new Map<string, Subscription>()
  /** Messages for the disconnected session, oldest first; kept only while the session is persistent. */
  offline: IPublishPacket[] = []
  /** Outbound QoS 1/2 state by packet identifier, in the order first sent (a Map keeps insertion order). */
  readonly inflight = new Map<number, InflightPacket>()
  /** Inbound QoS 2 messages by packet identifier, held until PUBREL. */
  readonly incoming = new Map<number, IPublishPacket>()

  constructor(stored: StoredSession) {
    this.stored = { ...stored }
  }

  /** Whether anything outlives the connection: an expiry interval of 0 ends the session with it. */
  get persistent(): boolean {
    return this.stored.expiryInterval > 0
  }
}

export interface Will {
  packet: IPublishPacket
  delayInterval: number
}

/**
 * The data of a MemoryBackend: connections by client id, sessions, routes, retained messages and wills.
 * Not a middleware (its methods are not callbacks): `MemoryBackend` answers the callbacks with it.
 */
export class MemoryStore {
  /** The connection of each client id, as last registered (it may have closed since). */
  readonly clients = new Map<string, Client>()
  readonly sessions = new Map<string, Session>()
  /** Every route, by subscriber: client id -> filter as subscribed -> route. */
  readonly routes = new Map<string, Map<string, Route>>()
  trie = new SubscriptionTrie<Route>()
  retained = new RetainedIndex<IPublishPacket>()
  readonly wills = new Map<string, Will>()
  /** The stack of the first connection installed: where errors without a client are reported. */
  stack: Stack | undefined = undefined
  droppedOfflineMessages = 0
  refusedRetainedMessages = 0

  constructor(readonly config: Readonly<MemoryBackendOptions>) {}

  /** Makes `client` the connection of `clientId`; returns the open connection it replaced, if any. */
  register(client: Client, clientId: string): Client | undefined {
    const previous = this.clients.get(clientId)
    this.clients.set(clientId, client)
    if (previous === undefined || previous === client || previous.closed) return undefined
    // The server MUST disconnect the existing client with the same client id [MQTT-3.1.4-2]
    // (0x8e Session taken over, sent as DISCONNECT to a 5.0 client).
    previous.close(0x8e)
    return previous
  }

  /** Forgets `client` only when it is still the connection of `clientId`; returns whether it was. */
  unregister(client: Client, clientId: string): boolean {
    if (this.clients.get(clientId) !== client) return false
    this.clients.delete(clientId)
    return true
  }

  storeSession(clientId: string, stored: StoredSession): void {
    const session = this.sessions.get(clientId)
    if (session === undefined) {
      this.sessions.set(clientId, new Session(stored))
      return
    }
    session.stored = { ...stored }
    if (!session.persistent) {
      // A session that will not outlive its connection keeps no persisted subscriptions or queue.
      session.subscriptions.clear()
      session.offline = []
    }
  }

  /** Forgets a session and everything of its client id: routes, queues, inflight state, will. */
  removeSession(clientId: string): void {
    this.sessions.delete(clientId)
    this.wills.delete(clientId)
    const routes = this.routes.get(clientId)
    if (routes === undefined) return
    for (const route of routes.values()) this.trie.remove(route.filter, route.key)
    this.routes.delete(clientId)
  }

  /** Adds or replaces the route of (`topic`, `clientId`) [MQTT-3.8.4-3]; returns whether one existed. */
  subscribe(clientId: string, topic: string, qos: QoS, subscription: Subscription): boolean {
    let filter = topic
    let key = clientId
    const shared = parseSharedFilter(topic)
    if (shared !== undefined) {
      filter = shared.filter
      key = `${clientId}\0${shared.group}`
    }
    const route = new Route(clientId, filter, key, subscription, qos)
    const added = this.trie.add(filter, key, route)
    let routes = this.routes.get(clientId)
    if (routes === undefined) {
      routes = new Map()
      this.routes.set(clientId, routes)
    }
    routes.set(topic, route)
    return !added
  }

  /** Removes the route of (`topic`, `clientId`); returns whether there was one. */
  unsubscribe(clientId: string, topic: string): boolean {
    const routes = this.routes.get(clientId)
    const route = routes?.get(topic)
    if (routes === undefined || route === undefined) return false
    this.trie.remove(route.filter, route.key)
    routes.delete(topic)
    if (routes.size === 0) this.routes.delete(clientId)
    return true
  }

  /**
   * Appends a message to the offline queue of a persistent session. Returns true when it was dropped: no
   * such session, a session that is not kept, or a full queue (reported).
   */
  enqueueOffline(clientId: string, packet: IPublishPacket): boolean {
    const session = this.sessions.get(clientId)
    if (session === undefined || !session.persistent) return true
    const queue = session.offline
    // The same message handed back (e.g. from a connection's waiting queue) is queued once.
    if (queue.includes(packet)) return false
    if (queue.length >= this.config.maxOfflineMessages) {
      this.droppedOfflineMessages++
      this.report(
        new MqttStackError(
          MemoryBackendErrorCode.OFFLINE_QUEUE_FULL,
          `the offline queue of client ${clientId} holds ${queue.length} messages (maxOfflineMessages); a message to ${packet.topic} was dropped`,
        ),
        this.clients.get(clientId),
      )
      return true
    }
    queue.push(packet)
    return false
  }

  /**
   * Stores (or, with an empty payload, deletes [MQTT-3.3.1-10]) the retained message of `topic`. Returns
   * false when a new topic was refused because the store is full (reported).
   */
  storeRetained(topic: string, packet: IPublishPacket, client: Client | undefined): boolean {
    if (packet.payload.length === 0) {
      this.retained.delete(topic)
      return true
    }
    if (this.retained.size >= this.config.maxRetainedMessages && this.retained.get(topic) === undefined) {
      this.refusedRetainedMessages++
      this.report(
        new MqttStackError(
          MemoryBackendErrorCode.RETAINED_FULL,
          `${this.retained.size} retained messages are stored (maxRetainedMessages); the one of ${topic} was refused`,
        ),
        client,
      )
      return false
    }
    // A copy of what is kept: no packet identifier, no DUP, and not the inbound packet object itself.
    const stored: IPublishPacket = {
      cmd: 'publish',
      topic,
      payload: packet.payload,
      qos: packet.qos,
      retain: true,
      dup: false,
    }
    if (packet.properties !== undefined) stored.properties = packet.properties
    this.retained.set(topic, stored)
    return true
  }

  /** Remembers an outbound packet until acknowledged; a PUBREL replaces its PUBLISH in place. */
  storeInflight(clientId: string, packet: InflightPacket): MqttStackError | undefined {
    const session = this.sessions.get(clientId)
    const id = packet.messageId
    if (session === undefined || id === undefined) return undefined
    const inflight = session.inflight
    if (inflight.size >= this.config.maxInflightMessages && !inflight.has(id)) {
      return new MqttStackError(
        MemoryBackendErrorCode.INFLIGHT_FULL,
        `client ${clientId} has ${inflight.size} unacknowledged messages (maxInflightMessages)`,
      )
    }
    inflight.set(id, packet)
    return undefined
  }

  /** Holds an inbound QoS 2 message until PUBREL; returns true when its identifier was already held. */
  storeIncoming(clientId: string, packet: IPublishPacket): boolean {
    const session = this.sessions.get(clientId)
    const id = packet.messageId
    if (session === undefined || id === undefined) return false
    if (session.incoming.has(id)) return true
    session.incoming.set(id, packet)
    return false
  }

  /** Reports to the stack of `client`, else to the stack of the first connection; never throws. */
  report(err: MqttStackError, client: Client | undefined): void {
    const stack = client?.stack ?? this.stack
    stack?.reportError(err, client, undefined)
  }

  /** Forgets everything (the stack closed). */
  clear(): void {
    this.clients.clear()
    this.sessions.clear()
    this.routes.clear()
    this.trie = new SubscriptionTrie()
    this.retained = new RetainedIndex()
    this.wills.clear()
  }
}
