import { randomUUID } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'

type Client = Redis | Cluster
type ScriptCall = (...args: (string | number)[]) => Promise<unknown>

/**
 * The scripts of node liveness. Every key has the hash tag `{nodes}`: one slot, so they run on a Redis
 * Cluster too.
 */
const NODE_SCRIPTS = {
  /**
   * KEYS heartbeat, set, claim; ARGV id, claimer, claim TTL (ms). Claims the sweep of a dead node: 0 when it
   * is alive (its heartbeat exists), already swept (not in the set) or claimed by another survivor whose
   * claim has not expired; else its last renewal (ms), and the claim is ours for the TTL.
   */
  mqsNodesClaim: {
    numberOfKeys: 3,
    lua: `if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local seen = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not seen then return 0 end
if not redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[3]) then return 0 end
return tonumber(seen)`,
  },
  /** KEYS set, claim; ARGV id, claimer. The sweep is done: the dead node leaves the set, if our claim holds. */
  mqsNodesSwept: {
    numberOfKeys: 2,
    lua: `if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1`,
  },
  /**
   * KEYS heartbeat, set; ARGV id, now (ms), TTL (ms), first. Renews the heartbeat; 1 when it was there (or
   * this is the first), 0 when it had expired: this node may have been found dead meanwhile.
   */
  mqsNodesRenew: {
    numberOfKeys: 2,
    lua: `local was = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if ARGV[4] == '1' then return 1 end
return was`,
  },
} as const

type NodeScript = keyof typeof NODE_SCRIPTS

/**
 * The liveness of the broker nodes on one Redis (one prefix). Each node renews a heartbeat key
 * `<prefix>{nodes}:<id>` with a TTL of `timeoutMs` every `timeoutMs / 5`, and its entry in the sorted set
 * `<prefix>{nodes}` of ids by last renewal (epoch ms). A node is dead once its heartbeat expired while it is
 * still in the set; a sweep every `timeoutMs / 2` (and once at start) finds such nodes, claims each (one
 * survivor per dead node), runs the `onDead` listeners, and only then removes it from the set: a survivor
 * that dies mid-sweep leaves the work to the next one once its claim expires. A dead node is reported
 * within 1.5 × `timeoutMs` (plus a round trip) after its last renewal.
 */
export class Nodes {
  /** This process's node id (random per start). */
  readonly id: string = randomUUID()
  readonly #redis: Client
  readonly #scripts: Record<NodeScript, ScriptCall>
  readonly #set: string
  readonly #prefix: string
  readonly #timeoutMs: number
  readonly #listeners: ((id: string, lastSeen: number) => Promise<void>)[] = []
  readonly #lostListeners: (() => void)[] = []
  #renewTimer: NodeJS.Timeout | undefined = undefined
  #sweepTimer: NodeJS.Timeout | undefined = undefined
  #sweeping: Promise<void> | undefined = undefined
  #started = false
  #onError: (err: unknown) => void

  constructor(redis: Client, prefix: string, timeoutMs: number, onError: (err: unknown) => void = () => {}) {
    this.#redis = redis
    for (const [name, script] of Object.entries(NODE_SCRIPTS)) redis.defineCommand(name, script)
    this.#scripts = redis as unknown as Record<NodeScript, ScriptCall>
    this.#prefix = prefix
    this.#set = `${prefix}{nodes}`
    this.#timeoutMs = timeoutMs
    this.#onError = onError
  }

  /** The heartbeat key of a node: it exists while the node is alive. */
  heartbeatKey(id: string): string {
    return `${this.#prefix}{nodes}:${id}`
  }

  /** The sorted set of node ids by last renewal (epoch ms). */
  get setKey(): string {
    return this.#set
  }

  /** Where a failure of the heartbeat or of a sweep goes (the backend reports it to its stack). */
  set onError(handler: (err: unknown) => void) {
    this.#onError = handler
  }

