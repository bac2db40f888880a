import {
  type CallbackHandlers,
  type CallbackThen,
  type Client,
  type Done,
  ErrorCode,
  type IConnackPacket,
  type IConnectPacket,
  type IDisconnectPacket,
  Middleware,
  MqttStackError,
  type Next,
  type Packet,
  ReasonCode,
  ReturnCode,
  type Stack,
  toMqttStackError,
} from '@mqtt-stack/core'
import { checkOptions, DEFAULTS, type SessionManagerOptions } from './options.js'
import type { SessionManagerState } from './state.js'

/** The expiry of a 3.1.1 persistent session: it never expires. */
const NEVER_EXPIRES = 0xffffffff
/** The largest Maximum Packet Size MQTT can carry (a 4-byte remaining length and its fixed header). */
const PROTOCOL_MAX_PACKET_SIZE = 268_435_460

type ConnackProperties = NonNullable<IConnackPacket['properties']>

/**
 * Ends the CONNECT chain: settles the client identifier, registers the connection (the backend closes an
 * earlier one with the same identifier [MQTT-3.1.4-2]), starts a clean session or resumes a persistent one,
 * answers CONNACK with `sessionPresent`, and asks for the resumed session's messages (`resumeSession`).
 * Answers `cleanDisconnect` and `uncleanDisconnect`: unregisters the connection and removes its session when
 * it was clean and this connection was still the current one for its identifier.
 */
export class SessionManager extends Middleware<SessionManagerOptions> {
  override readonly name = 'session-manager'
  override readonly packetTypes = ['connect'] as const
  override readonly requires = [
    'registerClient',
    'unregisterClient',
    'lookupSession',
    'storeSession',
    'removeSession',
    'lookupSubscriptions',
    'subscribeTopic',
  ] as const
  override readonly after = ['connection', 'authentication']
  /** Every required callback is a backend's. */
  override readonly providerHints = Object.fromEntries(
    this.requires.map((name) => [name, 'MemoryBackend from @mqtt-stack/memory-backend']),
  )

  #reportedUnstored = false
  /** Client id → epoch ms when its disconnected session expires (cancelled by a CONNECT). */
  readonly #expiring = new Map<string, number>()
  /** The stack whose sessions expire. */
  #stack: Stack | undefined = undefined

  override setup(stack: Stack): void {
    this.#stack = stack
  }
  /** One coarse, unref'd sweep over `#expiring`, running only while it is not empty. */
  #timer: NodeJS.Timeout | undefined = undefined

  constructor(options?: Partial<SessionManagerOptions>) {
    super(options, DEFAULTS)
    checkOptions(this.config)
  }

  /** MQTT 5.0: how many disconnected sessions wait for their expiry. */
  get expiring(): number {
    return this.#expiring.size
  }

  override callbacks(): CallbackHandlers {
    return {
      cleanDisconnect: this.#onCleanEnd,
      uncleanDisconnect: this.#onEnd,
      orphanedSession: this.#onOrphaned,
    }
  }

