import {
  type CallbackHandlers,
  type Client,
  type Done,
  type IConnectPacket,
  Middleware,
  type Next,
  type Packet,
  toMqttStackError,
} from '@mqtt-stack/core'
import { checkOptions, DEFAULTS, type SessionManagerOptions } from './options.js'
import type { SessionManagerState } from './state.js'

/** CONNACK return codes (3.1, 3.1.1). */
const ACCEPTED = 0x00
const IDENTIFIER_REJECTED = 0x02
const SERVER_UNAVAILABLE = 0x03
/** CONNACK reason code (5.0). */
const SERVER_UNAVAILABLE_5 = 0x88
/** The expiry of a 3.1.1 persistent session: it never expires. */
const NEVER_EXPIRES = 0xffffffff

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

  constructor(options?: Partial<SessionManagerOptions>) {
    super(options, DEFAULTS)
    checkOptions(this.config)
  }

  override callbacks(): CallbackHandlers {
    return { cleanDisconnect: this.#onEnd, uncleanDisconnect: this.#onEnd }
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
        client.write({ cmd: 'connack', returnCode: IDENTIFIER_REJECTED, sessionPresent: false })
        client.close()
        return done()
      }
      // The server assigns a unique identifier [MQTT-3.1.3-6]; a 5.0 client is told which (below).
      clientId = this.config.generateClientId()
      assigned = true
    }
    client.id = clientId
    const state: SessionManagerState = {
      clientId,
      expiryInterval: v5 ? (packet.properties?.sessionExpiryInterval ?? 0) : clean ? 0 : NEVER_EXPIRES,
      connecting: true,
      ended: false,
    }
    client.state.sessionManager = state
    this.#connect(client, packet, state, clean, assigned).then(() => done(), next)
  }

  async #connect(
    client: Client,
    packet: IConnectPacket,
    state: SessionManagerState,
    clean: boolean,
    assigned: boolean,
  ): Promise<void> {
    let sessionPresent: boolean
    try {
      sessionPresent = await this.#open(client, packet, state, clean)
    } catch (err) {
      // The session could not be set up: the server is unavailable, and says so before closing.
      state.connecting = false
      const v5 = client.protocolVersion === 5
      client.write(
        v5
          ? { cmd: 'connack', reasonCode: SERVER_UNAVAILABLE_5, sessionPresent: false }
          : { cmd: 'connack', returnCode: SERVER_UNAVAILABLE, sessionPresent: false },
      )
      client.stack.reportError(toMqttStackError(err), client, packet)
      client.close()
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
    if (client.protocolVersion === 5) {
      client.write({
        cmd: 'connack',
        reasonCode: ACCEPTED,
        sessionPresent,
        ...(assigned ? { properties: { assignedClientIdentifier: state.clientId } } : {}),
      })
    } else {
      // MQTT 3.1 has no session present flag: its byte is reserved.
      client.write({
        cmd: 'connack',
        returnCode: ACCEPTED,
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
    // The backend closes an earlier connection with this identifier [MQTT-3.1.4-2]
    await stack.run('registerClient', { client, clientId }, {})
    let discard = clean
    if (!clean) {
      const { session: stored } = await stack.run('lookupSession', { clientId }, {})
      // A stored session with expiry 0 is the clean session of a connection being taken over: it is not
      // reused [MQTT-3.1.2-6].
      if (stored && stored.expiryInterval !== 0) {
        // Resume the session [MQTT-3.1.2-4]: its subscriptions route to this connection again, without a
        // SUBSCRIBE packet (so no retained messages are sent).
        if (stored.expiryInterval !== expiryInterval)
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
   * Unregisters the connection; when it was still the current one for its identifier (not taken over) and
   * its session was clean, the session goes too [MQTT-3.1.2-6].
   */
  async #end(client: Client, state: SessionManagerState): Promise<void> {
    const { clientId } = state
    const { removed } = await client.stack.run('unregisterClient', { client, clientId }, {})
    if (removed === true && state.expiryInterval === 0)
      await client.stack.run('removeSession', { clientId }, {})
  }
}
