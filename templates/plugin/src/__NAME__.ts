import {
  type Client,
  type Done,
  type IPublishPacket,
  Middleware,
  MqttStackError,
  type Next,
} from '@mqtt-stack/core'

// Your own callback and per-connection state, declared by declaration merging. Prefix every name with
// your plugin's (`__PREFIX__`): two plugins declaring one name would silently collide in TypeScript.
declare module '@mqtt-stack/core' {
  interface Callbacks {
    /** Every `every`-th PUBLISH of a client; answer it to log, count or alert. */
    __PREFIX__Counted: {
      ctx: { client: Client; packet: IPublishPacket; count: number }
      store: Record<never, never>
    }
  }
  interface ClientState {
    __PREFIX__?: { count: number }
  }
}

export interface __CLASS__Options {
  /** Execute `__PREFIX__Counted` on every `every`-th PUBLISH of a client. */
  every: number
}

const DEFAULTS: __CLASS__Options = Object.freeze({ every: 100 })

/**
 * A starting point: counts the PUBLISH packets of each client and, on every `every`-th one, executes
 * `__PREFIX__Counted` before passing the packet on. Replace the body with what your middleware does.
 */
export class __CLASS__ extends Middleware<__CLASS__Options> {
  override readonly name = '__MIDDLEWARE_NAME__' // in errors and ordering; prefixed like your callbacks
  // handle() sees only these packet types; checked at use().
  override readonly packetTypes = ['publish'] as const
  // The callbacks this plugin adds (typed by the `declare module` block above), named for the Stack too: once
  // this middleware is used, a method of that name on any middleware, or on a plain object, answers it.
  override readonly declares = ['__PREFIX__Counted'] as const

  constructor(options?: Partial<__CLASS__Options>) {
    super(options, DEFAULTS) // this.config = defaults + options, frozen
    if (!Number.isInteger(this.config.every) || this.config.every < 1) {
      // Misconfiguration throws at construction, with your own code prefix (not MQS_ERR_).
      throw new MqttStackError(
        '__ERROR_CODE_PREFIX__INVALID_OPTION',
        `__CLASS__: every must be an integer >= 1, got ${this.config.every}`,
      )
    }
  }

  /** Once per connection: initialise this middleware's state on the client. */
  override install(client: Client): void {
    client.state.__PREFIX__ = { count: 0 }
  }

  /** Per PUBLISH: call exactly one of next() (go on), done() (end the chain) or next(err). */
  override handle(client: Client, packet: IPublishPacket, next: Next, _done: Done): void {
    const state = client.state.__PREFIX__!
    state.count++
    if (state.count % this.config.every !== 0) return next()
    // Any callback may be answered asynchronously: go on only when its chain has ended.
    client.stack.execute('__PREFIX__Counted', { client, packet, count: state.count }, {}, (err) => next(err))
  }
}
