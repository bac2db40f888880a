import {
  type CallbackHandlers,
  type Client,
  type Done,
  ErrorCode,
  type IConnectPacket,
  type IPublishPacket,
  Middleware,
  MqttStackError,
  type Next,
  type Packet,
  ReasonCode,
  refuseConnect,
  type Stack,
} from '@mqtt-stack/core'
import { type Ban, BanList, type BanRule, checkBanRule, normalizeAddress, ruleOf } from './ban-list.js'
import { LimitsErrorCode } from './errors.js'
import { listenerOf } from './listener.js'
import {
  type EffectiveLimits,
  effectiveLimits,
  LIMITS_DEFAULTS,
  type LimitsHooks,
  type LimitsOptions,
  validateLimitsOptions,
} from './options.js'
import { type Bucket, countEvent, RecentMap, takeToken, type Window } from './recent-map.js'
import { LimitsState } from './state.js'
import { type LimitsStats, newStats } from './stats.js'
import { limitError, subscriptionHandlers } from './subscriptions.js'
import { Throttle } from './throttle.js'
import { topicOverLimit } from './topic-limit.js'

/** Options of `ban()`. */
export interface BanOptions {
  /** Milliseconds the ban lasts; unset: until `unban()`. */
  duration?: number
  /** Why, shown by `bans()` and in the error reported when it refuses or closes a client. */
  reason?: string
}

/** The error code authentication closes a refused client with (stable, from @mqtt-stack/authentication). */
const NOT_AUTHENTICATED = 'MQS_ERR_NOT_AUTHENTICATED'

function defaultAddressOf(stream: object): string | undefined {
  const address = (stream as { remoteAddress?: unknown }).remoteAddress
  return typeof address === 'string' ? address : undefined
}

/**
 * Limits and abuse protection: connection caps (all, per listener, per IP address) and the connection rate
 * per address, checked as a connection is accepted and answered on its CONNECT; bans of client ids,
 * usernames and addresses, changed at run time; flapping client ids and addresses or usernames that fail
 * authentication too often are banned for a while; a publish rate and byte rate per client (token
 * buckets); subscriptions per client; topic length and levels. No timer per connection: buckets refill when
 * used, and one timer serves the 3.1.1 clients held back by their rate.
 */
export class Limits extends Middleware<LimitsOptions & LimitsHooks> {
  override readonly name = 'limits'
  override readonly packetTypes = ['connect', 'publish'] as const
  /** After connection (a CONNECT is checked first), before whatever accepts, authenticates or routes. */
  override readonly after = ['connection']
  override readonly before = ['authentication', 'session-manager', 'inbound-manager', 'subscription-manager']

  readonly stats: LimitsStats = newStats()

  readonly #limits: EffectiveLimits
  readonly #now: () => number
  /** The clock of the publish buckets and the throttle: see `LimitsHooks.now`. */
  readonly #publishTime: (client: Client) => number
  readonly #addressOf: (stream: object) => string | undefined
  readonly #bans: BanList
  #stack: Stack | undefined = undefined
  readonly #perListener = new Map<string, number>()
  /** Open connections per address: an entry lives while the address has one, so it is bounded by them. */
  readonly #perAddress = new Map<string, number>()
  /** Connections refused when accepted whose CONNECT has not been answered yet. */
  #refusedPending = 0
  readonly #connectRate: RecentMap<Bucket>
  readonly #flapping: RecentMap<Window>
  readonly #authByAddress: RecentMap<Window>
  readonly #authByUsername: RecentMap<Window>
  /** Rates in tokens per millisecond. */
  readonly #messagesPerMs: number
  readonly #bytesPerMs: number
  readonly #throttle: Throttle
  /** The `close` listener of every client (`this` is the client): one function per Limits, none per connection. */

  constructor(options?: Partial<LimitsOptions & LimitsHooks>) {
    const { now, addressOf, ...plain } = options ?? {}
    validateLimitsOptions(plain)
    super(options, { ...LIMITS_DEFAULTS, now: Date.now, addressOf: defaultAddressOf })
    for (const [key, fn] of [
      ['now', now],
      ['addressOf', addressOf],
    ] as const) {
      if (fn !== undefined && typeof fn !== 'function')
        throw new MqttStackError(ErrorCode.INVALID_OPTION, `limits.${key} must be a function`)
    }
    const limits = effectiveLimits(this.config)
    this.#limits = limits
    this.#now = this.config.now
    this.#addressOf = this.config.addressOf
    this.#bans = new BanList(this.#now)
    this.#publishTime = now === undefined ? packetTime : () => now()
    this.#throttle = new Throttle(now ?? monotonicNow)
    for (const rule of this.config.bans)
      this.#bans.add({ ...ruleOf(rule), until: undefined, reason: undefined })
    this.#connectRate = new RecentMap(limits.maxTracked)
    this.#flapping = new RecentMap(limits.maxTracked)
    this.#authByAddress = new RecentMap(limits.maxTracked)
    this.#authByUsername = new RecentMap(limits.maxTracked)
    this.#messagesPerMs = limits.publishRate / 1000
    this.#bytesPerMs = limits.publishByteRate / 1000
  }

