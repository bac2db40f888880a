import type { InflightPacket, IPublishPacket, StoredSession, Subscription } from '@mqtt-stack/core'
import { Cluster, Redis } from 'ioredis'
import {
  decode,
  decodePublish,
  encode,
  expiringIn,
  leaving,
  ORIGIN,
  type OriginPacket,
  originNeedle,
  type Stored,
} from './codec.js'
import { InflightWrites } from './inflight-writes.js'
import { Keys } from './keys.js'
import type { RedisBackendOptions } from './options.js'
import { SCRIPTS, type ScriptName } from './scripts.js'

type Client = Redis | Cluster
type ScriptCall = (...args: (string | number)[]) => Promise<unknown>

/**
 * Origins of completed inbound QoS 2 deliveries kept per client: a relay cut short by a crash and done again
 * skips a client that completed the message meanwhile, unless this many others completed since.
 */
const DELIVERED_KEPT = 1000

/** What `storeOffline` did: queued, no persistent session to queue for, or a full queue. */
export enum Queued {
  OK = 0,
  NO_SESSION = 1,
  FULL = 2,
}

/** What `storeIncoming` found. */
export enum Incoming {
  NEW = 0,
  DUPLICATE = 1,
  UNRELAYED = 2,
}

/** What `storeRetained` did: stored (or deleted), refused for the count, refused for the bytes. */
export enum RetainedResult {
  STORED = 1,
  NOTHING = 0,
  FULL = -1,
  TOO_MANY_BYTES = -2,
}

/** A persistent session's routes, as the backend rebuilds them on start. */
export interface StoredRoutes {
  clientId: string
  subscriptions: Subscription[]
}

/** An outbound packet of a session, as kept in memory: when it was stored, and the origin it delivers. */
export interface SentState {
  packet: InflightPacket
  storedAt: number
  origin: string | undefined
}

/** The QoS 1/2 state of a client id taken out of Redis (`storeSession` with `take`). */
export interface TakenState {
  /** The unacknowledged outbound packets, in the order first sent. */
  sent: SentState[]
  /** The inbound QoS 2 messages held until PUBREL, and whether each was relayed. */
  held: { packet: IPublishPacket; relayed: boolean }[]
}

/**
 * The unacknowledged packets of a session as they may be sent again now, in the order given. An expired QoS
 * 1 PUBLISH is forgotten (in `expired`) [MQTT-3.3.2-5]; an expired QoS 2 one goes again with an interval of
 * 1 (the client may hold its identifier until PUBREL, 4.3.3); the others with their remaining interval
 * [MQTT-3.3.2-6].
 */
export function inflightView(
  sent: Iterable<[number, Stored<InflightPacket>]>,
  now: number,
): { out: InflightPacket[]; expired: number[] } {
  const out: InflightPacket[] = []
  const expired: number[] = []
  for (const [id, stored] of sent) {
    if (stored.packet.cmd !== 'publish') {
      out.push(stored.packet)
      continue
    }
    const view = leaving(stored as Stored, now)
    if (view !== undefined) out.push(view)
    else if (stored.packet.qos === 2) out.push(expiringIn(stored.packet, 1))
    else expired.push(id)
  }
  return { out, expired }
}

/** The inflight hash of a client id (identifier -> `<n> <packet>`) in the order first sent. */
function inOrder(entries: Iterable<[string, string]>): [number, Stored<InflightPacket>][] {
  const sent: [number, number, Stored<InflightPacket>][] = []
  for (const [id, text] of entries) {
    const space = text.indexOf(' ')
    sent.push([Number(text.slice(0, space)), Number(id), decode(text.slice(space + 1))])
  }
  return sent.sort((a, b) => a[0] - b[0]).map(([, id, stored]) => [id, stored])
}

/** The field-value pairs of an HGETALL reply given by a script (a flat array). */
function* pairs(flat: string[]): IterableIterator<[string, string]> {
  for (let i = 0; i + 1 < flat.length; i += 2) yield [flat[i]!, flat[i + 1]!]
}

/** Reconnect soon after the first failure, then every second: an outage ends at most a second late. */
const reconnectDelay = (attempt: number): number => Math.min(attempt * 100, 1000)

