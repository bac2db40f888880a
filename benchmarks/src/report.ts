/** Medians, spreads and ratios of a run, as a markdown table. */
import type { BrokerName } from './peers/index.js'
import type { Metric, Scenario, ScenarioResult } from './scenarios/index.js'

export interface RunRecord {
  broker: BrokerName
  repeat: number
  result?: ScenarioResult
  error?: string
  /** Set when the broker process exited on its own during the run. */
  crashed?: string
  /** Its stderr, when it printed anything. */
  stderr?: string
}

export interface ScenarioRecord {
  name: string
  title: string
  runs: RunRecord[]
}

export interface Report {
  date: string
  commit: string
  node: string
  cpu: string
  cores: number
  quick: boolean
  repeat: number
  brokers: BrokerName[]
  skipped: string[]
  scenarios: ScenarioRecord[]
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Runs that count: completed, and not limited by the generator (unless every run was). */
function counted(runs: readonly RunRecord[]): { runs: RunRecord[]; allBottlenecked: boolean } {
  const done = runs.filter((run) => run.result)
  const clean = done.filter((run) => !run.result!.generatorBottleneck)
  return clean.length > 0 || done.length === 0
    ? { runs: clean, allBottlenecked: false }
    : { runs: done, allBottlenecked: true }
}

export function format(value: number | undefined, unit: Metric['unit']): string {
  if (value === undefined || Number.isNaN(value)) return '—'
  if (unit === 'msg/s' || unit === 'conn/s') {
    if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`
    if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`
    return value.toFixed(0)
  }
  if (unit === 'ms') return value >= 100 ? value.toFixed(0) : value.toFixed(value >= 10 ? 1 : 2)
  return value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)
}

function cell(runs: readonly RunRecord[], metric: Metric): string {
  if (runs.length === 0) return '—'
  const { runs: use, allBottlenecked } = counted(runs)
  const values = use.map((run) => run.result!.metrics[metric.key]).filter((v): v is number => v !== undefined)
  if (values.length === 0) return runs.some((run) => run.error || run.crashed) ? 'failed' : '—'
  const mid = format(median(values), metric.unit)
  const spread =
    values.length > 1
      ? ` (${format(Math.min(...values), metric.unit)}–${format(Math.max(...values), metric.unit)})`
      : ''
  return `${mid}${spread}${allBottlenecked ? ' ⚠' : ''}`
}

/** The median over repeats of `mine`/`peer` in the same repeat (same-run pairs, as the targets are stated). */
function ratio(runs: readonly RunRecord[], metric: Metric, [mine, peer]: RatioPair): string {
  const ratios: number[] = []
  const repeats = new Set(runs.map((run) => run.repeat))
  for (const repeat of repeats) {
    const ours = runs.find((run) => run.broker === mine && run.repeat === repeat)?.result
    const other = runs.find((run) => run.broker === peer && run.repeat === repeat)?.result
    if (!ours || !other || ours.generatorBottleneck || other.generatorBottleneck) continue
    const a = other.metrics[metric.key]
    const o = ours.metrics[metric.key]
    // A ratio says something of two amounts, not of a growth that was a shrink (RSS after a GC).
    if (a === undefined || o === undefined || a <= 0 || o < 0) continue
    ratios.push(o / a)
  }
  const value = median(ratios)
  return value === undefined ? '—' : `${value.toFixed(2)}×`
}

function issues(runs: readonly RunRecord[], broker: BrokerName): string[] {
  const out: string[] = []
  const mine = runs.filter((run) => run.broker === broker)
  const lost = mine.reduce((sum, run) => sum + (run.result?.lost ?? 0), 0)
  const dups = mine.reduce((sum, run) => sum + (run.result?.duplicates ?? 0), 0)
  const bottlenecked = mine.filter((run) => run.result?.generatorBottleneck).length
  const failed = mine.filter((run) => run.error || run.crashed).length
  const missed = mine.reduce((sum, run) => sum + (run.result?.checks?.filter((c) => !c.pass).length ?? 0), 0)
  if (lost) out.push(`${broker}: ${lost} lost`)
  if (dups) out.push(`${broker}: ${dups} duplicates`)
  if (bottlenecked) out.push(`${broker}: generator-bound ${bottlenecked}/${mine.length}`)
  if (failed) out.push(`${broker}: ${failed} failed`)
  if (missed) out.push(`${broker}: ${missed} target(s) missed`)
  return out
}

