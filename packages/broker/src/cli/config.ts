import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { MqttStackError } from '@mqtt-stack/core'
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml'
import type { ListenerOptions } from '../listeners/options.js'
import type { LogFormat, LogLevel } from '../logger.js'
import { type BrokerOptions, MEMORY_BACKEND_OPTIONS } from '../options.js'
import { validateOptions } from '../validate.js'
import { ConfigError } from './config-error.js'

/** createBroker options a config file may set as they are. */
const PLAIN_KEYS = [
  'listeners',
  'allowAnonymous',
  'connectTimeout',
  'maxKeepalive',
  'keepaliveCheckInterval',
  'receiveMaximum',
  'maximumQoS',
  'maxPacketSize',
  'responseInformation',
  'sessionExpiryCheckInterval',
  ...MEMORY_BACKEND_OPTIONS,
  'limits',
  'metrics',
  'sys',
] as const
const FILE_KEYS = ['passwordFile', 'aclFile', 'log', 'backend'] as const
const KEYS: ReadonlySet<string> = new Set([...PLAIN_KEYS, ...FILE_KEYS])
const LEVELS: ReadonlySet<string> = new Set<LogLevel>(['error', 'warn', 'info', 'debug', 'silent'])
const FORMATS: ReadonlySet<string> = new Set<LogFormat>(['pretty', 'json'])
const PEM_KEYS = ['cert', 'key', 'ca'] as const

/** A config file, read and checked: createBroker options, and what the CLI does itself. */
export interface LoadedConfig {
  options: BrokerOptions
  /** Absolute paths (a relative path in the file is relative to the file's directory). */
  passwordFile?: string
  aclFile?: string
  log: { level?: LogLevel; format?: LogFormat }
  /** `backend: { type: redis, ... }`: the RedisBackend options (the CLI imports @mqtt-stack/redis-backend). */
  redis?: Record<string, unknown>
}

/** The keys of `backend: { type: redis }` and what each must be. */
const REDIS_KEYS: Readonly<Record<string, 'string' | 'integer' | 'nodes'>> = {
  url: 'string',
  prefix: 'string',
  clusterNodes: 'nodes',
  maxOfflineMessages: 'integer',
  maxRetainedMessages: 'integer',
  maxRetainedBytes: 'integer',
  maxInflightMessages: 'integer',
  unavailableTimeout: 'integer',
  nodeTimeoutMs: 'integer',
  closeTimeout: 'integer',
}

/**
 * `backend`: `memory` (the default) or a mapping with `type: memory` or `type: redis` and the options of
 * @mqtt-stack/redis-backend; returns those for redis.
 */
function readBackend(
  backend: unknown,
  fail: (path: Path, message: string) => never,
): Record<string, unknown> | undefined {
  if (backend === undefined || backend === 'memory') return undefined
  if (typeof backend !== 'object' || backend === null || Array.isArray(backend))
    return fail(['backend'], 'must be memory, or a mapping with type: memory or type: redis')
  const { type, ...options } = backend as Record<string, unknown>
  if (type === 'memory') {
    for (const key of Object.keys(options))
      fail(['backend', key], 'is not a key of the memory backend (its limits are top-level keys)')
    return undefined
  }
  if (type !== 'redis') return fail(['backend', 'type'], 'must be memory or redis')
  for (const [key, value] of Object.entries(options)) {
    const kind = REDIS_KEYS[key]
    if (kind === undefined)
      fail(
        ['backend', key],
        `is not a key of the redis backend (known: type, ${Object.keys(REDIS_KEYS).join(', ')})`,
      )
    if (kind === 'string' && typeof value !== 'string') fail(['backend', key], 'must be a string')
    if (kind === 'integer' && (!Number.isInteger(value) || (value as number) < 0))
      fail(['backend', key], 'must be an integer of 0 or more')
    if (kind === 'nodes') {
      const nodes = Array.isArray(value) ? value : []
      if (
        nodes.length === 0 ||
        !nodes.every(
          (node) =>
            typeof node === 'object' &&
            node !== null &&
            typeof node.host === 'string' &&
            Number.isInteger(node.port),
        )
      )
        fail(['backend', key], 'must be a list of { host, port }')
    }
  }
  return options
}

type Path = ReadonlyArray<string | number>

