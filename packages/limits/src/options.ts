import { ErrorCode, MqttStackError } from '@mqtt-stack/core'
import { type BanRule, checkBanRule } from './ban-list.js'

/**
 * Every limit of `Limits`. All are optional: each has a default that a normal deployment never reaches
 * (`LIMITS_DEFAULTS`). A numeric limit of 0 turns that limit off. Counts are whole numbers; times are in
 * milliseconds; rates are per second.
 */
export interface LimitsOptions {
  /** Open connections, all listeners together. Past it, CONNACK 0x97 (3.1.1: 3). Default 1,000,000. */
  maxConnections: number
  /** Open connections per listener (`client.listener`, named by `stack.handler({ listener })`). Past it, CONNACK 0x97 (3.1.1: 3). Default 1,000,000. */
  maxConnectionsPerListener: number
  /** Open connections from one IP address. Past it, CONNACK 0x97 (3.1.1: 3). Default 10,000. */
  maxConnectionsPerAddress: number
  /** New connections per second from one IP address, on average. Past it, CONNACK 0x9F (3.1.1: 3). Default 100. */
  connectionRate: number
  /** New connections from one IP address allowed in one burst. Default 1000. */
  connectionBurst: number
  /**
   * Connections refused when accepted that may wait at once for their CONNECT, to get a CONNACK saying why;
   * past it a refused connection is closed at once, without CONNACK, so a flood holds no sockets. Default 1000.
   */
  maxRefusedPending: number
  /** PUBLISH packets per second per client, on average. Default 10,000. */
  publishRate: number
  /** PUBLISH packets per client allowed in one burst. Default 100,000. */
  publishBurst: number
  /** PUBLISH bytes (topic and payload) per second per client, on average. Default 16 MiB. */
  publishByteRate: number
  /** PUBLISH bytes per client allowed in one burst; keep it above the largest packet. Default 64 MiB. */
  publishByteBurst: number
  /**
   * MQTT 3.1/3.1.1: how long a client over its publish rate may be held back (its PUBLISH waits, its socket
   * is not read) before it is disconnected. Default 10,000.
   */
  maxThrottle: number
  /** Subscriptions one client (session) may hold. Past it, SUBACK 0x97 (3.1.1: 0x80). Default 10,000. */
  maxSubscriptionsPerClient: number
  /** Bytes of a topic name or filter (UTF-8). Default 65,535 (the protocol's own bound). */
  maxTopicLength: number
  /** Levels of a topic name or filter (`a/b/c` has 3). Default 128. */
  maxTopicLevels: number
  /** Flapping: this many CONNECTs with one client id within `flappingWindow` bans the id. Default 15. */
  flappingConnects: number
  /** Flapping: the window the connects are counted in. Default 60,000. */
  flappingWindow: number
  /** Flapping: how long a flapping client id stays banned. Default 300,000. */
  flappingBan: number
  /** Failed authentications from one IP address within `authFailureWindow` that ban it. Default 100. */
  authFailuresPerAddress: number
  /** Failed authentications with one username within `authFailureWindow` that ban it. Default 30. */
  authFailuresPerUsername: number
  /** The window failed authentications are counted in. Default 60,000. */
  authFailureWindow: number
  /** How long an address or username stays banned after too many failed authentications. Default 300,000. */
  authFailureBan: number
  /**
   * IP addresses (and client ids, and usernames) whose rates and failure counts are remembered; past it the
   * least recently seen is forgotten, so a flood from many addresses cannot grow memory. Default 100,000.
   */
  maxTracked: number
  /** Bans in force from the start, without expiry. Change them at run time with `ban()` and `unban()`. */
  bans: readonly BanRule[]
}