const RATIO_PEERS: readonly BrokerName[] = ['aedes', 'stack']

type RatioPair = readonly [mine: BrokerName, peer: BrokerName]

/**
 * ours/aedes: the targets; ours/stack: what @mqtt-stack/broker costs over the hand-built stack;
 * stack-ops/stack: what the operations middlewares (metrics) cost the hand-built stack;
 * stack-redis/aedes-redis: the targets on Redis (one node, and two nodes on one Redis).
 */
function ratioPairs(peers: readonly BrokerName[]): RatioPair[] {
  const pairs: RatioPair[] = peers.includes('ours')
    ? RATIO_PEERS.filter((peer) => peers.includes(peer)).map((peer) => ['ours', peer] as const)
    : []
  if (peers.includes('stack-ops') && peers.includes('stack')) pairs.push(['stack-ops', 'stack'])
  if (peers.includes('stack-redis') && peers.includes('aedes-redis'))
    pairs.push(['stack-redis', 'aedes-redis'])
  return pairs
}

export function table(report: Report, scenarios: readonly Scenario[]): string {
  const peers = report.brokers
  const against = ratioPairs(peers)
  const head = ['scenario', 'metric', ...peers, ...against.map(([mine, peer]) => `${mine}/${peer}`), 'issues']
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`]
  for (const record of report.scenarios) {
    const scenario = scenarios.find((s) => s.name === record.name)
    if (!scenario) continue
    const problems = peers.flatMap((peer) => issues(record.runs, peer)).join('; ')
    for (const [index, metric] of scenario.metrics.entries()) {
      const cells = peers.map((peer) =>
        cell(
          record.runs.filter((run) => run.broker === peer),
          metric,
        ),
      )
      const row = [
        index === 0 ? record.name : '',
        `${metric.label} (${metric.unit}, ${metric.better} is better)`,
        ...cells,
        ...against.map((pair) => ratio(record.runs, metric, pair)),
        index === 0 ? problems || 'none' : '',
      ]
      lines.push(`| ${row.join(' | ')} |`)
    }
  }
  return lines.join('\n')
}

/** The targets each run checked (soak), and its own details, under a heading per run. */
export function checked(report: Report, scenarios: readonly Scenario[]): string[] {
  const out: string[] = []
  for (const record of report.scenarios) {
    const scenario = scenarios.find((s) => s.name === record.name)
    for (const run of record.runs) {
      const result = run.result
      if (!result?.checks && !(scenario?.details && result)) continue
      out.push(`### ${record.name} / ${run.broker} #${run.repeat + 1}`, '')
      if (result.checks?.length) {
        out.push('| target | measured | limit | held |', '| --- | --- | --- | --- |')
        for (const check of result.checks) {
          out.push(
            `| ${check.name} | ${format(check.value, check.unit)} ${check.unit} | ${check.target} | ${check.pass ? 'yes' : '**no**'} |`,
          )
        }
        out.push('')
      }
      if (scenario?.details) out.push(...scenario.details(result), '')
    }
  }
  return out
}

/** Errors, crashes and notes, one line each, for the text under the table. */
export function findings(report: Report): string[] {
  const out: string[] = []
  for (const record of report.scenarios) {
    for (const run of record.runs) {
      const where = `${record.name} / ${run.broker} #${run.repeat + 1}`
      if (run.error) out.push(`${where}: error: ${run.error}`)
      if (run.crashed) out.push(`${where}: the broker ${run.crashed}`)
      if (run.stderr) out.push(`${where}: stderr: ${run.stderr.trim().split('\n').slice(-3).join(' / ')}`)
      for (const note of run.result?.notes ?? []) out.push(`${where}: ${note}`)
    }
  }
  return out
}
