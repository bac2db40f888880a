import {
  type CallbackHandlers,
  type CallbackStore,
  type Client,
  connackReasonCode,
  connackReturnCode,
  type Done,
  ErrorCode,
  type IAuthPacket,
  type IConnectPacket,
  isFailureCode,
  Middleware,
  MqttStackError,
  type Next,
  type Packet,
  ReasonCode,
  ReturnCode,
} from '@mqtt-stack/core'
import { AuthenticationErrorCode } from './errors.js'
import type { EnhancedConnectStore, EnhancedStepStore } from './exchange.js'
import { AUTHENTICATION_DEFAULTS, type AuthenticationOptions } from './options.js'
import type { AuthenticationState } from './state.js'

/** Refusal codes a server may put in a DISCONNECT (the rest of the CONNACK ones may not go there). */
const DISCONNECT_REFUSALS: ReadonlySet<number> = new Set([
  ReasonCode.UNSPECIFIED_ERROR,
  ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR,
  ReasonCode.NOT_AUTHORIZED,
  ReasonCode.SERVER_BUSY,
  ReasonCode.BAD_AUTHENTICATION_METHOD,
])

/** Packets a client may send: CONNECT and AUTH are handled, the rest are checked while AUTH is exchanged. */
const CLIENT_PACKETS = [
  'connect',
  'publish',
  'puback',
  'pubrec',
  'pubrel',
  'pubcomp',
  'subscribe',
  'unsubscribe',
  'pingreq',
  'disconnect',
  'auth',
] as const

type Verdict = CallbackStore<'authenticateConnection'>

/**
 * Checks the credentials of every CONNECT through `authenticateConnection`. Only `store.authenticated ===
 * true` lets the CONNECT go on; anything else is answered with a refusing CONNACK and the connection is
 * closed. Needs a provider such as {@link StaticCredentials}.
 *
 * MQTT 5.0 enhanced authentication: a CONNECT with an Authentication Method that a provider answers with
 * `reasonCode = 0x18` starts an AUTH exchange. The CONNECT chain ends there (packets of a client are
 * processed one at a time, so waiting in it would keep the AUTH packets out); each AUTH from the client runs
 * `continueAuthentication`, and when a step accepts, the held CONNECT goes on through the middlewares after
 * this one (session-manager sends the CONNACK) before the AUTH's chain ends. AUTH 0x19 after CONNACK
 * re-authenticates.
 */
export class Authentication extends Middleware<AuthenticationOptions> {
  override readonly name = 'authentication'
  override readonly packetTypes = CLIENT_PACKETS
  override readonly requires = ['authenticateConnection'] as const
  override readonly after = ['connection']
  override readonly before = ['session-manager']
  override readonly providerHints = {
    authenticateConnection: 'StaticCredentials or ScramSha256 from @mqtt-stack/authentication',
  }

  constructor(config: Partial<AuthenticationOptions> = {}) {
    super(config, AUTHENTICATION_DEFAULTS)
    const { authenticationTimeout } = this.config
    if (!Number.isInteger(authenticationTimeout) || authenticationTimeout < 0)
      throw new MqttStackError(
        ErrorCode.INVALID_OPTION,
        `authentication: authenticationTimeout must be a whole number of ms (0: none), got ${String(authenticationTimeout)}`,
      )
  }

