import {
  type Client,
  type InflightPacket,
  type IPublishPacket,
  MqttStackError,
  parseSharedFilter,
  type QoS,
  ReasonCode,
  RetainedIndex,
  type Stack,
  type StoredSession,
  type Subscription,
  SubscriptionTrie,
} from '@mqtt-stack/core'
import { MemoryBackendErrorCode } from './errors.js'
import { FilterMap } from './filter-map.js'
import { Held, payloadSize, unexpired, withExpiry } from './held.js'
import { type ByteTotal, OfflineQueue } from './offline-queue.js'
import type { MemoryBackendOptions } from './options.js'
import { Wills } from './wills.js'

/**
 * Marks a packet forwarded for a shared subscription with the subscription's full filter
 * (`$share/{group}/{filter}`), so that an unacknowledged one can be relayed again to the group when the
 * member's session ends. A symbol-keyed property: it survives the `{ ...packet }` copy the outbound side makes
 * before giving the packet an identifier, and no serialiser reads it.
 */
export const SHARED: unique symbol = Symbol('mqtt-stack.memory-backend.shared')

/** A forwarded PUBLISH, marked when it went to a member of a shared subscription. */
export interface ForwardedPacket extends IPublishPacket {
  [SHARED]?: string
}

/** One subscription of one client id. Every field is set here: one V8 shape. */
export class Route {
  /** MQTT 5.0 Subscription Identifier, if the SUBSCRIBE had one. */
  readonly id: number | undefined
  /** MQTT 5.0 Retain As Published. */
  readonly rap: boolean

  constructor(
    /** The subscribing client id. */
    readonly clientId: string,
    /** Where the route sits in the trie: the filter, or a shared subscription's inner filter. */
    readonly filter: string,
    /** The route's key in the trie: the client id (a shared subscription's group has its own key). */
    readonly key: string,
    readonly subscription: Subscription,
    /** The granted QoS. */
    readonly qos: QoS,
    /** The shared subscription this route is a member of; undefined for an ordinary subscription. */
    readonly group: SharedGroup | undefined,
    /** Every route of the same client id. */
    readonly subscriber: Subscriber,
  ) {
    this.id = subscription.subscriptionIdentifier
    this.rap = subscription.rap === true
  }
}

/**
 * The routes of one client id, and where the relay that matched one of them last keeps that client's one
 * delivery: a message matching several subscriptions of a client is delivered once, found without a lookup.
 */
export class Subscriber extends FilterMap<Route> {
  /** The number of the relay run that last matched one of these routes. */
  relayRun = 0
  /** The index of this client's delivery in that run. */
  slot = 0
}

/**
 * An MQTT 5.0 shared subscription `$share/{group}/{filter}`: one entry in the trie, whose members take the
 * matching messages in turn (round robin) [MQTT-4.8.2-3].
 */
export class SharedGroup {
  /** The member routes, in the order they joined. */
  readonly members: Route[] = []
  /** The index of the member that gets the next message (if connected). */
  cursor = 0

  constructor(
    /** The full filter, `$share/{group}/{filter}`. */
    readonly topic: string,
    /** The inner filter, where the group sits in the trie. */
    readonly filter: string,
    /** Its key in the trie: `\0{group}`; a client id never contains U+0000 [MQTT-1.5.3-2]. */
    readonly key: string,
  ) {}
}

/** A shared-subscription message to relay again to its group, its member's session having ended. */
export interface Redelivery {
  group: SharedGroup
  packet: IPublishPacket
}

/** The tables of a session, each created on first use. */
export interface SessionTables {
  subscriptions: FilterMap<Subscription>
  offline: OfflineQueue
  inflight: Map<number, Held<InflightPacket>>
  incoming: Map<number, IPublishPacket>
}

/**
 * Everything kept for one client id between `storeSession` and `removeSession`. Its tables are created on
 * first use: most sessions never hold a QoS 2 message or an offline one, and an empty Map costs about 230
 * bytes, per connection of a broker holding 100,000. The getters create; `peek` does not.
 */
