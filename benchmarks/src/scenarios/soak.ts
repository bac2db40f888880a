/**
 * Scenario 9, on demand (`pnpm bench --scenario soak`): ten minutes of mixed traffic against one broker,
 * sampled every 15 s, to see whether it stays responsive and flat over time rather than how fast it goes.
 *
 * The traffic (SOAK_LOAD), all from this one process over the raw load client:
 * - a publisher sends 2,000 QoS 1 messages/s of 300 B to `t/{0..4}/x`; others send QoS 0 to `q0/{0..9}/s`,
 *   QoS 2 to `q2/{0..4}/s`, and retained QoS 1 to 200 topics `r/{0..19}/{0..9}` (one in ten empty: a clear);
 * - persistent churn: 50 connections/s with clean = false, client ids from a pool of 500, each with a will,
 *   subscribing `t/{id mod 5}/+` at QoS 1 (its offline queue fills between visits and drains on the next).
 *   The 500 sessions exist before the clock starts, as a broker in service has its sessions already: the
 *   run measures a steady state, not the first visit of each id;
 * - clean churn: 10 connections/s, each with a will, subscribing `r/{n mod 20}/+` and `q2/+/s` at QoS 2
 *   (retained messages on every SUBSCRIBE);
 * - every churning client leaves after 0.2–1 s, alternately with DISCONNECT and by dropping the socket;
 * - long-lived clients, each pinging once a second: wildcard subscribers `t/+/x` (QoS 1, counted for loss),
 *   `q2/#` (QoS 2, counted for loss), `+/+/s`, `#`, `will/#`, `r/+/+`, and six idle persistent sessions.
 *
 * Per window: CONNACK latency of new connections (p50, p99; a handshake still pending at the end of a window
 * counts with its age so far), PINGRESP latency of the long-lived clients (p99), deliveries to subscribers
 * per second, the broker's RSS and, for the Node brokers, its JS heap. Targets: CONNACK p99 ≤ 1 s in every
 * window; the delivery rate of the last third ≥ 80% of the first third's; RSS flat (the mean of the last
 * third within 10% of the middle third's).
 */
import { type ConnectOptions, MqttConnection, openMany } from '../load/connection.js'
import { CpuMeter, DeliveryTracker, quantile, round, sleep, waitFor } from '../load/stats.js'
import { deliveryCounts } from './result.js'
import { type SoakSample, soakChecks, soakDetails, soakMetrics } from './soak-report.js'
import type { Scenario, ScenarioContext, ScenarioResult } from './types.js'

/** The load, in messages or connections per second. */
export const SOAK_LOAD = Object.freeze({
  qos1: { rate: 2000, payload: 300, window: 500 },
  qos0: { rate: 500, payload: 100 },
  qos2: { rate: 100, payload: 200, window: 100 },
  retained: { rate: 20, payload: 64, window: 50 },
  persistentChurn: 50,
  persistentPool: 500,
  cleanChurn: 10,
  /** How long a churning client stays, in milliseconds (uniform). */
  lifetimeMs: [200, 1000] as const,
  idleClients: 6,
  pingMs: 1000,
  /** Handshakes waiting for CONNACK past which new churn is skipped (and counted) rather than piled up. */
  maxHandshakes: 200,
})

const FULL_MS = 600_000
const QUICK_MS = 6_000
const TIMEOUT_MS = 10_000

interface Stream {
  conn: MqttConnection
  index: number
  qos: 0 | 1 | 2
  rate: number
  payload: number
  window: number
  topics: Buffer[]
  retain: boolean
  sent: number
  skipped: number
  inflight: number
}

interface LongLived {
  conn: MqttConnection
  pingStart: number | undefined
}

/** One sampling window's raw figures, reset as each window closes. */
class WindowCounts {
  start = performance.now()
  connack: number[] = []
  ping: number[] = []
  delivered = 0
  longLived = 0
  failed = 0
  skippedConnects = 0
}

