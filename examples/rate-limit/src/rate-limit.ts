import {
  type Client,
  type DeclaredCallbackName,
  type Done,
  type IPublishPacket,
  Middleware,
  MqttStackError,
  type Next,
} from '@mqtt-stack/core'

// The plugin's own callback and state, prefixed so they cannot collide with another plugin's.
declare module '@mqtt-stack/core' {
  interface Callbacks {
    /** A client published faster than allowed; answer it to log, alert or set `store.disconnect`. */
    exampleRateLimitExceeded: {
      ctx: { client: Client; packet: IPublishPacket; limit: number }
      store: { disconnect?: boolean }
    }
  }
  interface ClientState {
    exampleRateLimit?: { tokens: number; refilledAt: number }
  }
}

/**
 * The callbacks declared above, by name, for the Stack: `RateLimit` declares them, so once it is used a
 * method of one of these names, on any middleware, is a handler. Typed against the augmented catalogue.
 */
export const RATE_LIMIT_CALLBACKS = Object.freeze([
  'exampleRateLimitExceeded',
] as const satisfies readonly DeclaredCallbackName[])

export interface RateLimitOptions {
  /** Publishes allowed per second, on average. */
  perSecond: number
  /** Publishes allowed in one burst. */
  burst: number
  /** Milliseconds clock, replaceable in tests. */
  now: () => number
}

const DEFAULTS: RateLimitOptions = Object.freeze({ perSecond: 100, burst: 200, now: Date.now })

/**
 * A token bucket per client. A PUBLISH over the limit is dropped (QoS 1/2 are still acknowledged, so the
 * client does not resend it) and `exampleRateLimitExceeded` runs; a handler may ask to disconnect.
 */
export class RateLimit extends Middleware<RateLimitOptions> {
  override readonly name = 'example-rate-limit'
  override readonly packetTypes = ['publish'] as const
  override readonly declares = RATE_LIMIT_CALLBACKS
  /** It must see PUBLISH before the middleware that ends its chain; checked when the broker starts. */
  override readonly after = ['connection']
  override readonly before = ['inbound-manager']

  constructor(options?: Partial<RateLimitOptions>) {
    super(options, DEFAULTS)
    if (!(this.config.perSecond > 0) || !(this.config.burst >= 1)) {
      // Third parties use their own code prefix, not MQS_ERR_.
      throw new MqttStackError(
        'EXAMPLE_ERR_INVALID_OPTION',
        'RateLimit: perSecond must be > 0 and burst >= 1',
      )
    }
  }

  override install(client: Client): void {
    client.state.exampleRateLimit = { tokens: this.config.burst, refilledAt: this.config.now() }
  }

  override handle(client: Client, packet: IPublishPacket, next: Next, done: Done): void {
    const bucket = client.state.exampleRateLimit!
    const now = this.config.now()
    bucket.tokens = Math.min(
      this.config.burst,
      bucket.tokens + ((now - bucket.refilledAt) / 1000) * this.config.perSecond,
    )
    bucket.refilledAt = now
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return next()
    }
    client.stack.execute(
      'exampleRateLimitExceeded',
      { client, packet, limit: this.config.perSecond },
      {},
      (err, store) => {
        if (err) return next(err)
        if (store.disconnect)
          client.close(0x96) // 5.0: Message rate too high
        else if (packet.qos === 1) client.write({ cmd: 'puback', messageId: packet.messageId! })
        else if (packet.qos === 2) client.write({ cmd: 'pubrec', messageId: packet.messageId! })
        done()
      },
    )
  }
}