  /** Bounds the AUTH exchange that starts now; one timer per exchange, none on the hot path. */
  #startTimer(client: Client, state: AuthenticationState): void {
    const timeout = this.config.authenticationTimeout
    if (timeout === 0 || state.timer !== undefined) return
    state.timer = setTimeout(exchangeTimedOut, timeout, client, state, timeout)
    state.timer.unref()
  }

  override callbacks(): CallbackHandlers {
    return {
      // [MQTT-4.12.0-5] a successful CONNACK repeats the Authentication Method of the CONNECT, with the
      // provider's last Authentication Data; [MQTT-4.12.0-6] and none without one.
      prepareConnack(ctx, store, next) {
        const state = ctx.client.state.authentication
        if (state?.method === undefined) return next()
        store.properties.authenticationMethod = state.method
        if (state.connackData !== undefined) store.properties.authenticationData = state.connackData
        state.connackData = undefined
        next()
      },
    }
  }

  override handle(client: Client, packet: Packet, next: Next, done: Done): void {
    if (packet.cmd === 'connect') return this.#connect(client, packet, next, done)
    if (packet.cmd === 'auth') return this.#auth(client, packet, next, done)
    // One property read per packet: only a connection in the middle of an AUTH exchange is stopped.
    if (client.state.authentication?.phase !== 'connecting') return next()
    // [MQTT-3.1.2-30] only AUTH or DISCONNECT before the CONNACK of an enhanced authentication
    violation(client, packet, `${packet.cmd} during the AUTH exchange of CONNECT [MQTT-3.1.2-30]`)
    done()
  }

  #connect(client: Client, packet: IConnectPacket, next: Next, done: Done): void {
    const method = client.protocolVersion === 5 ? packet.properties?.authenticationMethod : undefined
    if (method !== undefined) {
      if (!client.stack.provides('continueAuthentication')) {
        // [MQTT-4.12.0-1] an authentication method the server does not support: CONNACK 0x8C, then close
        refuse(
          client,
          packet.clientId,
          0,
          ReasonCode.BAD_AUTHENTICATION_METHOD,
          'unsupported authentication method',
        )
        return done()
      }
      // The provider of the method keeps its per-exchange data here from the first step on.
      const state: AuthenticationState = {
        user: undefined,
        method,
        phase: 'connecting',
        connackData: undefined,
        connect: undefined,
        held: undefined,
        exchange: undefined,
      }
      client.state.authentication = state
    }
    // CONNECT is once per connection: a closure here costs nothing on the hot path.
    const ctx = { client, packet, username: packet.username, password: packet.password }
    client.stack.execute('authenticateConnection', ctx, {}, (err, verdict) => {
      const store = verdict as EnhancedConnectStore
      if (err) {
        // An operational failure (the user store is down): tell the client to come back later, then let the
        // stack report the error and close the connection. [MQTT-3.2.2-5] no session, no processing.
        if (!client.closed) connack(client, ReturnCode.SERVER_UNAVAILABLE, ReasonCode.SERVER_UNAVAILABLE)
        return next(err)
      }
      if (client.closed) return done()
      if (store.authenticated === true) {
        const state = client.state.authentication
        if (method !== undefined && state !== undefined) {
          state.user = store.user
          state.phase = 'idle'
          state.connackData = store.authenticationData
        } else client.state.authentication = { user: store.user }
        return next()
      }
      if (method !== undefined && store.reasonCode === ReasonCode.CONTINUE_AUTHENTICATION) {
        // [MQTT-4.12.0-2] the server asks for more with AUTH 0x18, [MQTT-4.12.0-5] naming the method
        // The CONNECT's chain waits, held through core, while the AUTH packets behind it are processed.
        const state = client.state.authentication!
        state.connect = packet
        state.held = client.hold(next, done)
        this.#startTimer(client, state)
        writeAuth(client, ReasonCode.CONTINUE_AUTHENTICATION, method, store.authenticationData)
        return
      }
      const given = packet.username !== undefined || packet.password !== undefined
      const unanswered =
        method !== undefined && store.authenticated === undefined && store.reasonCode === undefined
      refuse(
        client,
        packet.clientId,
        returnCodeOf(store, given),
        // [MQTT-4.12.0-1] a method no provider took up is a bad authentication method
        unanswered ? ReasonCode.BAD_AUTHENTICATION_METHOD : reasonCodeOf(store, given),
        'credentials refused',
      )
      done()
    })
  }

  #auth(client: Client, packet: IAuthPacket, next: Next, done: Done): void {
    const state = client.state.authentication
    const method = state?.method
    if (state === undefined || method === undefined) {
      // [MQTT-4.12.0-7] no AUTH from a client whose CONNECT named no Authentication Method
      violation(client, packet, 'AUTH without an Authentication Method in CONNECT [MQTT-4.12.0-7]')
      return done()
    }
    if (packet.properties?.authenticationMethod !== method) {
      // [MQTT-4.12.0-5] [MQTT-4.12.1-1] every AUTH names the method of the CONNECT
      violation(client, packet, `AUTH with another Authentication Method than "${method}" [MQTT-4.12.0-5]`)
      return done()
    }
    const reasonCode = packet.reasonCode ?? ReasonCode.SUCCESS
    const phase = state.phase ?? 'idle'
    const expected = phase === 'idle' ? ReasonCode.RE_AUTHENTICATE : ReasonCode.CONTINUE_AUTHENTICATION
    if (reasonCode !== expected) {
      // [MQTT-4.12.0-3] the client answers the server's AUTH with 0x18; [MQTT-4.12.1-1] it starts a
      // re-authentication with 0x19, only after CONNACK and not in the middle of another exchange
      violation(client, packet, `AUTH 0x${hex(reasonCode)} where 0x${hex(expected)} was due`)
      return done()
    }
    if (phase === 'idle') state.phase = 'reauthenticating'
    client.stack.execute('continueAuthentication', { client, packet }, {}, (err, verdict) => {
      const store = verdict as EnhancedStepStore
      const connecting = state.phase === 'connecting'
      if (err) {
        if (connecting && !client.closed)
          connack(client, ReturnCode.SERVER_UNAVAILABLE, ReasonCode.SERVER_UNAVAILABLE)
        return next(err)
      }
      if (client.closed) return done()
      if (store.authenticated === true) {
        if (store.user !== undefined) state.user = store.user
        state.phase = 'idle'
        state.exchange = undefined
        stopTimer(state)
        if (!connecting) {
          // 4.12.1: AUTH 0x00 ends a re-authentication
          writeAuth(client, ReasonCode.SUCCESS, method, store.authenticationData)
          return done()
        }
        state.connackData = store.authenticationData
        const held = state.held!
        state.connect = undefined
        state.held = undefined
        // The CONNECT's chain goes on after this middleware; the AUTH's ends only when it has, so packets
        // sent after the AUTH wait for the CONNACK.
        return held.next(done)
      }
      if (store.reasonCode === ReasonCode.CONTINUE_AUTHENTICATION) {
        this.#startTimer(client, state)
        writeAuth(client, ReasonCode.CONTINUE_AUTHENTICATION, method, store.authenticationData)
        return done()
      }
      stopTimer(state)
      const code = refusalCode(store.reasonCode)
      if (connecting) {
        // [MQTT-4.12.0-4] the server refuses with a CONNACK of 0x80 or above, then closes
        refuse(
          client,
          state.connect?.clientId ?? '',
          ReturnCode.NOT_AUTHORIZED,
          code,
          'authentication failed',
        )
        return endHeld(state, done)
      }
      // [MQTT-4.12.1-2] a failed re-authentication: DISCONNECT with a reason code, then close
      client.close(
        DISCONNECT_REFUSALS.has(code) ? code : ReasonCode.NOT_AUTHORIZED,
        notAuthenticated(`re-authentication of client "${client.id}" failed`, code),
      )
      done()
    })
  }
}

