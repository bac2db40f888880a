import { type MqttConnection, openMany } from '../load/connection.js'
import { CpuMeter, type DeliveryTracker, round, waitFor } from '../load/stats.js'

export interface DrainOptions {
  host: string
  port: number
  /** Client id of persistent session `i`. */
  clientId: (i: number) => string
  sessions: number
  /** Handshakes at a time. */
  concurrency: number
  /** Deliveries expected in all; `tracker` counts them by session. */
  expected: number
  tracker: DeliveryTracker
  /** Where what went wrong is written (an incomplete drain, a session closed by the broker). */
  notes: string[]
}

export interface Drain {
  /** The sessions, connected: the caller closes them. */
  conns: MqttConnection[]
  /** From the first CONNECT to the last CONNACK, and to the last delivery. */
  reconnectMs: number
  drainMs: number
  /** Unique deliveries per second of the drain. */
  throughput: number
  generatorCpu: number
}

/**
 * Reconnects persistent sessions (clean = false) and waits until their queued messages are delivered, or
 * until deliveries stall for 3 s.
 */
export async function drainSessions(o: DrainOptions): Promise<Drain> {
  const { tracker, expected, notes } = o
  let last = 0
  const cpu = new CpuMeter()
  const start = performance.now()
  const conns = await openMany(o.sessions, o.concurrency, (i) => ({
    host: o.host,
    port: o.port,
    clientId: o.clientId(i),
    clean: false,
    onMessage: (buf, from, to) => {
      tracker.record(i, buf, from, to)
      last = performance.now()
    },
  }))
  const reconnectMs = performance.now() - start
  const drained = await waitFor(
    () => tracker.unique >= expected,
    () => tracker.unique + tracker.duplicates,
    3000,
  )
  const generatorCpu = cpu.share()
  if (!drained) notes.push(`drain incomplete: ${expected - tracker.unique} of ${expected} missing`)
  for (const conn of conns) {
    if (conn.closeError) notes.push(`a session was closed by the broker: ${conn.closeError.message}`)
  }
  const drainMs = Math.max(last, start + 1) - start
  return {
    conns,
    reconnectMs,
    drainMs,
    throughput: round((tracker.unique / drainMs) * 1000, 0),
    generatorCpu,
  }
}
