/**
 * Scenario 10, on demand (`pnpm bench --scenario stored-bytes`): what a stored message costs the broker in
 * memory when it arrived among traffic that nothing keeps. Issue #16: a kept 10-byte payload used to pin the
 * whole socket read chunk it was decoded from, about 15 KiB of RSS per stored message.
 *
 * Two kinds of stored message, each measured on two fresh broker processes that receive the same bytes:
 * - retained: ~60 MB of QoS 0 PUBLISH (1 KiB payloads, to `bulk/<n>`, which nobody subscribes to) with 2,000
 *   messages of 10 bytes to distinct topics `r/<i>` spread evenly among them: retained (A) or not (B);
 * - offline: persistent sessions (clean = false) subscribe `s/<k>/#` at QoS 1 and disconnect; then the same
 *   traffic with 2,000 QoS 1 messages of 10 bytes to `s/<k>/<i>`, 500 queued per session (A), or to
 *   `n/<k>/<i>`, which no session subscribed to (B). Sessions of 500 rather than one of 2,000: our broker's
 *   default `maxOfflineMessages` and the mosquitto peer's `max_queued_messages` are 1,000.
 * Each pair runs again with 20,000 stored messages among the same traffic, to tell the cost of each message
 * (the slope between the two counts) from a fixed cost the first stored messages bring (the intercept).
 *
 * Once every QoS 1 message is acknowledged and the broker has answered a PINGREQ sent after the last
 * PUBLISH, the publisher disconnects and the broker's RSS is sampled every 250 ms until it settles; then its
 * JS heap and external memory (Node brokers). Nothing is forced in the broker: no GC. Only then is what was
 * stored checked: in A a new `r/#` subscriber receives every retained message, the sessions every queued
 * one. Reported: (A − B) / stored, the cost of one stored message, for RSS, heap and external memory.
 *
 * Before the fix (core's `ownPayload` disabled), our broker measured ~30 KiB of RSS per message at 2,000
 * (its external memory held all 60 MB of read chunks), as aedes 1.2.0 still does. With it: 0.5–1.5 KiB per
 * message (0.4–0.9 KiB of it JS heap: the store's objects) and 0–9 MiB once, which varies from run to run:
 * malloc's heap, which the small long-lived copies among freed read chunks keep from shrinking (with
 * glibc's mmap threshold lowered below the chunk size it mostly goes). See the fit between the two counts.
 */
import type { Socket } from 'node:net'
import { MqttConnection, publishFrame } from '../load/connection.js'
import { CpuMeter, round, sleep, waitFor } from '../load/stats.js'
import { type RunningBroker, startBroker } from '../peers/index.js'
import type { Scenario, ScenarioContext, ScenarioResult } from './types.js'

export type StoredKind = 'retained' | 'offline'

/** The messages stored, their payload, the traffic they hide in and the sessions that queue them. */
export const STORED_LOAD = Object.freeze({
  /** Stored messages of the main measurement, and of the second one that gives the slope. */
  stored: 2000,
  more: 20_000,
  payload: 10,
  bulkPayload: 1024,
  bytes: 60_000_000,
  quickBytes: 16_000_000,
  /** Offline messages queued per persistent session. */
  perSession: 500,
})

/** What one broker process held after one variant's traffic. */
export interface StoredMeasurement {
  rss: number
  heapUsed?: number
  external?: number
  /** Stored messages found afterwards (A), or undefined when not checked (B). */
  kept?: number
  /** Milliseconds from the first PUBLISH to the PINGRESP after the last. */
  sendMs: number
}

/** Per stored message, in bytes: (A − B) / stored. */
export interface StoredCost {
  rss: number
  heapUsed?: number
  external?: number
}

const SETTLE_STEP_MS = 250
const SETTLE_MAX_STEPS = 16
/** RSS counts as settled when two readings a step apart differ by less than this. */
const SETTLE_BYTES = 64 * 1024

/** RSS once it stops moving (at most four seconds of sampling). */
async function settledRss(broker: RunningBroker): Promise<number> {
  let last = broker.rss() ?? 0
  for (let step = 0; step < SETTLE_MAX_STEPS; step++) {
    await sleep(SETTLE_STEP_MS)
    const now = broker.rss() ?? 0
    if (Math.abs(now - last) < SETTLE_BYTES) return now
    last = now
  }
  return last
}

