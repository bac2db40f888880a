/**
 * The well-behaved clients measured beside an abuse: 10 publishers at a steady rate, QoS 1, to one
 * subscriber of `+`. A steady offered load (not as fast as possible) is what an application's devices send;
 * the question is whether the broker keeps serving it, so the figure is the rate at which their messages
 * arrive, and their latency, with and without the abuse (fresh broker each time, same run).
 */
import { closeAll, type MqttConnection, openMany } from '../load/connection.js'
import { DeliveryTracker, LatencyRecorder, round, waitFor } from '../load/stats.js'

export interface WellBehavedOptions {
  host: string
  port: number
  publishers: number
  /** Messages per second of each publisher. */
  rate: number
  durationMs: number
}

export interface WellBehavedResult {
  /** Deliveries per second to the subscriber over the run. */
  throughput: number
  /** What the publishers offered per second. */
  offered: number
  p99: number
  lost: number
  duplicates: number
  /** Connections of the load that the broker closed or refused. */
  failures: string[]
}

/** Most unacknowledged messages per publisher: past it a publisher waits, as a real QoS 1 client does. */
const WINDOW = 1000

export async function runWellBehaved(o: WellBehavedOptions): Promise<WellBehavedResult> {
  const tracker = new DeliveryTracker(1, o.publishers)
  const latency = new LatencyRecorder()
  const sent = new Float64Array(o.publishers)
  const inflight = new Float64Array(o.publishers)
  const topics = Array.from({ length: o.publishers }, (_, i) => Buffer.from(`well/behaved/${i}`))
  const failures: string[] = []
  let pubs: MqttConnection[] = []
  let subs: MqttConnection[] = []
  let lastDelivery = 0
  try {
    subs = await openMany(
      1,
      1,
      () => ({
        host: o.host,
        port: o.port,
        clientId: 'well-behaved-sub',
        onMessage: (buf, start, end) => {
          tracker.record(0, buf, start, end)
          latency.record(buf, start, end)
          lastDelivery = performance.now()
        },
      }),
      async (conn) => {
        const granted = await conn.subscribe(['well/behaved/+'], 1)
        if (granted !== 1) failures.push(`SUBACK granted ${granted}`)
      },
    )
    pubs = await openMany(o.publishers, 10, (p) => ({
      host: o.host,
      port: o.port,
      clientId: `well-behaved-${p}`,
    }))
    for (const [p, pub] of pubs.entries()) pub.onAck = () => void inflight[p]!--
    const start = performance.now()
    const pace = (): void => {
      const due = Math.min(o.durationMs, performance.now() - start) * (o.rate / 1000)
      for (let p = 0; p < o.publishers; p++) {
        const pub = pubs[p]!
        if (pub.closed) continue
        pub.socket.cork()
        while (sent[p]! < due && inflight[p]! < WINDOW) {
          pub.publish(topics[p]!, 1, 64, p, sent[p]!++)
          inflight[p]!++
        }
        pub.socket.uncork()
      }
    }
    const tick = setInterval(pace, 5)
    await new Promise((resolve) => setTimeout(resolve, o.durationMs))
    clearInterval(tick)
    pace()
    const published = sent.reduce((a, b) => a + b, 0)
    await waitFor(
      () => tracker.unique >= published && inflight.every((n) => n === 0),
      () => tracker.unique + tracker.duplicates,
      2000,
    )
    for (const conn of [...pubs, ...subs]) {
      if (conn.closeError) failures.push(conn.closeError.message)
    }
    const elapsed = Math.max(lastDelivery - start, o.durationMs)
    return {
      throughput: round((tracker.unique / elapsed) * 1000, 0),
      offered: o.rate * o.publishers,
      p99: latency.percentiles()?.p99 ?? Number.NaN,
      lost: published - tracker.unique,
      duplicates: tracker.duplicates,
      failures: [...new Set(failures)],
    }
  } finally {
    await closeAll([...pubs, ...subs])
  }
}