  /**
   * A backend hands over a session whose expiry no broker follows (its node died, or the broker started
   * again): followed from now on. The sweep's check (`#expire`) reads its expiry and when it was left.
   */
  readonly #onOrphaned = (
    ctx: { clientId: string; disconnectedAt: number },
    _store: unknown,
    next: Next,
  ): void => {
    if (!this.#expiring.has(ctx.clientId)) this.#schedule(ctx.clientId, ctx.disconnectedAt)
    next()
  }

  override close(): void {
    this.#stopSweep()
    this.#expiring.clear()
  }

  override handle(client: Client, packet: Packet, next: Next, done: Done): void {
    if (packet.cmd !== 'connect') return next()
    const v5 = client.protocolVersion === 5
    const clean = packet.clean !== false
    let clientId = packet.clientId
    let assigned = false
    if (clientId === '') {
      if (!v5 && (!clean || client.protocolVersion === 3)) {
        // An empty client id with clean session 0 is refused with 0x02, then the connection closes
        // [MQTT-3.1.3-8] [MQTT-3.2.2-4] [MQTT-3.2.2-5]. MQTT 3.1 requires an identifier in any case.
        client.write({ cmd: 'connack', returnCode: ReturnCode.IDENTIFIER_REJECTED, sessionPresent: false })
        client.close()
        return done()
      }
      // The server assigns a unique identifier [MQTT-3.1.3-6]; a 5.0 client is told which (below).
      clientId = this.config.generateClientId()
      assigned = true
    }
    client.id = clientId
    if (packet.will && !this.#reportedUnstored && !client.stack.uses('will'))
      this.#reportUnstored(client, packet)
    // MQTT 5.0: an absent Session Expiry Interval is 0 (3.1.2.11.2); 3.1.1 has clean (0) or never expires.
    const requested = v5 ? (packet.properties?.sessionExpiryInterval ?? 0) : clean ? 0 : NEVER_EXPIRES
    const state: SessionManagerState = {
      clientId,
      expiryInterval: v5 ? Math.min(requested, this.config.maxSessionExpiryInterval) : requested,
      requestedExpiryInterval: requested,
      connecting: true,
      ended: false,
    }
    client.state.sessionManager = state
    // A clean 3.1/3.1.1 session with no earlier one waiting out its expiry (most connections): the same steps
    // as #connect, through callbacks, without a promise per step.
    if (clean && !v5 && !this.#expiring.has(clientId)) {
      const steps = new CleanConnect(this, client, state, packet)
      return client.stack.executeThen('registerClient', steps, {}, SessionManager.#registered, next, done)
    }
    this.#connect(client, packet, state, clean, assigned).then(() => done(), next)
  }

  static readonly #registered: CallbackThen<'registerClient'> = (err, _store, ctx, next, done) => {
    const steps = ctx as CleanConnect
    // A clean session discards any previous one [MQTT-3.1.2-6].
    if (err) return SessionManager.#unavailable(steps, err, next, done)
    steps.client.stack.executeThen('removeSession', steps, {}, SessionManager.#removed, next, done)
  }

  static readonly #removed: CallbackThen<'removeSession'> = (err, _store, ctx, next, done) => {
    const steps = ctx as CleanConnect
    if (err) return SessionManager.#unavailable(steps, err, next, done)
    steps.client.stack.executeThen('storeSession', steps, {}, SessionManager.#stored, next, done)
  }

  static readonly #stored: CallbackThen<'storeSession'> = (err, _store, ctx, next, done) => {
    const steps = ctx as CleanConnect
    if (err) return SessionManager.#unavailable(steps, err, next, done)
    const { client, state } = steps
    state.connecting = false
    // The connection ended while its CONNECT was processed: the end deferred by #onEnd happens now.
    if (state.ended) return void steps.manager.#end(client, state).then(() => done(), next)
    // No session is present [MQTT-3.2.2-1]; MQTT 3.1 has no session present flag: its byte is reserved.
    if (!client.closed)
      client.write({ cmd: 'connack', returnCode: ReturnCode.ACCEPTED, sessionPresent: false })
    done()
  }

  /** As #connect's catch. */
  static #unavailable(steps: CleanConnect, err: MqttStackError, next: Next, done: Done): void {
    const { client, state } = steps
    serverUnavailable(client, steps.packet, state, err)
    if (state.ended) return void steps.manager.#end(client, state).then(() => done(), next)
    done()
  }

  /** A will that no middleware keeps (no `will` role in the stack) would never be published: said once. */
  #reportUnstored(client: Client, packet: IConnectPacket): void {
    this.#reportedUnstored = true
    const err = new MqttStackError(
      ErrorCode.UNSTORED,
      `the will of client "${client.id}" is accepted but will never be published: no middleware in the stack keeps ` +
        'wills (use() LastWill from @mqtt-stack/last-will). Reported once.',
    )
    client.stack.reportError(err, client, packet)
  }

  async #connect(
    client: Client,
    packet: IConnectPacket,
    state: SessionManagerState,
    clean: boolean,
    assigned: boolean,
  ): Promise<void> {
    const v5 = client.protocolVersion === 5
    let sessionPresent: boolean
    let properties: ConnackProperties | undefined
    try {
      sessionPresent = await this.#open(client, packet, state, clean)
      if (v5 && !state.ended && !client.closed)
        properties = await this.#connackProperties(client, packet, state, assigned)
    } catch (err) {
      serverUnavailable(client, packet, state, toMqttStackError(err))
      if (state.ended) await this.#end(client, state)
      return
    }
    state.connecting = false
    if (state.ended) {
      // The connection ended while its CONNECT was processed: the end deferred by #onEnd happens now.
      await this.#end(client, state)
      return
    }
    if (client.closed) return
    if (v5) {
      client.write(
        properties === undefined || Object.keys(properties).length === 0
          ? { cmd: 'connack', reasonCode: ReasonCode.SUCCESS, sessionPresent }
          : { cmd: 'connack', reasonCode: ReasonCode.SUCCESS, sessionPresent, properties },
      )
    } else {
      // MQTT 3.1 has no session present flag: its byte is reserved.
      client.write({
        cmd: 'connack',
        returnCode: ReturnCode.ACCEPTED,
        sessionPresent: sessionPresent && client.protocolVersion === 4,
      })
    }
    if (sessionPresent) await client.stack.run('resumeSession', { client, clientId: state.clientId }, {})
  }

  /** Registers the connection and sets up its session; resolves with whether a session was resumed. */
  async #open(
    client: Client,
    packet: IConnectPacket,
    state: SessionManagerState,
    clean: boolean,
  ): Promise<boolean> {
    const stack = client.stack
    const { clientId, expiryInterval } = state
    const session = { clientId, expiryInterval }
    // A disconnected session waiting for its expiry is resumed or discarded by this CONNECT, unless
    // its expiry has passed and the sweep has not yet seen it: then it ends first.
    const deadline = this.#expiring.get(clientId)
    if (deadline !== undefined) {
      this.#expiring.delete(clientId)
      if (deadline <= Date.now()) await this.#expire(stack, clientId)
    }
    // The backend closes an earlier connection with this identifier [MQTT-3.1.4-2]
    await stack.run('registerClient', { client, clientId }, {})
    let discard = clean
    if (!clean) {
      const { session: stored } = await stack.run('lookupSession', { clientId }, {})
      // 3.1.1: a stored session with expiry 0 is the clean session of a connection being taken over: it is
      // not reused [MQTT-3.1.2-6]. 5.0: a session exists until its connection ends with expiry 0, so Clean
      // Start 0 resumes it [MQTT-3.1.2-5], whatever the expiry of either connection.
      if (stored && (client.protocolVersion === 5 || stored.expiryInterval !== 0)) {
        // Resume the session [MQTT-3.1.2-4]: its subscriptions route to this connection again, without a
        // SUBSCRIBE packet (so no retained messages are sent).
        // Stored again without its disconnectedAt: connected now, so no node's expiry timer may end it.
        if (stored.expiryInterval !== expiryInterval || stored.disconnectedAt !== undefined)
          await stack.run('storeSession', { clientId, session }, {})
        const { subscriptions } = await stack.run('lookupSubscriptions', { client, packet, clientId }, {})
        for (const subscription of subscriptions ?? []) {
          const { topic, qos } = subscription
          await stack.run('subscribeTopic', { client, topic, qos, subscription }, {})
        }
        return true // [MQTT-3.2.2-2]
      }
      discard = stored !== undefined
    }
    // A clean session discards any previous one [MQTT-3.1.2-6]; a persistent one without a stored
    // session starts a new one [MQTT-3.1.2-4]. Either way no session is present [MQTT-3.2.2-1] [MQTT-3.2.2-3].
    if (discard) await stack.run('removeSession', { clientId }, {})
    await stack.run('storeSession', { clientId, session }, {})
    return false
  }

  /**
   * MQTT 5.0: the DISCONNECT's Session Expiry Interval replaces the CONNECT's; from 0 to non-zero it is a
   * protocol error (3.14.2.2.2) and the session ends as 0. Then the end of any connection.
   */
  readonly #onCleanEnd = (
    ctx: { client: Client; packet?: IDisconnectPacket },
    store: unknown,
    next: Next,
  ): void => {
    const state = ctx.client.state.sessionManager
    const expiry = ctx.packet?.properties?.sessionExpiryInterval
    if (state !== undefined && !state.ended && expiry !== undefined && ctx.client.protocolVersion === 5) {
      if (state.requestedExpiryInterval === 0 && expiry !== 0) {
        ctx.client.stack.reportError(
          new MqttStackError(
            ErrorCode.PROTOCOL_ERROR,
            `DISCONNECT sets Session Expiry Interval ${expiry} after a CONNECT with 0; the session ends`,
            { reasonCode: ReasonCode.PROTOCOL_ERROR },
          ),
          ctx.client,
          ctx.packet,
        )
      } else {
        state.expiryInterval = Math.min(expiry, this.config.maxSessionExpiryInterval)
      }
    }
    this.#onEnd(ctx, store, next)
  }

  /** The connection has gone: unless its CONNECT is still being processed, end its session's connection. */
  readonly #onEnd = (ctx: { client: Client }, _store: unknown, next: Next): void => {
    const state = ctx.client.state.sessionManager
    // No state: the CONNECT never reached session-manager (or was refused), so nothing was registered.
    if (!state || state.ended) return next()
    state.ended = true
    if (state.connecting) return next()
    this.#end(ctx.client, state).then(() => next(), next)
  }

  /**
   * Unregisters the connection; when it was still the current one for its identifier (not taken over), a
   * session with expiry 0 goes at once [MQTT-3.1.2-6] (5.0: and `sessionExpired`), and an MQTT 5.0 session
   * with another expiry is kept [MQTT-3.1.2-23] and removed once its interval has passed.
   */
  async #end(client: Client, state: SessionManagerState): Promise<void> {
    const { clientId, expiryInterval } = state
    const stack = client.stack
    const { removed } = await stack.run('unregisterClient', { client, clientId }, {})
    if (removed !== true) return
    if (expiryInterval === 0) {
      await stack.run('removeSession', { clientId }, {})
      // 5.0: the session has ended; a will waiting out its delay is published now [MQTT-3.1.3-9].
      if (client.protocolVersion === 5) await stack.run('sessionExpired', { clientId }, {})
      return
    }
    if (client.protocolVersion !== 5) {
      // 3.1/3.1.1: a persistent session that is not resumed in time is discarded (see the option).
      const { persistentSessionExpiry } = this.config
      if (persistentSessionExpiry === NEVER_EXPIRES) return
      const session = { clientId, expiryInterval, disconnectedAt: Date.now() }
      await stack.run('storeSession', { clientId, session }, {})
      this.#schedule(clientId, session.disconnectedAt + persistentSessionExpiry * 1000)
      return
    }
    // The expiry in force (the DISCONNECT may have changed it) and when the session was left.
    const session = { clientId, expiryInterval, disconnectedAt: Date.now() }
    await stack.run('storeSession', { clientId, session }, {})
    if (expiryInterval !== NEVER_EXPIRES)
      this.#schedule(clientId, session.disconnectedAt + expiryInterval * 1000)
  }

  /** MQTT 5.0: the CONNACK's properties, gathered through `prepareConnack`. */
  async #connackProperties(
    client: Client,
    packet: IConnectPacket,
    state: SessionManagerState,
    assigned: boolean,
  ): Promise<ConnackProperties> {
    const { maxPacketSize, topicAliasMaximum } = client.limits
    // Optional features start "not available"; each middleware that implements one raises it.
    const properties: ConnackProperties = {
      retainAvailable: false,
      wildcardSubscriptionAvailable: false,
      subscriptionIdentifiersAvailable: false,
      sharedSubscriptionAvailable: false,
      maximumQoS: 0,
      topicAliasMaximum,
    }
    if (maxPacketSize < PROTOCOL_MAX_PACKET_SIZE) properties.maximumPacketSize = maxPacketSize
    // The Session Expiry Interval in force when it is not the one asked for (3.2.2.3.2).
    if (state.expiryInterval !== state.requestedExpiryInterval)
      properties.sessionExpiryInterval = state.expiryInterval
    // [MQTT-3.2.2-16] A server-assigned identifier is returned.
    if (assigned) properties.assignedClientIdentifier = state.clientId
    const { responseInformation } = this.config
    if (packet.properties?.requestResponseInformation === true && responseInformation !== undefined)
      properties.responseInformation = responseInformation
    const { properties: prepared } = await client.stack.run(
      'prepareConnack',
      { client, packet },
      { properties },
    )
    return withoutDefaults(prepared)
  }

  #schedule(clientId: string, deadline: number): void {
    this.#expiring.set(clientId, deadline)
    if (this.#timer !== undefined) return
    this.#timer = setInterval(this.#sweep, this.config.expiryCheckInterval)
    this.#timer.unref()
  }

  readonly #sweep = (): void => {
    const stack = this.#stack
    const now = Date.now()
    for (const [clientId, deadline] of this.#expiring) {
      if (deadline > now) continue
      this.#expiring.delete(clientId)
      if (stack !== undefined)
        this.#expire(stack, clientId).catch((err: unknown) =>
          stack.reportError(toMqttStackError(err), undefined, undefined),
        )
    }
    if (this.#expiring.size === 0) this.#stopSweep()
  }

  /**
   * A disconnected session reached its expiry: removed, then announced (MQTT 5.0). Checked against the
   * backend first: with brokers sharing one backend, the client may have resumed it on another node (stored
   * without disconnectedAt), or left again later (a later deadline, followed from then on).
   */
  async #expire(stack: Stack, clientId: string): Promise<void> {
    const { session } = await stack.run('lookupSession', { clientId }, {})
    if (session?.disconnectedAt === undefined) return
    const expiry =
      session.expiryInterval === NEVER_EXPIRES ? this.config.persistentSessionExpiry : session.expiryInterval
    if (expiry === NEVER_EXPIRES) return
    const deadline = session.disconnectedAt + expiry * 1000
    if (deadline > Date.now()) {
      this.#schedule(clientId, deadline)
      return
    }
    await stack.run('removeSession', { clientId }, {})
    await stack.run('sessionExpired', { clientId }, {})
  }

  #stopSweep(): void {
    if (this.#timer === undefined) return
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}

