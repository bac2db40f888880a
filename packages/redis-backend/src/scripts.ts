/**
 * The Lua scripts of the backend: each runs atomically in Redis and touches the keys of one slot only (one
 * client id, or the retained messages), so that it runs on a Redis Cluster too. ioredis sends each by its
 * SHA and loads it on first use.
 */

/** Whether the session of KEYS[1] is kept after its connection: expiry interval > 0. */
const PERSISTENT = `local e = redis.call('HGET', KEYS[1], 'e')
local persistent = e ~= false and tonumber(e) > 0
`

export const SCRIPTS = {
  /**
   * KEYS session, inflight, origins, incoming; ARGV expiry interval, disconnectedAt ('' for none), '1' to take
   * the QoS 1/2 state out of Redis (a session kept in the node's memory from now on). Returns, when taken, the
   * inflight hash, the origins hash and the held inbound QoS 2 messages (HGETALL replies); the origins stay in
   * Redis.
   */
  storeSession: {
    numberOfKeys: 4,
    lua: `redis.call('HSET', KEYS[1], 'e', ARGV[1])
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'd') else redis.call('HSET', KEYS[1], 'd', ARGV[2]) end
if ARGV[3] ~= '1' then return 0 end
local sent = redis.call('HGETALL', KEYS[2])
local origins = redis.call('HGETALL', KEYS[3])
local held = redis.call('HGETALL', KEYS[4])
redis.call('DEL', KEYS[2], KEYS[4])
return {sent, origins, held}`,
  },
  /**
   * KEYS session, subs; ARGV filter, subscription. Kept only for a persistent session, as `<n> <JSON>`: `n`
   * orders the subscriptions as first made (a replaced one keeps its place).
   */
  storeSubscription: {
    numberOfKeys: 2,
    lua: `${PERSISTENT}if not persistent then return 0 end
local old = redis.call('HGET', KEYS[2], ARGV[1])
local n
if old then n = string.match(old, '^(%d+) ') else n = redis.call('HINCRBY', KEYS[1], 'n', 1) end
redis.call('HSET', KEYS[2], ARGV[1], n .. ' ' .. ARGV[2])
return 1`,
  },
  /**
   * KEYS session, offline; ARGV message, maxOfflineMessages. 0 queued, 1 no persistent session, 2 the queue
   * is full (the new message is refused: the queue keeps the oldest).
   */
  storeOffline: {
    numberOfKeys: 2,
    lua: `${PERSISTENT}if not persistent then return 1 end
if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[2]) then return 2 end
redis.call('RPUSH', KEYS[2], ARGV[1])
return 0`,
  },
  /** KEYS offline; ARGV the stored texts to remove (the first occurrence of each). */
  removeOffline: {
    numberOfKeys: 1,
    lua: `for i = 1, #ARGV do redis.call('LREM', KEYS[1], 1, ARGV[i]) end
return 0`,
  },
  /**
   * KEYS session, incoming; ARGV packet identifier, packet. 0 new (held as relaying: `p <packet>`), 1 held
   * and relayed (a duplicate), 2 held but its relay was never done (the node relaying it died).
   */
  storeIncoming: {
    numberOfKeys: 2,
    lua: `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local held = redis.call('HGET', KEYS[2], ARGV[1])
if not held then
  redis.call('HSET', KEYS[2], ARGV[1], 'p ' .. ARGV[2])
  return 0
end
if string.sub(held, 1, 1) == 'p' then return 2 end
return 1`,
  },
  /** KEYS incoming; ARGV packet identifier. The relay of a held message is done: `p ...` becomes `r ...`. */
  markRelayed: {
    numberOfKeys: 1,
    lua: `local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and string.sub(held, 1, 1) == 'p' then
  redis.call('HSET', KEYS[1], ARGV[1], 'r' .. string.sub(held, 2))
end
return 0`,
  },
  /** KEYS incoming; ARGV packet identifier. The held message (without its mark), read and forgotten in one step. */
  releaseIncoming: {
    numberOfKeys: 1,
    lua: `local held = redis.call('HGET', KEYS[1], ARGV[1])
if not held then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
return string.sub(held, 3)`,
  },
  /**
   * KEYS origins, offline; ARGV origin, how it appears in a stored message. 1 when the client holds a
   * delivery of that message: inflight, or queued.
   */
  holdsOrigin: {
    numberOfKeys: 3,
    lua: `if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 1 end
for _, origin in ipairs(redis.call('HVALS', KEYS[1])) do
  if origin == ARGV[1] then return 1 end
end
for _, message in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  if string.find(message, ARGV[2], 1, true) then return 1 end
end
return 0`,
  },
  /**
   * KEYS session, inflight, origins, delivered; ARGV maxInflightMessages, now (ms), origins kept, then the
   * writes of one client made in one tick, in order, four arguments each: `s <packet identifier> <packet>
   * <origin or ''>` stores a packet, `r <packet identifier> '' ''` removes an acknowledged one. A packet is
   * kept as `<n> <packet>`: `n` orders the packets as first sent, and a known identifier keeps it (a PUBREL
   * replaces its PUBLISH in its place, and keeps its origin). A removal keeps the origin of an inbound QoS 2
   * message it delivered (the last `kept`). Returns the result of each: for a store 1 stored, 0 no session,
   * -1 full; 1 for a removal.
   */
  inflightWrites: {
    numberOfKeys: 4,
    lua: `local exists = redis.call('EXISTS', KEYS[1]) == 1
local max, now, kept = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local function store(id, message, origin)
  if not exists then return 0 end
  local old = redis.call('HGET', KEYS[2], id)
  local n
  if old then n = string.match(old, '^(%d+) ') else
    if redis.call('HLEN', KEYS[2]) >= max then return -1 end
    n = redis.call('HINCRBY', KEYS[1], 's', 1)
  end
  redis.call('HSET', KEYS[2], id, n .. ' ' .. message)
  if origin ~= '' then redis.call('HSET', KEYS[3], id, origin) end
  return 1
end
local function remove(id)
  local origin = redis.call('HGET', KEYS[3], id)
  if origin then
    redis.call('ZADD', KEYS[4], now, origin)
    redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -kept - 1)
    redis.call('HDEL', KEYS[3], id)
  end
  redis.call('HDEL', KEYS[2], id)
  return 1
end
local out = {}
for i = 4, #ARGV, 4 do
  if ARGV[i] == 's' then out[#out + 1] = store(ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
  else out[#out + 1] = remove(ARGV[i + 1]) end
end
return out`,
  },
  /**
   * KEYS messages, sizes, bytes; ARGV index root, topic, message ('' deletes), payload bytes,
   * maxRetainedMessages, maxRetainedBytes, then the topic's levels. The index keeps, for the root and for
   * each topic prefix, the set of next levels: `<root>/<prefix>`. 1 done, 0 nothing to delete, -1 refused
   * (count), -2 refused (bytes).
   */
  storeRetained: {
    numberOfKeys: 3,
    lua: `local root, topic, message = ARGV[1], ARGV[2], ARGV[3]
local levels = {}
for i = 7, #ARGV do levels[#levels + 1] = ARGV[i] end
local function node(n)
  if n == 0 then return root end
  return root .. '/' .. table.concat(levels, '/', 1, n)
end
local old = tonumber(redis.call('HGET', KEYS[2], topic) or '-1')
if message == '' then
  if old < 0 then return 0 end
  redis.call('HDEL', KEYS[1], topic)
  redis.call('HDEL', KEYS[2], topic)
  redis.call('DECRBY', KEYS[3], old)
  for n = #levels, 1, -1 do
    if redis.call('EXISTS', node(n)) == 1 then break end
    if n < #levels and redis.call('HEXISTS', KEYS[1], table.concat(levels, '/', 1, n)) == 1 then break end
    redis.call('SREM', node(n - 1), levels[n])
  end
  return 1
end
local size = tonumber(ARGV[4])
local kept = math.max(old, 0)
if old < 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then return -1 end
if tonumber(redis.call('GET', KEYS[3]) or '0') - kept + size > tonumber(ARGV[6]) then return -2 end
redis.call('HSET', KEYS[1], topic, message)
redis.call('HSET', KEYS[2], topic, size)
redis.call('INCRBY', KEYS[3], size - kept)
if old < 0 then
  for n = 1, #levels do redis.call('SADD', node(n - 1), levels[n]) end
end
return 1`,
  },
  /**
   * KEYS messages; ARGV index root, then the levels of a filter. The retained messages whose topics match,
   * found by walking the index: a literal level is one SISMEMBER, a '+' the set of next levels, a '#' what
   * lies below. Wildcards at the first level skip topics that start with '$' [MQTT-4.7.2-1].
   */
  lookupRetained: {
    numberOfKeys: 1,
    lua: `local root = ARGV[1]
local levels = {}
for i = 2, #ARGV do levels[#levels + 1] = ARGV[i] end
local out = {}
local function add(topic)
  local message = redis.call('HGET', KEYS[1], topic)
  if message then out[#out + 1] = message end
end
local function key(topic)
  if topic == nil then return root end
  return root .. '/' .. topic
end
local function join(topic, level)
  if topic == nil then return level end
  return topic .. '/' .. level
end
local function below(topic, first)
  for _, level in ipairs(redis.call('SMEMBERS', key(topic))) do
    if not (first and string.sub(level, 1, 1) == '$') then
      local child = join(topic, level)
      add(child)
      below(child, false)
    end
  end
end
local function walk(topic, i)
  if i > #levels then
    add(topic)
    return
  end
  local level = levels[i]
  if level == '#' then
    if topic ~= nil then add(topic) end
    below(topic, i == 1)
  elseif level == '+' then
    for _, next in ipairs(redis.call('SMEMBERS', key(topic))) do
      if not (i == 1 and string.sub(next, 1, 1) == '$') then walk(join(topic, next), i + 1) end
    end
  elseif redis.call('SISMEMBER', key(topic), level) == 1 then
    walk(join(topic, level), i + 1)
  end
end
walk(nil, 1)
return out`,
  },
} as const

export type ScriptName = keyof typeof SCRIPTS