function stopTimer(state: AuthenticationState): void {
  if (state.timer === undefined) return
  clearTimeout(state.timer)
  state.timer = undefined
}

function exchangeTimedOut(client: Client, state: AuthenticationState, timeout: number): void {
  state.timer = undefined
  if (client.closed || state.phase === 'idle' || state.phase === undefined) return
  const message = `no end to the AUTH exchange of client "${client.id || state.connect?.clientId || ''}" within ${timeout} ms`
  const err = new MqttStackError(AuthenticationErrorCode.AUTHENTICATION_TIMEOUT, message, {
    reasonCode: ReasonCode.NOT_AUTHORIZED,
  })
  // Before CONNACK the server may refuse at any time [MQTT-4.12.0-4]; after it, DISCONNECT [MQTT-4.12.1-2].
  if (state.phase === 'connecting') connack(client, ReturnCode.NOT_AUTHORIZED, ReasonCode.NOT_AUTHORIZED)
  client.close(ReasonCode.NOT_AUTHORIZED, err)
  state.held?.done()
  state.held = undefined
}

/** A refused exchange: the held CONNECT's chain ends too, then the AUTH's. */
function endHeld(state: AuthenticationState, done: Done): void {
  const held = state.held
  state.held = undefined
  if (held) held.done(done)
  else done()
}

