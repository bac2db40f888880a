import type { CallbackStore, DropReason } from '@mqtt-stack/core'
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import { type GlobalCounters, type ListenerCounters, TYPE_NAMES } from './counters.js'

/** What the registry reads at scrape time. */
export interface CountSource {
  readonly listeners: Iterable<ListenerCounters>
  readonly global: GlobalCounters
  /** What the backend answered to `collectStats` for this scrape, when some middleware answers it. */
  backendStats(): Readonly<BackendStats> | undefined
}

type Labeled = Counter<string> | Gauge<string>

/** Sets a counter to `value` (counts are kept outside prom-client, so a scrape costs the hot path nothing). */
function put(metric: Labeled, labels: Record<string, string>, value: number): void {
  if (metric instanceof Gauge) metric.set(labels, value)
  else metric.inc(labels, value)
}

const QOS = ['0', '1', '2'] as const

/** The reasons core and the built-ins drop messages for. */
const DROP_REASONS = [
  'offline-queue-full',
  'qos0-buffer-full',
  'slow-consumer',
  'too-large',
  'not-authorized',
] as const satisfies readonly DropReason[]

/** Label values in Prometheus' snake case: `offline-queue-full` -> `offline_queue_full`. */
function snake(value: string): string {
  return value.replace(/-/g, '_')
}

/** What a backend answers to `collectStats`. */
export type BackendStats = CallbackStore<'collectStats'>

/** Backend gauges: `collectStats` field -> metric name and help. */
const BACKEND_GAUGES: ReadonlyArray<[field: keyof BackendStats, name: string, help: string]> = [
  ['sessions', 'mqtt_sessions', 'Sessions the backend holds, connected or not.'],
  [
    'disconnectedSessions',
    'mqtt_disconnected_sessions',
    'Persistent sessions whose client is not connected.',
  ],
  ['subscriptions', 'mqtt_subscriptions', 'Subscriptions (filter, client) the backend routes.'],
  ['sharedSubscriptions', 'mqtt_shared_subscriptions', 'MQTT 5.0 shared subscriptions with a member.'],
  ['retainedMessages', 'mqtt_retained_messages', 'Retained messages stored.'],
  ['retainedBytes', 'mqtt_retained_bytes', 'Payload bytes of the retained messages stored.'],
  ['offlineBytes', 'mqtt_offline_bytes', 'Payload bytes queued for disconnected persistent sessions.'],
  ['wills', 'mqtt_stored_wills', 'Wills stored.'],
]

/**
 * The prom-client registry over the counts: every metric is filled by its `collect` at scrape time from
 * plain numbers, so counting costs an increment, and prom-client writes the exposition format.
 */
