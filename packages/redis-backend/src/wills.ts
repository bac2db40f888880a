import type { IPublishPacket, Stack } from '@mqtt-stack/core'
import type { Cluster, Redis } from 'ioredis'
import { decodePublish, encode } from './codec.js'
import type { Keys } from './keys.js'

type Client = Redis | Cluster
type ScriptCall = (...args: (string | number)[]) => Promise<unknown>

/**
 * A stored will, one field of the hash `{c:<id>}:wills` per owner (the connection that stored it):
 * `<delay> <node> <dueAt> <message>`, `dueAt` 0 while its connection is open. Lua splits it with this pattern.
 */
const FIELDS = `local function fields(v) return string.match(v, '^(%S+) (%S+) (%S+) (.*)$') end
local function holds(node)
  for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
    local _, n = fields(v)
    if n == node then return true end
  end
  return false
end
`

/**
 * The scripts of wills, each on the hash of one client id (one slot). The index of the client ids whose
 * wills a node holds (`{nodes}:wills:<node>`) is in another slot: written after the hash, so a crash in
 * between leaves an index entry without a will (skipped), never a will nobody finds.
 */
const WILL_SCRIPTS = {
  /**
   * KEYS wills; ARGV owner, dueAt. The connection of `owner` ended: its will, if still stored, is due at
   * `dueAt`. 1 updated, 0 gone.
   */
  mqsWillDue: {
    numberOfKeys: 1,
    lua: `${FIELDS}local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local d, n, _, m = fields(v)
redis.call('HSET', KEYS[1], ARGV[1], d .. ' ' .. n .. ' ' .. ARGV[2] .. ' ' .. m)
return 1`,
  },
  /**
   * KEYS wills; ARGV owner. The claim: deletes the will of `owner` and returns its node when no other will
   * of the client id is held there ('' when one is), or false when it was not stored: only one call removes it.
   */
  mqsWillTake: {
    numberOfKeys: 1,
    lua: `${FIELDS}local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
local _, n = fields(v)
if holds(n) then return '' end
return n`,
  },
  /**
   * KEYS wills. A new connection of the client id: every will with a delay goes (Clean Start 0: not sent
   * [MQTT-3.1.3-9]; Clean Start 1: sent now by the caller). Returns the nodes that no longer hold a will of
   * the client id, then '' and the messages of the wills taken.
   */
  mqsWillTakeDelayed: {
    numberOfKeys: 1,
    lua: `${FIELDS}local all = redis.call('HGETALL', KEYS[1])
local nodes, messages = {}, {}
for i = 1, #all, 2 do
  local d, n, _, m = fields(all[i + 1])
  if tonumber(d) > 0 then
    redis.call('HDEL', KEYS[1], all[i])
    nodes[n] = true
    table.insert(messages, m)
  end
end
local out = {}
for n in pairs(nodes) do if not holds(n) then table.insert(out, n) end end
table.insert(out, '')
for _, m in ipairs(messages) do table.insert(out, m) end
return out`,
  },
  /**
   * KEYS wills, session; ARGV dead node, this node, last seen (ms). Takes over every will that the dead node
   * holds, each under a new owner (`<this node>:<owner>`), due at its `dueAt`, or its delay after `last seen`
   * if its connection was open when the node died; sooner if the session ends first [MQTT-3.1.3-9]: at
   * `last seen` for a session gone or of expiry 0 (it ended with the node), its expiry after it was left for
   * a persistent one. Returns owner, delay, dueAt, message for each: atomic, so one survivor only takes each.
   */
  mqsWillAdopt: {
    numberOfKeys: 2,
    lua: `${FIELDS}local all = redis.call('HGETALL', KEYS[1])
local seen = tonumber(ARGV[3])
local e = redis.call('HGET', KEYS[2], 'e')
local ends = nil
if not e or tonumber(e) == 0 then ends = seen
elseif tonumber(e) < 4294967295 then
  local left = redis.call('HGET', KEYS[2], 'd')
  ends = (left and tonumber(left) or seen) + tonumber(e) * 1000
end
local out = {}
for i = 1, #all, 2 do
  local d, n, due, m = fields(all[i + 1])
  if n == ARGV[1] then
    if due == '0' then due = tostring(seen + tonumber(d) * 1000) end
    if ends and ends < tonumber(due) then due = tostring(ends) end
    local owner = ARGV[2] .. ':' .. all[i]
    redis.call('HDEL', KEYS[1], all[i])
    redis.call('HSET', KEYS[1], owner, d .. ' ' .. ARGV[2] .. ' ' .. due .. ' ' .. m)
    table.insert(out, owner)
    table.insert(out, d)
    table.insert(out, due)
    table.insert(out, m)
  end
end
return out`,
  },
} as const

type WillScript = keyof typeof WILL_SCRIPTS

/** A will as `lookupWill` hands it back. */
export interface StoredWill {
  packet: IPublishPacket
  delayInterval: number
  dueAt: number | undefined
}

/**
 * The wills in Redis: per client id a hash of the wills of its connections by owner, each with the node
 * that holds it; per node the set of client ids whose wills it holds. When a node is found dead
 * (`Nodes.onDead`), the survivor that swept it takes its wills over with one script per client id and hands
 * each to last-will (`orphanedWill`), which publishes it once due, after claiming it (`take`).
 */
export class RedisWills {
  readonly #redis: Client
  readonly #scripts: Record<WillScript, ScriptCall>
  /** When the last will was stored here (ms), kept increasing: `lookup` without owner takes the last stored. */
  #lastStored = 0

  readonly prefix: string

