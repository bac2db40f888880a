import {
  type CallbackStore,
  type Client,
  type Done,
  Middleware,
  MqttStackError,
  type Next,
  type Packet,
} from '@mqtt-stack/core'
import { AuthenticationErrorCode } from './errors.js'
import { AUTHENTICATION_DEFAULTS, type AuthenticationOptions } from './options.js'
import type { AuthenticationState } from './state.js'

/** CONNACK return codes of MQTT 3.1 and 3.1.1. */
const RC_SERVER_UNAVAILABLE = 0x03
const RC_BAD_CREDENTIALS = 0x04
const RC_NOT_AUTHORIZED = 0x05
/** CONNACK reason codes of MQTT 5.0. */
const REASON_BAD_CREDENTIALS = 0x86
const REASON_NOT_AUTHORIZED = 0x87
const REASON_SERVER_UNAVAILABLE = 0x88
const REASON_BAD_AUTHENTICATION_METHOD = 0x8c

/** A 3.1.1 return code as the MQTT 5.0 reason code that means the same (index = return code). */
const RETURN_TO_REASON = [0x00, 0x84, 0x85, 0x88, 0x86, 0x87] as const

/** An MQTT 5.0 reason code as the closest 3.1.1 return code. */
function reasonToReturn(reason: number): number | undefined {
  switch (reason) {
    case 0x84:
      return 0x01
    case 0x85:
      return 0x02
    case 0x88:
    case 0x89:
      return RC_SERVER_UNAVAILABLE
    case 0x86:
      return RC_BAD_CREDENTIALS
    case 0x87:
    case 0x8a:
      return RC_NOT_AUTHORIZED
    default:
      return undefined
  }
}

type Verdict = CallbackStore<'authenticateConnection'>

/**
 * Checks the credentials of every CONNECT through `authenticateConnection`. Only `store.authenticated ===
 * true` lets the CONNECT go on; anything else is answered with a refusing CONNACK and the connection is
 * closed. Needs a provider such as {@link StaticCredentials}.
 */
export class Authentication extends Middleware<AuthenticationOptions> {
  override readonly name = 'authentication'
  override readonly packetTypes = ['connect'] as const
  override readonly requires = ['authenticateConnection'] as const

  constructor(config: Partial<AuthenticationOptions> = {}) {
    super(config, AUTHENTICATION_DEFAULTS)
  }

  override handle(client: Client, packet: Packet, next: Next, done: Done): void {
    if (packet.cmd !== 'connect') return next()
    if (
      client.protocolVersion === 5 &&
      packet.properties?.authenticationMethod !== undefined &&
      !client.stack.provides('continueAuthentication')
    ) {
      // [MQTT-4.12.0-1] an authentication method the server does not support: CONNACK 0x8C, then close
      refuse(
        client,
        packet.clientId,
        0,
        REASON_BAD_AUTHENTICATION_METHOD,
        'unsupported authentication method',
      )
      return done()
    }
    // CONNECT is once per connection: a closure here costs nothing on the hot path.
    const ctx = { client, packet, username: packet.username, password: packet.password }
    client.stack.execute('authenticateConnection', ctx, {}, (err, store) => {
      if (err) {
        // An operational failure (the user store is down): tell the client to come back later, then let the
        // stack report the error and close the connection. [MQTT-3.2.2-5] no session, no processing.
        if (!client.closed) connack(client, RC_SERVER_UNAVAILABLE, REASON_SERVER_UNAVAILABLE)
        return next(err)
      }
      if (client.closed) return done()
      if (store.authenticated === true) {
        const state: AuthenticationState = { user: store.user }
        client.state.authentication = state
        return next()
      }
      const given = packet.username !== undefined || packet.password !== undefined
      refuse(
        client,
        packet.clientId,
        returnCodeOf(store, given),
        reasonCodeOf(store, given),
        'credentials refused',
      )
      done()
    })
  }
}

/** The 3.1/3.1.1 return code of a refusal: the provider's (1..5, or mapped from its reason code), else 4 or 5. */
function returnCodeOf(store: Verdict, credentialsGiven: boolean): number {
  const { returnCode, reasonCode } = store
  if (returnCode !== undefined && Number.isInteger(returnCode) && returnCode >= 1 && returnCode <= 5)
    return returnCode
  const mapped = reasonCode === undefined ? undefined : reasonToReturn(reasonCode)
  if (mapped !== undefined) return mapped
  return credentialsGiven ? RC_BAD_CREDENTIALS : RC_NOT_AUTHORIZED
}

/** The 5.0 reason code of a refusal: the provider's (0x80..0xFF, or mapped from its return code), else 0x86 or 0x87. */
function reasonCodeOf(store: Verdict, credentialsGiven: boolean): number {
  const { returnCode, reasonCode } = store
  if (reasonCode !== undefined && Number.isInteger(reasonCode) && reasonCode >= 0x80 && reasonCode <= 0xff)
    return reasonCode
  const mapped = returnCode === undefined ? undefined : RETURN_TO_REASON[returnCode]
  if (mapped !== undefined && mapped !== 0) return mapped
  return credentialsGiven ? REASON_BAD_CREDENTIALS : REASON_NOT_AUTHORIZED
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
  const err = new MqttStackError(
    AuthenticationErrorCode.NOT_AUTHENTICATED,
    `CONNECT of client "${clientId}" refused (${why}): CONNACK 0x${code.toString(16).padStart(2, '0')}`,
    { reasonCode },
  )
  // [MQTT-3.1.4-5] closing drops whatever the client sent after its CONNECT: it is never processed.
  client.close(undefined, err)
}
