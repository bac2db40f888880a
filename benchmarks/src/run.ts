/**
 * The broker benchmark: every scenario against each broker, a fresh broker process per run, brokers
 * interleaved (A, B, A, B...) so they share the machine's noise, each pairing repeated; medians, spreads
 * and ratios to aedes as a markdown table, appended to benchmarks/RESULTS.md with the raw JSON in
 * benchmarks/results/.
 *
 *   pnpm bench                                  (from the root: builds, then runs everything, ~10 minutes)
 *   pnpm bench --quick                          (every scenario for about a second, ours only, writes nothing)
 *   pnpm bench --scenario fan-out --scenario qos1 --repeat 5 --brokers ours,aedes
 *   pnpm bench --scenario soak                  (on demand only: 10 minutes per broker, once each)
 *   pnpm bench --scenario soak --duration 60 --interval 5   (a shortened soak writes nothing without --write)
 *   pnpm bench --scenario stored-bytes          (on demand only: memory per stored message, ~35 s for three brokers)
 *   pnpm bench --scenario cross-qos1 --brokers stack-redis,aedes-redis   (two nodes on one Redis)
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { withTimeout } from './load/stats.js'
import {
  BROKER_NAMES,
  type BrokerName,
  REDIS_BROKERS,
  ROOT,
  type RunningBroker,
  type StartOptions,
  startBroker,
  unavailable,
} from './peers/index.js'
import { RunRedis } from './peers/redis.js'
import { checked, findings, type Report, type RunRecord, type ScenarioRecord, table } from './report.js'
import { ALL_SCENARIOS, SCENARIOS, type Scenario } from './scenarios/index.js'

export interface RunOptions {
  quick?: boolean
  /** Scenario names; all but the on-demand ones (soak) when empty. */
  scenarios?: readonly string[]
  /** Runs per broker; on-demand scenarios run once unless this is given. */
  repeat?: number
  /** For the scenarios that run for a set time (soak): milliseconds, and the sampling interval. */
  durationMs?: number
  sampleMs?: number
  /**
   * Default: ours, stack, stack-ops, aedes, mosquitto where installed, relay, and the brokers on Redis where
   * redis-server is installed (quick: ours only).
   */
  brokers?: readonly BrokerName[]
  /** Start our broker from its sources with tsx (no build needed). */
  fromSource?: boolean
  log?: (line: string) => void
}

function gitCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' }).trim()
    return dirty ? `${sha} (with uncommitted changes)` : sha
  } catch {
    return 'unknown'
  }
}