/** Resolves when the socket can take more, or has closed. */
function writable(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done)
      socket.off('close', done)
      resolve()
    }
    socket.on('drain', done)
    socket.on('close', done)
  })
}

const sessionsFor = (stored: number): number => Math.ceil(stored / STORED_LOAD.perSession)

function storedTopic(kind: StoredKind, keep: boolean, i: number, sessions: number): Buffer {
  if (kind === 'retained') return Buffer.from(`r/${i}`)
  return Buffer.from(`${keep ? 's' : 'n'}/${i % sessions}/${i}`)
}

/**
 * Sends `bytes` of QoS 0 traffic to `bulk/<n>` with `stored` messages of the kind evenly among it, and
 * resolves once every QoS 1 one is acknowledged and a PINGREQ sent after the last is answered.
 */
async function sendTraffic(
  conn: MqttConnection,
  kind: StoredKind,
  keep: boolean,
  bytes: number,
  stored: number,
): Promise<number> {
  const L = STORED_LOAD
  const bulk = Array.from({ length: 100 }, (_, n) =>
    publishFrame(Buffer.from(`bulk/${n}`), 0, 0, L.bulkPayload, 0, n, false),
  )
  const bulkCount = Math.round(bytes / bulk[0]!.length)
  const sessions = sessionsFor(stored)
  const qos = kind === 'offline' ? 1 : 0
  const retain = kind === 'retained' && keep
  let acked = 0
  conn.onAck = () => {
    acked++
  }
  const start = performance.now()
  let next = 0
  conn.socket.cork()
  for (let j = 0; j < bulkCount; j++) {
    // Stored message i goes before bulk message floor((i + 0.5) × bulk / stored): evenly, none at the ends.
    while (next < stored && Math.floor(((next + 0.5) * bulkCount) / stored) <= j) {
      conn.publish(storedTopic(kind, keep, next, sessions), qos, L.payload, 1, next, retain)
      next++
    }
    conn.socket.write(bulk[j % bulk.length]!)
    if (j % 64 === 63) {
      conn.socket.uncork()
      if (conn.socket.writableNeedDrain) await writable(conn.socket)
      if (conn.closed) throw new Error(`the broker closed the publisher: ${conn.closeError?.message}`)
      conn.socket.cork()
    }
  }
  conn.socket.uncork()
  if (qos > 0) {
    const all = await waitFor(
      () => acked >= stored,
      () => acked,
      10_000,
    )
    if (!all) throw new Error(`${stored - acked} of ${stored} QoS 1 messages never acknowledged`)
  }
  if ((await conn.ping()) < 0) throw new Error('the broker closed the publisher before PINGRESP')
  return performance.now() - start
}

/** Counts the stored messages a new `r/#` subscriber, or the returning sessions, receive. */
async function countKept(broker: RunningBroker, kind: StoredKind, stored: number): Promise<number> {
  const { host, port } = broker
  let received = 0
  const onMessage = (): void => {
    received++
  }
  const conns: MqttConnection[] = []
  try {
    if (kind === 'retained') {
      const conn = await MqttConnection.open({ host, port, clientId: 'stored-check', onMessage })
      conns.push(conn)
      await conn.subscribe(['r/#'], 0)
    } else {
      for (let k = 0; k < sessionsFor(stored); k++) {
        conns.push(
          await MqttConnection.open({ host, port, clientId: `stored-${k}`, clean: false, onMessage }),
        )
      }
    }
    await waitFor(
      () => received >= stored,
      () => received,
      2000,
    )
    return received
  } finally {
    await Promise.all(conns.map((conn) => conn.close()))
  }
}

/**
 * One variant on one fresh broker process: the traffic with `stored` messages stored (`keep`, A) or not (B),
 * then the broker's settled RSS and, for a Node broker, its heap and external memory; in A, then, how many
 * of the stored messages the broker still has.
 */
