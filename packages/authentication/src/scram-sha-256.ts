import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'
import {
  type CallbackHandlers,
  type Client,
  ErrorCode,
  Middleware,
  MqttStackError,
  ReasonCode,
} from '@mqtt-stack/core'
import type { EnhancedConnectStore, EnhancedStepStore } from './exchange.js'
import { SCRAM_SHA_256_DEFAULTS, type ScramSha256Options } from './options.js'

/** The MQTT 5.0 Authentication Method this provider answers. */
export const SCRAM_SHA_256 = 'SCRAM-SHA-256'

interface Keys {
  salt: Buffer
  storedKey: Buffer
  serverKey: Buffer
}

/** One exchange in progress, between server-first and client-final. */
interface Exchange {
  username: string
  gs2Header: string
  clientFirstBare: string
  serverFirst: string
  nonce: string
  /** Undefined for an unknown user: the exchange goes on with a made-up salt and fails at the proof. */
  keys: Keys | undefined
}

type Step = EnhancedConnectStore | EnhancedStepStore

/**
 * An enhanced-authentication provider for MQTT 5.0: SCRAM-SHA-256 (RFC 5802, RFC 7677) over the AUTH
 * exchange. CONNECT carries client-first, the server's AUTH 0x18 server-first, the client's AUTH 0x18
 * client-final with its proof, and the CONNACK (or AUTH 0x00 of a re-authentication) server-final with the
 * server's signature. Only salted keys are kept, never passwords. No channel binding (`p=` is refused).
 *
 * `use()` it before other `authenticateConnection` providers, so a CONNECT naming SCRAM-SHA-256 is decided
 * here; anything else passes through with `next()`.
 */
export class ScramSha256 extends Middleware<ScramSha256Options> {
  override readonly name = 'scram-sha-256'
  override readonly roles = ['credentials']
  override readonly before = ['static-credentials']
  readonly #users = new Map<string, Keys>()
  /** Derives the salt of an unknown user, so asking twice gives the same answer (no user enumeration). */
  readonly #secret = randomBytes(32)