/**
 * The state of a RedisBackend in Redis: every read and write of one callback is one command, one MULTI on
 * the keys of one client id, or one script (keys.ts and scripts.ts say which). Not a middleware: the
 * backend answers the callbacks with it.
 */
export class RedisStore {
  readonly redis: Client
  readonly keys: Keys
  readonly #scripts: Record<ScriptName, ScriptCall>
  /** The inflight writes of each client id made in one tick, sent as one script call (inflight-writes.ts). */
  readonly #inflight = new InflightWrites((clientId, writes) => {
    const keys = this.keys
    return this.script(
      'inflightWrites',
      keys.session(clientId),
      keys.inflight(clientId),
      keys.origins(clientId),
      keys.delivered(clientId),
      this.config.maxInflightMessages,
      Date.now(),
      DELIVERED_KEPT,
      ...writes,
    ) as Promise<number[]>
  })
  /** Told of each failure of the connection to Redis (a refused or broken connection, a timeout). */
  onConnectionError: ((err: Error) => void) | undefined = undefined
  /** Told each time the connection to Redis is (again) ready for commands. */
  onReady: (() => void) | undefined = undefined

  constructor(readonly config: Readonly<RedisBackendOptions>) {
    // While Redis is away a command waits in ioredis's queue (reconnecting at least every second) until
    // `unavailableTimeout` has passed since it was issued; then its callback fails with MQS_ERR_REDIS.
    const timeouts = {
      ...(config.unavailableTimeout > 0 ? { commandTimeout: config.unavailableTimeout } : {}),
      maxRetriesPerRequest: null,
      retryStrategy: reconnectDelay,
    }
    const options = { lazyConnect: true, enableAutoPipelining: true }
    this.redis =
      config.clusterNodes.length > 0
        ? new Cluster([...config.clusterNodes], {
            ...options,
            clusterRetryStrategy: reconnectDelay,
            redisOptions: { lazyConnect: true, ...timeouts },
          })
        : new Redis(config.url, { ...options, ...timeouts })
    // Without a listener ioredis prints every reconnection failure; the backend reports an outage once.
    this.redis.on('error', (err: Error) => this.onConnectionError?.(err))
    this.redis.on('ready', () => this.onReady?.())
    for (const [name, script] of Object.entries(SCRIPTS)) this.redis.defineCommand(name, script)
    this.#scripts = this.redis as unknown as Record<ScriptName, ScriptCall>
    this.keys = new Keys(config.prefix)
  }

  /**
   * Another connection, for blocking reads (XREADGROUP BLOCK): without the command timeout, which a read
   * that blocks may outlast; its failures are told like the main connection's.
   */
  blockingConnection(): Client {
    const redis = this.redis
    const copy =
      redis instanceof Cluster
        ? redis.duplicate(undefined, {
            redisOptions: { ...redis.options.redisOptions, commandTimeout: undefined },
          })
        : redis.duplicate({ commandTimeout: undefined })
    copy.on('error', (err: Error) => this.onConnectionError?.(err))
    return copy
  }

  script(name: ScriptName, ...args: (string | number)[]): Promise<unknown> {
    return this.#scripts[name].apply(this.redis, args)
  }

  // Sessions

  async lookupSession(clientId: string): Promise<StoredSession | undefined> {
    const [e, d] = await this.redis.hmget(this.keys.session(clientId), 'e', 'd')
    if (e === null || e === undefined) return undefined
    const session: StoredSession = { clientId, expiryInterval: Number(e) }
    if (d !== null && d !== undefined) session.disconnectedAt = Number(d)
    return session
  }

  /**
   * Stores the session hash. With `take`, the QoS 1/2 state of the client id leaves Redis in the same step
   * and is returned, for a session kept in the node's memory from now on (expiry interval 0).
   */
  async storeSession(
    clientId: string,
    session: StoredSession,
    take = false,
  ): Promise<TakenState | undefined> {
    const keys = this.keys
    this.#inflight.flush(clientId)
    // The index first: a session in the index without its hash is skipped on start; the reverse is lost.
    const indexed = this.redis.sadd(keys.sessions, clientId)
    const stored = this.script(
      'storeSession',
      keys.session(clientId),
      keys.inflight(clientId),
      keys.origins(clientId),
      keys.incoming(clientId),
      session.expiryInterval,
      session.disconnectedAt ?? '',
      take ? '1' : '',
    )
    const [, answer] = await Promise.all([indexed, stored])
    if (!take) return undefined
    const [sent, origins, held] = answer as [string[], string[], string[]]
    const originOf = new Map(pairs(origins))
    const state: TakenState = { sent: [], held: [] }
    for (const [id, { packet, storedAt }] of inOrder(pairs(sent)))
      state.sent.push({ packet, storedAt, origin: originOf.get(String(id)) })
    for (const [, text] of pairs(held)) {
      state.held.push({ packet: decodePublish(text.slice(2)).packet, relayed: text[0] === 'r' })
    }
    return state
  }

  /** The state of a session kept in memory, back into Redis: it outlives its connection from now on. */
  async restoreState(clientId: string, state: TakenState): Promise<void> {
    const pending: Promise<unknown>[] = []
    for (const { packet, storedAt, origin } of state.sent)
      pending.push(this.storeInflight(clientId, packet, origin, storedAt))
    const incoming = this.keys.incoming(clientId)
    for (const { packet, relayed } of state.held)
      pending.push(
        this.redis.hset(incoming, packet.messageId!, `${relayed ? 'r' : 'p'} ${encode(packet, Date.now())}`),
      )
    await Promise.all(pending)
  }

  async removeSession(clientId: string): Promise<void> {
    this.#inflight.flush(clientId)
    await Promise.all([
      this.redis.del(...this.keys.ofClient(clientId)),
      this.redis.srem(this.keys.sessions, clientId),
    ])
  }

  /** Every persistent session with its persisted subscriptions: the routes to rebuild on start. */
  async persistentRoutes(): Promise<StoredRoutes[]> {
    const out: StoredRoutes[] = []
    const ids = await this.redis.smembers(this.keys.sessions)
    const answers = await Promise.all(
      ids.map((clientId) =>
        Promise.all([
          this.redis.hget(this.keys.session(clientId), 'e'),
          this.lookupSubscriptions(clientId, false),
        ]),
      ),
    )
    for (let i = 0; i < ids.length; i++) {
      const [e, subscriptions] = answers[i]!
      if (e !== null && Number(e) > 0 && subscriptions !== undefined && subscriptions.length > 0)
        out.push({ clientId: ids[i]!, subscriptions })
    }
    return out
  }

  // Persisted subscriptions

  async storeSubscription(clientId: string, topic: string, subscription: Subscription): Promise<void> {
    const keys = this.keys
    await this.script(
      'storeSubscription',
      keys.session(clientId),
      keys.subscriptions(clientId),
      topic,
      JSON.stringify(subscription),
    )
  }

  /**
   * The persisted subscriptions of a session, in the order first made; undefined without a session (unless
   * `sessionKnown` is false: then only the subscriptions are read).
   */
  async lookupSubscriptions(clientId: string, sessionKnown = true): Promise<Subscription[] | undefined> {
    const [exists, stored] = sessionKnown
      ? await Promise.all([
          this.redis.exists(this.keys.session(clientId)),
          this.redis.hvals(this.keys.subscriptions(clientId)),
        ])
      : [1, await this.redis.hvals(this.keys.subscriptions(clientId))]
    if (exists === 0) return undefined
    return stored
      .map((text) => {
        const space = text.indexOf(' ')
        return {
          n: Number(text.slice(0, space)),
          subscription: JSON.parse(text.slice(space + 1)) as Subscription,
        }
      })
      .sort((a, b) => a.n - b.n)
      .map(({ subscription }) => subscription)
  }

  // Offline queues

  async storeOffline(clientId: string, packet: IPublishPacket, shared: string | undefined): Promise<Queued> {
    const keys = this.keys
    return (await this.script(
      'storeOffline',
      keys.session(clientId),
      keys.offline(clientId),
      encode(packet, Date.now(), shared),
      this.config.maxOfflineMessages,
    )) as Queued
  }

  /**
   * The queue as it may be delivered now, oldest first, each with its stored text: expired messages leave
   * the queue before the answer [MQTT-3.3.2-5], the others come with the interval left [MQTT-3.3.2-6].
   */
  /** The first `limit` queued messages (every one without it), and how many are queued in all. */
  async lookupOffline(
    clientId: string,
    limit?: number,
  ): Promise<{ queue: { packet: IPublishPacket; text: string }[]; queued: number }> {
    const key = this.keys.offline(clientId)
    const [texts, length] = await Promise.all([
      this.redis.lrange(key, 0, limit === undefined ? -1 : Math.max(1, limit) - 1),
      this.redis.llen(key),
    ])
    const out: { packet: IPublishPacket; text: string }[] = []
    const now = Date.now()
    const expired: string[] = []
    for (const text of texts) {
      const packet = leaving(decodePublish(text), now)
      if (packet !== undefined) out.push({ packet, text })
      else expired.push(text)
    }
    await this.removeOffline(clientId, expired)
    return { queue: out, queued: length - expired.length }
  }

  /** Removes these stored texts from the queue, in one script (pipelined with the other commands of its tick). */
  async removeOffline(clientId: string, texts: string[]): Promise<void> {
    if (texts.length > 0) await this.script('removeOffline', this.keys.offline(clientId), ...texts)
  }

  // Outbound QoS 1/2

  /** 1 stored, 0 no session, -1 full. Sent with the client's other inflight writes of this tick. */
  storeInflight(
    clientId: string,
    packet: InflightPacket,
    origin = (packet as OriginPacket)[ORIGIN],
    storedAt = Date.now(),
  ): Promise<number> {
    return this.#inflight.store(clientId, packet.messageId!, encode(packet, storedAt), origin)
  }

  /**
   * The unacknowledged packets of a session in the order first sent. An expired QoS 1 PUBLISH is forgotten
   * [MQTT-3.3.2-5]; an expired QoS 2 one goes again with an interval of 1 (the client may hold its
   * identifier until PUBREL, 4.3.3); the others with their remaining interval [MQTT-3.3.2-6].
   */
  async lookupInflight(clientId: string): Promise<InflightPacket[]> {
    this.#inflight.flush(clientId)
    const hash = await this.redis.hgetall(this.keys.inflight(clientId))
    const { out, expired } = inflightView(inOrder(Object.entries(hash)), Date.now())
    for (const id of expired) await this.removeInflight(clientId, id)
    return out
  }

  /** Sent with the client's other inflight writes of this tick. */
  removeInflight(clientId: string, messageId: number): Promise<void> {
    return this.#inflight.remove(clientId, messageId)
  }

  /** Writes an origin next to an inflight packet kept in this node's memory, after the client's pending writes. */
  storeOrigin(clientId: string, messageId: number, origin: string): Promise<unknown> {
    this.#inflight.flush(clientId)
    return this.redis.hset(this.keys.origins(clientId), messageId, origin)
  }

  async clearInflight(clientId: string): Promise<void> {
    const keys = this.keys
    this.#inflight.flush(clientId)
    await this.redis.del(keys.inflight(clientId), keys.origins(clientId))
  }

  // Inbound QoS 2

  /**
   * Holds an inbound QoS 2 identifier: `Incoming.NEW` (held now, as relaying), `Incoming.DUPLICATE` (held
   * and relayed), `Incoming.UNRELAYED` (held, but the relay of the node that held it never finished).
   * Nothing is held for an unknown session (`NEW`).
   */
  async storeIncoming(clientId: string, packet: IPublishPacket): Promise<Incoming> {
    const keys = this.keys
    return (await this.script(
      'storeIncoming',
      keys.session(clientId),
      keys.incoming(clientId),
      packet.messageId!,
      encode(packet, Date.now()),
    )) as Incoming
  }

  /** The relay of a held inbound QoS 2 message is done: a PUBLISH sent again is a duplicate from now on. */
  async markRelayed(clientId: string, messageId: number): Promise<void> {
    await this.script('markRelayed', this.keys.incoming(clientId), messageId)
  }

  /** Whether `clientId` holds a delivery of the inbound QoS 2 message `origin`, inflight or queued. */
  async holdsOrigin(clientId: string, origin: string): Promise<boolean> {
    const keys = this.keys
    this.#inflight.flush(clientId)
    const held = await this.script(
      'holdsOrigin',
      keys.origins(clientId),
      keys.offline(clientId),
      keys.delivered(clientId),
      origin,
      originNeedle(origin),
    )
    return held === 1
  }

  async releaseIncoming(clientId: string, messageId: number): Promise<IPublishPacket | undefined> {
    const text = (await this.script('releaseIncoming', this.keys.incoming(clientId), messageId)) as
      | string
      | null
    return text === null ? undefined : decodePublish(text).packet
  }

  // Retained messages

  async storeRetained(topic: string, packet: IPublishPacket): Promise<RetainedResult> {
    const keys = this.keys
    const empty = packet.payload.length === 0
    // A copy of what is kept: no packet identifier, no DUP, RETAIN 1.
    const kept: IPublishPacket = {
      cmd: 'publish',
      topic,
      payload: packet.payload,
      qos: packet.qos,
      retain: true,
      dup: false,
    }
    if (packet.properties !== undefined) kept.properties = packet.properties
    const size =
      typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload.byteLength
    return (await this.script(
      'storeRetained',
      keys.retained,
      keys.retainedSizes,
      keys.retainedBytes,
      keys.retainedIndex,
      topic,
      empty ? '' : encode(kept, Date.now()),
      size,
      this.config.maxRetainedMessages,
      this.config.maxRetainedBytes,
      ...topic.split('/'),
    )) as RetainedResult
  }

  /** The retained messages matching `filter`; expired ones are deleted [MQTT-3.3.2-5]. */
  async lookupRetained(filter: string): Promise<IPublishPacket[]> {
    const keys = this.keys
    const texts = (await this.script(
      'lookupRetained',
      keys.retained,
      keys.retainedIndex,
      ...filter.split('/'),
    )) as string[]
    const out: IPublishPacket[] = []
    const now = Date.now()
    const expired: string[] = []
    for (const text of texts) {
      const stored = decodePublish(text)
      const view = leaving(stored, now)
      if (view !== undefined) out.push(view)
      else expired.push(stored.packet.topic)
    }
    for (const topic of expired)
      await this.storeRetained(topic, {
        cmd: 'publish',
        topic,
        payload: '',
        qos: 0,
        retain: true,
        dup: false,
      })
    return out
  }

  // Monitoring

  /**
   * The client ids of every session and whether each is persistent, and the retained messages: off the hot
   * path (monitoring), it reads one field per session.
   */
  async counts(): Promise<{ sessions: [string, boolean][]; retainedMessages: number }> {
    const [ids, retainedMessages] = await Promise.all([
      this.redis.smembers(this.keys.sessions),
      this.redis.hlen(this.keys.retained),
    ])
    const expiry = await Promise.all(ids.map((clientId) => this.redis.hget(this.keys.session(clientId), 'e')))
    const sessions: [string, boolean][] = []
    for (let i = 0; i < ids.length; i++) {
      const e = expiry[i]
      if (e !== null && e !== undefined) sessions.push([ids[i]!, Number(e) > 0])
    }
    return { sessions, retainedMessages }
  }

  /**
   * Closes the connection once the commands sent before have their answers; true when it did, false when
   * it had to cut it (Redis not connected, or QUIT failed).
   */
  async quit(): Promise<boolean> {
    if (this.redis.status !== 'ready') {
      this.redis.disconnect()
      return false
    }
    try {
      await this.redis.quit()
      return true
    } catch {
      this.redis.disconnect()
      return false
    }
  }

  /** Closes the connection now: commands still waiting fail. */
  disconnect(): void {
    const { redis } = this
    redis.disconnect()
    // Between two reconnection attempts ioredis has no socket whose close would fail the commands queued
    // meanwhile: they would wait for ever (with unavailableTimeout 0), so they fail here.
    const queue = redis as unknown as { flushQueue?: (err: Error) => void }
    if (redis.status !== 'end') queue.flushQueue?.(new Error('Connection is closed.'))
  }
}