  override setup(stack: Stack): void {
    this.#stack = stack
  }

  // ---- bans, at run time ----

  /**
   * Bans a client id, username or address (a glob or CIDR pattern, see `BanRule`), for `duration` ms or
   * until `unban`. Connected clients it matches are closed (5.0: DISCONNECT 0x98 Administrative action);
   * new ones are refused (CONNACK 0x8A Banned; 3.1.1: 5 Not authorized).
   */
  ban(rule: BanRule, options: BanOptions = {}): Ban {
    const why = checkBanRule(rule)
    if (why !== undefined) throw new MqttStackError(ErrorCode.INVALID_OPTION, `limits.ban(): the rule ${why}`)
    const { duration, reason } = options
    if (duration !== undefined && !(typeof duration === 'number' && duration > 0))
      throw new MqttStackError(ErrorCode.INVALID_OPTION, 'limits.ban(): duration must be a number of ms > 0')
    const ban: Ban = {
      ...ruleOf(rule),
      until: duration === undefined ? undefined : this.#now() + duration,
      reason,
    }
    this.#bans.add(ban)
    for (const client of this.#stack?.clients ?? []) {
      const state = client.state.limits
      if (client.closed || state === undefined || this.#banOf(client.id || undefined, state) === undefined)
        continue
      this.stats.disconnectedBanned++
      const err = limitError(
        LimitsErrorCode.BANNED,
        `client "${client.id}" closed: ${describe(ban)}`,
        ReasonCode.ADMINISTRATIVE_ACTION,
      )
      client.stack.reportError(err, client, undefined)
      client.close(ReasonCode.ADMINISTRATIVE_ACTION, err)
    }
    return { ...ban }
  }

  /** Lifts the ban of exactly this rule; true when there was one. */
  unban(rule: BanRule): boolean {
    const why = checkBanRule(rule)
    if (why !== undefined)
      throw new MqttStackError(ErrorCode.INVALID_OPTION, `limits.unban(): the rule ${why}`)
    const { kind, pattern } = ruleOf(rule)
    return this.#bans.remove(kind, pattern)
  }

  /** The bans in force, the automatic ones (flapping, failed authentications) included. */
  bans(): Ban[] {
    return this.#bans.list()
  }

  // ---- connections ----

  override uninstall(client: Client): void {
    const state = client.state.limits
    if (state !== undefined) this.#closed(client, state)
  }

  override install(client: Client): void {
    const now = this.#now()
    const raw = this.#addressOf(client.stream)
    const address = raw === undefined ? undefined : normalizeAddress(raw)
    const limits = this.#limits
    const state = new LimitsState(address, listenerOf(client), limits.publishBurst, limits.publishByteBurst)
    client.state.limits = state
    state.refusal = this.#admit(state, now)
    if (state.refusal !== undefined) {
      // Answered on its CONNECT; while too many refused connections wait for theirs, closed at once.
      if (this.#refusedPending >= this.#limits.maxRefusedPending) {
        this.stats.closedRefused++
        client.destroy(state.refusal)
        return
      }
      this.#refusedPending++
      state.pending = true
      return
    }
    state.counted = true
    this.stats.connections++
    increment(this.#perListener, state.listener)
    if (address !== undefined) increment(this.#perAddress, address)
  }

  /** Why a new connection is refused, or undefined when it is admitted. */
  #admit(state: LimitsState, now: number): MqttStackError | undefined {
    const { address, listener } = state
    const limits = this.#limits
    const stats = this.stats
    const ban = this.#bans.match('address', address)
    if (ban !== undefined) {
      stats.refusedBanned++
      return limitError(
        LimitsErrorCode.BANNED,
        `connection from ${address} refused: ${describe(ban)}`,
        ReasonCode.BANNED,
      )
    }
    if (
      address !== undefined &&
      limits.connectionRate !== Number.POSITIVE_INFINITY &&
      !takeToken(this.#connectRate, address, now, limits.connectionRate, limits.connectionBurst)
    ) {
      stats.refusedConnectionRate++
      return limitError(
        LimitsErrorCode.CONNECTION_RATE,
        `connection from ${address} refused: over ${limits.connectionRate} connections/s (burst ${limits.connectionBurst})`,
        ReasonCode.CONNECTION_RATE_EXCEEDED,
      )
    }
    let over: string | undefined
    if (stats.connections >= limits.maxConnections) {
      stats.refusedMaxConnections++
      over = `maxConnections (${limits.maxConnections})`
    } else if ((this.#perListener.get(listener) ?? 0) >= limits.maxConnectionsPerListener) {
      stats.refusedMaxConnectionsPerListener++
      over = `maxConnectionsPerListener (${limits.maxConnectionsPerListener} on ${listener})`
    } else if (
      address !== undefined &&
      (this.#perAddress.get(address) ?? 0) >= limits.maxConnectionsPerAddress
    ) {
      stats.refusedMaxConnectionsPerAddress++
      over = `maxConnectionsPerAddress (${limits.maxConnectionsPerAddress})`
    }
    if (over === undefined) return undefined
    return limitError(
      LimitsErrorCode.TOO_MANY_CONNECTIONS,
      `connection from ${address ?? 'an unknown address'} refused: ${over} reached`,
      ReasonCode.QUOTA_EXCEEDED,
    )
  }

  #closed(client: Client, state: LimitsState): void {
    if (state.pending) {
      state.pending = false
      this.#refusedPending--
    }
    if (state.counted) {
      state.counted = false
      this.stats.connections--
      decrement(this.#perListener, state.listener)
      if (state.address !== undefined) decrement(this.#perAddress, state.address)
    }
    // A PUBLISH held back by the rate: its chain ends with the connection.
    this.#throttle.release(client, state)
    const error = client.error as { code?: unknown } | undefined
    if (error?.code === NOT_AUTHENTICATED) this.#authFailed(state)
  }

  /** Counts a failed authentication; too many ban the address or username for `authFailureBan`. */
  #authFailed(state: LimitsState): void {
    this.stats.authFailures++
    const now = this.#now()
    const limits = this.#limits
    const window = limits.authFailureWindow
    const { address, username } = state
    if (
      address !== undefined &&
      countEvent(this.#authByAddress, address, now, window) >= limits.authFailuresPerAddress
    ) {
      this.#authByAddress.delete(address)
      this.#autoBan({ address }, limits.authFailureBan, 'auth-failures')
    }
    if (
      username !== undefined &&
      countEvent(this.#authByUsername, username, now, window) >= limits.authFailuresPerUsername
    ) {
      this.#authByUsername.delete(username)
      this.#autoBan({ username }, limits.authFailureBan, 'auth-failures')
    }
  }

  /** An automatic ban refuses new connections only: the connected clients it matches stay. */
  #autoBan(rule: BanRule, duration: number, reason: 'flapping' | 'auth-failures'): Ban | undefined {
    // An address that `addressOf` gave but is no IP address cannot be banned as one.
    if (checkBanRule(rule) !== undefined) return undefined
    const ban: Ban = { ...ruleOf(rule), until: this.#now() + duration, reason }
    this.#bans.add(ban)
    if (reason === 'flapping') this.stats.bannedFlapping++
    else this.stats.bannedAuthFailures++
    this.#stack?.reportError(
      limitError(
        reason === 'flapping' ? LimitsErrorCode.FLAPPING : LimitsErrorCode.AUTH_FAILURES,
        `${describe(ban)} for ${duration} ms`,
        ReasonCode.BANNED,
      ),
      undefined,
      undefined,
    )
    return ban
  }

  // ---- packets ----

  override handle(client: Client, packet: Packet, next: Next, done: Done): void {
    const state = client.state.limits
    if (state === undefined) return next()
    if (packet.cmd === 'publish') return this.#publish(client, state, packet, next, done)
    if (packet.cmd === 'connect') return this.#connect(client, state, packet, next, done)
    next()
  }

  #connect(client: Client, state: LimitsState, packet: IConnectPacket, next: Next, done: Done): void {
    state.username = packet.username
    if (state.refusal !== undefined) return this.#refuse(client, packet, state.refusal, done)
    const clientId = packet.clientId || undefined
    let ban = this.#banOf(clientId, state)
    const limits = this.#limits
    if (
      ban === undefined &&
      clientId !== undefined &&
      limits.flappingConnects !== Number.POSITIVE_INFINITY &&
      countEvent(this.#flapping, clientId, this.#now(), limits.flappingWindow) > limits.flappingConnects
    ) {
      this.#flapping.delete(clientId)
      ban = this.#autoBan({ clientId }, limits.flappingBan, 'flapping')
    }
    if (ban === undefined) return next()
    this.stats.refusedBanned++
    const err = limitError(
      LimitsErrorCode.BANNED,
      `CONNECT of client "${packet.clientId}" refused: ${describe(ban)}`,
      ReasonCode.BANNED,
    )
    this.#refuse(client, packet, err, done)
  }

  /** A refusing CONNACK (5.0: the error's reason code; 3.1.1: the closest return code), then close. */
  #refuse(client: Client, packet: IConnectPacket, err: MqttStackError, done: Done): void {
    refuseConnect(client, packet, err.reasonCode ?? ReasonCode.QUOTA_EXCEEDED, err)
    done()
  }

  /** The ban matching a client's id, username or address. */
  #banOf(clientId: string | undefined, state: LimitsState): Ban | undefined {
    const bans = this.#bans
    return (
      bans.match('clientId', clientId) ??
      bans.match('username', state.username) ??
      bans.match('address', state.address)
    )
  }

  /**
   * Per PUBLISH: a few comparisons and arithmetic on the client's state, nothing allocated, and no clock
   * read: the time is the one core took the packet at.
   */
  #publish(client: Client, state: LimitsState, packet: IPublishPacket, next: Next, done: Done): void {
    const limits = this.#limits
    const topic = packet.topic
    if (topicOverLimit(topic, limits.maxTopicLength, limits.maxTopicLevels)) {
      return this.#refuseTopicName(client, packet, done)
    }
    const now = this.#publishTime(client)
    const elapsed = now - state.refilledAt
    if (elapsed > 0) {
      state.refilledAt = now
      state.messages = Math.min(limits.publishBurst, state.messages + elapsed * this.#messagesPerMs)
      state.bytes = Math.min(limits.publishByteBurst, state.bytes + elapsed * this.#bytesPerMs)
    }
    const payload = packet.payload
    state.messages -= 1
    state.bytes -= topic.length + (typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length)
    if (state.messages >= 0 && state.bytes >= 0) return next()
    // Over the rate. MQTT 5.0 says so: DISCONNECT 0x96 Message rate too high.
    const wait = Math.max(-state.messages / this.#messagesPerMs, -state.bytes / this.#bytesPerMs)
    if (client.protocolVersion === 5 || wait > limits.maxThrottle) {
      this.stats.disconnectedPublishRate++
      const err = limitError(
        LimitsErrorCode.PUBLISH_RATE,
        `client "${client.id}" publishes faster than ${limits.publishRate} messages/s or ${limits.publishByteRate} bytes/s`,
        ReasonCode.MESSAGE_RATE_TOO_HIGH,
      )
      client.stack.reportError(err, client, packet)
      client.close(ReasonCode.MESSAGE_RATE_TOO_HIGH, err)
      return done()
    }
    // MQTT 3.1/3.1.1 has no way to say it: the PUBLISH waits for its tokens. Meanwhile the client's next
    // packets queue in core, which stops reading its socket: TCP slows the publisher down.
    this.stats.throttledPublishes++
    this.#throttle.hold(client, state, next, done, now + wait, now)
  }

  /**
   * MQTT 5.0: a QoS 1/2 PUBLISH gets PUBACK/PUBREC 0x90 Topic Name invalid and is dropped; a QoS 0 one is
   * dropped. 3.1/3.1.1 has no negative acknowledgement: the connection closes [MQTT-3.3.5-2].
   */
  #refuseTopicName(client: Client, packet: IPublishPacket, done: Done): void {
    this.stats.refusedTopics++
    const err = limitError(
      LimitsErrorCode.TOPIC_LIMIT,
      `PUBLISH of client "${client.id}" refused: topic over maxTopicLength (${this.#limits.maxTopicLength}) or maxTopicLevels (${this.#limits.maxTopicLevels})`,
      ReasonCode.TOPIC_NAME_INVALID,
    )
    client.stack.reportError(err, client, packet)
    if (client.protocolVersion !== 5) client.close(undefined, err)
    else if (packet.qos === 1)
      client.write({ cmd: 'puback', messageId: packet.messageId!, reasonCode: ReasonCode.TOPIC_NAME_INVALID })
    else if (packet.qos === 2)
      client.write({ cmd: 'pubrec', messageId: packet.messageId!, reasonCode: ReasonCode.TOPIC_NAME_INVALID })
    done()
  }

  /** Subscriptions: the topic limits and the quota per client (see subscriptions.ts). */
  override callbacks(): CallbackHandlers {
    return subscriptionHandlers(this.#limits, this.stats)
  }

  override close(): void {
    this.#throttle.close()
  }
}

function packetTime(client: Client): number {
  return client.packetTime
}

function monotonicNow(): number {
  return performance.now()
}

function describe(ban: Ban): string {
  return `banned ${ban.kind} "${ban.pattern}"${ban.reason === undefined ? '' : ` (${ban.reason})`}`
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1)
}

function decrement(map: Map<string, number>, key: string): void {
  const count = (map.get(key) ?? 1) - 1
  if (count <= 0) map.delete(key)
  else map.set(key, count)
}
