import {
  type CallbackHandlers,
  type Client,
  type IConnectPacket,
  Middleware,
  MqttStackError,
  type Next,
  PACKET_TYPES,
  type Packet,
  ReasonCode,
} from '@mqtt-stack/core'
import { KeepAliveErrorCode } from './errors.js'
import { checkOptions, DEFAULTS, type KeepAliveOptions } from './options.js'
import { KeepAliveState } from './state.js'

/** The largest keepalive MQTT can express: as `maxKeepalive`, it caps nothing. */
const MAX_KEEPALIVE = 65_535

/**
 * Keepalive: a client that sends nothing for 1.5 times its keepalive is closed through `closeClient`
 * (reason 0x8d). PINGREQ is activity like any packet; core answers it with PINGRESP. One coarse, unref'd sweep timer serves every client; it runs only
 * while some client is watched.
 */
export class KeepAlive extends Middleware<KeepAliveOptions> {
  override readonly name = 'keepalive'
  /** Every packet: each one is activity that keeps the client alive. */
  override readonly packetTypes = PACKET_TYPES
  override readonly requires = ['closeClient'] as const
  override readonly after = ['connection']
  override readonly providerHints = { closeClient: 'Connection from @mqtt-stack/connection' }

  /** Clients with a non-zero keepalive; their deadline lives in `client.state.keepalive`. */
  readonly #watched = new Set<Client>()
  #timer: NodeJS.Timeout | undefined = undefined

  constructor(options: Partial<KeepAliveOptions> = {}) {
    super(options, DEFAULTS)
    checkOptions(this.config)
  }

  /** How many clients the sweep currently watches. */
  get watching(): number {
    return this.#watched.size
  }

  /** Whether the sweep timer is running. */
  get sweeping(): boolean {
    return this.#timer !== undefined
  }

  override handle(client: Client, packet: Packet, next: Next): void {
    const state = client.state.keepalive
    if (state !== undefined && state.timeout > 0) state.deadline = Date.now() + state.timeout
    if (packet.cmd === 'connect' && state === undefined) this.#watch(client, packet)
    next()
  }

  override callbacks(): CallbackHandlers {
    return {
      prepareConnack(ctx, store, next) {
        // [MQTT-3.2.2-21] A 5.0 client uses the Server Keep Alive of CONNACK instead of its own: sent when the
        // keepalive enforced differs from the one asked for. [MQTT-3.2.2-22] Otherwise the client's is used.
        const state = ctx.client.state.keepalive
        if (ctx.client.protocolVersion === 5 && state !== undefined && state.interval !== state.requested)
          store.properties.serverKeepAlive = state.interval
        next()
      },
    }
  }

  override close(): void {
    this.#stop()
    this.#watched.clear()
  }

  #watch(client: Client, packet: IConnectPacket): void {
    const requested = packet.keepalive ?? 0
    const { maxKeepalive } = this.config
    // MQTT 5.0: a client asking for no keepalive (0) while a maximum is configured (below 65535) is held to
    // the maximum, which the CONNACK's Server Keep Alive tells it [MQTT-3.2.2-21]. A 3.1.1 client cannot be
    // told, so its 0 is never enforced.
    const interval =
      requested === 0 && client.protocolVersion === 5 && maxKeepalive < MAX_KEEPALIVE
        ? maxKeepalive
        : Math.min(requested, maxKeepalive)
    // [MQTT-3.1.2-24] Only a non-zero keepalive is enforced, with a grace of half an interval.
    const timeout = interval * 1500
    client.state.keepalive = new KeepAliveState(requested, interval, timeout, Date.now() + timeout)
    if (interval === 0) return
    this.#watched.add(client)
    if (this.#timer === undefined) {
      this.#timer = setInterval(this.#sweep, this.config.checkInterval)
      this.#timer.unref()
    }
  }

  readonly #sweep = (): void => {
    const now = Date.now()
    for (const client of this.#watched) {
      if (client.closed) {
        this.#watched.delete(client)
        continue
      }
      const state = client.state.keepalive
      if (state === undefined || now <= state.deadline) continue
      this.#watched.delete(client)
      expire(client, state)
    }
    if (this.#watched.size === 0) this.#stop()
  }

  #stop(): void {
    if (this.#timer === undefined) return
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}

/** Closes a client that has been silent too long "as if the network had failed" [MQTT-3.1.2-24]. */
function expire(client: Client, state: KeepAliveState): void {
  const error = new MqttStackError(
    KeepAliveErrorCode.KEEPALIVE_TIMEOUT,
    `client ${client.id || '(no id)'} sent nothing for ${state.timeout} ms (keepalive ${state.interval} s)`,
    { reasonCode: ReasonCode.KEEP_ALIVE_TIMEOUT },
  )
  client.stack.execute(
    'closeClient',
    { client, reasonCode: ReasonCode.KEEP_ALIVE_TIMEOUT, error },
    {},
    (err) => {
      if (err) client.stack.reportError(err, client, undefined)
    },
  )
}