export async function measureStored(
  broker: RunningBroker,
  kind: StoredKind,
  keep: boolean,
  bytes: number,
  stored: number = STORED_LOAD.stored,
): Promise<StoredMeasurement> {
  const { host, port } = broker
  if (kind === 'offline') {
    for (let k = 0; k < sessionsFor(stored); k++) {
      const conn = await MqttConnection.open({ host, port, clientId: `stored-${k}`, clean: false })
      await conn.subscribe([`s/${k}/#`], 1)
      await conn.close()
    }
  }
  const pub = await MqttConnection.open({ host, port, clientId: 'stored-pub' })
  let sendMs: number
  try {
    sendMs = await sendTraffic(pub, kind, keep, bytes, stored)
  } finally {
    await pub.close()
  }
  const rss = await settledRss(broker)
  const memory = await broker.nodeMemory()
  const measurement: StoredMeasurement = { rss, sendMs: round(sendMs, 0) }
  if (memory) {
    measurement.heapUsed = memory.heapUsed
    measurement.external = memory.external
  }
  if (keep) measurement.kept = await countKept(broker, kind, stored)
  return measurement
}

/** (A − B) per stored message, in bytes. */
export function storedCost(
  a: StoredMeasurement,
  b: StoredMeasurement,
  stored: number = STORED_LOAD.stored,
): StoredCost {
  const per = (x: number, y: number): number => round((x - y) / stored, 0)
  const cost: StoredCost = { rss: per(a.rss, b.rss) }
  if (a.heapUsed !== undefined && b.heapUsed !== undefined) cost.heapUsed = per(a.heapUsed, b.heapUsed)
  if (a.external !== undefined && b.external !== undefined) cost.external = per(a.external, b.external)
  return cost
}

const MiB = (bytes: number): number => round(bytes / 2 ** 20, 2)
const summary = (m: StoredMeasurement): string =>
  `RSS ${MiB(m.rss)} MiB, heap ${m.heapUsed === undefined ? '—' : MiB(m.heapUsed)} MiB, external ${
    m.external === undefined ? '—' : MiB(m.external)
  } MiB, sent in ${m.sendMs} ms${m.kept === undefined ? '' : `, ${m.kept} stored`}`

async function runStoredBytes(ctx: ScenarioContext): Promise<ScenarioResult> {
  const L = STORED_LOAD
  const bytes = ctx.quick ? L.quickBytes : L.bytes
  const fresh = ctx.freshBroker ?? (() => startBroker(ctx.broker.name))
  const log = ctx.log ?? (() => {})
  const metrics: Record<string, number> = { trafficMB: round(bytes / 1e6, 0) }
  const notes: string[] = []
  const cpu = new CpuMeter()
  let expected = 0
  let kept = 0
  let first = true
  /** A then B for `stored` messages of `kind`, each on its own broker process: A − B. */
  const pair = async (kind: StoredKind, stored: number): Promise<[StoredMeasurement, StoredMeasurement]> => {
    const measured: StoredMeasurement[] = []
    for (const keep of [true, false]) {
      // The run's own broker serves the first variant; every other one gets a fresh process.
      const broker = first ? ctx.broker : await fresh()
      try {
        const m = await measureStored(broker, kind, keep, bytes, stored)
        const crashed = broker.crashed()
        if (crashed) throw new Error(`the broker ${crashed}`)
        measured.push(m)
        log(`  ${broker.name} ${kind} ×${stored} ${keep ? 'A (stored)' : 'B (not stored)'}: ${summary(m)}`)
      } finally {
        if (!first) await broker.stop()
        first = false
      }
    }
    const a = measured[0]!
    expected += stored
    kept += a.kept ?? 0
    if (a.kept !== stored) notes.push(`${kind}: ${a.kept} of ${stored} stored messages found afterwards`)
    return [a, measured[1]!]
  }
  for (const kind of ['retained', 'offline'] as const) {
    const key = kind === 'retained' ? 'Retained' : 'Queued'
    const [a, b] = await pair(kind, L.stored)
    const [aMore, bMore] = await pair(kind, L.more)
    const cost = storedCost(a, b, L.stored)
    const costMore = storedCost(aMore, bMore, L.more)
    // RSS(A) − RSS(B) = fixed + stored × slope, from the two counts.
    const slope = (aMore.rss - bMore.rss - (a.rss - b.rss)) / (L.more - L.stored)
    metrics[`rssPer${key}`] = cost.rss
    metrics[`rssSlope${key}`] = round(slope, 0)
    metrics[`rssFixed${key}MiB`] = MiB(a.rss - b.rss - L.stored * slope)
    metrics[`rssPer${key}More`] = costMore.rss
    if (costMore.heapUsed !== undefined) metrics[`heapPer${key}More`] = costMore.heapUsed
    if (cost.heapUsed !== undefined) metrics[`heapPer${key}`] = cost.heapUsed
    if (cost.external !== undefined) metrics[`externalPer${key}`] = cost.external
    metrics[`${kind}RssAMiB`] = MiB(a.rss)
    metrics[`${kind}RssBMiB`] = MiB(b.rss)
    if (a.heapUsed !== undefined && b.heapUsed !== undefined) {
      metrics[`${kind}HeapAMiB`] = MiB(a.heapUsed)
      metrics[`${kind}HeapBMiB`] = MiB(b.heapUsed)
    }
  }
  return {
    throughput: metrics.rssPerRetained!,
    sent: expected,
    received: kept,
    lost: Math.max(0, expected - kept),
    duplicates: Math.max(0, kept - expected),
    generatorCpu: round(cpu.share()),
    // A memory reading after the traffic, not a race: the generator's speed does not change it.
    generatorBottleneck: false,
    metrics,
    notes,
  }
}