export class Session {
  stored: StoredSession
  readonly #offlineTotal: ByteTotal
  #subscriptions: SessionTables['subscriptions'] | undefined = undefined
  #offline: SessionTables['offline'] | undefined = undefined
  #inflight: SessionTables['inflight'] | undefined = undefined
  #incoming: SessionTables['incoming'] | undefined = undefined

  constructor(stored: StoredSession, offlineTotal: ByteTotal) {
    this.stored = { ...stored }
    this.#offlineTotal = offlineTotal
  }

  /** Persisted subscriptions by filter; kept only while the session is persistent. */
  get subscriptions(): SessionTables['subscriptions'] {
    this.#subscriptions ??= new FilterMap()
    return this.#subscriptions
  }
  /** Messages for the disconnected session, oldest first; kept only while the session is persistent. */
  get offline(): SessionTables['offline'] {
    this.#offline ??= new OfflineQueue(this.#offlineTotal)
    return this.#offline
  }
  /** Outbound QoS 1/2 state by packet identifier, in the order first sent (a Map keeps insertion order). */
  get inflight(): SessionTables['inflight'] {
    this.#inflight ??= new Map()
    return this.#inflight
  }
  /** Inbound QoS 2 messages by packet identifier, held until PUBREL. */
  get incoming(): SessionTables['incoming'] {
    this.#incoming ??= new Map()
    return this.#incoming
  }

  /** A table if it was created: reading, removing from or clearing what was never held creates nothing. */
  peek<K extends keyof SessionTables>(name: K): SessionTables[K] | undefined {
    switch (name) {
      case 'subscriptions':
        return this.#subscriptions as SessionTables[K] | undefined
      case 'offline':
        return this.#offline as SessionTables[K] | undefined
      case 'inflight':
        return this.#inflight as SessionTables[K] | undefined
      default:
        return this.#incoming as SessionTables[K] | undefined
    }
  }

  /** Whether anything outlives the connection: an expiry interval of 0 ends the session with it. */
  get persistent(): boolean {
    return this.stored.expiryInterval > 0
  }
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
  readonly routes = new Map<string, Subscriber>()
  /** Ordinary routes, and one entry per shared subscription (its members are in the group). */
  trie = new SubscriptionTrie<Route | SharedGroup>()
  /** MQTT 5.0 shared subscriptions by full filter (`$share/{group}/{filter}`). */
  readonly shared = new Map<string, SharedGroup>()
  /** Routes of all clients, shared members included. */
  routeCount = 0
  retained = new RetainedIndex<Held>()
  /**
   * When the relay built a packet that carries a Message Expiry Interval: its expiry counts from then when
   * it is queued offline later (from the outbound side's waiting queue).
   */
  readonly relayedAt = new WeakMap<IPublishPacket, number>()
  readonly wills = new Wills()
  /** The stack the backend was used in (`setup`): where errors without a client are reported. */
  stack: Stack | undefined = undefined
  droppedOfflineMessages = 0
  /** Payload bytes in all offline queues, bounded by `maxOfflineBytes`; the queues keep it up to date. */
  readonly offlineTotal: ByteTotal = { bytes: 0 }
  /** Payload bytes of all retained messages, bounded by `maxRetainedBytes`. */
  retainedBytes = 0
  refusedRetainedMessages = 0
  expiredMessages = 0

  constructor(readonly config: Readonly<MemoryBackendOptions>) {}

