import type { RunningBroker } from '../peers/index.js'
import type { RedisProbe } from '../peers/redis.js'

export interface ScenarioContext {
  readonly broker: RunningBroker
  /** About a second of traffic and small counts, to check that the harness and the broker still work. */
  readonly quick: boolean
  /** For the scenarios that run for a set time (soak): how long, and how often they sample. */
  readonly durationMs?: number
  readonly sampleMs?: number
  /**
   * For the soak: how long the load runs before the first window, unsampled, so that a short run measures
   * the steady state (queues full, the JS heap grown to its working size) rather than the start.
   */
  readonly warmupMs?: number
  /**
   * Starts another process of the same broker, as `broker` was started (stored-bytes compares two fresh
   * processes); the scenario stops what it starts.
   */
  readonly freshBroker?: () => Promise<RunningBroker>
  /**
   * For the brokers on Redis: starts another node of the same broker (another process on the same Redis
   * and key prefix), which the scenario stops (or kills) when done with it; the run stops any left.
   */
  readonly startNode?: () => Promise<RunningBroker>
  /** For the brokers on Redis: their Redis, to read what it did (commands, reads) around the traffic. */
  readonly redis?: RedisProbe
  /** Progress lines of a long scenario. */
  readonly log?: (line: string) => void
}

/** A target a scenario checks: what was measured against the limit, and whether it held. */
export interface Check {
  name: string
  /** The target in words, e.g. "≤ 1000 ms in every window". */
  target: string
  value: number
  unit: Metric['unit']
  pass: boolean
}

export interface Percentiles {
  p50: number
  p99: number
  p999: number
}

/** What one run of a scenario against one broker measured. */
export interface ScenarioResult {
  /** The scenario's main rate (its unit is the first metric's). */
  throughput: number
  /** End-to-end latency in milliseconds, where the scenario measures it. */
  latency?: Percentiles
  /** Broker RSS in bytes at the point the scenario says. */
  rss?: number
  /** Deliveries (or handshakes) expected, received in all, never received, and received more than once. */
  sent: number
  received: number
  lost: number
  duplicates: number
  /** The generator's CPU over wall time while it was loading the broker (1 = one full core). */
  generatorCpu: number
  /** Over BOTTLENECK_CPU_SHARE: the generator, not the broker, limited this run; it does not count. */
  generatorBottleneck: boolean
  /** Every figure the report may show, by metric key. */
  metrics: Record<string, number>
  /** Anything odd seen during the run (a connection closed by the broker, an incomplete drain...). */
  notes: string[]
  /** Targets checked (soak); a failed one is also listed in the report's issues. */
  checks?: Check[]
  /** Figures per sampling window, in order (soak). */
  samples?: Record<string, number>[]
}

export interface Metric {
  key: string
  label: string
  /** `cmd`: Redis commands (or reads) per message or connection. */
  unit: 'msg/s' | 'conn/s' | 'ms' | 'µs' | 'KiB' | 'MiB' | 'B' | '%' | 'cmd'
  better: 'higher' | 'lower'
}

export interface Scenario {
  name: string
  title: string
  /**
   * Whether the bare relay runs it too: it only does QoS 0 routing (fan-in, fan-out) and answers CONNECT and
   * SUBSCRIBE with fixed packets (the storm: what a connection costs Node itself).
   */
  relay: boolean
  /**
   * `stack-ops` (the hand-built stack with metrics, limits and $SYS) runs this one beside `stack`: the cost of
   * the operations middlewares, held to ≤ 10% on fan-in and fan-out.
   */
  ops?: boolean
  /**
   * Runs against the brokers on Redis (`stack-redis`, `aedes-redis`) only; the other scenarios run against
   * the in-memory brokers only.
   */
  redis?: boolean
  /** Runs only when named with --scenario (soak: ten minutes per broker), and once per broker. */
  onDemand?: boolean
  /** For a scenario that runs for a set time: its full duration in milliseconds (--duration overrides). */
  durationMs?: number
  metrics: readonly Metric[]
  run(ctx: ScenarioContext): Promise<ScenarioResult>
  /** Markdown lines on one run beyond the table (soak: its figures by third of the run). */
  details?(result: ScenarioResult): string[]
}