  /** Starts the heartbeat, sweeps once, and then periodically. */
  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    await this.#renew(true)
    this.#renewTimer = setInterval(
      () => {
        this.#renew(false).catch(this.#onError)
      },
      Math.max(1, Math.floor(this.#timeoutMs / 5)),
    )
    this.#renewTimer.unref()
    await this.sweep()
    this.#sweepTimer = setInterval(
      () => {
        this.sweep().catch(this.#onError)
      },
      Math.max(1, Math.floor(this.#timeoutMs / 2)),
    )
    this.#sweepTimer.unref()
  }

  /** Stops the heartbeat and deletes its key and entry: a clean stop is not a death. */
  async stop(): Promise<void> {
    if (!this.#started) return
    this.halt()
    // Redis unreachable: nothing to delete now; the heartbeat expires and the node is found dead.
    if (this.#redis.status !== 'ready') return
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#timeoutMs)
    })
    const cleanup = (async () => {
      await this.#sweeping?.catch(() => undefined)
      await this.#redis.multi().del(this.heartbeatKey(this.id)).zrem(this.#set, this.id).exec()
    })()
    try {
      await Promise.race([cleanup, bound])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Stops renewing the heartbeat and sweeping, deleting nothing: the heartbeat expires, as a dead node's. */
  halt(): void {
    this.#started = false
    clearInterval(this.#renewTimer)
    clearInterval(this.#sweepTimer)
    this.#renewTimer = this.#sweepTimer = undefined
  }

  /** Whether a node id is alive now (its heartbeat key exists). */
  async isAlive(id: string): Promise<boolean> {
    return (await this.#redis.exists(this.heartbeatKey(id))) === 1
  }

  /** The ids of the nodes alive now, with their last renewal (epoch ms). */
  async alive(): Promise<Map<string, number>> {
    const entries = await this.#redis.zrange(this.#set, 0, -1, 'WITHSCORES')
    const ids: string[] = []
    const seen: number[] = []
    for (let i = 0; i < entries.length; i += 2) {
      ids.push(entries[i]!)
      seen.push(Number(entries[i + 1]))
    }
    const exists = await Promise.all(ids.map((id) => this.isAlive(id)))
    const out = new Map<string, number>()
    for (let i = 0; i < ids.length; i++) if (exists[i]) out.set(ids[i]!, seen[i]!)
    return out
  }

  /**
   * Called with each node id found dead by a sweep, once cluster-wide (by the survivor that claimed it), with
   * the epoch ms of its last renewal. The node leaves the set after every listener resolved; a listener that
   * rejects leaves it there, and the sweep after the claim expires tries again.
   */
  onDead(listener: (id: string, lastSeen: number) => Promise<void>): void {
    this.#listeners.push(listener)
  }

  /**
   * Called when this node's own heartbeat had expired before a renewal (a stall longer than the TTL): other
   * nodes may have found it dead and taken over its work.
   */
  onLost(listener: () => void): void {
    this.#lostListeners.push(listener)
  }

  /** One sweep now (they never overlap): resolves once every dead node found was handled. */
  sweep(): Promise<void> {
    this.#sweeping ??= this.#sweep().finally(() => {
      this.#sweeping = undefined
    })
    return this.#sweeping
  }

  async #sweep(): Promise<void> {
    const ids = await this.#redis.zrange(this.#set, 0, -1)
    for (const id of ids) {
      if (id === this.id || !this.#started) continue
      const claim = `${this.heartbeatKey(id)}:claim`
      // The claim outlives a sweep that takes long; a survivor dying mid-sweep frees it after the TTL.
      const lastSeen = Number(
        await this.#scripts.mqsNodesClaim.call(
          this.#redis,
          this.heartbeatKey(id),
          this.#set,
          claim,
          id,
          this.id,
          this.#timeoutMs * 4,
        ),
      )
      if (lastSeen === 0) continue
      try {
        for (const listener of this.#listeners) await listener(id, lastSeen)
      } catch (err) {
        // Left in the set: retried once the claim expires.
        this.#onError(err)
        continue
      }
      await this.#scripts.mqsNodesSwept.call(this.#redis, this.#set, claim, id, this.id)
    }
  }

  async #renew(first: boolean): Promise<void> {
    const was = await this.#scripts.mqsNodesRenew.call(
      this.#redis,
      this.heartbeatKey(this.id),
      this.#set,
      this.id,
      Date.now(),
      this.#timeoutMs,
      first ? '1' : '0',
    )
    if (was === 0 && this.#started) for (const listener of this.#lostListeners) listener()
  }
}