const topicsOf = (count: number, name: (i: number) => string): Buffer[] =>
  Array.from({ length: count }, (_, i) => Buffer.from(name(i)))

export async function runSoak(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { broker } = ctx
  const { host, port } = broker
  const L = SOAK_LOAD
  const durationMs = ctx.durationMs ?? (ctx.quick ? QUICK_MS : FULL_MS)
  const sampleMs = ctx.sampleMs ?? (ctx.quick ? 1000 : 15_000)
  const windows = Math.max(3, Math.round(durationMs / sampleMs))
  const log = ctx.log ?? (() => {})
  const notes: string[] = []
  // Subscriber 0 (`t/+/x`) counts the QoS 1 stream (publisher 0), subscriber 1 (`q2/#`) the QoS 2 one (2).
  const COUNTED = [0, 2]
  const tracker = new DeliveryTracker(2, 4)
  const samples: SoakSample[] = []
  let win = new WindowCounts()
  let running = false
  const longLived: LongLived[] = []
  const publishers: MqttConnection[] = []
  const churning = new Set<MqttConnection>()
  const handshakes = new Map<Promise<MqttConnection | undefined>, number>()
  const leaveTimers = new Set<NodeJS.Timeout>()
  const streams: Stream[] = []
  const wills = { expected: 0, received: 0 }
  let connected = 0
  let delivered = 0
  let churnSeq = 0
  const busy = new Set<number>()
  const opts = (clientId: string, extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
    host,
    port,
    clientId,
    keepalive: 30,
    ...extra,
  })

  /** Opens a churning client: CONNACK latency, SUBSCRIBE, then leaving after 0.2–1 s, one way or the other. */
  const churn = (
    clientId: string,
    clean: boolean,
    filters: string[],
    qos: 0 | 1 | 2,
    release?: () => void,
  ) => {
    const started = performance.now()
    const willTopic = `will/${clean ? 'c' : 'p'}/${clientId}`
    const attempt = MqttConnection.open(
      opts(clientId, {
        clean,
        will: { topic: willTopic, payload: Buffer.from(clientId), qos: clean ? 0 : 1 },
        onMessage: () => {
          win.delivered++
        },
      }),
      TIMEOUT_MS,
    ).then(
      (conn) => {
        handshakes.delete(attempt)
        if (!running) {
          conn.destroy()
          release?.()
          return conn
        }
        win.connack.push(performance.now() - started)
        connected++
        churning.add(conn)
        void conn.subscribe(filters, qos)
        const [min, max] = L.lifetimeMs
        const drop = churnSeq++ % 2 === 1
        const timer = setTimeout(
          () => {
            leaveTimers.delete(timer)
            churning.delete(conn)
            release?.()
            if (conn.closed) return
            if (drop) {
              wills.expected++
              conn.destroy()
            } else void conn.close()
          },
          min + Math.random() * (max - min),
        )
        leaveTimers.add(timer)
        return conn
      },
      (err: Error) => {
        handshakes.delete(attempt)
        release?.()
        if (running) {
          win.failed++
          notes.push(`a handshake failed: ${err.message.replace(/soak-[pc]-\d+/, '<client>')}`)
        }
        return undefined
      },
    )
    handshakes.set(attempt, started)
  }

  const startPersistent = (): void => {
    let id = Math.floor(Math.random() * L.persistentPool)
    for (let n = 0; busy.has(id) && n < L.persistentPool; n++) id = (id + 1) % L.persistentPool
    if (busy.has(id)) {
      win.skippedConnects++
      return
    }
    busy.add(id)
    churn(`soak-p-${id}`, false, [`t/${id % 5}/+`], 1, () => busy.delete(id))
  }
  let cleanSeq = 0
  const startClean = (): void => {
    const n = cleanSeq++
    churn(`soak-c-${n}`, true, [`r/${n % 20}/+`, 'q2/+/s'], 2)
  }

  // When the load started (set below): the schedules of the publishers and of the churn count from it.
  let start = 0
  const churnStarted = [0, 0]
  const tick = (): void => {
    if (!running) return
    const elapsed = (performance.now() - start) / 1000
    for (const s of streams) {
      let due = Math.floor(elapsed * s.rate) - s.sent - s.skipped
      // More than a second behind: the broker held the window shut; what it missed is skipped, not bursted.
      if (due > s.rate) {
        s.skipped += due - s.rate
        due = s.rate
      }
      const n = Math.min(due, s.window - s.inflight)
      if (n <= 0 || s.conn.closed) continue
      s.conn.socket.cork()
      for (let i = 0; i < n; i++) {
        const seq = s.sent++
        const empty = s.retain && seq % 10 === 9
        s.conn.publish(s.topics[seq % s.topics.length]!, s.qos, empty ? 0 : s.payload, s.index, seq, s.retain)
        if (s.qos > 0) s.inflight++
      }
      s.conn.socket.uncork()
    }
    const rates = [L.persistentChurn, L.cleanChurn]
    const starters = [startPersistent, startClean]
    for (let k = 0; k < 2; k++) {
      const due = Math.floor(elapsed * rates[k]!) - churnStarted[k]!
      for (let i = 0; i < due; i++) {
        churnStarted[k]!++
        if (handshakes.size >= L.maxHandshakes) win.skippedConnects++
        else starters[k]!()
      }
    }
  }
  let pingRound = 0
  const pingTick = (): void => {
    const slot = pingRound++ % 10
    for (const [k, client] of longLived.entries()) {
      if (k % 10 !== slot || client.pingStart !== undefined || client.conn.closed) continue
      const sent = performance.now()
      client.pingStart = sent
      void client.conn.ping().then((code) => {
        client.pingStart = undefined
        if (code >= 0) win.ping.push(performance.now() - sent)
      })
    }
  }

  const cpu = new CpuMeter()
  const windowCpu = new CpuMeter()
  let timer: NodeJS.Timeout | undefined
  let pinger: NodeJS.Timeout | undefined
  try {
    // The pool's sessions, the long-lived clients, then the publishers; the churn starts with the clock.
    await openMany(
      L.persistentPool,
      50,
      (id) => opts(`soak-p-${id}`, { clean: false }),
      async (conn, id) => {
        await conn.subscribe([`t/${id % 5}/+`], 1)
        await conn.close()
      },
    )
    const subscribers: [string, 0 | 1 | 2][] = [
      ['t/+/x', 1],
      ['q2/#', 2],
      ['+/+/s', 0],
      ['#', 0],
      ['will/#', 1],
      ['r/+/+', 1],
    ]
    for (const [s, [filter, qos]] of subscribers.entries()) {
      const conn = await MqttConnection.open(
        opts(`soak-sub-${s}`, {
          onMessage: (buf, from, to) => {
            win.delivered++
            win.longLived++
            if (s === 4) wills.received++
            else if (s < 2 && to - from >= 16 && buf.readUInt32LE(from + 8) === COUNTED[s]) {
              tracker.record(s, buf, from, to)
            }
          },
        }),
      )
      longLived.push({ conn, pingStart: undefined })
      await conn.subscribe([filter], qos)
    }
    for (let i = 0; i < L.idleClients; i++) {
      const conn = await MqttConnection.open(opts(`soak-idle-${i}`, { clean: false }))
      longLived.push({ conn, pingStart: undefined })
      await conn.subscribe([`idle/${i}`], 1)
    }
    const defs = [
      { ...L.qos1, qos: 1, topics: topicsOf(5, (i) => `t/${i}/x`) },
      { ...L.qos0, window: Number.POSITIVE_INFINITY, qos: 0, topics: topicsOf(10, (i) => `q0/${i}/s`) },
      { ...L.qos2, qos: 2, topics: topicsOf(5, (i) => `q2/${i}/s`) },
      { ...L.retained, qos: 1, topics: topicsOf(200, (i) => `r/${i % 20}/${Math.floor(i / 20)}`) },
    ] as const
    for (const [index, def] of defs.entries()) {
      const conn = await MqttConnection.open(opts(`soak-pub-${index}`))
      publishers.push(conn)
      const stream: Stream = {
        conn,
        index,
        qos: def.qos,
        rate: def.rate,
        payload: def.payload,
        window: def.window,
        topics: def.topics,
        retain: index === 3,
        sent: 0,
        skipped: 0,
        inflight: 0,
      }
      conn.onAck = () => {
        stream.inflight--
      }
      streams.push(stream)
    }
    running = true
    start = performance.now()
    timer = setInterval(tick, 10)
    pinger = setInterval(pingTick, L.pingMs / 10)
    // The warm-up is load like the rest, only not sampled.
    if (ctx.warmupMs) await sleep(ctx.warmupMs)
    const t0 = performance.now()
    win = new WindowCounts()
    connected = 0
    windowCpu.reset()
    cpu.reset()
    let sentBefore = streams.reduce((sum, s) => sum + s.sent, 0)
    for (let w = 0; w < windows; w++) {
      // Waiting for the sampling clock is the point of the scenario, not a synchronisation.
      await sleep(Math.max(0, t0 + (w + 1) * sampleMs - performance.now()))
      const closed = win
      win = new WindowCounts()
      delivered += closed.delivered
      const now = performance.now()
      const seconds = (now - closed.start) / 1000
      const connack = [...closed.connack, ...[...handshakes.values()].map((t) => now - t)]
      const pings = [
        ...closed.ping,
        ...longLived.flatMap((c) => (c.pingStart === undefined ? [] : [now - c.pingStart])),
      ]
      const sentNow = streams.reduce((sum, s) => sum + s.sent, 0)
      const rss = broker.rss()
      const heap = await broker.heapUsed(Math.min(2000, sampleMs / 2))
      const sample: SoakSample = {
        t: round((now - t0) / 1000, 1),
        connacks: closed.connack.length,
        handshakesPending: handshakes.size,
        handshakesFailed: closed.failed,
        connectsSkipped: closed.skippedConnects,
        pings: closed.ping.length,
        deliveryRate: round(closed.delivered / seconds, 0),
        longLivedRate: round(closed.longLived / seconds, 0),
        publishRate: round((sentNow - sentBefore) / seconds, 0),
        generatorCpu: round(windowCpu.share(), 2),
      }
      sentBefore = sentNow
      windowCpu.reset()
      const p50 = quantile(connack, 0.5)
      const p99 = quantile(connack, 0.99)
      const pingP99 = quantile(pings, 0.99)
      if (p50 !== undefined) sample.connackP50 = round(p50, 2)
      if (p99 !== undefined) sample.connackP99 = round(p99, 2)
      if (connack.length) sample.connackMax = round(connack[connack.length - 1]!, 1)
      if (pingP99 !== undefined) sample.pingP99 = round(pingP99, 2)
      if (rss !== undefined) sample.rssMiB = round(rss / 2 ** 20, 1)
      if (heap !== undefined) sample.heapMiB = round(heap / 2 ** 20, 1)
      samples.push(sample)
      log(
        `  ${broker.name} ${sample.t} s: CONNACK p50 ${sample.connackP50 ?? '—'} p99 ${sample.connackP99 ?? '—'} ms (${sample.connacks} + ${sample.handshakesPending} pending), PINGRESP p99 ${sample.pingP99 ?? '—'} ms, ${sample.deliveryRate} deliveries/s, RSS ${sample.rssMiB ?? '—'} MiB, heap ${sample.heapMiB ?? '—'} MiB, generator ${sample.generatorCpu}`,
      )
    }
    running = false
    clearInterval(timer)
    clearInterval(pinger)
    const generatorCpu = cpu.share()
    // What the two counted subscribers should hold once every PUBLISH was acknowledged.
    const expected = streams[0]!.sent + streams[2]!.sent
    const drained = await waitFor(
      () =>
        tracker.unique >= expected &&
        streams.every((s) => s.inflight === 0) &&
        wills.received >= wills.expected,
      () => tracker.unique + wills.received + streams.reduce((sum, s) => sum + s.inflight, 0),
      // Ends as soon as it is drained; the bound is for a machine busy with other work.
      10_000,
    )
    if (!drained) {
      const unacked = streams.reduce((sum, s) => sum + s.inflight, 0)
      notes.push(
        `drain incomplete: ${expected - tracker.unique} deliveries missing, ${unacked} unacknowledged`,
      )
    }
    if (wills.received < wills.expected) {
      notes.push(`${wills.expected - wills.received} of ${wills.expected} wills never arrived`)
    }
    const skipped = streams.reduce((sum, s) => sum + s.skipped, 0)
    if (skipped) notes.push(`${skipped} messages not sent: a publisher's window stayed shut over a second`)
    const connectsSkipped = samples.reduce((sum, s) => sum + s.connectsSkipped!, 0)
    if (connectsSkipped) notes.push(`${connectsSkipped} connections not started: too many handshakes pending`)
    for (const c of [...longLived.map((l) => l.conn), ...publishers]) {
      if (c.closeError) notes.push(`a long-lived connection was closed: ${c.closeError.message}`)
    }
    const checks = soakChecks(samples)
    for (const check of checks) {
      if (!check.pass)
        notes.push(`target missed: ${check.name} ${check.value} ${check.unit}, ${check.target}`)
    }
    const seconds = (samples.length * sampleMs) / 1000
    const metrics = soakMetrics(samples, checks, { delivered, connected, seconds })
    return {
      throughput: metrics.throughput!,
      ...deliveryCounts(expected, tracker, generatorCpu),
      ...(broker.rss() !== undefined ? { rss: broker.rss()! } : {}),
      metrics,
      notes: [...new Set(notes)],
      checks,
      samples,
    }
  } finally {
    running = false
    clearInterval(timer)
    clearInterval(pinger)
    for (const t of leaveTimers) clearTimeout(t)
    await Promise.all(handshakes.keys())
    for (const conn of churning) conn.destroy()
    await Promise.all([...longLived.map((l) => l.conn), ...publishers].map((c) => c.close()))
  }
}