  constructor(
    redis: Client,
    readonly keys: Keys,
    /** This node's id. */
    readonly node: string,
  ) {
    this.prefix = keys.prefix
    this.#redis = redis
    for (const [name, script] of Object.entries(WILL_SCRIPTS)) redis.defineCommand(name, script)
    this.#scripts = redis as unknown as Record<WillScript, ScriptCall>
  }

  /** Hash: owner -> `<delay> <node> <dueAt> <message>`. */
  key(clientId: string): string {
    return `${this.prefix}{c:${clientId}}:wills`
  }

  /** Set: the client ids whose wills `node` holds. */
  indexKey(node: string): string {
    return `${this.prefix}{nodes}:wills:${node}`
  }

  /** The wills stored now, on every node: those of the client ids in the index of each node of `setKey`. */
  async count(setKey: string): Promise<number> {
    const nodes = await this.#redis.zrange(setKey, 0, -1)
    const indexes = await Promise.all(nodes.map((node) => this.#redis.smembers(this.indexKey(node))))
    const clientIds = new Set(indexes.flat())
    const lengths = await Promise.all([...clientIds].map((clientId) => this.#redis.hlen(this.key(clientId))))
    return lengths.reduce((sum, length) => sum + length, 0)
  }

  async store(clientId: string, owner: string, packet: IPublishPacket, delayInterval: number): Promise<void> {
    this.#lastStored = Math.max(Date.now(), this.#lastStored + 1)
    const text = `${delayInterval} ${this.node} 0 ${encode(packet, this.#lastStored)}`
    await this.#redis.hset(this.key(clientId), owner, text)
    // After the will: a removal of this client id's last will here, answered before, drops it first.
    await this.#redis.sadd(this.indexKey(this.node), clientId)
  }

  async due(clientId: string, owner: string, dueAt: number): Promise<void> {
    await this.#scripts.mqsWillDue.call(this.#redis, this.key(clientId), owner, dueAt)
  }

  /** The will of `owner`, or the last one stored for the client id. */
  async lookup(clientId: string, owner: string | undefined): Promise<StoredWill | undefined> {
    const texts =
      owner === undefined
        ? await this.#redis.hvals(this.key(clientId))
        : [await this.#redis.hget(this.key(clientId), owner)]
    let found: (StoredWill & { storedAt: number }) | undefined
    for (const text of texts) {
      if (text === null || text === undefined) continue
      const [delay, node, due] = text.split(' ', 3) as [string, string, string]
      const stored = decodePublish(text.slice(delay.length + node.length + due.length + 3))
      if (found !== undefined && found.storedAt > stored.storedAt) continue
      found = {
        packet: stored.packet,
        delayInterval: Number(delay),
        dueAt: due === '0' ? undefined : Number(due),
        storedAt: stored.storedAt,
      }
    }
    if (found === undefined) return undefined
    return { packet: found.packet, delayInterval: found.delayInterval, dueAt: found.dueAt }
  }

  /** Claims the will of `owner`: true only for the one call that removed it. */
  async take(clientId: string, owner: string): Promise<boolean> {
    const node = (await this.#scripts.mqsWillTake.call(this.#redis, this.key(clientId), owner)) as
      | string
      | null
    if (node === null) return false
    if (node !== '') await this.#redis.srem(this.indexKey(node), clientId)
    return true
  }

  /** A new connection of the client id: its delayed wills, removed and returned (`mqsWillTakeDelayed`). */
  async takeDelayed(clientId: string): Promise<IPublishPacket[]> {
    const out = (await this.#scripts.mqsWillTakeDelayed.call(this.#redis, this.key(clientId))) as string[]
    const split = out.indexOf('')
    for (const node of out.slice(0, split)) await this.#redis.srem(this.indexKey(node), clientId)
    return out.slice(split + 1).map((text) => decodePublish(text).packet)
  }

  /**
   * `dead` was found dead (last renewed at `lastSeen`): takes over every will it held and hands each to
   * `orphanedWill`. Left alone when nothing in the stack answers `orphanedWill` (no last-will): a node that
   * has one takes them over when it sweeps a node that died.
   */
  async adopt(stack: Stack | undefined, dead: string, lastSeen: number): Promise<void> {
    if (stack === undefined || !stack.provides('orphanedWill')) return
    const index = this.indexKey(dead)
    for (const clientId of await this.#redis.smembers(index)) {
      // This node's index first: a crash in between leaves an entry without a will here (skipped).
      await this.#redis.sadd(this.indexKey(this.node), clientId)
      const adopted = (await this.#scripts.mqsWillAdopt.call(
        this.#redis,
        this.key(clientId),
        this.keys.session(clientId),
        dead,
        this.node,
        lastSeen,
      )) as string[]
      for (let i = 0; i < adopted.length; i += 4) {
        const ctx = {
          clientId,
          owner: adopted[i]!,
          delayInterval: Number(adopted[i + 1]),
          dueAt: Number(adopted[i + 2]),
          packet: decodePublish(adopted[i + 3]!).packet,
        }
        await stack.run('orphanedWill', ctx, {})
      }
    }
    await this.#redis.del(index)
  }

  /**
   * A clean stop (after `Nodes.stop()`): wills this node still holds (delayed ones waiting when the broker
   * stopped) would be published by nobody, so the node goes back in the set of nodes `setKey`, without a
   * heartbeat: the next sweep, of another node or of the next start, finds it dead and takes them over.
   */
  async release(setKey: string): Promise<void> {
    if ((await this.#redis.scard(this.indexKey(this.node))) === 0) return
    await this.#redis.zadd(setKey, Date.now(), this.node)
  }
}
