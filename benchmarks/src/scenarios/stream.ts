/**
 * The shape shared by fan-in, fan-out, QoS 1 and QoS 2: publishers and subscribers in this one process (so
 * the time stamps in the payloads share a clock), each publisher sending as fast as its window allows.
 *
 * The window of a QoS 1/2 publisher is its unacknowledged PUBLISH packets (until PUBACK or PUBCOMP). A QoS 0
 * publisher has no acknowledgement, so its window is the messages it sent that have not yet reached every
 * subscriber: the load stays closed-loop, the broker is kept busy without building queues that would turn
 * a throughput figure into a measure of a drop policy.
 *
 * Across nodes (`crossNode`), the publishers are on the broker (node A) and the subscribers on a second
 * process of it on the same Redis (node B); the load starts once a probe published on A reached every
 * subscriber on B. On Redis, what Redis did during the load is counted per PUBLISH.
 */
import { closeAll, type MqttConnection, openMany } from '../load/connection.js'
import {
  CpuMeter,
  cpuMicrosPer,
  DeliveryTracker,
  LatencyRecorder,
  readCpuMs,
  round,
  sleep,
  waitFor,
} from '../load/stats.js'
import type { RunningBroker } from '../peers/index.js'
import { redisPerPublish } from '../peers/redis.js'
import { deliveryCounts } from './result.js'
import type { ScenarioContext, ScenarioResult } from './types.js'

export interface StreamOptions {
  /** Prefix of client ids and topics. */
  name: string
  publishers: number
  subscribers: number
  /** Topic of publisher `i`. */
  topic: (publisher: number) => string
  /** What every subscriber subscribes to. */
  filter: string
  qos: 0 | 1 | 2
  payload: number
  /** Messages in flight per publisher (see above). */
  window: number
  durationMs: number
  /** Subscribers on a second node of the broker (ctx.startNode), publishers on the first. */
  crossNode?: boolean
}

/** Payload bytes of a probe: shorter than a stamped message, so no tracker or latency counts it. */
const PROBE_BYTES = 4

/**
 * Publishes a probe on `topic` from `pub` every 20 ms until `arrived()` (every subscriber got one), or for
 * at most `timeoutMs`; resolves with whether they all did.
 */
export async function awaitRoutes(
  pub: MqttConnection,
  topic: Buffer,
  arrived: () => boolean,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!arrived()) {
    if (performance.now() > deadline || pub.closed) return false
    pub.publish(topic, 0, PROBE_BYTES, 0, 0)
    await sleep(20)
  }
  return true
}