/** Reads a YAML or JSON config file (JSON is YAML); throws a ConfigError naming the key and the line. */
export function loadConfig(file: string): LoadedConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read the config file: ${(err as Error).message}`)
  }
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true })
  const [syntax] = doc.errors
  if (syntax) throw new ConfigError(syntax.message.split('\n')[0]!, { file, line: syntax.linePos?.[0].line })
  const fail = (path: Path, message: string): never => {
    const node = nodeAt(doc.contents, path)
    const line = node?.range ? lineCounter.linePos(node.range[0]).line : undefined
    throw new ConfigError(`${format(path)} ${message}`, { file, line })
  }
  const root: unknown = doc.toJS() ?? {}
  if (typeof root !== 'object' || Array.isArray(root) || root === null)
    return fail([], 'must be a mapping of keys')
  const config = root as Record<string, unknown>
  for (const key of Object.keys(config)) {
    if (!KEYS.has(key)) fail([key], `is not a config key (known: ${[...KEYS].join(', ')})`)
  }
  const base = dirname(resolve(file))
  const loaded: LoadedConfig = { options: {}, log: {} }
  for (const key of ['passwordFile', 'aclFile'] as const) {
    const value = config[key]
    if (value === undefined) continue
    if (typeof value !== 'string' || value === '') fail([key], 'must be a file name')
    loaded[key] = resolve(base, value as string)
  }
  const redis = readBackend(config.backend, fail)
  if (redis !== undefined) {
    for (const key of MEMORY_BACKEND_OPTIONS)
      if (config[key] !== undefined)
        fail([key], 'configures the memory backend: with backend type redis, set the bounds under backend')
    loaded.redis = redis
  }
  const log = config.log
  if (log !== undefined) {
    if (typeof log !== 'object' || log === null || Array.isArray(log)) fail(['log'], 'must be a mapping')
    const { level, format: logFormat, ...other } = log as Record<string, unknown>
    for (const key of Object.keys(other)) fail(['log', key], 'is not a log key (known: level, format)')
    if (level !== undefined && !LEVELS.has(level as string))
      fail(['log', 'level'], `must be one of ${[...LEVELS].join(', ')}`)
    if (logFormat !== undefined && !FORMATS.has(logFormat as string))
      fail(['log', 'format'], 'must be pretty or json')
    loaded.log = {
      ...(level === undefined ? {} : { level: level as LogLevel }),
      ...(logFormat === undefined ? {} : { format: logFormat as LogFormat }),
    }
  }
  const options: Record<string, unknown> = {}
  for (const key of PLAIN_KEYS) if (config[key] !== undefined) options[key] = config[key]
  if (Array.isArray(options.listeners)) {
    options.listeners = (options.listeners as unknown[]).map((listener, index) =>
      readPem(listener, base, (key, message) => fail(['listeners', index, key], message)),
    )
  }
  try {
    validateOptions(options as BrokerOptions)
  } catch (err) {
    // "createBroker: listeners[1].port must be ..." names the key: point at its line.
    const match = err instanceof MqttStackError ? /^createBroker: (\S+) (.*)$/s.exec(err.message) : null
    if (!match) throw err
    fail(parsePath(match[1]!), match[2]!)
  }
  loaded.options = options as BrokerOptions
  return loaded
}

/** A listener with `cert`, `key` and `ca` read from the files they name. */
function readPem(listener: unknown, base: string, fail: (key: string, message: string) => never): unknown {
  if (typeof listener !== 'object' || listener === null) return listener
  const result: Record<string, unknown> = { ...listener }
  for (const key of PEM_KEYS) {
    const name = result[key]
    if (name === undefined) continue
    if (typeof name !== 'string' || name === '') fail(key, 'must be a file name')
    try {
      result[key] = readFileSync(resolve(base, name as string), 'utf8')
    } catch (err) {
      fail(key, `cannot be read: ${(err as Error).message}`)
    }
  }
  return result as unknown as ListenerOptions
}

/** `listeners[1].port` → ['listeners', 1, 'port']. */
function parsePath(text: string): Path {
  return (text.match(/[^.[\]]+/g) ?? []).map((part) => (/^\d+$/.test(part) ? Number(part) : part))
}

function format(path: Path): string {
  if (path.length === 0) return 'the config'
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('')
}

/** The node at `path` (for a mapping key, the key: its line), or the deepest one that exists. */
function nodeAt(root: unknown, path: Path): Node | undefined {
  let node = root as Node | undefined
  for (const [i, part] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && item.key.value === part)
      if (!pair) return node
      node = (i === path.length - 1 || pair.value === null ? pair.key : pair.value) as Node
    } else if (isSeq(node) && typeof part === 'number' && node.items[part]) {
      node = node.items[part] as Node
    } else return node
  }
  return node
}