function writeAuth(client: Client, reasonCode: number, method: string, data: Buffer | undefined): void {
  const properties: NonNullable<IAuthPacket['properties']> = { authenticationMethod: method }
  if (data !== undefined) properties.authenticationData = data
  client.write({ cmd: 'auth', reasonCode, properties })
}

/** A provider's refusal code (0x80..0xFF), else 0x87 Not authorized. */
function refusalCode(reasonCode: number | undefined): number {
  return isFailureCode(reasonCode) ? reasonCode : ReasonCode.NOT_AUTHORIZED
}

function violation(client: Client, packet: Packet, message: string): void {
  client.protocolViolation(
    new MqttStackError(ErrorCode.PROTOCOL_ERROR, message, { reasonCode: ReasonCode.PROTOCOL_ERROR }),
    packet,
  )
}

function notAuthenticated(message: string, reasonCode: number): MqttStackError {
  return new MqttStackError(AuthenticationErrorCode.NOT_AUTHENTICATED, message, { reasonCode })
}

function hex(code: number): string {
  return code.toString(16).padStart(2, '0')
}

/** The 3.1/3.1.1 return code of a refusal: the provider's (1..5, or mapped from its reason code), else 4 or 5. */
function returnCodeOf(store: Verdict, credentialsGiven: boolean): number {
  const { returnCode, reasonCode } = store
  if (returnCode !== undefined && Number.isInteger(returnCode) && returnCode >= 1 && returnCode <= 5)
    return returnCode
  const mapped = reasonCode === undefined ? undefined : connackReturnCode(reasonCode)
  if (mapped !== undefined) return mapped
  return credentialsGiven ? ReturnCode.BAD_USER_NAME_OR_PASSWORD : ReturnCode.NOT_AUTHORIZED
}

/** The 5.0 reason code of a refusal: the provider's (0x80..0xFF, or mapped from its return code), else 0x86 or 0x87. */
function reasonCodeOf(store: Verdict, credentialsGiven: boolean): number {
  const { returnCode, reasonCode } = store
  if (isFailureCode(reasonCode)) return reasonCode
  const mapped = returnCode === undefined ? undefined : connackReasonCode(returnCode)
  if (mapped !== undefined && mapped !== 0) return mapped
  return credentialsGiven ? ReasonCode.BAD_USER_NAME_OR_PASSWORD : ReasonCode.NOT_AUTHORIZED
}

function connack(client: Client, returnCode: number, reasonCode: number): void {
  // [MQTT-3.2.2-4] (5.0: [MQTT-3.2.2-6]) a refusing CONNACK has Session Present 0
  if (client.protocolVersion === 5) client.write({ cmd: 'connack', reasonCode, sessionPresent: false })
  else client.write({ cmd: 'connack', returnCode, sessionPresent: false })
}

/** A refusing CONNACK, then the connection closes [MQTT-3.2.2-5] (5.0: [MQTT-3.2.2-7]). */
function refuse(client: Client, clientId: string, returnCode: number, reasonCode: number, why: string): void {
  connack(client, returnCode, reasonCode)
  const code = client.protocolVersion === 5 ? reasonCode : returnCode
  const err = notAuthenticated(
    `CONNECT of client "${clientId}" refused (${why}): CONNACK 0x${hex(code)}`,
    reasonCode,
  )
  // [MQTT-3.1.4-5] closing drops whatever the client sent after its CONNECT: it is never processed.
  client.close(undefined, err)
}
