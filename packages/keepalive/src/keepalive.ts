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
import { DeadlineBuckets } from './deadline-buckets.js'
import { KeepAliveErrorCode } from './errors.js'
import { checkOptions, DEFAULTS, type KeepAliveOptions } from './options.js'
import { KeepAliveState } from './state.js'

/** The largest keepalive MQTT can express: as `maxKeepalive`, it caps nothing. */
const MAX_KEEPALIVE = 65_535

/** What KeepAlive counts. */
export interface KeepAliveStats {
  /**
   * Deadlines the timer looked at, one each time the deadline of a watched client came (none before): a
   * client that sends a packet every keepalive is looked at about once per keepalive, however many it sends.
   */
  checks: number
  /** Clients closed for a keepalive timeout. */
  timeouts: number
}

/**
 * Keepalive: a client that sends nothing for 1.5 times its keepalive is closed through `closeClient`
 * (reason 0x8d). PINGREQ is activity like any packet; core answers it with PINGRESP. A packet only records
 * when the client is due; one unref'd timer, armed for the earliest deadline, serves every client, and looks
 * at a client only when its deadline, rounded up to a resolution relative to its keepalive, comes.
 */
export class KeepAlive extends Middleware<KeepAliveOptions> {
  override readonly name = 'keepalive'
  /** Every packet: each one is activity that keeps the client alive. */
  override readonly packetTypes = PACKET_TYPES
  override readonly requires = ['closeClient'] as const
  override readonly after = ['connection']
  override readonly providerHints = { closeClient: 'Connection from @mqtt-stack/connection' }

  /** Clients with a non-zero keepalive, by when to look at them again; their deadline is in their state. */
  readonly #deadlines: DeadlineBuckets<Client>
  #timeouts = 0

  constructor(options: Partial<KeepAliveOptions> = {}) {
    super(options, DEFAULTS)
    checkOptions(this.config)
    this.#deadlines = new DeadlineBuckets<Client>(this.#check)
  }

  /** How many clients are watched. */
  get watching(): number {
    return this.#deadlines.size
  }

  /** Whether the timer is armed: exactly while some client is watched. */
  get sweeping(): boolean {
    return this.#deadlines.armed
  }

  /** What was counted since the middleware was created. A getter, so the stack never takes it for a callback. */
  get stats(): KeepAliveStats {
    return { checks: this.#deadlines.checks, timeouts: this.#timeouts }
  }

  override handle(client: Client, packet: Packet, next: Next): void {
    // [MQTT-3.1.2-24] Every packet is activity: it moves the deadline on, and that is all it costs.
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
    this.#deadlines.clear()
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
    const state = new KeepAliveState(requested, interval, timeout, Date.now() + timeout)
    client.state.keepalive = state
    if (interval === 0 || client.closed) return
    this.#schedule(client, state)
  }

  override uninstall(client: Client): void {
    this.#deadlines.delete(client)
  }

  /**
   * Looks at the client again just after its deadline: the first millisecond at which it has been silent
   * for longer than its timeout, rounded up to its resolution.
   */
  #schedule(client: Client, state: KeepAliveState): void {
    this.#deadlines.schedule(client, state.deadline + 1, resolution(state.timeout, this.config.checkInterval))
  }

  /** The deadline of a client has come: closed when it has passed, otherwise looked at again at the new one. */
  readonly #check = (client: Client, now: number): void => {
    const state = client.state.keepalive
    if (client.closed || state === undefined) return
    if (now <= state.deadline) {
      this.#schedule(client, state)
      return
    }
    this.#timeouts++
    expire(client, state)
  }
}

/**
 * How finely the deadline of a client whose timeout is `timeout` ms is checked: a power of two near a 32nd
 * of its timeout (32 ms for a keepalive of 1 s: at most about 3 % late), at most `coarsest` (the
 * `checkInterval` option). Powers of two make clients of different keepalives share buckets.
 */
function resolution(timeout: number, coarsest: number): number {
  return Math.min(coarsest, 2 ** Math.max(0, Math.floor(Math.log2(timeout / RESOLUTION_DIVISOR))))
}

/** A deadline is checked to within this fraction of its timeout (or `checkInterval`, if finer). */
const RESOLUTION_DIVISOR = 32

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
