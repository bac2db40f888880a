import { ErrorCode, MqttStackError } from '@mqtt-stack/core'
import { validateLimitsOptions } from '@mqtt-stack/limits'
import { validateMetricsOptions } from '@mqtt-stack/metrics'
import { sysOptionsFromConfig } from '@mqtt-stack/sys'
import { DEFAULT_PORTS, type ListenerOptions } from './listeners/options.js'
import { type BrokerOptions, MEMORY_BACKEND_OPTIONS } from './options.js'

type Kind = 'count' | 'positive' | 'boolean' | 'string' | 'record' | 'object' | 'function' | 'array' | 'qos'

/** What each option must be; a key not listed here is refused, so a misspelt option is not silently lost. */
const KINDS: Readonly<Record<keyof BrokerOptions, Kind>> = {
  listeners: 'array',
  stack: 'object',
  allowAnonymous: 'boolean',
  users: 'record',
  check: 'function',
  scramUsers: 'record',
  acl: 'array',
  connectTimeout: 'count',
  maxKeepalive: 'count',
  keepaliveCheckInterval: 'positive',
  receiveMaximum: 'positive',
  maximumQoS: 'qos',
  maxPacketSize: 'positive',
  responseInformation: 'string',
  sessionExpiryCheckInterval: 'positive',
  maxOfflineMessages: 'count',
  maxOfflineBytes: 'count',
  maxRetainedMessages: 'count',
  maxRetainedBytes: 'count',
  maxInflightMessages: 'positive',
  backend: 'object',
  limits: 'object',
  metrics: 'object',
  sys: 'object',
  emitter: 'object',
  logger: 'object',
}

const EXPECTED: Readonly<Record<Kind, string>> = {
  count: 'a whole number ≥ 0',
  positive: 'a whole number ≥ 1',
  boolean: 'true or false',
  string: 'a string',
  record: 'an object of username: password strings',
  object: 'an object',
  function: 'a function',
  array: 'an array',
  qos: '0, 1 or 2',
}

const LISTENER_KEYS: Readonly<Record<ListenerOptions['type'], readonly string[]>> = {
  mqtt: ['type', 'name', 'host', 'port', 'proxyProtocol'],
  mqtts: [
    'type',
    'name',
    'host',
    'port',
    'proxyProtocol',
    'cert',
    'key',
    'ca',
    'requireCertificate',
    'identityAsUsername',
  ],
  ws: ['type', 'name', 'host', 'port', 'proxyProtocol', 'path'],
  wss: [
    'type',
    'name',
    'host',
    'port',
    'proxyProtocol',
    'path',
    'cert',
    'key',
    'ca',
    'requireCertificate',
    'identityAsUsername',
  ],
}

/** Throws MQS_ERR_INVALID_OPTION naming the first option that is wrong. */
export function validateOptions(options: BrokerOptions): void {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'must be an object')
  for (const [key, value] of Object.entries(options)) {
    const kind = KINDS[key as keyof BrokerOptions]
    if (kind === undefined) throw invalid(key, 'is not an option of createBroker')
    if (value !== undefined && !fits(kind, value)) throw invalid(key, `must be ${EXPECTED[kind]}`)
  }
  if (options.users !== undefined && options.check !== undefined)
    throw invalid('check', 'give users or check, not both')
  if (options.backend !== undefined) {
    const limit = MEMORY_BACKEND_OPTIONS.find((name) => options[name] !== undefined)
    if (limit)
      throw invalid(limit, 'configures the default memory backend: it does nothing with your own backend')
  }
  options.listeners?.forEach(validateListener)
  section(() => validateLimitsOptions(options.limits))
  if (options.metrics !== undefined) section(() => validateMetricsOptions(options.metrics))
  if (options.sys !== undefined) {
    if ('version' in options.sys) throw invalid('sys.version', 'is set by the broker (its name and version)')
    section(() => sysOptionsFromConfig(options.sys))
  }
}