  /** Makes `client` the connection of `clientId`; returns the open connection it replaced, if any. */
  register(client: Client, clientId: string): Client | undefined {
    const previous = this.clients.get(clientId)
    this.clients.set(clientId, client)
    if (previous === undefined || previous === client || previous.closed) return undefined
    // The server MUST disconnect the existing client with the same client id [MQTT-3.1.4-2]
    // (0x8e Session taken over, sent as DISCONNECT to a 5.0 client).
    previous.close(ReasonCode.SESSION_TAKEN_OVER)
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
      this.sessions.set(clientId, new Session(stored, this.offlineTotal))
      return
    }
    // A resumed session whose new expiry is 0 still delivers what it holds now; it is removed, with
    // everything it holds, when its connection ends [MQTT-3.1.2-23].
    session.stored = { ...stored }
  }

  /**
   * Forgets a session and everything of its client id: routes (it leaves its shared subscriptions), queues,
   * inflight state. Not its wills: a will outlives its session (last-will removes it). Returns the
   * shared-subscription messages to relay again to their groups.
   */
  removeSession(clientId: string): Redelivery[] | undefined {
    const session = this.sessions.get(clientId)
    const again = session !== undefined && this.shared.size > 0 ? this.#sharedLeftovers(session) : undefined
    session?.peek('offline')?.clear()
    this.sessions.delete(clientId)
    const routes = this.routes.get(clientId)
    if (routes === undefined) return again
    for (const route of routes.values()) this.#removeRoute(route)
    this.routes.delete(clientId)
    return again
  }

  /**
   * What a departing member still holds for its shared subscriptions: unacknowledged QoS 1 PUBLISHes and
   * queued messages, unexpired. An unacknowledged QoS 2 PUBLISH is not relayed again: the Server MUST NOT send
   * it to any other subscribed Client [MQTT-4.8.2-5].
   */
  #sharedLeftovers(session: Session): Redelivery[] | undefined {
    const again: Redelivery[] = []
    const now = Date.now()
    const add = (held: Held<InflightPacket>): void => {
      const packet = held.packet
      if (packet.cmd !== 'publish') return
      const topic = (packet as ForwardedPacket)[SHARED]
      const group = topic === undefined ? undefined : this.shared.get(topic)
      if (group === undefined) return
      const view = unexpired(packet, held.storedAt, now)
      if (view !== undefined) again.push({ group, packet: view })
    }
    for (const held of session.peek('inflight')?.values() ?? []) {
      if (held.packet.cmd === 'publish' && held.packet.qos === 1) add(held)
    }
    for (const held of session.peek('offline') ?? []) add(held)
    return again.length === 0 ? undefined : again
  }

  /**
   * Adds or replaces the route of (`topic`, `clientId`) [MQTT-3.8.4-3]; returns whether one existed. A shared
   * filter (`$share/{group}/{filter}`) makes the client a member of that shared subscription.
   */
  subscribe(clientId: string, topic: string, qos: QoS, subscription: Subscription): boolean {
    let routes = this.routes.get(clientId)
    if (routes === undefined) {
      routes = new Subscriber()
      this.routes.set(clientId, routes)
    }
    const previous = routes.get(topic)
    const shared = parseSharedFilter(topic)
    let route: Route
    if (shared === undefined) {
      route = new Route(clientId, topic, clientId, subscription, qos, undefined, routes)
      this.trie.add(topic, clientId, route)
    } else {
      let group = this.shared.get(topic)
      if (group === undefined) {
        group = new SharedGroup(topic, shared.filter, `\0${shared.group}`)
        this.shared.set(topic, group)
        this.trie.add(group.filter, group.key, group)
      }
      route = new Route(clientId, group.filter, group.key, subscription, qos, group, routes)
      const at = previous === undefined ? -1 : group.members.indexOf(previous)
      if (at === -1) group.members.push(route)
      else group.members[at] = route
    }
    routes.set(topic, route)
    if (previous === undefined) this.routeCount++
    return previous !== undefined
  }

  /** Removes the route of (`topic`, `clientId`); returns whether there was one. */
  unsubscribe(clientId: string, topic: string): boolean {
    const routes = this.routes.get(clientId)
    const route = routes?.get(topic)
    if (routes === undefined || route === undefined) return false
    this.#removeRoute(route)
    routes.delete(topic)
    if (routes.size === 0) this.routes.delete(clientId)
    return true
  }

  /** Takes a route out of the trie, or out of its shared subscription (the last member removes the group). */
  #removeRoute(route: Route): void {
    this.routeCount--
    const group = route.group
    if (group === undefined) {
      this.trie.remove(route.filter, route.key)
      return
    }
    const at = group.members.indexOf(route)
    if (at === -1) return
    group.members.splice(at, 1)
    if (at < group.cursor) group.cursor--
    if (group.members.length > 0) return
    this.shared.delete(group.topic)
    this.trie.remove(group.filter, group.key)
  }

  /**
   * Appends a message to the offline queue of a persistent session. Returns true when it was dropped: no
   * such session, a session that is not kept, or no room. No room is this session's `maxOfflineMessages`, or
   * `maxOfflineBytes` of all sessions together: the new message is refused (the queue keeps the oldest, as
   * they were accepted first), counted in `droppedOfflineMessages`, and reported once until the queue has
   * room again. Every step is O(1): a publisher fanning out to many full queues costs no more per queue
   * than one to an empty one.
   */
  enqueueOffline(clientId: string, packet: IPublishPacket, storedAt = Date.now()): boolean {
    const session = this.sessions.get(clientId)
    if (session === undefined || !session.persistent) return true
    const queue = session.offline
    // The same message handed back (e.g. from a connection's waiting queue) is queued once, and kept.
    if (queue.giveBack(packet)) return false
    const { maxOfflineMessages, maxOfflineBytes } = this.config
    const size = payloadSize(packet)
    if (queue.length >= maxOfflineMessages || this.offlineTotal.bytes + size > maxOfflineBytes) {
      this.expiredMessages += queue.purgeExpired(Date.now())
      if (queue.length >= maxOfflineMessages || this.offlineTotal.bytes + size > maxOfflineBytes) {
        this.droppedOfflineMessages++
        this.stack?.notifyDropped('offline-queue-full', this.clients.get(clientId), packet, clientId)
        if (queue.refused++ === 0) this.#reportFull(clientId, queue, packet)
        return true
      }
    }
    const held = new Held(packet, storedAt)
    queue.push(held)
    return false
  }

  #reportFull(clientId: string, queue: OfflineQueue, packet: IPublishPacket): void {
    const why =
      queue.length >= this.config.maxOfflineMessages
        ? `its offline queue holds ${queue.length} messages (maxOfflineMessages)`
        : `offline queues hold ${this.offlineTotal.bytes} bytes in all (maxOfflineBytes)`
    this.report(
      new MqttStackError(
        MemoryBackendErrorCode.OFFLINE_QUEUE_FULL,
        `client ${clientId}: ${why}; a message to ${packet.topic} was dropped, and later ones are dropped and counted (droppedOfflineMessages) until it has room`,
      ),
      this.clients.get(clientId),
    )
  }

  /**
   * The queue of a session as it may be delivered now, oldest first: expired messages leave the queue
   * [MQTT-3.3.2-5], the others are handed out with their remaining expiry interval [MQTT-3.3.2-6].
   */
  lookupOffline(session: Session): IPublishPacket[] {
    const queue = session.peek('offline')
    if (queue === undefined) return []
    const length = queue.length
    const out = queue.views(Date.now())
    this.expiredMessages += length - queue.length
    return out
  }

  /** Removes these packets (as stored, or as last handed out) from the queue of a session. */
  removeOffline(session: Session, packets: IPublishPacket[]): void {
    session.peek('offline')?.remove(packets)
  }

  /**
   * The unacknowledged packets of a session, in the order first sent. An expired QoS 1 PUBLISH is dropped
   * [MQTT-3.3.2-5]; an expired QoS 2 one is kept (the client may hold its packet identifier until PUBREL,
   * 4.3.3) and goes again with an interval of 1; the others go with their remaining interval [MQTT-3.3.2-6].
   * PUBRELs are kept as they are.
   */
  lookupInflight(session: Session): InflightPacket[] {
    const out: InflightPacket[] = []
    const inflight = session.peek('inflight')
    if (inflight === undefined) return out
    const now = Date.now()
    for (const [id, held] of inflight) {
      const packet = held.packet
      if (packet.cmd !== 'publish') {
        out.push(packet)
        continue
      }
      const view = unexpired(packet, held.storedAt, now)
      if (view !== undefined) out.push(view)
      else if (packet.qos === 2) out.push(withExpiry(packet, 1))
      else {
        inflight.delete(id)
        this.expiredMessages++
      }
    }
    return out
  }

  /**
   * Stores (or, with an empty payload, deletes [MQTT-3.3.1-10]) the retained message of `topic`. Returns
   * false when a new topic was refused because the store is full (reported).
   */
  storeRetained(topic: string, packet: IPublishPacket, client: Client | undefined): boolean {
    if (packet.payload.length === 0) {
      const previous = this.retained.get(topic)
      if (previous !== undefined) this.#forgetRetained(topic, previous)
      return true
    }
    const { maxRetainedMessages, maxRetainedBytes } = this.config
    const size = payloadSize(packet)
    // Far from both bounds (the usual case) no lookup is needed first: the index says what it replaced.
    if (this.retained.size >= maxRetainedMessages || this.retainedBytes + size > maxRetainedBytes) {
      const previous = this.retained.get(topic)
      const bytes = this.retainedBytes - (previous?.size ?? 0) + size
      if ((previous === undefined && this.retained.size >= maxRetainedMessages) || bytes > maxRetainedBytes) {
        this.refusedRetainedMessages++
        const why =
          bytes > maxRetainedBytes
            ? `${this.retainedBytes} bytes of retained messages are stored (maxRetainedBytes)`
            : `${this.retained.size} retained messages are stored (maxRetainedMessages)`
        this.report(
          new MqttStackError(MemoryBackendErrorCode.RETAINED_FULL, `${why}; the one of ${topic} was refused`),
          client,
        )
        return false
      }
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
    const held = new Held(stored, Date.now())
    const previous = this.retained.set(topic, held)
    this.retainedBytes += held.size - (previous?.size ?? 0)
    return true
  }

  #forgetRetained(topic: string, held: Held): void {
    this.retained.delete(topic)
    this.retainedBytes -= held.size
  }

  /**
   * The retained messages whose topics match `filter`: an expired one is deleted from the index
   * [MQTT-3.3.2-5], the others come with their remaining expiry interval [MQTT-3.3.2-6].
   */
  lookupRetained(filter: string): IPublishPacket[] {
    const out: IPublishPacket[] = []
    const now = Date.now()
    let expired: string[] | undefined
    this.retained.forEachMatch(filter, (held, topic) => {
      const view = unexpired(held.packet, held.storedAt, now)
      if (view !== undefined) out.push(view)
      else if (expired === undefined) expired = [topic]
      else expired.push(topic)
    })
    if (expired !== undefined) {
      for (const topic of expired) this.#forgetRetained(topic, this.retained.get(topic)!)
      this.expiredMessages += expired.length
    }
    return out
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
    inflight.set(id, new Held<InflightPacket>(packet, Date.now()))
    return undefined
  }

  /** Holds an inbound QoS 2 message until PUBREL; returns true when its identifier was already held. */
  storeIncoming(clientId: string, packet: IPublishPacket): boolean {
    const session = this.sessions.get(clientId)
    const id = packet.messageId
    if (session === undefined || id === undefined) return false
    const incoming = session.incoming
    if (incoming.has(id)) return true
    incoming.set(id, packet)
    return false
  }

  /** Reports to the stack of `client`, else to the stack the backend was used in; never throws. */
  report(err: MqttStackError, client: Client | undefined): void {
    const stack = client?.stack ?? this.stack
    stack?.reportError(err, client, undefined)
  }

  /** Forgets everything (the stack closed). */
  clear(): void {
    this.clients.clear()
    this.sessions.clear()
    this.routes.clear()
    this.shared.clear()
    this.routeCount = 0
    this.trie = new SubscriptionTrie()
    this.retained = new RetainedIndex()
    this.wills.clear()
    this.offlineTotal.bytes = 0
    this.retainedBytes = 0
  }
}
