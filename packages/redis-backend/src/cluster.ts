import {
  type CallbackResult,
  type CallbackStore,
  type Client,
  type IPublishPacket,
  type MqttStackError,
  type QoS,
  ReasonCode,
  type Stack,
  type Subscription,
} from '@mqtt-stack/core'
import type { Redis, Cluster as RedisCluster } from 'ioredis'
import { decodePublish, encode, leaving, ORIGIN, type OriginPacket } from './codec.js'
import {
  forEachMessage,
  MAX_ENTRY_MESSAGES,
  MAX_IN_FLIGHT,
  messageCount,
  OutgoingEntry,
  type SendWaiter,
  senderOf,
} from './inbox-entry.js'
import type { Nodes } from './nodes.js'
import { type ForwardedPacket, forwardedProperties, SHARED } from './relay.js'
import type { Routes } from './routes.js'
import type { RedisStore } from './store.js'

type RedisClient = Redis | RedisCluster
type ScriptCall = (...args: (string | number)[]) => Promise<unknown>

/**
 * One delivery a node asks another to make: the subscriber's client id, the delivery QoS, whether RETAIN
 * stays set (Retain As Published), the subscription identifiers, and the shared subscription it is for.
 */
export type Target = [
  clientId: string,
  qos: QoS,
  retain: 0 | 1,
  ids: number | number[] | null,
  group: string | null,
]

/** Entries read from a node's inbox at once. */
const BATCH = 200
/** Entries read from the route log at once. */
const LOG_BATCH = 500
/** How long a blocking read waits before it looks again whether the node is stopping, in ms. */
const BLOCK_MS = 1000
/** The route log keeps about this many events: a node that falls further behind rebuilds nothing (README). */
const LOG_LENGTH = 100_000

const SCRIPTS = {
  /**
   * KEYS stream; ARGV field, value, ... Appends to a node's inbox only while it exists: the inbox of a dead
   * node is renamed away by the survivor that handles it, and a message for it then goes elsewhere (nil).
   */
  mqsClusterSend: {
    numberOfKeys: 1,
    lua: `if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('XADD', KEYS[1], '*', unpack(ARGV))`,
  },
  /** KEYS node; ARGV `<node> <connection>`. Registers a connection of a client id; returns the previous one. */
  mqsClusterRegister: {
    numberOfKeys: 1,
    lua: `local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
return old`,
  },
  /**
   * KEYS node; ARGV value, whole. Unregisters: 1 when the client id was held by `value` (whole: exactly; else
   * any connection of the node `value`), which is deleted; 0 when another holds it.
   */
  mqsClusterRelease: {
    numberOfKeys: 1,
    lua: `local held = redis.call('GET', KEYS[1])
if not held then return 0 end
if ARGV[2] == '1' then
  if held ~= ARGV[1] then return 0 end
elseif string.sub(held, 1, string.len(ARGV[1]) + 1) ~= ARGV[1] .. ' ' then return 0 end
redis.call('DEL', KEYS[1])
return 1`,
  },
} as const

type ScriptName = keyof typeof SCRIPTS

/** What the cluster needs of the backend. */
export interface ClusterHost {
  readonly routes: Routes
  readonly clients: Map<string, Client>
  readonly stack: Stack | undefined
  /** Whether `clientId` is connected to this node (CONNACK sent, not closed). */
  connected(clientId: string): Client | undefined
  /** Removes a session with its routes on every node. */
  dropSession(clientId: string): Promise<void>
}

/**
 * Many broker nodes on one Redis as one broker: the registry of which node holds each client id (and the
 * takeover of a connection on another node), the routes of every node known to all (a route log in Redis,
 * replayed from where a snapshot was taken), the inbox of each node (a Redis stream that other nodes append
 * the deliveries they ask of it to, read and acknowledged after the deliveries were accepted), and what a
 * survivor does for a dead node. README.md "Scale-out" has the data model and the guarantees.
 */