/** Runs a package's own check of its section; its message names the key (`limits.publishRate must ...`). */
function section(check: () => unknown): void {
  try {
    check()
  } catch (err) {
    if (err instanceof MqttStackError && err.code === ErrorCode.INVALID_OPTION)
      throw new MqttStackError(ErrorCode.INVALID_OPTION, `createBroker: ${err.message}`)
    throw err
  }
}

function validateListener(listener: ListenerOptions, index: number): void {
  const at = `listeners[${index}]`
  if (typeof listener !== 'object' || listener === null) throw invalid(at, 'must be an object')
  const keys = LISTENER_KEYS[listener.type]
  if (keys === undefined)
    throw invalid(`${at}.type`, `must be one of ${Object.keys(DEFAULT_PORTS).join(', ')}`)
  for (const key of Object.keys(listener)) {
    if (!keys.includes(key)) throw invalid(`${at}.${key}`, `is not an option of a ${listener.type} listener`)
  }
  const { name, host, port } = listener
  if (name !== undefined && (typeof name !== 'string' || name === ''))
    throw invalid(`${at}.name`, 'must be a non-empty string')
  if (host !== undefined && (typeof host !== 'string' || host === ''))
    throw invalid(`${at}.host`, 'must be a host name or address')
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535))
    throw invalid(`${at}.port`, 'must be a whole number from 0 to 65535')
  if (
    'path' in listener &&
    listener.path !== undefined &&
    !(typeof listener.path === 'string' && listener.path.startsWith('/'))
  )
    throw invalid(`${at}.path`, 'must be a string starting with /')
  if (listener.proxyProtocol !== undefined && typeof listener.proxyProtocol !== 'boolean')
    throw invalid(`${at}.proxyProtocol`, 'must be true or false')
  if (listener.type === 'mqtts' || listener.type === 'wss') {
    for (const key of ['cert', 'key'] as const) {
      if (!pem(listener[key])) throw invalid(`${at}.${key}`, 'is required: PEM text or a Buffer')
    }
    if (listener.ca !== undefined && !pem(listener.ca))
      throw invalid(`${at}.ca`, 'must be PEM text or a Buffer')
    const { requireCertificate, identityAsUsername } = listener
    if (requireCertificate !== undefined && typeof requireCertificate !== 'boolean')
      throw invalid(`${at}.requireCertificate`, 'must be true or false')
    if (identityAsUsername !== undefined && ![true, false, 'cn', 'san'].includes(identityAsUsername))
      throw invalid(`${at}.identityAsUsername`, "must be true, false, 'cn' or 'san'")
    // Both ask clients for certificates, which only a CA can verify.
    for (const key of ['requireCertificate', 'identityAsUsername'] as const) {
      if (listener[key] && listener.ca === undefined)
        throw invalid(`${at}.${key}`, 'needs ca: the CA that client certificates are checked against')
    }
  }
}

function fits(kind: Kind, value: unknown): boolean {
  switch (kind) {
    case 'count':
      return Number.isSafeInteger(value) && (value as number) >= 0
    case 'positive':
      return Number.isSafeInteger(value) && (value as number) >= 1
    case 'boolean':
      return typeof value === 'boolean'
    case 'string':
      return typeof value === 'string'
    case 'record':
      return isObject(value) && Object.values(value).every((v) => typeof v === 'string')
    case 'object':
      return isObject(value)
    case 'function':
      return typeof value === 'function'
    case 'array':
      return Array.isArray(value)
    case 'qos':
      return value === 0 || value === 1 || value === 2
  }
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function pem(value: unknown): boolean {
  return (typeof value === 'string' && value.length > 0) || Buffer.isBuffer(value)
}

function invalid(option: string, problem: string): MqttStackError {
  return new MqttStackError(ErrorCode.INVALID_OPTION, `createBroker: ${option} ${problem}`)
}
