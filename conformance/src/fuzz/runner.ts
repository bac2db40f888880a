/**
 * The fuzz run: batches of concurrent connections play their plans against one broker in this process;
 * after each batch the broker must serve a healthy client, hold nothing for the fuzz connections once their
 * persistent sessions and retained messages are cleaned up over MQTT, and have its heap back near the start.
 */
import { EventEmitter } from 'node:events'
import type { Client, Packet, Stack } from '@mqtt-stack/core'
import { createBroker } from '@mqtt-stack/example-basic'
import {
  brokerState,
  cleanSessions,
  clearRetained,
  healthyClient,
  leftovers,
  type MemorySample,
  memory,
  waitClosed,
} from './checks.js'
import { type ConnectionOutcome, drive } from './drive.js'
import { type ConnectionPlan, planConnection } from './plan.js'
import { Prng, randomSeed } from './prng.js'

export interface FuzzTarget {
  port: number
  stack: Stack
  /** The broker's PacketEmitter target, if it has one: the packets it processed are counted by type. */
  emitter?: EventEmitter
}

export interface FuzzOptions {
  /** Reproduces a run: the plans of every connection follow from it. Random (and reported) by default. */
  seed?: number
  /**
   * Packets to send in all: the run goes on until this many have been written (a packet planned after the
   * broker closed its connection is not written, and does not count).
   */
  packets: number
  /** Connections played at once; a batch is this many connections. */
  concurrency: number
  /** Packets per connection, drawn from this range. Default [10, 50]. */
  packetsPerConnection?: readonly [number, number]
  /** Probability that a packet after the first is broken or out of order. Default 0.2. */
  mutationRate?: number
  /**
   * After a batch (and a forced GC) the heap may exceed the one at the start by this much, and so may the
   * external memory (Buffers). Default 10 MiB.
   */
  heapBound?: number
  /** How long to wait for a close or an answer before it counts as a failure, in ms. Default 10 s. */
  timeout?: number
  /** A running broker to fuzz. Default: the example broker on a free port, closed at the end. */
  target?: FuzzTarget
  /** Stop after the first batch with a failure. Default true. */
  stopOnFailure?: boolean
  /**
   * Plays only these connections of the run (by index, as in the client id `fz-<index>-zz`), in one batch:
   * how a connection that made the broker fail is examined again.
   */
  only?: readonly number[]
  /** Called after each batch. */
  onBatch?: (batch: BatchReport) => void
}

export interface BatchReport {
  batch: number
  connections: number
  packets: number
  heapUsed: number
  rss: number
  retainedCleared: number
  failures: string[]
}

export interface FuzzReport {
  seed: number
  connections: number
  batches: number
  /** Packets planned, and packets written before their connection closed. */
  packetsPlanned: number
  packetsWritten: number
  durationMs: number
  /** Written packets per second of the whole run, checks included. */
  packetsPerSecond: number
  /** Planned packets by kind (`valid:publish`, `mutated:bit-flip`, ...). */
  kinds: Record<string, number>
  /**
   * Packets the broker processed, by type, when its PacketEmitter target is known (always for the broker
   * the run starts itself): the healthy and cleaning clients' packets included.
   */
  processed: Record<string, number>
  /** Planned packets split across several writes. */
  splitPackets: number
  /** Connections the broker closed before their plan was played out. */
  closedByBroker: number
  /** Errors the stack reported, by code. */
  brokerErrors: Record<string, number>
  /** Socket errors on the fuzz side, by code. */
  socketErrors: Record<string, number>
  /** Memory after a forced GC: at the start (after one healthy client), at the end, and the largest. */
  memory: { start: MemorySample; end: MemorySample; max: MemorySample }
  /** Retained messages left under filters the cleaner cannot reach, at the end. */
  retainedLeft: number
  failures: string[]
}

/**
 * Codes that mean a bug in the broker rather than bad input: a handler threw or called next twice, or the
 * broker could not serialise a packet it built.
 */
const BUG_CODES = new Set(['MQS_ERR_MIDDLEWARE', 'MQS_ERR_NEXT_TWICE', 'MQS_ERR_SERIALIZE'])