export const soak: Scenario = {
  name: 'soak',
  title: 'soak: 10 minutes of mixed QoS 0/1/2, retained, wills, clean and persistent churn, pings',
  relay: false,
  onDemand: true,
  durationMs: FULL_MS,
  metrics: [
    { key: 'connackP99', label: 'CONNACK p99, worst window (target ≤ 1 s)', unit: 'ms', better: 'lower' },
    { key: 'connackP50', label: 'CONNACK p50, median window', unit: 'ms', better: 'lower' },
    { key: 'pingP99', label: 'PINGRESP p99, worst window', unit: 'ms', better: 'lower' },
    { key: 'throughput', label: 'deliveries/s, whole run', unit: 'msg/s', better: 'higher' },
    { key: 'deliveryKept', label: 'delivery rate, last / first third (≥ 80%)', unit: '%', better: 'higher' },
    { key: 'rssDrift', label: 'RSS, last over middle third (within ±10%)', unit: '%', better: 'lower' },
    { key: 'rssMiB', label: 'RSS, mean of the last third', unit: 'MiB', better: 'lower' },
    { key: 'heapMiB', label: 'JS heap used, mean of the last third', unit: 'MiB', better: 'lower' },
    { key: 'connectRate', label: 'churn handshakes completed/s', unit: 'conn/s', better: 'higher' },
  ],
  run: runSoak,
  details: soakDetails,
}
