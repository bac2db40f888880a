/**
 * The abuse runs of docs/robustness.md: for each kind of abuse, a fresh broker serves the well-behaved
 * load alone (the baseline), then another fresh broker serves it while the abuse runs beside it. Each run
 * reports whether the broker stayed up (its process alive, and a new client served after the abuse), its
 * peak RSS against the bound docs/robustness.md states, and the well-behaved throughput as a ratio of the
 * baseline's (target ≥ 0.9).
 *
 *   pnpm --filter @mqtt-stack/benchmarks run abuse                       (every kind, full counts)
 *   pnpm --filter @mqtt-stack/benchmarks run abuse -- --only connect-flood --only huge-topics
 *   pnpm --filter @mqtt-stack/benchmarks run abuse -- --quick            (small counts, a second each)
 */
import { type ChildProcess, fork, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { MqttConnection } from '../load/connection.js'
import { round, sleep, withTimeout } from '../load/stats.js'
import { ROOT, type RunningBroker, startBroker } from '../peers/index.js'
import type { FromAbuser, ToAbuser } from './abuser-process.js'
import { ABUSE_KINDS, type AbuseKind, type AbuseStats } from './abusers.js'
import { runWellBehaved, type WellBehavedResult } from './well-behaved.js'

const HERE = fileURLToPath(new URL('./', import.meta.url))
const MiB = 1024 * 1024

/** The RSS each abuse must stay under (docs/robustness.md states the same bounds). */
export const RSS_BOUND: Record<AbuseKind, number> = {
  'silent-sockets': 512 * MiB,
  'many-filters': 4096 * MiB,
  'publish-flood': 512 * MiB,
  'connect-flood': 512 * MiB,
  'huge-topics': 512 * MiB,
  'auth-brute-force': 512 * MiB,
}
/** The well-behaved throughput beside an abuse, as a share of the baseline's. */
export const THROUGHPUT_TARGET = 0.9

export interface AbuseOptions {
  kinds?: readonly AbuseKind[]
  quick?: boolean
  /** Start our broker from its TypeScript sources (no build needed). */
  fromSource?: boolean
  log?: (line: string) => void
}

export interface AbuseRecord {
  kind: AbuseKind
  baseline: WellBehavedResult
  abused: WellBehavedResult
  ratio: number
  peakRss: number
  rssBound: number
  /** The broker process was alive after the abuse and served a new client. */
  up: boolean
  /** Milliseconds from the end of the abuse until a new client was served. */
  servedAfterMs?: number
  crashed?: string
  abuser: AbuseStats
  pass: boolean
}

/**
 * The broker's config: the default broker with every limit at its default and `admin` in a password file
 * (anonymous clients allowed).
 */
function brokerConfig(dir: string, fromSource: boolean): string {
  const passwordFile = join(dir, 'passwd')
  const main = fromSource ? ['--import', 'tsx', 'src/main.ts'] : [join(ROOT, 'examples/basic/dist/main.js')]
  const made = spawnSync(process.execPath, [...main, 'passwd', passwordFile, 'admin'], {
    cwd: join(ROOT, 'examples/basic'),
    input: 'not-guessable-7f3a\n',
    encoding: 'utf8',
  })
  if (made.status !== 0) throw new Error(`mqtt-stack passwd failed: ${made.stderr}`)
  const file = join(dir, 'broker.yaml')
  writeFileSync(file, ['passwordFile: passwd', 'allowAnonymous: true', 'limits: {}', ''].join('\n'))
  return file
}

function startAbuser(kind: AbuseKind, broker: RunningBroker, scale: number): Promise<ChildProcess> {
  const child = fork(join(HERE, 'abuser-process.ts'), [], {
    execArgv: ['--import', 'tsx'],
    cwd: join(ROOT, 'benchmarks'),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const start: ToAbuser = { type: 'start', kind, target: { host: broker.host, port: broker.port, scale } }
  child.send(start)
  return new Promise((resolve, reject) => {
    child.on('message', (message: FromAbuser) => {
      if (message.type === 'ready') resolve(child)
      if (message.type === 'failed') reject(new Error(message.message))
    })
    child.once('exit', () => reject(new Error(`the ${kind} abuser exited before it was in place`)))
  })
}

function stopAbuser(child: ChildProcess): Promise<AbuseStats> {
  const stats = new Promise<AbuseStats>((resolve) => {
    child.on('message', (message: FromAbuser) => {
      if (message.type === 'stats') resolve(message.stats)
    })
    child.once('exit', () => resolve({}))
  })
  child.send({ type: 'stop' } satisfies ToAbuser)
  return withTimeout(stats, 30_000, 'the abuser did not stop within 30 s').finally(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
}

/**
 * A new client connects, subscribes, publishes to itself and gets its message back: how many milliseconds
 * after the abuse ended that worked, or undefined when it did not within 30 s. A broker still catching up
 * refuses a CONNECT with Server busy; the client tries again, as a real one does.
 */
async function serves(broker: RunningBroker): Promise<number | undefined> {
  const start = performance.now()
  while (performance.now() - start < 30_000) {
    if (broker.crashed()) return undefined
    if (await roundTrip(broker)) return round(performance.now() - start, 0)
    await sleep(100)
  }
  return undefined
}

async function roundTrip(broker: RunningBroker): Promise<boolean> {
  let conn: MqttConnection | undefined
  try {
    let received: () => void = () => {}
    const got = new Promise<void>((resolve) => {
      received = resolve
    })
    conn = await MqttConnection.open(
      { host: broker.host, port: broker.port, clientId: 'after-the-abuse', onMessage: () => received() },
      10_000,
    )
    if ((await conn.subscribe(['after/abuse'], 1)) !== 1) return false
    conn.publish(Buffer.from('after/abuse'), 1, 16, 0, 0)
    await withTimeout(got, 10_000, 'no message')
    return true
  } catch {
    return false
  } finally {
    await conn?.close()
  }
}

/** Samples the broker's RSS every 100 ms until stopped; resolves with the peak. */
function rssPeak(broker: RunningBroker): () => number {
  let peak = broker.rss() ?? 0
  const timer = setInterval(() => {
    peak = Math.max(peak, broker.rss() ?? 0)
  }, 100)
  return () => {
    clearInterval(timer)
    return Math.max(peak, broker.rss() ?? 0)
  }
}

export async function runAbuse(options: AbuseOptions = {}): Promise<AbuseRecord[]> {
  const log = options.log ?? ((line: string) => console.log(line))
  const quick = options.quick ?? false
  const fromSource = options.fromSource ?? false
  const load = { publishers: 10, rate: quick ? 200 : 1000, durationMs: quick ? 1000 : 10_000 }
  const scale = quick ? 0.02 : 1
  const dir = mkdtempSync(join(tmpdir(), 'mqtt-stack-abuse-'))
  const records: AbuseRecord[] = []
  try {
    const args = ['--config', brokerConfig(dir, fromSource)]
    const fresh = () => startBroker('ours', { args, fromSource })
    for (const kind of options.kinds ?? ABUSE_KINDS) {
      let broker = await fresh()
      let baseline: WellBehavedResult
      try {
        baseline = await runWellBehaved({ host: broker.host, port: broker.port, ...load })
      } finally {
        await broker.stop()
      }
      log(`${kind}: baseline ${baseline.throughput} msg/s, p99 ${round(baseline.p99, 2)} ms`)
      broker = await fresh()
      try {
        const peak = rssPeak(broker)
        const abuser = await startAbuser(kind, broker, scale)
        log(`${kind}: the abuse is in place (RSS ${round((broker.rss() ?? 0) / MiB, 0)} MiB)`)
        let abused: WellBehavedResult
        let abuserStats: AbuseStats
        try {
          abused = await runWellBehaved({ host: broker.host, port: broker.port, ...load })
        } finally {
          abuserStats = await stopAbuser(abuser)
        }
        const peakRss = peak()
        const crashed = broker.crashed()
        const servedAfterMs = crashed === undefined ? await serves(broker) : undefined
        const up = servedAfterMs !== undefined
        const ratio = baseline.throughput > 0 ? round(abused.throughput / baseline.throughput, 3) : 0
        const record: AbuseRecord = {
          kind,
          baseline,
          abused,
          ratio,
          peakRss,
          rssBound: RSS_BOUND[kind],
          up,
          ...(servedAfterMs !== undefined ? { servedAfterMs } : {}),
          ...(crashed ? { crashed } : {}),
          abuser: abuserStats,
          pass: up && peakRss <= RSS_BOUND[kind] && ratio >= THROUGHPUT_TARGET && abused.lost === 0,
        }
        records.push(record)
        log(
          `${kind}: ${abused.throughput} msg/s (${ratio}× baseline), p99 ${round(abused.p99, 2)} ms, ` +
            `peak RSS ${round(peakRss / MiB, 0)} MiB, served ${servedAfterMs} ms after; abuser ${JSON.stringify(abuserStats)}`,
        )
      } finally {
        await broker.stop()
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return records
}

/** The markdown table docs/robustness.md shows. */
export function abuseTable(records: readonly AbuseRecord[]): string {
  const lines = [
    '| abuse | well-behaved msg/s (baseline) | ratio | p99 ms (baseline) | peak RSS | bound | up, new client served after | what the broker did |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ]
  for (const r of records) {
    const did = Object.entries(r.abuser)
      .map(([key, value]) => `${key} ${value}`)
      .join(', ')
    lines.push(
      `| ${r.kind} | ${r.abused.throughput} (${r.baseline.throughput}) | ${r.ratio} | ` +
        `${round(r.abused.p99, 1)} (${round(r.baseline.p99, 1)}) | ${round(r.peakRss / MiB, 0)} MiB | ` +
        `${round(r.rssBound / MiB, 0)} MiB | ${r.up ? `yes, ${r.servedAfterMs} ms` : 'NO'} | ${did} |`,
    )
  }
  return lines.join('\n')
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // `pnpm … abuse -- --quick` hands the separator on; it is not an argument.
  const args = process.argv.slice(2).filter((arg, i) => !(i === 0 && arg === '--'))
  const { values } = parseArgs({
    args,
    options: {
      only: { type: 'string', multiple: true },
      quick: { type: 'boolean' },
      'from-source': { type: 'boolean' },
    },
  })
  for (const kind of values.only ?? []) {
    if (!(ABUSE_KINDS as readonly string[]).includes(kind))
      throw new Error(`unknown abuse "${kind}": one of ${ABUSE_KINDS.join(', ')}`)
  }
  const records = await runAbuse({
    kinds: (values.only as AbuseKind[] | undefined) ?? ABUSE_KINDS,
    quick: values.quick ?? false,
    fromSource: values['from-source'] ?? false,
  })
  console.log(`\n${abuseTable(records)}\n`)
  const failed = records.filter((r) => !r.pass).map((r) => r.kind)
  console.log(failed.length === 0 ? 'every abuse: target met' : `target missed: ${failed.join(', ')}`)
  process.exitCode = failed.length === 0 ? 0 : 1
}
