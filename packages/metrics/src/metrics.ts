import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type CallbackContext,
  type CallbackHandler,
  type Client,
  type Done,
  type DropReason,
  ErrorCode,
  Middleware,
  MqttStackError,
  type Next,
  PACKET_TYPES,
  type Packet,
  type Stack,
  type WriteObserver,
} from '@mqtt-stack/core'
import type { Registry } from 'prom-client'
import {
  connackCode,
  countRefusal,
  endReason,
  GlobalCounters,
  ListenerCounters,
  TYPE_INDEX,
  TYPE_NAMES,
  wireSize,
} from './counters.js'
import { DEFAULTS, type MetricsOptions, validateMetricsOptions } from './options.js'
import { type BackendStats, createRegistry } from './registry.js'
import { closeHttp, type Exposition, listenHttp, requestListener } from './server.js'
import './state.js'

/** The counts of one listener, as `snapshot()` returns them. Packet types that never occurred are left out. */
export interface ListenerSnapshot {
  connections: number
  open: number
  connected: number
  inflight: number
  authFailures: number
  cleanDisconnects: number
  uncleanDisconnects: number
  /** Unclean ends by reason (`slow_consumer`, `keepalive_timeout`, `session_taken_over`, `connection_lost`...). */
  uncleanReasons: Record<string, number>
  /** Refusing CONNACKs by reason name (`not_authorized`, `bad_user_name_or_password`, ...). */
  refused: Record<string, number>
  packetsReceived: Record<string, number>
  packetsSent: Record<string, number>
  bytesReceived: Record<string, number>
  bytesSent: Record<string, number>
  /** PUBLISH packets received, by QoS 0, 1, 2. */
  messagesReceived: [number, number, number]
  /** PUBLISH packets sent to subscribers, by QoS 0, 1, 2. */
  messagesDelivered: [number, number, number]
}

/** Every count, for tests and for an application that embeds the broker. */
export interface MetricsSnapshot {
  /** By listener name (`client.listener`, or `defaultListener`). */
  listeners: Record<string, ListenerSnapshot>
  dropped: Partial<Record<DropReason, number>>
  /** Connections closed for undecodable bytes, by codec problem. */
  malformed: Record<string, number>
}

/** The end of a connection. */
function clientClosed(client: Client): void {
  const state = client.state.metrics
  if (state === undefined) return
  const counters = state.counters
  counters.open--
  if (state.connected) {
    counters.connected--
    if (state.disconnected) counters.cleanDisconnects++
    else {
      counters.uncleanDisconnects++
      const reason = endReason(client)
      counters.uncleanReasons.set(reason, (counters.uncleanReasons.get(reason) ?? 0) + 1)
    }
  }
  counters.inflight -= state.inflight
  state.inflight = 0
}

function byType(values: Float64Array): Record<string, number> {
  const out: Record<string, number> = {}
  for (let t = 1; t < 16; t++) if (values[t] !== 0) out[TYPE_NAMES[t]!] = values[t]!
  return out
}

/**
 * Counts what a broker operator graphs (connections, packets and bytes by type, messages by QoS, drops
 * by reason, refusals, auth failures, per listener) and serves them in the Prometheus text format, with
 * `/healthz`, on the HTTP endpoint `listen()` opens. Counting is a few increments of plain numbers per
 * packet; prom-client renders them at scrape time. Use it before `Connection`, so it sees every packet.
 */
export class Metrics extends Middleware<MetricsOptions> {
  override readonly name = 'metrics'
  override readonly packetTypes = PACKET_TYPES
  override readonly before = ['connection']
  readonly #listeners = new Map<string, ListenerCounters>()
  readonly #global = new GlobalCounters()
  #stack: Stack | undefined = undefined
  #stopObserving: (() => void) | undefined = undefined
  #registry: Registry | undefined = undefined
  #backendStats: BackendStats | undefined = undefined
  #server: Server | undefined = undefined
  #address: AddressInfo | undefined = undefined
  #closed = false

  constructor(options: Partial<MetricsOptions> = {}) {
    super(validateMetricsOptions(options), DEFAULTS)
  }

  override setup(stack: Stack): void {
    if (this.#stack !== undefined)
      throw new MqttStackError(ErrorCode.INVALID_MIDDLEWARE, 'metrics: one Metrics per stack')
    this.#stack = stack
    this.#stopObserving = stack.observeWrites(this.#written)
  }

  override install(client: Client): void {
    const counters = this.#counters(client.listener ?? this.config.defaultListener)
    counters.connections++
    counters.open++
    client.state.metrics = { counters, connected: false, disconnected: false, inflight: 0 }
  }

  override uninstall(client: Client): void {
    clientClosed(client)
  }

  override handle(client: Client, packet: Packet, next: Next, _done: Done): void {
    const state = client.state.metrics
    if (state !== undefined) {
      const counters = state.counters
      const type = TYPE_INDEX[packet.cmd]!
      counters.packetsIn[type]!++
      if (packet.length !== undefined) counters.bytesIn[type]! += wireSize(packet.length)
      if (packet.cmd === 'publish') counters.received[packet.qos]!++
      else if ((packet.cmd === 'puback' || packet.cmd === 'pubcomp') && state.inflight > 0) {
        state.inflight--
        counters.inflight--
      } else if (packet.cmd === 'disconnect') state.disconnected = true
    }
    next()
  }

  /** Every packet written: by type from its first byte; a CONNACK says whether the connection was accepted. */
  readonly #written: WriteObserver = (client, bytes) => {
    const state = client.state.metrics
    if (state === undefined) return
    const counters = state.counters
    const first = bytes[0]!
    const type = first >> 4
    counters.packetsOut[type]!++
    counters.bytesOut[type]! += bytes.length
    if (type === 3) {
      const qos = (first >> 1) & 0x03
      counters.delivered[qos]!++
      if (qos !== 0) {
        state.inflight++
        counters.inflight++
      }
    } else if (type === 2 && !state.connected) {
      const code = connackCode(bytes, client.protocolVersion)
      if (code === 0 || (client.protocolVersion === 5 && code < 0x80)) {
        state.connected = true
        counters.connected++
      } else countRefusal(counters, code)
    }
  }