function storedDetails(result: ScenarioResult): string[] {
  const m = result.metrics
  const L = STORED_LOAD
  const pair = (kind: StoredKind, what: 'Rss' | 'Heap'): string =>
    m[`${kind}${what}AMiB`] === undefined
      ? '—'
      : `${m[`${kind}${what}AMiB`]} MiB with, ${m[`${kind}${what}BMiB`]} MiB without`
  const fit = (key: string): string =>
    `${m[`rssFixed${key}MiB`]} MiB once + ${m[`rssSlope${key}`]} B per message (${m[`rssPer${key}More`]} B each over ${L.more.toLocaleString('en')})`
  return [
    `${L.stored.toLocaleString('en')} stored messages of ${L.payload} bytes among ${m.trafficMB} MB of QoS 0 traffic; a fresh broker process each for A (stored) and B (not).`,
    '',
    `- retained: RSS ${pair('retained', 'Rss')}; JS heap ${pair('retained', 'Heap')}; RSS fit ${fit('Retained')}`,
    `- offline: RSS ${pair('offline', 'Rss')}; JS heap ${pair('offline', 'Heap')}; RSS fit ${fit('Queued')}`,
  ]
}

export const storedBytes: Scenario = {
  name: 'stored-bytes',
  title:
    'stored bytes: broker memory per stored 10-byte message (retained, queued offline) among 60 MB of unstored traffic',
  relay: false,
  onDemand: true,
  metrics: [
    {
      key: 'rssPerRetained',
      label: 'RSS per retained message, 2,000 stored',
      unit: 'B',
      better: 'lower',
    },
    { key: 'rssSlopeRetained', label: 'RSS per retained message, slope 2k→20k', unit: 'B', better: 'lower' },
    { key: 'rssFixedRetainedMiB', label: 'RSS fixed part, retained', unit: 'MiB', better: 'lower' },
    { key: 'heapPerRetainedMore', label: 'JS heap per retained message (20k)', unit: 'B', better: 'lower' },
    { key: 'externalPerRetained', label: 'external memory per retained message', unit: 'B', better: 'lower' },
    {
      key: 'rssPerQueued',
      label: 'RSS per message queued offline, 2,000 stored',
      unit: 'B',
      better: 'lower',
    },
    { key: 'rssSlopeQueued', label: 'RSS per queued message, slope 2k→20k', unit: 'B', better: 'lower' },
    { key: 'rssFixedQueuedMiB', label: 'RSS fixed part, queued', unit: 'MiB', better: 'lower' },
    { key: 'heapPerQueuedMore', label: 'JS heap per queued message (20k)', unit: 'B', better: 'lower' },
    { key: 'externalPerQueued', label: 'external memory per queued message', unit: 'B', better: 'lower' },
    { key: 'retainedRssBMiB', label: 'RSS after the traffic alone', unit: 'MiB', better: 'lower' },
  ],
  run: runStoredBytes,
  details: storedDetails,
}