/**
 * The flags raised to the spec's default are left out, to keep the CONNACK small (3.2.2.3); the limits
 * (receive maximum, topic alias maximum, maximum packet size) stay, so that clients see them stated.
 */
function withoutDefaults(properties: ConnackProperties): ConnackProperties {
  if (properties.retainAvailable === true) delete properties.retainAvailable
  if (properties.maximumQoS === 2) delete properties.maximumQoS
  if (properties.wildcardSubscriptionAvailable === true) delete properties.wildcardSubscriptionAvailable
  if (properties.subscriptionIdentifiersAvailable === true) delete properties.subscriptionIdentifiersAvailable
  if (properties.sharedSubscriptionAvailable === true) delete properties.sharedSubscriptionAvailable
  return properties
}

/** The session could not be set up: the server is unavailable, and says so before closing. */
function serverUnavailable(
  client: Client,
  packet: IConnectPacket,
  state: SessionManagerState,
  err: MqttStackError,
): void {
  state.connecting = false
  client.write(
    client.protocolVersion === 5
      ? { cmd: 'connack', reasonCode: ReasonCode.SERVER_UNAVAILABLE, sessionPresent: false }
      : { cmd: 'connack', returnCode: ReturnCode.SERVER_UNAVAILABLE, sessionPresent: false },
  )
  client.stack.reportError(err, client, packet)
  client.close()
}

/**
 * A clean 3.1/3.1.1 CONNECT on its way through `registerClient`, `removeSession` and `storeSession`: one object
 * is the context of all three (it has each one's fields) and carries what the next step needs.
 */
class CleanConnect {
  readonly clientId: string
  /** What `storeSession` stores: a clean session expires with its connection. */
  readonly session: { clientId: string; expiryInterval: number }
  constructor(
    readonly manager: SessionManager,
    readonly client: Client,
    readonly state: SessionManagerState,
    readonly packet: IConnectPacket,
  ) {
    this.clientId = state.clientId
    this.session = { clientId: state.clientId, expiryInterval: state.expiryInterval }
  }
}