export class ClusterRouting {
  readonly #host: ClusterHost
  readonly #store: RedisStore
  readonly #nodes: Nodes
  readonly #redis: RedisClient
  readonly #scripts: Record<ScriptName, ScriptCall>
  readonly #prefix: string
  /** The node each client id connected to another node is on, as the route log says. */
  readonly locations = new Map<string, string>()
  /** The registry value of each connection of this node. */
  readonly #tokens = new WeakMap<Client, string>()
  #connections = 0
  #log: RedisClient | undefined = undefined
  #inbox: RedisClient | undefined = undefined
  #running = false
  #readers: Promise<void>[] = []
  /** The last route log entry applied, and who waits for the log to reach an id. */
  #applied = '0-0'
  readonly #waiting: { id: string; resolve: () => void }[] = []
  /** The other nodes alive, as this node knows them: at start, then `n` (started) and `x` (gone) in the log. */
  readonly peers = new Set<string>()
  /** The last entry of this node in the route log that each other node said it applied. */
  readonly #acked = new Map<string, string>()
  /** Other nodes that let a change go unacknowledged for nodeTimeoutMs: not waited for until they answer. */
  readonly #silent = new Set<string>()
  /** Changes of this node waiting until every other node applied them. */
  readonly #unacked = new Set<{ id: string; nodes: Set<string>; resolve: () => void }>()
  /** The messages asked of each other node in this tick, appended to its inbox when the tick ends. */
  readonly #outgoing = new Map<string, OutgoingEntry>()
  #flushing = false
  /** Messages in each other node's inbox that it has not said it processed (inbox-entry.ts). */
  readonly #inFlight = new Map<string, number>()
  /** Entries held back, in order, for a node with MAX_IN_FLIGHT messages in flight. */
  readonly #heldBack = new Map<string, OutgoingEntry[]>()
  #report: (err: unknown, what: string) => void

