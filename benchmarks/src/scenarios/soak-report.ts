/**
 * What the soak makes of its windows: the three targets, the summary figures of the report's table, and
 * the run by third for the text under it.
 */
import { quantile, round } from '../load/stats.js'
import type { Check, ScenarioResult } from './types.js'

/** One sampling window: its end (`t`, seconds into the run) and its figures, keyed as soak.ts sets them. */
export type SoakSample = Record<string, number>

export const SOAK_TARGETS = Object.freeze({ connackP99Ms: 1000, deliveryKeptPct: 80, rssDriftPct: 10 })

export const mean = (values: readonly number[]): number =>
  values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN

/** The values of `key` in `samples`, leaving out windows without one (no heap from mosquitto). */
const column = (samples: readonly SoakSample[], key: string): number[] => samples.flatMap((s) => s[key] ?? [])

/** The largest value, or NaN when there is none (rather than -Infinity, which JSON cannot hold). */
const worst = (values: readonly number[]): number => (values.length ? Math.max(...values) : Number.NaN)

/** The windows of each third of the run by index: first, middle, last (four windows: 1, 2, 1). */
export function thirds<T>(samples: readonly T[]): [T[], T[], T[]] {
  const n = samples.length
  return [
    samples.filter((_, i) => i < n / 3),
    samples.filter((_, i) => i >= n / 3 && i < (2 * n) / 3),
    samples.filter((_, i) => i >= (2 * n) / 3),
  ]
}

/** The three targets. A window with no CONNACK figure at all, or a failed handshake, misses the first. */
export function soakChecks(samples: readonly SoakSample[]): Check[] {
  const [first, middle, last] = thirds(samples)
  const p99 = worst(column(samples, 'connackP99'))
  const everyWindow = samples.length > 0 && samples.every((s) => s.connackP99 !== undefined)
  const failed = column(samples, 'handshakesFailed').reduce((a, b) => a + b, 0)
  const kept = (mean(column(last, 'deliveryRate')) / mean(column(first, 'deliveryRate'))) * 100
  const drift = (mean(column(last, 'rssMiB')) / mean(column(middle, 'rssMiB')) - 1) * 100
  return [
    {
      name: 'CONNACK p99, worst window',
      target: `≤ ${SOAK_TARGETS.connackP99Ms} ms in every window, no handshake failed`,
      value: round(p99, 1),
      unit: 'ms',
      pass: everyWindow && p99 <= SOAK_TARGETS.connackP99Ms && failed === 0,
    },
    {
      name: 'delivery rate, last third / first third',
      target: `≥ ${SOAK_TARGETS.deliveryKeptPct}%`,
      value: round(kept, 1),
      unit: '%',
      pass: kept >= SOAK_TARGETS.deliveryKeptPct,
    },
    {
      name: 'RSS, last third over middle third',
      target: `within ±${SOAK_TARGETS.rssDriftPct}%`,
      value: round(drift, 1),
      unit: '%',
      pass: Math.abs(drift) <= SOAK_TARGETS.rssDriftPct,
    },
  ]
}

/** The figures of the report's table (keys of the soak scenario's metrics). */
export function soakMetrics(
  samples: readonly SoakSample[],
  checks: readonly Check[],
  totals: { delivered: number; connected: number; seconds: number },
): Record<string, number> {
  const [, , last] = thirds(samples)
  const metrics: Record<string, number> = {
    throughput: round(totals.delivered / totals.seconds, 0),
    connackP99: checks[0]!.value,
    connackP50: round(quantile(column(samples, 'connackP50'), 0.5) ?? Number.NaN, 2),
    pingP99: round(worst(column(samples, 'pingP99')), 1),
    deliveryKept: checks[1]!.value,
    rssDrift: checks[2]!.value,
    rssMiB: round(mean(column(last, 'rssMiB')), 1),
    connectRate: round(totals.connected / totals.seconds, 1),
  }
  const heap = column(last, 'heapMiB')
  if (heap.length) metrics.heapMiB = round(mean(heap), 1)
  return metrics
}

/** A markdown table of the run by third: the worst and median windows, the means of rates and memory. */
export function soakDetails(result: ScenarioResult): string[] {
  const fmt = (value: number, digits = 0): string => (Number.isFinite(value) ? value.toFixed(digits) : '—')
  const rows = thirds(result.samples ?? []).map((part, i) => {
    const cells = [
      ['first', 'middle', 'last'][i],
      part.length,
      fmt(quantile(column(part, 'connackP50'), 0.5) ?? Number.NaN, 1),
      fmt(worst(column(part, 'connackP99')), 1),
      fmt(worst(column(part, 'pingP99')), 1),
      fmt(mean(column(part, 'deliveryRate'))),
      fmt(mean(column(part, 'publishRate'))),
      fmt(mean(column(part, 'rssMiB')), 1),
      fmt(mean(column(part, 'heapMiB')), 1),
      fmt(mean(column(part, 'generatorCpu')), 2),
    ]
    return `| ${cells.join(' | ')} |`
  })
  return [
    '| third | windows | CONNACK p50, median (ms) | CONNACK p99, worst (ms) | PINGRESP p99, worst (ms) | deliveries/s | published/s | RSS (MiB) | heap (MiB) | generator CPU |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ]
}