export async function runStream(ctx: ScenarioContext, o: StreamOptions): Promise<ScenarioResult> {
  const { host, port } = ctx.broker
  if (o.crossNode && !ctx.startNode) throw new Error(`${o.name} needs a broker with a second node (on Redis)`)
  const notes: string[] = []
  const probed = new Uint8Array(o.subscribers)
  let nodeB: RunningBroker | undefined
  const tracker = new DeliveryTracker(o.subscribers, o.publishers)
  const latency = new LatencyRecorder()
  const deliveredFrom = new Float64Array(o.publishers)
  const sent = new Float64Array(o.publishers)
  const inflight = new Float64Array(o.publishers)
  const topics = Array.from({ length: o.publishers }, (_, i) => Buffer.from(o.topic(i)))
  let running = false
  let scheduled = false
  let lastDelivery = 0
  let pubs: MqttConnection[] = []
  let subs: MqttConnection[] = []

  const pump = (): void => {
    scheduled = false
    if (!running) return
    for (let p = 0; p < o.publishers; p++) {
      const pub = pubs[p]!
      if (pub.closed) continue
      pub.socket.cork()
      if (o.qos === 0) {
        const floor = deliveredFrom[p]! / o.subscribers
        while (sent[p]! - floor < o.window) pub.publish(topics[p]!, 0, o.payload, p, sent[p]!++)
      } else {
        while (inflight[p]! < o.window) {
          pub.publish(topics[p]!, o.qos, o.payload, p, sent[p]!++)
          inflight[p]!++
        }
      }
      pub.socket.uncork()
    }
  }
  const schedule = (): void => {
    if (scheduled || !running) return
    scheduled = true
    setImmediate(pump)
  }

  try {
    if (o.crossNode) nodeB = await ctx.startNode!()
    const subNode = nodeB ?? ctx.broker
    subs = await openMany(
      o.subscribers,
      50,
      (s) => ({
        host: subNode.host,
        port: subNode.port,
        clientId: `${o.name}-sub-${s}`,
        onMessage: (buf, start, end) => {
          if (end - start === PROBE_BYTES) {
            probed[s] = 1
            return
          }
          tracker.record(s, buf, start, end)
          latency.record(buf, start, end)
          if (end - start >= 16) {
            const from = buf.readUInt32LE(start + 8)
            if (from < o.publishers) deliveredFrom[from]!++
          }
          lastDelivery = performance.now()
          if (o.qos === 0) schedule()
        },
      }),
      async (conn) => {
        const granted = await conn.subscribe([o.filter], o.qos)
        if (granted !== o.qos) notes.push(`SUBACK granted ${granted} for QoS ${o.qos}`)
      },
    )
    pubs = await openMany(o.publishers, 50, (p) => ({ host, port, clientId: `${o.name}-pub-${p}` }))
    for (const [p, pub] of pubs.entries()) {
      pub.onAck = () => {
        inflight[p]!--
        schedule()
      }
    }

    if (nodeB) {
      const routed = await awaitRoutes(
        pubs[0]!,
        topics[0]!,
        () => probed.every((seen) => seen === 1),
        ctx.quick ? 3000 : 10_000,
      )
      if (!routed) {
        const got = probed.reduce((a, b) => a + b, 0)
        notes.push(`a message published on node A reached ${got} of ${o.subscribers} subscribers on node B`)
      }
    }
    const pids = nodeB ? [ctx.broker.pid, nodeB.pid] : [ctx.broker.pid]
    const brokerCpu = (): number | undefined => {
      let sum = 0
      for (const pid of pids) {
        const ms = readCpuMs(pid)
        if (ms === undefined) return undefined
        sum += ms
      }
      return sum
    }
    const redisBefore = await ctx.redis?.counters()
    const cpu = new CpuMeter()
    const brokerCpuAtStart = brokerCpu()
    const start = performance.now()
    running = true
    pump()
    // Deliveries and acknowledgements drive the pump; the tick is a safety net should one be missed.
    const tick = setInterval(schedule, 50)
    await new Promise((resolve) => setTimeout(resolve, o.durationMs))
    running = false
    clearInterval(tick)
    const generatorCpu = cpu.share()
    const published = sent.reduce((a, b) => a + b, 0)
    const expected = published * o.subscribers
    const drained = await waitFor(
      () => tracker.unique >= expected && inflight.every((n) => n === 0),
      () => tracker.unique + tracker.duplicates + inflight.reduce((a, b) => a + b, 0),
      1500,
    )
    if (!drained) {
      const unacked = inflight.reduce((a, b) => a + b, 0)
      notes.push(
        `drain incomplete: ${expected - tracker.unique} deliveries missing, ${unacked} unacknowledged`,
      )
    }
    for (const conn of [...pubs, ...subs]) {
      if (conn.closeError) notes.push(`connection closed by the broker: ${conn.closeError.message}`)
    }
    const elapsed = Math.max(lastDelivery, start + 1) - start
    const throughput = round((tracker.unique / elapsed) * 1000, 0)
    const percentiles = latency.percentiles()
    const metrics: Record<string, number> = { throughput }
    // The broker's CPU per delivery (of both nodes across nodes): what a middleware costs, much less moved
    // than throughput by what else runs on the machine.
    const brokerCpuAtEnd = brokerCpu()
    const cpuPerDelivery = cpuMicrosPer(brokerCpuAtStart, brokerCpuAtEnd, tracker.unique, 3)
    if (cpuPerDelivery !== undefined) metrics.cpuPerDelivery = cpuPerDelivery
    if (percentiles) {
      metrics.p50 = percentiles.p50
      metrics.p99 = percentiles.p99
      metrics.p999 = percentiles.p999
    }
    if (ctx.redis && redisBefore) {
      const redis = redisPerPublish(redisBefore, await ctx.redis.counters(), published)
      Object.assign(metrics, redis.metrics)
      notes.push(redis.note)
    }
    const rss = ctx.broker.rss()
    return {
      throughput,
      ...(percentiles ? { latency: percentiles } : {}),
      ...(rss !== undefined ? { rss } : {}),
      ...deliveryCounts(expected, tracker, generatorCpu),
      metrics,
      notes: [...new Set(notes)],
    }
  } finally {
    running = false
    await closeAll([...pubs, ...subs])
    await nodeB?.stop()
  }
}