  constructor(config: Partial<ScramSha256Options>) {
    super(config, SCRAM_SHA_256_DEFAULTS)
    const { users, iterations } = this.config
    if (!Number.isInteger(iterations) || iterations < 1)
      throw invalid('iterations must be a positive integer')
    if (typeof users !== 'object' || users === null || Array.isArray(users))
      throw invalid('users must be an object of username: password')
    for (const [username, password] of Object.entries(users)) {
      if (typeof password !== 'string') throw invalid(`the password of user "${username}" must be a string`)
      const salt = randomBytes(16)
      const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256')
      const clientKey = hmac(salted, 'Client Key')
      this.#users.set(username, {
        salt,
        storedKey: sha256(clientKey),
        serverKey: hmac(salted, 'Server Key'),
      })
    }
  }

  override callbacks(): CallbackHandlers {
    return {
      authenticateConnection: (ctx, store, next, done) => {
        const properties = ctx.packet.properties
        if (ctx.client.protocolVersion !== 5 || properties?.authenticationMethod !== SCRAM_SHA_256)
          return next()
        this.#clientFirst(ctx.client, properties.authenticationData, store)
        done()
      },
      continueAuthentication: (ctx, store, next, done) => {
        const { client, packet } = ctx
        const properties = packet.properties
        if (properties?.authenticationMethod !== SCRAM_SHA_256) return next()
        if (packet.reasonCode === ReasonCode.RE_AUTHENTICATE)
          this.#clientFirst(client, properties.authenticationData, store)
        else this.#clientFinal(client, properties.authenticationData, store)
        done()
      },
    }
  }

  /** client-first-message → server-first-message. */
  #clientFirst(client: Client, data: Buffer | undefined, store: Step): void {
    const state = client.state.authentication
    const message = data?.toString('utf8') ?? ''
    // gs2-header: "n,," or "y,," (no channel binding) with an optional authzid we ignore; "p=" is refused.
    const first = message.indexOf(',')
    const second = first < 0 ? -1 : message.indexOf(',', first + 1)
    const flag = message.slice(0, first)
    const bare = second < 0 ? '' : message.slice(second + 1)
    const match = /^n=([^,]*),r=([\x21-\x2b\x2d-\x7e]+)(,.*)?$/.exec(bare)
    if (state === undefined || (flag !== 'n' && flag !== 'y') || match === null)
      return refuse(store, ReasonCode.NOT_AUTHORIZED)
    const username = decodeName(match[1]!)
    if (username === undefined) return refuse(store, ReasonCode.NOT_AUTHORIZED)
    const keys = this.#users.get(username)
    const salt = keys?.salt ?? hmac(this.#secret, username).subarray(0, 16)
    const nonce = match[2]! + randomBytes(18).toString('base64')
    const serverFirst = `r=${nonce},s=${salt.toString('base64')},i=${this.config.iterations}`
    const exchange: Exchange = {
      username,
      gs2Header: message.slice(0, second + 1),
      clientFirstBare: bare,
      serverFirst,
      nonce,
      keys,
    }
    state.exchange = exchange
    store.reasonCode = ReasonCode.CONTINUE_AUTHENTICATION
    store.authenticationData = Buffer.from(serverFirst, 'utf8')
  }

  /** client-final-message with the proof → server-final-message, or a refusal. */
  #clientFinal(client: Client, data: Buffer | undefined, store: Step): void {
    const state = client.state.authentication
    const exchange = state?.exchange as Exchange | undefined
    if (state !== undefined) state.exchange = undefined
    if (exchange === undefined) return refuse(store, ReasonCode.NOT_AUTHORIZED)
    const message = data?.toString('utf8') ?? ''
    const at = message.lastIndexOf(',p=')
    const withoutProof = message.slice(0, at)
    const match = /^c=([^,]*),r=([^,]*)(,.*)?$/.exec(withoutProof)
    if (at < 0 || match === null) return refuse(store, ReasonCode.NOT_AUTHORIZED)
    // The channel binding repeats the gs2-header and the nonce is the combined one (RFC 5802 5.1).
    const bindingOk = match[1] === Buffer.from(exchange.gs2Header, 'utf8').toString('base64')
    const nonceOk = match[2] === exchange.nonce
    const proof = Buffer.from(message.slice(at + 3), 'base64')
    const authMessage = `${exchange.clientFirstBare},${exchange.serverFirst},${withoutProof}`
    const keys = exchange.keys
    // Every path computes the same digests, so an unknown user costs what a wrong password does.
    const storedKey = keys?.storedKey ?? this.#secret
    const signature = hmac(storedKey, authMessage)
    const clientKey = proof.length === signature.length ? xor(proof, signature) : signature
    const proofOk = timingSafeEqual(sha256(clientKey), storedKey) && proof.length === signature.length
    if (!(keys !== undefined && bindingOk && nonceOk && proofOk))
      return refuse(store, ReasonCode.BAD_USER_NAME_OR_PASSWORD)
    store.authenticated = true
    store.user = exchange.username
    store.authenticationData = Buffer.from(
      `v=${hmac(keys.serverKey, authMessage).toString('base64')}`,
      'utf8',
    )
  }
}

function refuse(store: Step, reasonCode: number): void {
  store.authenticated = false
  store.reasonCode = reasonCode
}

/** saslname: "=2C" is ",", "=3D" is "="; any other "=" is malformed (RFC 5802 5.1). */
function decodeName(name: string): string | undefined {
  if (name.length === 0 || /=(?!2C|3D)/.test(name)) return undefined
  return name.replace(/=2C/g, ',').replace(/=3D/g, '=')
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest()
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest()
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!
  return out
}

function invalid(message: string): MqttStackError {
  return new MqttStackError(ErrorCode.INVALID_OPTION, `ScramSha256: ${message}`)
}