  constructor(
    host: ClusterHost,
    store: RedisStore,
    nodes: Nodes,
    report: (err: unknown, what: string) => void,
  ) {
    this.#host = host
    this.#store = store
    this.#nodes = nodes
    this.#redis = store.redis
    for (const [name, script] of Object.entries(SCRIPTS)) this.#redis.defineCommand(name, script)
    this.#scripts = this.#redis as unknown as Record<ScriptName, ScriptCall>
    this.#prefix = store.config.prefix
    this.#report = report
    nodes.onDead((id) => this.#takeOver(id))
    nodes.onLost(() => this.lost())
  }

  get nodeId(): string {
    return this.#nodes.id
  }

  // Keys

  /** Stream: the deliveries and takeovers other nodes ask of node `id`. */
  inboxKey(id: string): string {
    return `${this.#prefix}{n:${id}}:in`
  }
  /** Set: the client ids connected to node `id`, for the survivor that finds it dead. */
  connectionsKey(id: string): string {
    return `${this.#prefix}{n:${id}}:conns`
  }
  /** String: `<node> <connection>` holding the client id. */
  nodeKey(clientId: string): string {
    return `${this.#prefix}{c:${clientId}}:node`
  }
  /** Hash: filter -> `<JSON subscription>` of every route of the client id, on any node. */
  routesKey(clientId: string): string {
    return `${this.#prefix}{c:${clientId}}:routes`
  }
  /** Set: the client ids with routes or a connection, read by a starting node. */
  get indexKey(): string {
    return `${this.#prefix}{routes}`
  }
  /** Stream: the route log, every change of routes and connections, read by every node. */
  get logKey(): string {
    return `${this.#prefix}{routes}:log`
  }

  // Start and stop

  /**
   * Reads the routes and connections of every node (after noting where the route log stands, so that no
   * change made meanwhile is missed: replaying one twice changes nothing), creates this node's inbox and
   * starts reading it and the log.
   */
  async start(): Promise<void> {
    const alive = await this.#readRoutes(undefined)
    // Waited for once they acknowledge this node's `n`: one that was killed, not yet found dead, never does.
    for (const id of alive.keys()) {
      if (id === this.nodeId) continue
      this.peers.add(id)
      this.#silent.add(id)
    }
    await this.#openInbox()
    this.#running = true
    this.#log = this.#store.blockingConnection()
    this.#inbox = this.#store.blockingConnection()
    this.#readers = [this.#readLog(this.#log), this.#readInbox(this.#inbox)]
    await this.#event('n', '', undefined, false)
  }

  /**
   * Stops reading, then does for this node what a survivor does for a dead one: the client ids it still
   * holds are released, and what is left in its inbox is delivered elsewhere or queued.
   */
  async stop(): Promise<void> {
    if (!this.#running) return
    this.#running = false
    this.#log?.disconnect()
    this.#inbox?.disconnect()
    for (const waiting of this.#waiting.splice(0)) waiting.resolve()
    for (const unacked of this.#unacked) unacked.resolve()
    // Redis away: a read waiting for it never ends (ioredis keeps it queued), and nothing can be handed over.
    if (this.#redis.status !== 'ready') return
    await Promise.all(this.#readers)
    await this.#takeOver(this.nodeId)
  }

  /**
   * Reads the routes and holders of every client id in Redis, after noting where the route log ends (so that
   * no change made meanwhile is missed: replaying one twice changes nothing); returns the nodes alive. `own`:
   * the client ids connected to this node, whose routes are current here and are left as they are; the routes
   * of every other client id are replaced by what Redis holds.
   */
  async #readRoutes(own: ReadonlyMap<string, Client> | undefined): Promise<Map<string, number>> {
    const redis = this.#redis
    const last = await redis.xrevrange(this.logKey, '+', '-', 'COUNT', 1)
    const end = last[0]?.[0] ?? '0-0'
    const ids = await redis.smembers(this.indexKey)
    const alive = await this.#nodes.alive()
    const rows = await Promise.all(
      ids.map((clientId) =>
        Promise.all([redis.hgetall(this.routesKey(clientId)), redis.get(this.nodeKey(clientId))]),
      ),
    )
    const routes = this.#host.routes
    if (own !== undefined) {
      for (const clientId of [...routes.subscribers.keys()])
        if (!own.has(clientId)) routes.removeClient(clientId)
      this.locations.clear()
    }
    for (let i = 0; i < ids.length; i++) {
      const clientId = ids[i]!
      if (own?.has(clientId) === true) continue
      const [stored, node] = rows[i]!
      for (const text of Object.values(stored)) this.#subscribe(clientId, text)
      const holder = node?.slice(0, node.indexOf(' '))
      if (holder !== undefined && holder !== this.nodeId && alive.has(holder))
        this.locations.set(clientId, holder)
    }
    if (compareIds(end, this.#applied) > 0) this.#applied = end
    return alive
  }

  /**
   * The route log lost entries this node had not applied yet (it keeps about LOG_LENGTH: a node that fell
   * further behind, stalled or cut off from Redis): the routes and holders of the other nodes' clients are
   * read again from Redis, and the log read on from where it ended before. Tells whether it had to. The log
   * is trimmed from its oldest end, so entries were lost when its first entry (or, empty, the last it ever
   * had) comes after the last one applied here.
   */
  async resyncRoutes(): Promise<boolean> {
    const info = (await this.#redis.xinfo('STREAM', this.logKey).catch(() => [])) as unknown[]
    const field = (name: string): unknown => {
      const at = info.indexOf(name)
      return at === -1 ? undefined : info[at + 1]
    }
    const lastGenerated = String(field('last-generated-id') ?? '0-0')
    const first = (field('first-entry') as [string, string[]] | null | undefined)?.[0] ?? lastGenerated
    if (compareIds(first, this.#applied) <= 0) return false
    await this.#readRoutes(this.#host.clients)
    // Every change up to the end noted before the routes were read is in what was read.
    if (compareIds(lastGenerated, this.#applied) > 0) this.#applied = lastGenerated
    return true
  }

  async #openInbox(): Promise<void> {
    await this.#redis
      .xgroup('CREATE', this.inboxKey(this.nodeId), 'g', '$', 'MKSTREAM')
      .catch((err: Error) => {
        if (!err.message.includes('BUSYGROUP')) throw err
      })
  }

  /**
   * This node stalled past its heartbeat's TTL: another node may have found it dead, released its client ids
   * and taken its inbox over. Its connections are closed (their clients connect again, to any node, and
   * resume their sessions), and it announces itself again.
   */
  lost(): void {
    for (const client of this.#host.clients.values()) client.close(ReasonCode.UNSPECIFIED_ERROR)
    this.#openInbox()
      .then(() => this.#event('n', '', undefined, false))
      .catch((err: unknown) => this.#report(err, 'joining again'))
  }

  /** Resolves once this node has applied every route log entry written before the call. */
  async caughtUp(): Promise<void> {
    const last = await this.#redis.xrevrange(this.logKey, '+', '-', 'COUNT', 1)
    const id = last[0]?.[0]
    if (id === undefined || !this.#running || compareIds(this.#applied, id) >= 0) return
    await new Promise<void>((resolve) => this.#waiting.push({ id, resolve }))
  }

  // Connections

  /**
   * Registers a connection of this node as the holder of its client id; the connection that held it on
   * another node is closed there (0x8E) [MQTT-3.1.4-2], through that node's inbox.
   */
  async register(client: Client, clientId: string): Promise<void> {
    const token = `${this.nodeId} ${++this.#connections}`
    this.#tokens.set(client, token)
    this.locations.delete(clientId)
    const [previous] = await Promise.all([
      this.#scripts.mqsClusterRegister.call(this.#redis, this.nodeKey(clientId), token) as Promise<
        string | null
      >,
      this.#redis.sadd(this.connectionsKey(this.nodeId), clientId),
      this.#redis.sadd(this.indexKey, clientId),
      this.#event('c', clientId),
    ])
    if (previous === null) return
    const node = previous.slice(0, previous.indexOf(' '))
    if (node === this.nodeId) return
    await this.#scripts.mqsClusterSend.call(this.#redis, this.inboxKey(node), 'k', clientId, 'c', previous)
  }

  /** Whether the connection still held its client id in Redis (not taken over elsewhere): then it is released. */
  async unregister(client: Client, clientId: string): Promise<boolean> {
    const token = this.#tokens.get(client)
    // Redis away (a broker closing after it): this node's own answer; the registry entry stays until the
    // client id registers again, or a survivor releases it if this node dies.
    if (token === undefined || this.#redis.status !== 'ready') return true
    const released = await this.#scripts.mqsClusterRelease.call(
      this.#redis,
      this.nodeKey(clientId),
      token,
      '1',
    )
    if (released !== 1) return false
    await Promise.all([
      this.#redis.srem(this.connectionsKey(this.nodeId), clientId),
      this.#event('d', clientId),
    ])
    return true
  }

  /** Whether `clientId` is held by a connection on another node that is alive: its session is in use there. */
  async heldElsewhere(clientId: string): Promise<boolean> {
    const held = await this.#redis.get(this.nodeKey(clientId))
    if (held === null) return false
    const node = held.slice(0, held.indexOf(' '))
    return node !== this.nodeId && (await this.#nodes.isAlive(node))
  }

  // Routes

  async subscribed(clientId: string, topic: string, qos: QoS, subscription: Subscription): Promise<void> {
    const text = JSON.stringify({ ...subscription, topic, qos })
    await Promise.all([
      this.#redis.hset(this.routesKey(clientId), topic, text),
      this.#redis.sadd(this.indexKey, clientId),
      this.#event('s', clientId, text),
    ])
  }

  async unsubscribed(clientId: string, topic: string): Promise<void> {
    await Promise.all([this.#redis.hdel(this.routesKey(clientId), topic), this.#event('u', clientId, topic)])
  }

  /**
   * Every route of the client id goes, on every node (its session was removed). Not waited for: a route
   * another node keeps a moment longer only queues for a session that is gone, which stores nothing.
   */
  async removed(clientId: string): Promise<void> {
    await Promise.all([
      this.#redis.del(this.routesKey(clientId)),
      this.#redis.srem(this.indexKey, clientId),
      this.#event('r', clientId, undefined, false),
    ])
  }

  /** The node a client id is connected to, when it is another node. */
  nodeOf(clientId: string): string | undefined {
    return this.locations.get(clientId)
  }

  // Deliveries to other nodes

  /**
   * Asks node `node` to make `targets` deliveries of the message `text` (encoded, with its origin); resolves
   * once they are in its inbox. When that node is gone (its inbox taken over), this node makes them: to a
   * client connected here or elsewhere, or queued for a persistent session. `hop`: sent on by a node that
   * was asked for them (its subscriber had moved); such deliveries are not sent on again. The messages of
   * one tick for one node are appended as one entry, in the order they were sent (inbox-entry.ts); `wait`
   * false (QoS 0): nobody waits for the returned promise, and a failure is reported here.
   */
  send(node: string, text: string, targets: readonly Target[], hop: boolean, wait = true): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.sendFor(node, text, targets, hop, { sent: resolve, notSent: reject }, !wait)
    })
  }

  /**
   * As `send`, telling `waiter` instead of a promise (no promise per message): a QoS 1/2 relay, or an inbox
   * entry that sends deliveries on. Without a waiter, or with `report`, a failure is reported here.
   */
  sendFor(
    node: string,
    text: string,
    targets: readonly Target[],
    hop: boolean,
    waiter: SendWaiter | undefined,
    report = waiter === undefined,
  ): void {
    let entry = this.#outgoing.get(node)
    if (entry !== undefined && entry.messages >= MAX_ENTRY_MESSAGES) {
      this.#append(node, entry)
      entry = undefined
    }
    if (entry === undefined) {
      entry = new OutgoingEntry()
      this.#outgoing.set(node, entry)
      if (!this.#flushing) {
        this.#flushing = true
        process.nextTick(this.#appendAll)
      }
    }
    entry.add(text, targets, hop)
    if (report) entry.unwaited = true
    if (waiter !== undefined) entry.wait(waiter)
  }

  readonly #appendAll = (): void => {
    this.#flushing = false
    for (const [node, entry] of this.#outgoing) this.#append(node, entry)
  }

  /** Whether node `node` has as many messages in flight as it may: a QoS 0 relay then waits too. */
  congested(node: string): boolean {
    return (this.#inFlight.get(node) ?? 0) >= MAX_IN_FLIGHT || this.#heldBack.has(node)
  }

  #append(node: string, entry: OutgoingEntry): void {
    if (this.#outgoing.get(node) === entry) this.#outgoing.delete(node)
    const inFlight = this.#inFlight.get(node) ?? 0
    const held = this.#heldBack.get(node)
    if (held !== undefined || inFlight >= MAX_IN_FLIGHT) {
      if (held === undefined) this.#heldBack.set(node, [entry])
      else held.push(entry)
      return
    }
    this.#inFlight.set(node, inFlight + entry.messages)
    const fields = entry.fields()
    this.#scripts.mqsClusterSend
      .call(this.#redis, this.inboxKey(node), ...fields, 'f', this.nodeId)
      .then((id) => {
        if (id !== null) return undefined
        // No inbox (the node is gone): no credit will come for these.
        this.#credit(node, entry.messages)
        return this.#dispatchEntry(fields, node)
      })
      .then(
        () => entry.appended(),
        (err: unknown) => {
          if (entry.unwaited) this.#report(err, 'sending QoS 0 messages to another node')
          entry.failed(err)
        },
      )
  }

  /** Node `node` processed `count` of this node's messages (or will not): held entries go on. */
  #credit(node: string, count: number): void {
    const inFlight = Math.max(0, (this.#inFlight.get(node) ?? 0) - count)
    if (inFlight === 0) this.#inFlight.delete(node)
    else this.#inFlight.set(node, inFlight)
    const held = this.#heldBack.get(node)
    if (held === undefined || inFlight >= MAX_IN_FLIGHT) return
    this.#heldBack.delete(node)
    for (const entry of held) this.#append(node, entry)
  }

  /**
   * The messages of an entry: made here (or sent on), in order. Settled once every delivery they started is;
   * failed (after that) when a message or a send to another node failed.
   */
  #dispatchEntry(fields: readonly string[], from: string | undefined): Promise<void> {
    const entry = new EntryDeliveries()
    forEachMessage(fields, (text, targets, hop) => {
      try {
        this.#dispatch(text, targets, from, !hop, entry)
      } catch (err) {
        entry.fail(err)
      }
    })
    entry.settle()
    return entry.done
  }

  /**
   * A message taken from a dead node's inbox: a QoS 2 message a subscriber holds already (delivered before
   * the node died) is not given again.
   */
  async #dispatchRecovered(text: string, targets: readonly Target[], dead: string): Promise<void> {
    const origin = (decodePublish(text).packet as OriginPacket)[ORIGIN]
    const kept: Target[] = []
    for (const target of targets) {
      if (target[1] === 2 && origin !== undefined && (await this.#store.holdsOrigin(target[0], origin)))
        continue
      kept.push(target)
    }
    const entry = new EntryDeliveries()
    this.#dispatch(text, kept, dead, true, entry)
    entry.settle()
    await entry.done
  }

  /**
   * Makes the deliveries `targets` of one message: to a client connected to this node (forwardMessage), to
   * one connected to another node (its inbox, when `mayHop`; never back to `from`), else queued for a
   * persistent session (QoS 1/2). What they start, `entry` waits for: no promise per message.
   */
  #dispatch(
    text: string,
    targets: readonly Target[],
    from: string | undefined,
    mayHop: boolean,
    entry: EntryDeliveries,
  ): void {
    const stored = decodePublish(text)
    const source = leaving(stored, Date.now())
    if (source === undefined) return
    const origin = (stored.packet as OriginPacket)[ORIGIN]
    let elsewhere: Map<string, Target[]> | undefined
    // One packet for every delivery of the same QoS and RETAIN without identifiers or group: the outbound
    // side serialises a QoS 0 packet once for all of them, as for a fan-out on one node.
    let plain: (IPublishPacket | undefined)[] | undefined
    for (const target of targets) {
      const [clientId, qos] = target
      const client = this.#host.connected(clientId)
      if (client !== undefined) {
        let packet: IPublishPacket
        if (target[3] === null && target[4] === null) {
          plain ??= []
          const slot = qos * 2 + target[2]
          packet = plain[slot] ??= packetFor(source, target, origin)
        } else packet = packetFor(source, target, origin)
        entry.started()
        const ctx = { client, packet }
        client.stack.execute('forwardMessage', ctx, ctx, entry.answered)
        continue
      }
      const node = this.nodeOf(clientId)
      if (node !== undefined && mayHop && node !== from && node !== this.nodeId) {
        elsewhere ??= new Map()
        const list = elsewhere.get(node)
        if (list === undefined) elsewhere.set(node, [target])
        else list.push(target)
        continue
      }
      const stack = this.#host.stack
      if (qos === 0 || stack === undefined) continue
      entry.wait(
        stack
          .run(
            'storeOfflineMessage',
            { clientId, packet: packetFor(source, target, origin) },
            {} as CallbackStore<'storeOfflineMessage'>,
          )
          .catch((err: MqttStackError) => stack.reportError(err, undefined, source)),
      )
    }
    if (elsewhere !== undefined)
      for (const [node, list] of elsewhere) {
        entry.started()
        this.sendFor(node, text, list, true, entry)
      }
  }

  // Readers

  async #readInbox(redis: RedisClient): Promise<void> {
    const key = this.inboxKey(this.nodeId)
    while (this.#running) {
      let answer: [string, [string, string[]][]][] | null
      try {
        answer = (await redis.xreadgroup(
          'GROUP',
          'g',
          this.nodeId,
          'COUNT',
          BATCH,
          'BLOCK',
          BLOCK_MS,
          'STREAMS',
          key,
          '>',
        )) as [string, [string, string[]][]][] | null
      } catch (err) {
        if (!this.#running) continue
        // Taken over by a survivor while this node stalled (or deleted): made again, and read from then on.
        if (err instanceof Error && err.message.includes('NOGROUP')) {
          await this.#openInbox().catch((again: unknown) => this.#report(again, 'making this node inbox'))
          continue
        }
        this.#report(err, 'reading this node inbox')
        await new Promise((resolve) => setTimeout(resolve, BLOCK_MS).unref())
        continue
      }
      if (answer === null) continue
      const entries = answer[0]![1]
      const done: Promise<unknown>[] = []
      const processed = new Map<string, number>()
      for (const [, fields] of entries) {
        done.push(this.#entry(fields))
        const sender = fields[0] === 'm' || fields[0] === 'b' ? senderOf(fields) : undefined
        if (sender !== undefined) processed.set(sender, (processed.get(sender) ?? 0) + messageCount(fields))
      }
      try {
        await Promise.all(done)
        // Accepted by every delivery (stored inflight or queued): acknowledged and dropped; the senders are
        // told how many of theirs were processed.
        const ids = entries.map(([id]) => id)
        const sent: Promise<unknown>[] = [this.#redis.xack(key, 'g', ...ids), this.#redis.xdel(key, ...ids)]
        for (const [sender, count] of processed) {
          const credit = ['p', String(count), 'n', this.nodeId]
          sent.push(this.#scripts.mqsClusterSend.call(this.#redis, this.inboxKey(sender), ...credit))
        }
        await Promise.all(sent)
      } catch (err) {
        this.#report(err, 'delivering from this node inbox')
      }
    }
  }

  /** One inbox entry: a message with its deliveries (`m`, `t`), or a takeover (`k` client id, `c` connection). */
  #entry(fields: string[]): Promise<void> {
    if (fields[0] === 'p') {
      this.#credit(fields[3]!, Number(fields[1]))
      return Promise.resolve()
    }
    if (fields[0] === 'a') {
      this.#ack(fields[3]!, fields[1]!)
      return Promise.resolve()
    }
    if (fields[0] === 'k') {
      const client = this.#host.clients.get(fields[1]!)
      if (client !== undefined && this.#tokens.get(client) === fields[3]) {
        // Another node took the client id over: the server MUST disconnect this one [MQTT-3.1.4-2] (0x8E)
        client.close(ReasonCode.SESSION_TAKEN_OVER)
      }
      return Promise.resolve()
    }
    // Sent on by a node whose subscriber had moved (`h`): delivered or queued here, not sent on again.
    return this.#dispatchEntry(fields, undefined)
  }

  async #readLog(redis: RedisClient): Promise<void> {
    // After a failed read, and on a full batch (this node is behind): has the log been trimmed past it?
    let check = false
    while (this.#running) {
      let answer: [string, [string, string[]][]][] | null
      try {
        if (check && (await this.resyncRoutes()))
          this.#report(
            new Error('it was trimmed past this node, whose routes were read again from Redis'),
            'reading the route log',
          )
        check = false
        answer = (await redis.xread(
          'COUNT',
          LOG_BATCH,
          'BLOCK',
          BLOCK_MS,
          'STREAMS',
          this.logKey,
          this.#applied,
        )) as [string, [string, string[]][]][] | null
      } catch (err) {
        if (this.#running) this.#report(err, 'reading the route log')
        check = true
        continue
      }
      if (answer === null) continue
      check = answer[0]![1].length === LOG_BATCH
      // Each node whose changes were applied is told the last one, in its inbox.
      const acks = new Map<string, string>()
      for (const [id, fields] of answer[0]![1]) {
        const node = this.#apply(fields[1]!)
        if (node !== undefined) acks.set(node, id)
        this.#applied = id
      }
      for (const [node, id] of acks)
        this.#scripts.mqsClusterSend
          .call(this.#redis, this.inboxKey(node), 'a', id, 'n', this.nodeId)
          .catch((err: unknown) => this.#report(err, 'acknowledging the route log'))
      for (let i = this.#waiting.length - 1; i >= 0; i--) {
        const waiting = this.#waiting[i]!
        if (compareIds(this.#applied, waiting.id) < 0) continue
        this.#waiting.splice(i, 1)
        waiting.resolve()
      }
    }
  }

  /**
   * One change of the route log, `<kind>\n<node>\n<client id>[\n<detail>]`: returns the node that made it,
   * to acknowledge. Changes by this node are known already.
   */
  #apply(event: string): string | undefined {
    const [kind, node, clientId, detail] = event.split('\n') as [string, string, string, string | undefined]
    if (node === this.nodeId) return undefined
    const routes = this.#host.routes
    switch (kind) {
      case 's':
        this.#subscribe(clientId, detail!)
        break
      case 'u':
        routes.unsubscribe(clientId, detail!)
        break
      case 'r':
        routes.removeClient(clientId)
        break
      case 'c':
        this.locations.set(clientId, node)
        break
      case 'd':
        if (this.locations.get(clientId) === node) this.locations.delete(clientId)
        break
      case 'n':
        this.peers.add(node)
        break
      case 'x':
        this.#forgetNode(detail!)
        break
    }
    return node
  }

  /** Node `node` applied this node's changes up to `id`. */
  #ack(node: string, id: string): void {
    const before = this.#acked.get(node)
    if (before === undefined || compareIds(before, id) < 0) this.#acked.set(node, id)
    this.#silent.delete(node)
    for (const unacked of this.#unacked) {
      if (!unacked.nodes.has(node) || compareIds(id, unacked.id) < 0) continue
      unacked.nodes.delete(node)
      if (unacked.nodes.size === 0) unacked.resolve()
    }
  }

  /**
   * Resolves once every other node applied this node's change `id` of the route log; a node that does not
   * answer within nodeTimeoutMs (dead, not yet found dead) is not waited for longer, nor for the next
   * changes until it answers again.
   */
  #appliedByAll(id: string): Promise<void> {
    const nodes = new Set<string>()
    for (const peer of this.peers) {
      if (this.#silent.has(peer)) continue
      const acked = this.#acked.get(peer)
      if (acked === undefined || compareIds(acked, id) < 0) nodes.add(peer)
    }
    if (nodes.size === 0 || !this.#running) return Promise.resolve()
    return new Promise<void>((resolve) => {
      const unacked = {
        id,
        nodes,
        resolve: () => {
          clearTimeout(timer)
          this.#unacked.delete(unacked)
          resolve()
        },
      }
      const timer = setTimeout(() => {
        // Dead but not yet found dead, most likely: the next changes do not wait for it.
        for (const node of unacked.nodes) this.#silent.add(node)
        unacked.resolve()
      }, this.#store.config.nodeTimeoutMs)
      timer.unref()
      this.#unacked.add(unacked)
    })
  }

  #subscribe(clientId: string, text: string): void {
    const subscription = JSON.parse(text) as Subscription
    this.#host.routes.subscribe(clientId, subscription.topic, subscription.qos, subscription)
  }

  #forgetNode(node: string): void {
    for (const [clientId, at] of this.locations) if (at === node) this.locations.delete(clientId)
    this.peers.delete(node)
    this.#acked.delete(node)
    this.#silent.delete(node)
    // Its credits will not come: what was held back for it goes now (made here, its inbox being gone).
    this.#credit(node, Number.POSITIVE_INFINITY)
    this.#inFlight.delete(node)
    for (const unacked of this.#unacked) {
      unacked.nodes.delete(node)
      if (unacked.nodes.size === 0) unacked.resolve()
    }
  }

  /**
   * Appends a change of this node to the route log; with `wait`, resolves once every other node applied
   * it, so that what a client was told (CONNACK, SUBACK) holds on every node.
   */
  async #event(kind: string, clientId: string, detail?: string, wait = true): Promise<void> {
    const event =
      detail === undefined
        ? `${kind}\n${this.nodeId}\n${clientId}`
        : `${kind}\n${this.nodeId}\n${clientId}\n${detail}`
    const id = await this.#redis.xadd(this.logKey, 'MAXLEN', '~', LOG_LENGTH, '*', 'e', event)
    if (wait && id !== null) await this.#appliedByAll(id)
  }

  // A dead node

  /**
   * Run by the one survivor that claimed node `dead` (or by a node that stops, for itself): the client ids
   * it held are released (a clean session is removed; a persistent one stays, its messages now queued), the
   * deliveries left in its inbox are made (here, on the node their subscriber is on now, or queued), and
   * every node forgets its connections.
   */
  async #takeOver(dead: string): Promise<void> {
    const redis = this.#redis
    this.#forgetNode(dead)
    const held = await redis.smembers(this.connectionsKey(dead))
    for (const clientId of held) {
      const released = await this.#scripts.mqsClusterRelease.call(redis, this.nodeKey(clientId), dead, '0')
      if (released !== 1) continue
      await redis.xadd(this.logKey, 'MAXLEN', '~', LOG_LENGTH, '*', 'e', `d\n${dead}\n${clientId}`)
      const expiry = await redis.hget(this.#store.keys.session(clientId), 'e')
      // The connection ended with its node: a session with expiry 0 ends with it [MQTT-3.1.2-6].
      if (expiry === null || Number(expiry) === 0) await this.#host.dropSession(clientId)
    }
    const inbox = this.inboxKey(dead)
    const taken = `${inbox}:taken`
    // Renamed first: a node that sends to it from now on finds no inbox and delivers itself.
    await redis.rename(inbox, taken).catch((err: Error) => {
      if (!err.message.includes('no such key')) throw err
    })
    let from = '-'
    for (;;) {
      const entries = await redis.xrange(taken, from, '+', 'COUNT', BATCH)
      for (const [, fields] of entries) {
        const messages: [string, readonly Target[]][] = []
        forEachMessage(fields, (text, targets) => messages.push([text, targets]))
        for (const [text, targets] of messages) await this.#dispatchRecovered(text, targets, dead)
      }
      if (entries.length < BATCH) break
      from = `(${entries[entries.length - 1]![0]}`
    }
    await redis.del(taken, this.connectionsKey(dead))
    await redis.xadd(this.logKey, 'MAXLEN', '~', LOG_LENGTH, '*', 'e', `x\n${this.nodeId}\n\n${dead}`)
  }
}

function noop(): void {}

/**
 * What the messages of one inbox entry started (forwards, offline stores, sends to other nodes), counted
 * down: one promise per entry, none per message.
 */
class EntryDeliveries implements SendWaiter {
  #pending = 1
  #failed = false
  #failure: unknown = undefined
  readonly done: Promise<void>
  #resolve: () => void = noop
  #reject: (err: unknown) => void = noop

  constructor() {
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
  }

  /**
   * The answer of one forwardMessage, whose context is its store too (it has no fields of its own): a failure
   * is that subscriber's, reported.
   */
  readonly answered: CallbackResult<'forwardMessage'> = (err, store) => {
    if (err) {
      const { client, packet } = store as unknown as { client: Client; packet: IPublishPacket }
      client.stack.reportError(err, client, packet)
    }
    this.settle()
  }

  /** One more delivery to wait for: a forwardMessage (settled by `answered`) or a send on (by `sent`). */
  started(): void {
    this.#pending++
  }

  wait(promise: Promise<unknown>): void {
    this.#pending++
    promise.then(this.#settled, this.#rejected)
  }

  fail(err: unknown): void {
    if (this.#failed) return
    this.#failed = true
    this.#failure = err
  }

  readonly #settled = (): void => this.settle()

  readonly #rejected = (err: unknown): void => {
    this.fail(err)
    this.settle()
  }

  /** SendWaiter: deliveries sent on to another node (counted with `started`) are in its inbox. */
  sent(): void {
    this.settle()
  }

  notSent(err: unknown): void {
    this.#rejected(err)
  }

  settle(): void {
    if (--this.#pending > 0) return
    if (this.#failed) this.#reject(this.#failure)
    else this.#resolve()
  }
}

/** The packet of one delivery asked by another node. */
function packetFor(source: IPublishPacket, target: Target, origin: string | undefined): IPublishPacket {
  const [, qos, retain, ids, group] = target
  const packet: ForwardedPacket = {
    cmd: 'publish',
    topic: source.topic,
    payload: source.payload,
    qos,
    retain: retain === 1,
    dup: false,
  }
  if (source.properties !== undefined) packet.properties = forwardedProperties(source.properties)
  if (ids !== null) packet.properties = { ...packet.properties, subscriptionIdentifier: ids }
  if (group !== null && qos > 0) packet[SHARED] = group
  if (origin !== undefined) (packet as OriginPacket)[ORIGIN] = origin
  return packet
}

/** Orders two stream ids (`<ms>-<seq>`). */
function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number]
  const [bm, bs] = b.split('-').map(Number) as [number, number]
  return am !== bm ? am - bm : as - bs
}

/** The text of a message sent to other nodes: the published packet with its origin, stored now. */
export function encodeForNodes(source: IPublishPacket, origin: string | undefined): string {
  if (origin === undefined) return encode(source, Date.now())
  const packet: OriginPacket = { ...source }
  packet[ORIGIN] = origin
  return encode(packet, Date.now())
}