const MIB = 1024 * 1024

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const seed = options.seed ?? randomSeed()
  const timeout = options.timeout ?? 10_000
  const heapBound = options.heapBound ?? 10 * MIB
  const [minPackets, maxPackets] = options.packetsPerConnection ?? [10, 50]
  const stopOnFailure = options.stopOnFailure ?? true
  const failures: string[] = []
  const kinds: Record<string, number> = {}
  const brokerErrors: Record<string, number> = {}
  const socketErrors: Record<string, number> = {}
  let splitPackets = 0
  let closedByBroker = 0
  let packetsPlanned = 0
  let packetsWritten = 0
  let connections = 0
  let batches = 0

  let emitter = options.target?.emitter
  let owned: ReturnType<typeof createBroker> | undefined
  if (options.target === undefined) {
    emitter = new EventEmitter()
    owned = createBroker({ host: '127.0.0.1', port: 0, stack: { strict: true }, emitter })
  }
  const target: FuzzTarget = options.target ?? { port: (await owned!.listen()).port, stack: owned!.stack }
  const { stack, port } = target
  const processed: Record<string, number> = {}
  const onPacket = (packet: Packet): void => {
    processed[packet.cmd] = (processed[packet.cmd] ?? 0) + 1
  }

  // Errors are the broker reporting bad input; a bug code, or an exception that escapes, fails the run.
  let bugSamples = 0
  const onError = (
    err: { code?: string; message: string; cause?: unknown },
    client: Client | undefined,
  ): void => {
    const code = err.code ?? 'no code'
    brokerErrors[code] = (brokerErrors[code] ?? 0) + 1
    if (BUG_CODES.has(code) && bugSamples++ < 5) {
      // A fuzz client id is fz-<connection>-zz: `only: [connection]` plays that connection again.
      const who = client === undefined ? '' : ` (client ${JSON.stringify(client.id)})`
      const cause = err.cause instanceof Error ? `\n${err.cause.stack}` : ''
      failures.push(`the broker reported ${code}${who}: ${err.message}${cause}`)
    }
  }
  const onUncaught = (err: unknown): void => {
    failures.push(`uncaught exception: ${err instanceof Error ? err.stack : String(err)}`)
  }
  const onRejection = (reason: unknown): void => {
    failures.push(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`)
  }
  // Client ids of closed connections: their sessions may outlive them.
  const ids = new Set<string>()
  const onClient = (client: Client): void => {
    client.once('close', () => {
      if (client.id !== '') ids.add(client.id)
    })
  }
  stack.on('error', onError)
  stack.on('client', onClient)
  emitter?.on('packet', onPacket)
  process.on('uncaughtException', onUncaught)
  process.on('unhandledRejection', onRejection)

  const started = performance.now()
  let start: MemorySample = { heapUsed: 0, external: 0, rss: 0 }
  let end: MemorySample = start
  const max: MemorySample = { heapUsed: 0, external: 0, rss: 0 }
  let retainedLeft = 0
  try {
    await healthyClient(port, 'health-start', 4, timeout)
    await waitClosed(stack.clients, timeout)
    start = memory()
    // Packets per connection: the n-th draw is for connection n.
    const counts = new Prng(seed, -1)
    const only = options.only === undefined ? undefined : [...options.only]
    const countsOf =
      only === undefined
        ? []
        : Array.from({ length: Math.max(...only) + 1 }, () => counts.range(minPackets, maxPackets))

    while (only === undefined ? packetsWritten < options.packets : batches === 0) {
      const batchFailures: string[] = []
      const plans: ConnectionPlan[] = []
      const budget = options.packets - packetsWritten
      let batchPackets = 0
      const add = (index: number, packets: number): void => {
        const plan = planConnection(seed, index, { packets, mutationRate: options.mutationRate ?? 0.2 })
        for (const packet of plan.packets) {
          kinds[packet.kind] = (kinds[packet.kind] ?? 0) + 1
          if (packet.chunks.length > 1) splitPackets++
        }
        connections++
        packetsPlanned += packets
        batchPackets += packets
        plans.push(plan)
      }
      if (only !== undefined) for (const index of only) add(index, countsOf[index]!)
      else {
        for (let i = 0; i < options.concurrency && batchPackets < budget; i++) {
          add(connections, Math.min(counts.range(minPackets, maxPackets), budget - batchPackets))
        }
      }
      const outcomes: ConnectionOutcome[] = await Promise.all(plans.map((plan) => drive(port, plan, timeout)))
      plans.length = 0
      let noPingresp = 0
      let noClose = 0
      let batchWritten = 0
      for (const outcome of outcomes) {
        batchWritten += outcome.written
        packetsWritten += outcome.written
        if (outcome.closedByBroker) closedByBroker++
        if (outcome.stuck === 'pingreq') noPingresp++
        if (outcome.stuck === 'fin') noClose++
        if (outcome.socketError)
          socketErrors[outcome.socketError] = (socketErrors[outcome.socketError] ?? 0) + 1
      }
      if (batchWritten === 0) batchFailures.push('no packet could be written: the broker refuses connections')
      if (noPingresp > 0)
        batchFailures.push(
          `${noPingresp} open connections got neither PINGRESP nor a close within ${timeout} ms`,
        )
      if (noClose > 0)
        batchFailures.push(`${noClose} connections were not closed within ${timeout} ms of their FIN`)

      const open = await waitClosed(stack.clients, timeout)
      if (open > 0)
        batchFailures.push(`${open} broker connections still open ${timeout} ms after their sockets closed`)

      const version = batches % 2 === 0 ? 5 : 4
      try {
        await healthyClient(port, `health-${batches}`, version, timeout)
      } catch (err) {
        batchFailures.push(
          `the healthy client (MQTT ${version === 5 ? '5.0' : '3.1.1'}) failed: ${(err as Error).message}`,
        )
      }
      await waitClosed(stack.clients, timeout)

      // Persistent sessions are state the fuzz asked for: ended over MQTT, after which nothing may be left.
      const unclean = await cleanSessions(stack, port, ids, timeout)
      ids.clear()
      if (unclean.length > 0)
        batchFailures.push(`sessions that a clean CONNECT did not end: ${unclean.slice(0, 5).join('; ')}`)
      let retainedCleared = 0
      try {
        retainedCleared = await clearRetained(stack, port, timeout)
      } catch (err) {
        batchFailures.push((err as Error).message)
      }
      await waitClosed(stack.clients, timeout)
      ids.clear()
      const state = brokerState(stack)
      for (const problem of leftovers(state)) batchFailures.push(`left after the batch: ${problem}`)
      retainedLeft = state.backend?.retained ?? 0

      end = memory()
      max.heapUsed = Math.max(max.heapUsed, end.heapUsed)
      max.external = Math.max(max.external, end.external)
      max.rss = Math.max(max.rss, end.rss)
      for (const what of ['heapUsed', 'external'] as const) {
        if (end[what] <= start[what] + heapBound) continue
        batchFailures.push(
          `${what} ${(end[what] / MIB).toFixed(1)} MiB after a forced GC, over ${(start[what] / MIB).toFixed(1)} MiB at the start + ${(heapBound / MIB).toFixed(0)} MiB`,
        )
      }
      // Exceptions that escaped during the batch were pushed to `failures` directly.
      failures.push(...batchFailures.map((failure) => `batch ${batches}: ${failure}`))
      options.onBatch?.({
        batch: batches,
        connections: outcomes.length,
        packets: batchWritten,
        heapUsed: end.heapUsed,
        rss: end.rss,
        retainedCleared,
        failures: batchFailures,
      })
      batches++
      if (batchWritten === 0 || (stopOnFailure && failures.length > 0)) break
    }
  } catch (err) {
    failures.push(`the run stopped: ${err instanceof Error ? err.stack : String(err)}`)
  } finally {
    stack.off('error', onError)
    stack.off('client', onClient)
    emitter?.off('packet', onPacket)
    process.off('uncaughtException', onUncaught)
    process.off('unhandledRejection', onRejection)
    await owned?.close()
  }
  const durationMs = performance.now() - started
  return {
    seed,
    connections,
    batches,
    packetsPlanned,
    packetsWritten,
    durationMs,
    packetsPerSecond: packetsWritten / (durationMs / 1000),
    kinds,
    processed,
    splitPackets,
    closedByBroker,
    brokerErrors,
    socketErrors,
    memory: { start, end, max },
    retainedLeft,
    failures,
  }
}

/** A short human-readable summary of a report, for a test failure or the command line. */
export function summary(report: FuzzReport): string {
  const mib = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`
  const { start, end, max } = report.memory
  const lines = [
    `seed ${report.seed}: ${report.packetsWritten} of ${report.packetsPlanned} packets written over ${report.connections} connections in ${report.batches} batches, ${(report.durationMs / 1000).toFixed(1)} s (${Math.round(report.packetsPerSecond)} packets/s)`,
    `closed by the broker: ${report.closedByBroker}; split packets: ${report.splitPackets}`,
    `after a forced GC, at the start / the end / most: heap ${mib(start.heapUsed)} / ${mib(end.heapUsed)} / ${mib(max.heapUsed)}; external ${mib(start.external)} / ${mib(end.external)} / ${mib(max.external)}; rss ${mib(start.rss)} / ${mib(end.rss)} / ${mib(max.rss)}`,
    `processed by the broker: ${JSON.stringify(report.processed)}`,
    `broker errors: ${JSON.stringify(report.brokerErrors)}`,
    `socket errors: ${JSON.stringify(report.socketErrors)}`,
  ]
  if (report.failures.length > 0) lines.push(`FAILURES (rerun with seed ${report.seed}):`, ...report.failures)
  return lines.join('\n')
}