  /** Answers `messageDropped` (a notification): counted by reason. */
  readonly messageDropped: CallbackHandler<'messageDropped'> = (ctx, _store, next) => {
    const { dropped } = this.#global
    dropped.set(ctx.reason, (dropped.get(ctx.reason) ?? 0) + 1)
    next()
  }

  /** Answers `decodeFailed` by counting it, and lets the middlewares after it answer the client. */
  readonly decodeFailed: CallbackHandler<'decodeFailed'> = (
    ctx: CallbackContext<'decodeFailed'>,
    _store,
    next,
  ) => {
    const { malformed } = this.#global
    malformed.set(ctx.problem, (malformed.get(ctx.problem) ?? 0) + 1)
    next()
  }

  /**
   * Opens the HTTP endpoint on `port` and `host`: `GET /metrics` (or `path`) and `GET /healthz`. Resolves
   * with the bound address (port 0 picks a free port); rejects with `MQS_ERR_METRICS_LISTEN`. The stack's
   * `close()` closes it.
   */
  async listen(): Promise<AddressInfo> {
    if (this.#server !== undefined)
      throw new MqttStackError(ErrorCode.INVALID_STATE, 'metrics: listen() was called already')
    if (this.#closed) throw new MqttStackError(ErrorCode.INVALID_STATE, 'metrics: listen() after close()')
    const { server, address } = await listenHttp(this.#exposition, this.config.port, this.config.host)
    this.#server = server
    this.#address = address
    return address
  }

  /** The address the endpoint listens on, once `listen()` has resolved. */
  get address(): AddressInfo | undefined {
    return this.#address
  }

  /**
   * The endpoint as a request listener, to serve it from an HTTP server of your own (no `listen()` then):
   * `createServer(metrics.requestListener)`.
   */
  get requestListener(): ReturnType<typeof requestListener> {
    return requestListener(this.#exposition)
  }

  /** The metrics in the Prometheus text format, as a scrape gets them. */
  async text(): Promise<string> {
    return (await this.#render()).body
  }

  /** Every count now. */
  snapshot(): MetricsSnapshot {
    const listeners: Record<string, ListenerSnapshot> = {}
    for (const c of this.#listeners.values()) {
      listeners[c.listener] = {
        connections: c.connections,
        open: c.open,
        connected: c.connected,
        inflight: c.inflight,
        authFailures: c.authFailures,
        cleanDisconnects: c.cleanDisconnects,
        uncleanDisconnects: c.uncleanDisconnects,
        uncleanReasons: Object.fromEntries(c.uncleanReasons),
        refused: Object.fromEntries(c.refused),
        packetsReceived: byType(c.packetsIn),
        packetsSent: byType(c.packetsOut),
        bytesReceived: byType(c.bytesIn),
        bytesSent: byType(c.bytesOut),
        messagesReceived: [c.received[0]!, c.received[1]!, c.received[2]!],
        messagesDelivered: [c.delivered[0]!, c.delivered[1]!, c.delivered[2]!],
      }
    }
    return {
      listeners,
      dropped: Object.fromEntries(this.#global.dropped),
      malformed: Object.fromEntries(this.#global.malformed),
    }
  }

  /** Stops counting writes and closes the endpoint; `/healthz` says 503 from here on. */
  override async close(): Promise<void> {
    this.#closed = true
    this.#stopObserving?.()
    this.#stopObserving = undefined
    const server = this.#server
    this.#server = undefined
    if (server !== undefined) await closeHttp(server)
  }

  #counters(listener: string): ListenerCounters {
    let counters = this.#listeners.get(listener)
    if (counters === undefined) {
      counters = new ListenerCounters(listener)
      this.#listeners.set(listener, counters)
    }
    return counters
  }

  /**
   * The registry, made at the first scrape, when every middleware has been used: its backend gauges are the
   * figures the backend's first `collectStats` answer holds.
   */
  #registryNow(stats: BackendStats | undefined): Registry {
    const listeners = this.#listeners
    this.#registry ??= createRegistry(
      {
        listeners: { [Symbol.iterator]: () => listeners.values() },
        global: this.#global,
        backendStats: () => this.#backendStats,
      },
      {
        processMetrics: this.config.processMetrics,
        labels: this.config.labels,
        backendFields: stats === undefined ? [] : (Object.keys(stats) as (keyof BackendStats)[]),
      },
    )
    return this.#registry
  }

  /** What the backend holds now (`collectStats`), or undefined when no middleware answers it. */
  async #collectStats(): Promise<BackendStats | undefined> {
    const stack = this.#stack
    if (stack === undefined || !stack.provides('collectStats')) return undefined
    try {
      return await stack.run('collectStats', {}, {})
    } catch (err) {
      stack.reportError(err as MqttStackError, undefined, undefined)
      return undefined
    }
  }

  async #render(): Promise<{ contentType: string; body: string }> {
    // One collectStats per scrape, read by every backend gauge.
    this.#backendStats = await this.#collectStats()
    const registry = this.#registryNow(this.#backendStats)
    return { contentType: registry.contentType, body: await registry.metrics() }
  }

  readonly #exposition: Exposition = {
    path: this.config.path,
    render: () => this.#render(),
    healthy: () => this.#stack !== undefined && !this.#closed,
    failed: (err) => this.#stack?.reportError(err, undefined, undefined),
  }
}