/** Runs the scenarios and returns the raw report; prints progress through `log`. */
export async function runBenchmarks(options: RunOptions = {}): Promise<Report> {
  const log = options.log ?? ((line: string) => console.log(line))
  const quick = options.quick ?? false
  const wanted =
    options.brokers ??
    (quick ? ['ours'] : ['ours', 'stack', 'stack-ops', 'aedes', 'mosquitto', 'relay', ...REDIS_BROKERS])
  const skipped: string[] = []
  const brokers = wanted.filter((name) => {
    const why = unavailable(name, options.fromSource ? { fromSource: true } : {})
    if (why) {
      skipped.push(`${name}: ${why}`)
      log(`skipping ${name}: ${why}`)
    }
    return !why
  })
  const names = options.scenarios ?? []
  for (const name of names) {
    if (!ALL_SCENARIOS.some((s) => s.name === name)) {
      throw new Error(`unknown scenario "${name}": one of ${ALL_SCENARIOS.map((s) => s.name).join(', ')}`)
    }
  }
  const scenarios = names.length === 0 ? SCENARIOS : ALL_SCENARIOS.filter((s) => names.includes(s.name))
  // On-demand scenarios (soak) run once per broker unless asked otherwise.
  const repeat = options.repeat ?? (quick || scenarios.every((s) => s.onDemand) ? 1 : 3)
  const report: Report = {
    date: new Date().toISOString(),
    commit: gitCommit(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    quick,
    repeat,
    brokers,
    skipped,
    scenarios: [],
  }
  for (const scenario of scenarios) {
    const peers = brokers.filter(
      (name) =>
        (name !== 'relay' || scenario.relay) &&
        (name !== 'stack-ops' || scenario.ops) &&
        REDIS_BROKERS.includes(name) === (scenario.redis ?? false),
    )
    // The scenarios on Redis have no broker in a run of the in-memory ones, and the reverse: no row.
    if (peers.length === 0) {
      if (names.includes(scenario.name))
        log(
          `${scenario.name}: none of the brokers of this run applies (${scenario.redis ? 'stack-redis, aedes-redis' : 'the in-memory ones'} do)`,
        )
      continue
    }
    const record: ScenarioRecord = { name: scenario.name, title: scenario.title, runs: [] }
    report.scenarios.push(record)
    const times = scenario.onDemand && options.repeat === undefined ? 1 : repeat
    for (let r = 0; r < times; r++) {
      for (const name of peers) record.runs.push(await runOne(scenario, name, r, quick, options, log))
    }
  }
  return report
}

async function runOne(
  scenario: Scenario,
  name: BrokerName,
  repeat: number,
  quick: boolean,
  options: RunOptions,
  log: (line: string) => void,
): Promise<RunRecord> {
  const run: RunRecord = { broker: name, repeat }
  const started = performance.now()
  let broker: RunningBroker | undefined
  let redis: RunRedis | undefined
  // The other nodes a scenario started: stopped after the run if it left any running.
  const nodes: RunningBroker[] = []
  try {
    // A broker on Redis gets a redis-server of its own for this run: no run sees another's keys.
    if (REDIS_BROKERS.includes(name)) redis = await RunRedis.start()
    const startOptions: StartOptions = {
      ...(options.fromSource ? { fromSource: true } : {}),
      ...(redis ? { redis: redis.url, prefix: 'bench:' } : {}),
    }
    const start = (): Promise<RunningBroker> => startBroker(name, startOptions)
    broker = await start()
    const startNode = async (): Promise<RunningBroker> => {
      const node = await start()
      nodes.push(node)
      return node
    }
    const timed = {
      ...(options.durationMs !== undefined ? { durationMs: options.durationMs } : {}),
      ...(options.sampleMs !== undefined ? { sampleMs: options.sampleMs } : {}),
    }
    const budget = quick ? 30_000 : 180_000
    run.result = await withTimeout(
      scenario.run({
        broker,
        quick,
        freshBroker: start,
        ...(redis ? { startNode, redis } : {}),
        ...timed,
        log,
      }),
      budget + (options.durationMs ?? (quick ? 0 : (scenario.durationMs ?? 0))),
      `${scenario.name} did not finish in time`,
    )
  } catch (err) {
    run.error = err instanceof Error ? err.message : String(err)
  } finally {
    for (const [i, node] of [broker, ...nodes].entries()) {
      if (!node) continue
      // The first is the broker; the others are nodes the scenario started (as B, or B restarted).
      const which = i === 0 ? '' : `node ${i + 1}: `
      const crashed = node.crashed()
      if (crashed) run.crashed = [run.crashed, `${which}${crashed}`].filter(Boolean).join('; ')
      await node.stop()
      const stderr = node.stderr().trim()
      if (stderr) run.stderr = [run.stderr, `${which}${stderr}`].filter(Boolean).join('\n')
    }
    await redis?.close()
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  const summary = run.result
    ? `${Object.entries(run.result.metrics)
        .map(([key, value]) => `${key}=${value}`)
        .join(' ')} lost=${run.result.lost} dup=${run.result.duplicates} cpu=${run.result.generatorCpu}${
        run.result.generatorBottleneck ? ' (generator-bound)' : ''
      }`
    : `failed: ${run.error ?? run.crashed}`
  log(`${scenario.name} ${name} #${repeat + 1} (${seconds} s): ${summary}`)
  return run
}

/** The markdown section appended to RESULTS.md. */
export function markdown(report: Report): string {
  const lines = [
    `## ${report.date}${report.quick ? ' (quick)' : ''}`,
    '',
    `Commit ${report.commit}, Node ${report.node}, ${report.cpu} × ${report.cores}; ${report.repeat} repeat(s) per broker, interleaved, a fresh broker process per run. Medians (min–max); ⚠ = every run was generator-bound.`,
    '',
    table(report, ALL_SCENARIOS),
    '',
    ...checked(report, ALL_SCENARIOS),
  ]
  if (report.skipped.length) lines.push(`Skipped: ${report.skipped.join('; ')}.`, '')
  const notes = findings(report)
  if (notes.length) lines.push('Notes:', '', ...notes.map((note) => `- ${note}`), '')
  return lines.join('\n')
}

async function main(): Promise<void> {
  // `pnpm bench -- --quick` hands the separator on; it is not an argument.
  const args = process.argv.slice(2).filter((arg, i) => !(i === 0 && arg === '--'))
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: 'boolean', default: false },
      write: { type: 'boolean' },
      scenario: { type: 'string', multiple: true },
      repeat: { type: 'string' },
      brokers: { type: 'string' },
      'from-source': { type: 'boolean', default: false },
      duration: { type: 'string' },
      interval: { type: 'string' },
    },
    strict: true,
  })
  const brokers = values.brokers?.split(',').map((name) => name.trim()) as BrokerName[] | undefined
  for (const name of brokers ?? []) {
    if (!BROKER_NAMES.includes(name))
      throw new Error(`unknown broker "${name}": one of ${BROKER_NAMES.join(', ')}`)
  }
  const repeat = values.repeat === undefined ? undefined : Number(values.repeat)
  if (repeat !== undefined && !(Number.isInteger(repeat) && repeat > 0)) {
    throw new Error(`--repeat must be a positive whole number, got "${values.repeat}"`)
  }
  const seconds = (flag: 'duration' | 'interval'): number | undefined => {
    const text = values[flag]
    if (text === undefined) return undefined
    const value = Number(text)
    if (!(Number.isFinite(value) && value > 0))
      throw new Error(`--${flag} must be seconds > 0, got "${text}"`)
    return value * 1000
  }
  const durationMs = seconds('duration')
  const sampleMs = seconds('interval')
  const report = await runBenchmarks({
    quick: values.quick,
    fromSource: values['from-source'],
    ...(values.scenario ? { scenarios: values.scenario } : {}),
    ...(repeat !== undefined ? { repeat } : {}),
    ...(brokers ? { brokers } : {}),
    ...(durationMs !== undefined ? { durationMs } : {}),
    ...(sampleMs !== undefined ? { sampleMs } : {}),
  })
  const text = markdown(report)
  console.log(`\n${text}`)
  // A quick or shortened run checks the harness; it is recorded only when asked with --write.
  if (values.write ?? !(values.quick || durationMs !== undefined)) {
    const bench = join(ROOT, 'benchmarks')
    const results = join(bench, 'results')
    mkdirSync(results, { recursive: true })
    const file = join(results, `${report.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}.json`)
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
    const resultsMd = join(bench, 'RESULTS.md')
    if (!existsSync(resultsMd)) {
      writeFileSync(
        resultsMd,
        '# Broker benchmark results\n\nAppended by `pnpm bench` (see benchmarks/src/run.ts); the raw JSON of each run is in results/.\n\n',
      )
    }
    appendFileSync(resultsMd, `${text}\nRaw: results/${file.slice(results.length + 1)}\n`)
    // The repository's `pnpm lint` checks these files too: leave them as biome would format them.
    const biome = join(ROOT, 'node_modules', '.bin', 'biome')
    if (existsSync(biome))
      spawnSync(biome, ['format', '--write', resultsMd, file], { cwd: ROOT, stdio: 'ignore' })
    console.log(`appended to ${resultsMd}, raw JSON in ${file}`)
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err instanceof Error ? err.message : err)
      process.exit(1)
    },
  )
}
