import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import {
  type CallbackContext,
  type CallbackHandlers,
  type CallbackStore,
  type Done,
  ErrorCode,
  Middleware,
  MqttStackError,
  type Next,
} from '@mqtt-stack/core'
import { STATIC_CREDENTIALS_DEFAULTS, type StaticCredentialsOptions } from './options.js'

type Ctx = CallbackContext<'authenticateConnection'>
type Store = CallbackStore<'authenticateConnection'>

const EMPTY = Buffer.alloc(0)

/**
 * An `authenticateConnection` provider: a table of users and passwords, or your own `check` function.
 * With neither, it runs in open mode, as mosquitto with `allow_anonymous true` and aedes do: any username
 * and password are accepted (many clients always send some), and `allowAnonymous` decides about a CONNECT
 * without a username.
 *
 * Accepting sets `store.authenticated = true` and `store.user` to the username, and ends the chain.
 * Anything else sets `store.authenticated = false` and calls `next()`, so a later provider may still accept.
 * An MQTT 5.0 CONNECT with an Authentication Method is not its to answer: it calls `next()` and leaves the
 * store alone, for the provider of that method (none: CONNACK 0x8C [MQTT-4.12.0-1]).
 * Passwords are compared in constant time: both sides are reduced to an HMAC-SHA-256 digest under a random
 * per-instance key and compared with `timingSafeEqual`, so neither the length of a password nor whether a
 * username exists shows in the time an answer takes.
 */
export class StaticCredentials extends Middleware<StaticCredentialsOptions> {
  override readonly name = 'static-credentials'
  override readonly roles = ['credentials']
  readonly #key = randomBytes(32)
  readonly #digests = new Map<string, Buffer>()
  /** Compared against when the username is unknown, so that path costs what a known one does. */
  readonly #unknown: Buffer

  constructor(config: Partial<StaticCredentialsOptions>) {
    super(config, STATIC_CREDENTIALS_DEFAULTS)
    const { users, check, allowAnonymous } = this.config
    if (typeof allowAnonymous !== 'boolean') throw invalid('allowAnonymous must be a boolean')
    if (users !== undefined && check !== undefined) throw invalid('give users or check, not both')
    if (check !== undefined && typeof check !== 'function') throw invalid('check must be a function')
    if (users !== undefined) {
      if (typeof users !== 'object' || users === null || Array.isArray(users))
        throw invalid('users must be an object of username: password')
      // Own keys only: a username such as "__proto__" or "toString" never reaches Object.prototype.
      for (const [username, password] of Object.entries(users)) {
        if (typeof password !== 'string') throw invalid(`the password of user "${username}" must be a string`)
        this.#digests.set(username, this.#digest(Buffer.from(password, 'utf8')))
      }
    }
    this.#unknown = this.#digest(randomBytes(16))
  }

  override callbacks(): CallbackHandlers {
    return {
      authenticateConnection: (ctx, store, next, done) => this.#authenticate(ctx, store, next, done),
    }
  }

  #authenticate(ctx: Ctx, store: Store, next: Next, done: Done): void {
    const { username, password, client } = ctx
    // An MQTT 5.0 CONNECT naming an Authentication Method is for the provider of that method: a username and
    // password table does not implement it, so it neither accepts nor refuses. Left unanswered by every
    // provider, the method is refused with CONNACK 0x8C and the connection closed [MQTT-4.12.0-1].
    if (client.protocolVersion === 5 && ctx.packet.properties?.authenticationMethod !== undefined)
      return next()
    if (username === undefined) return this.#decide(this.config.allowAnonymous, undefined, store, next, done)
    const { check, users } = this.config
    if (check === undefined) {
      const ok = users === undefined || this.#matches(username, password)
      return this.#decide(ok, username, store, next, done)
    }
    let result: boolean | Promise<boolean>
    try {
      result = check(username, password, client)
    } catch (err) {
      return next(asError(err))
    }
    if (typeof result === 'boolean') return this.#decide(result, username, store, next, done)
    Promise.resolve(result).then(
      (ok) => this.#decide(ok === true, username, store, next, done),
      (err: unknown) => next(asError(err)),
    )
  }

  #decide(ok: boolean, username: string | undefined, store: Store, next: Next, done: Done): void {
    if (ok) {
      store.authenticated = true
      store.user = username
      return done()
    }
    store.authenticated = false
    next()
  }

  /** Constant time in the password and in whether the username exists. */
  #matches(username: string, password: Buffer | undefined): boolean {
    const expected = this.#digests.get(username)
    const same = timingSafeEqual(expected ?? this.#unknown, this.#digest(password ?? EMPTY))
    return same && expected !== undefined && password !== undefined
  }

  #digest(bytes: Buffer): Buffer {
    return createHmac('sha256', this.#key).update(bytes).digest()
  }
}

function invalid(message: string): MqttStackError {
  return new MqttStackError(ErrorCode.INVALID_OPTION, `StaticCredentials: ${message}`)
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