/** The defaults of every limit, documented in one table in the README. */
export const LIMITS_DEFAULTS: Readonly<LimitsOptions> = Object.freeze({
  maxConnections: 1_000_000,
  maxConnectionsPerListener: 1_000_000,
  maxConnectionsPerAddress: 10_000,
  connectionRate: 100,
  connectionBurst: 1000,
  maxRefusedPending: 1000,
  publishRate: 10_000,
  publishBurst: 100_000,
  publishByteRate: 16 * 1024 * 1024,
  publishByteBurst: 64 * 1024 * 1024,
  maxThrottle: 10_000,
  maxSubscriptionsPerClient: 10_000,
  maxTopicLength: 65_535,
  maxTopicLevels: 128,
  flappingConnects: 15,
  flappingWindow: 60_000,
  flappingBan: 300_000,
  authFailuresPerAddress: 100,
  authFailuresPerUsername: 30,
  authFailureWindow: 60_000,
  authFailureBan: 300_000,
  maxTracked: 100_000,
  bans: Object.freeze([]),
})

/** Options that are functions, given in code only (never in a config file). */
export interface LimitsHooks {
  /**
   * The clock, in milliseconds; replace it in tests. Default: `Date.now` for bans and windows, and for the
   * publish rate the time core took each PUBLISH (`client.packetTime`), so that checking the rate reads no
   * clock. Given, it is the clock of everything.
   */
  now: () => number
  /**
   * The IP address of a connection. Default: the stream's `remoteAddress` (a TCP or TLS socket, and the
   * broker's WebSocket and PROXY-protocol streams), IPv4-mapped IPv6 addresses as IPv4.
   */
  addressOf: (stream: object) => string | undefined
}

const NUMERIC_KEYS = Object.keys(LIMITS_DEFAULTS).filter((key) => key !== 'bans') as Array<
  Exclude<keyof LimitsOptions, 'bans'>
>

/** Whole-number limits; the others (rates, bursts) may have a fraction. */
const FRACTIONAL: ReadonlySet<string> = new Set([
  'connectionRate',
  'connectionBurst',
  'publishRate',
  'publishByteRate',
])

function invalid(key: string, why: string): MqttStackError {
  return new MqttStackError(ErrorCode.INVALID_OPTION, `limits${key === '' ? '' : `.${key}`} ${why}`)
}

/**
 * Checks plain options, as a config file gives them (`limits: { ... }`), and returns them typed: an unknown
 * key, a value of the wrong type, a negative or fractional count, or a bad ban rule throws
 * `MQS_ERR_INVALID_OPTION` naming the key.
 */
export function validateLimitsOptions(options: unknown): Partial<LimitsOptions> {
  if (options === undefined) return {}
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw invalid('', 'must be an object of limits')
  const record = options as Record<string, unknown>
  for (const [key, value] of Object.entries(record)) {
    if (value === undefined) continue
    if (key === 'bans') {
      if (!Array.isArray(value)) throw invalid(key, 'must be an array of ban rules')
      value.forEach((rule, i) => {
        const why = checkBanRule(rule)
        if (why !== undefined) throw invalid(`bans[${i}]`, why)
      })
      continue
    }
    if (!(NUMERIC_KEYS as string[]).includes(key)) {
      throw invalid(key, `is not a limit (known: ${NUMERIC_KEYS.join(', ')}, bans)`)
    }
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0)
      throw invalid(key, `must be a number >= 0 (0 turns the limit off), got ${JSON.stringify(value)}`)
    if (!FRACTIONAL.has(key) && Number.isFinite(value) && !Number.isInteger(value))
      throw invalid(key, `must be a whole number, got ${value}`)
  }
  return record as Partial<LimitsOptions>
}

/** The limits in force: 0 (off) becomes Infinity, so each check is one comparison. */
export type EffectiveLimits = Readonly<Omit<LimitsOptions, 'bans'>>

export function effectiveLimits(options: Readonly<LimitsOptions>): EffectiveLimits {
  const result: Record<string, number> = {}
  for (const key of NUMERIC_KEYS) {
    const value = options[key]
    result[key] = value === 0 ? Number.POSITIVE_INFINITY : value
  }
  return Object.freeze(result as unknown as EffectiveLimits)
}