export function createRegistry(
  source: CountSource,
  options: {
    processMetrics: boolean
    labels: Readonly<Record<string, string>>
    backendFields: readonly (keyof BackendStats)[]
  },
): Registry {
  const registry = new Registry()
  registry.setDefaultLabels({ ...options.labels })
  if (options.processMetrics) collectDefaultMetrics({ register: registry })
  const registers = [registry]

  /** A metric over every listener, `value` reading one number of its counters (by label set). */
  const perListener = (
    Kind: typeof Counter | typeof Gauge,
    name: string,
    help: string,
    extra: readonly string[],
    fill: (counters: ListenerCounters, metric: Labeled) => void,
  ): void => {
    new Kind({
      name,
      help,
      labelNames: ['listener', ...extra],
      registers,
      collect(this: Labeled) {
        this.reset()
        for (const counters of source.listeners) fill(counters, this)
      },
    })
  }

  const byType = (name: string, help: string, pick: (c: ListenerCounters) => Float64Array) =>
    perListener(Counter, name, help, ['type'], (c, metric) => {
      const values = pick(c)
      for (let t = 1; t < 16; t++) put(metric, { listener: c.listener, type: TYPE_NAMES[t]! }, values[t]!)
    })
  byType('mqtt_received_packets_total', 'MQTT packets received, by packet type.', (c) => c.packetsIn)
  byType('mqtt_sent_packets_total', 'MQTT packets sent, by packet type.', (c) => c.packetsOut)
  byType('mqtt_received_bytes_total', 'Bytes of the MQTT packets received, by packet type.', (c) => c.bytesIn)
  byType('mqtt_sent_bytes_total', 'Bytes of the MQTT packets sent, by packet type.', (c) => c.bytesOut)

  const byQos = (name: string, help: string, pick: (c: ListenerCounters) => Float64Array) =>
    perListener(Counter, name, help, ['qos'], (c, metric) => {
      const values = pick(c)
      for (let q = 0; q < 3; q++) put(metric, { listener: c.listener, qos: QOS[q]! }, values[q]!)
    })
  byQos('mqtt_messages_received_total', 'PUBLISH packets received from clients, by QoS.', (c) => c.received)
  byQos(
    'mqtt_messages_delivered_total',
    'PUBLISH packets sent to subscribers (retained messages and wills included), by QoS.',
    (c) => c.delivered,
  )

  const one = (
    Kind: typeof Counter | typeof Gauge,
    name: string,
    help: string,
    pick: (c: ListenerCounters) => number,
  ) => perListener(Kind, name, help, [], (c, metric) => put(metric, { listener: c.listener }, pick(c)))
  one(Counter, 'mqtt_connections_total', 'Connections accepted by the listener.', (c) => c.connections)
  one(Gauge, 'mqtt_connections', 'Connections open now, connected or not yet.', (c) => c.open)
  one(
    Gauge,
    'mqtt_connected_clients',
    'Connections open now whose CONNACK accepted them.',
    (c) => c.connected,
  )
  one(
    Gauge,
    'mqtt_inflight_messages',
    'QoS 1 and 2 messages sent and not yet acknowledged (PUBACK, PUBCOMP).',
    (c) => c.inflight,
  )
  one(
    Counter,
    'mqtt_auth_failures_total',
    'Connections refused for their credentials or authorization (CONNACK 0x86, 0x87, 0x8C; 3.1.1: 4, 5).',
    (c) => c.authFailures,
  )
  perListener(
    Counter,
    'mqtt_connections_refused_total',
    'Connections refused by a CONNACK, by reason (the 5.0 reason code name; 3.1.1 return codes mapped to it).',
    ['reason'],
    (c, metric) => {
      for (const [reason, value] of c.refused) put(metric, { listener: c.listener, reason }, value)
    },
  )
  perListener(
    Counter,
    'mqtt_disconnections_total',
    'Ends of accepted connections: clean after a DISCONNECT (reason client_disconnect), unclean any other way, by reason.',
    ['kind', 'reason'],
    (c, metric) => {
      put(metric, { listener: c.listener, kind: 'clean', reason: 'client_disconnect' }, c.cleanDisconnects)
      for (const [reason, value] of c.uncleanReasons)
        put(metric, { listener: c.listener, kind: 'unclean', reason }, value)
    },
  )

  new Counter({
    name: 'mqtt_messages_dropped_total',
    help: 'Messages dropped, by reason.',
    labelNames: ['reason'],
    registers,
    collect(this: Counter<string>) {
      this.reset()
      // Every known reason from the start, at 0, so that rate() and alerts see the first drop.
      for (const reason of DROP_REASONS) this.inc({ reason: snake(reason) }, 0)
      for (const [reason, value] of source.global.dropped) this.inc({ reason: snake(reason) }, value)
    },
  })
  new Counter({
    name: 'mqtt_malformed_packets_total',
    help: 'Connections closed because their bytes could not be decoded, by problem.',
    labelNames: ['problem'],
    registers,
    collect(this: Counter<string>) {
      this.reset()
      for (const [problem, value] of source.global.malformed) this.inc({ problem: snake(problem) }, value)
    },
  })
  for (const [field, name, help] of BACKEND_GAUGES) {
    // Only the figures the backend keeps: one it leaves undefined is not shown as 0.
    if (!options.backendFields.includes(field)) continue
    new Gauge({
      name,
      help,
      registers,
      collect(this: Gauge<string>) {
        const value = source.backendStats()?.[field]
        this.set(typeof value === 'number' ? value : 0)
      },
    })
  }
  return registry
}
