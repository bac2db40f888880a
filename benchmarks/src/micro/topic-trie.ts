/**
 * Micro benchmark: @mqtt-stack/core's SubscriptionTrie against qlobber 8, configured as aedes uses it for
 * MQTT, on 100,000 subscriptions. Also RetainedIndex against a scan of every retained topic.
 *
 *   cd benchmarks && npx tsx src/micro/topic-trie.ts     (about 6 minutes; ROUNDS=1 for a quick look)
 *
 * Contenders, all holding the same subscription objects:
 * - ours:       SubscriptionTrie<Sub>, keyed by client id; `forEachMatch` is the broker's hot path.
 * - Qlobber:    plain `Qlobber` with aedes' options; values in arrays, no per-client replacement.
 * - QlobberSub: `qlobber/aedes/qlobber-sub.js`, the class aedes-persistence keeps its subscriptions in:
 *               one entry per (filter, clientId), like ours; `match` builds a fresh object per match.
 *
 * Fairness: qlobber does not implement [MQTT-4.7.2-1] ('#' and '+' at the first level never match a topic
 * starting with '$'); aedes filters those matches afterwards. The published topics here never start with
 * '$', so both do the same work; a separate check below shows the difference.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { RetainedIndex, SubscriptionTrie, topicMatches } from '@mqtt-stack/core'
import { Qlobber } from 'qlobber'
import QlobberSub from 'qlobber/aedes/qlobber-sub.js'
import { Bench, type Task } from 'tinybench'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const ROUNDS = Number(process.env.ROUNDS ?? 5)
const SUBSCRIPTIONS = 100_000
const DEVICES = 50_000
const TOPICS = 10_000
/** Topics matched per timed iteration, so timer overhead does not dominate sub-microsecond matches. */
const BATCH = 1_000
/** aedes-persistence's options (`QlobberOpts` in aedes-persistence/persistence.js). */
const QLOBBER_OPTIONS = { separator: '/', wildcard_one: '+', wildcard_some: '#', match_empty_levels: true }

interface Sub {
  clientId: string
  topic: string
  qos: number
}

// ---------------------------------------------------------------------------------------------------------
// Data: a seeded PRNG so every run measures the same workload.

let seed = 0x2f6b_1d3a
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const pick = <V>(items: readonly V[]): V => items[Math.floor(random() * items.length)] as V
const device = (): string => `dev-${Math.floor(random() * DEVICES)}`

/** 75% exact, 20% `devices/{id}/+`, 4% `devices/+/alarm`, ~1% `devices/{id}/#`, 10 `#`. */
function makeSubscriptions(): Sub[] {
  const subs: Sub[] = []
  const add = (topic: string) => subs.push({ clientId: `client-${subs.length}`, topic, qos: subs.length % 2 })
  for (let i = 0; i < 75_000; i++) add(`devices/${device()}/${pick(['telemetry', 'status', 'config'])}`)
  for (let i = 0; i < 20_000; i++) add(`devices/${device()}/+`)
  for (let i = 0; i < 4_000; i++) add('devices/+/alarm')
  for (let i = 0; i < 990; i++) add(`devices/${device()}/#`)
  for (let i = 0; i < 10; i++) add('#')
  if (subs.length !== SUBSCRIPTIONS) throw new Error('bad mix')
  return subs
}

/** 90% telemetry (a handful of matches), 9% status, 1% alarm (each matches the 4,000 alarm watchers). */
function makeTopics(): string[] {
  const topics: string[] = []
  for (let i = 0; i < TOPICS; i++) {
    const r = random()
    topics.push(`devices/${device()}/${r < 0.9 ? 'telemetry' : r < 0.99 ? 'status' : 'alarm'}`)
  }
  return topics
}

function shuffled<V>(items: readonly V[]): V[] {
  const out = items.slice()
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const tmp = out[i] as V
    out[i] = out[j] as V
    out[j] = tmp
  }
  return out
}

const subs = makeSubscriptions()
const removalOrder = shuffled(subs)
const topics = makeTopics()

// ---------------------------------------------------------------------------------------------------------
// Builders, shared by the insert, remove and match benchmarks.

function buildOurs(): SubscriptionTrie<Sub> {
  const trie = new SubscriptionTrie<Sub>()
  for (const sub of subs) trie.add(sub.topic, sub.clientId, sub)
  return trie
}
function buildQlobber(): Qlobber<Sub> {
  const q = new Qlobber<Sub>(QLOBBER_OPTIONS)
  for (const sub of subs) q.add(sub.topic, sub)
  return q
}
function buildQlobberSub(): QlobberSub {
  const q = new QlobberSub(QLOBBER_OPTIONS)
  for (const sub of subs) q.add(sub.topic, sub)
  return q
}

/** Results go here so the JIT cannot drop the work; `| 0` keeps it a small integer (no heap number). */
let sink = 0
function visit(sub: Sub): void {
  sink = (sink + sub.qos + 1) | 0
}

// ---------------------------------------------------------------------------------------------------------
// Correctness first: all three must agree on every benchmark topic.

function checkAgreement(): { meanMatches: number; maxMatches: number } {
  const ours = buildOurs()
  const q = buildQlobber()
  const qs = buildQlobberSub()
  let total = 0
  let max = 0
  for (const topic of topics) {
    const a = ours
      .match(topic)
      .map((s) => s.clientId)
      .sort()
    const b = q
      .match(topic)
      .map((s) => s.clientId)
      .sort()
    const c = qs
      .match(topic)
      .map((s) => s.clientId)
      .sort()
    if (a.join() !== b.join() || a.join() !== c.join()) throw new Error(`disagreement on ${topic}`)
    total += a.length
    max = Math.max(max, a.length)
  }
  return { meanMatches: total / topics.length, maxMatches: max }
}

function checkDollarRule(): string {
  const topic = '$SYS/broker/clients/connected'
  const ours = buildOurs().match(topic).length
  const q = buildQlobber().match(topic).length
  return `'${topic}': ours ${ours} matches, qlobber ${q} (the 10 '#' subscribers; [MQTT-4.7.2-1] says 0)`
}

// ---------------------------------------------------------------------------------------------------------
// Timing

type Contender = 'ours' | 'qlobber' | 'qlobberSub'
const CONTENDERS: Contender[] = ['ours', 'qlobber', 'qlobberSub']

interface Row {
  name: string
  /** Operations per timed iteration. */
  perIteration: number
  ours: () => unknown
  oursSetup?: () => void
  qlobber: () => unknown
  qlobberSetup?: () => void
  qlobberSub: () => unknown
  qlobberSubSetup?: () => void
}

let oursTrie = buildOurs()
let qlobber = buildQlobber()
let qlobberSub = buildQlobberSub()

/**
 * A row matching `BATCH` topics per iteration, cycling through `list`; ours uses `forEachMatch` (the broker's
 * hot path) or, with `array`, `match`, which returns an array as qlobber's `match` does.
 */
function matchRow(name: string, list: readonly string[], array: boolean): Row {
  const n = list.length
  const cursors = { ours: 0, qlobber: 0, qlobberSub: 0 }
  const next = (who: Contender): number => {
    const start = cursors[who]
    cursors[who] = (start + BATCH) % n
    return start
  }
  return {
    name,
    perIteration: BATCH,
    ours: array
      ? () => {
          const start = next('ours')
          for (let i = start; i < start + BATCH; i++)
            sink = (sink + oursTrie.match(list[i % n] as string).length) | 0
        }
      : () => {
          const start = next('ours')
          for (let i = start; i < start + BATCH; i++) oursTrie.forEachMatch(list[i % n] as string, visit)
        },
    qlobber() {
      const start = next('qlobber')
      for (let i = start; i < start + BATCH; i++)
        sink = (sink + qlobber.match(list[i % n] as string).length) | 0
    },
    qlobberSub() {
      const start = next('qlobberSub')
      for (let i = start; i < start + BATCH; i++)
        sink = (sink + qlobberSub.match(list[i % n] as string).length) | 0
    },
  }
}

const rows: Row[] = [
  matchRow('match, mixed publishes (forEachMatch)', topics, false),
  matchRow('match, mixed publishes (match -> array)', topics, true),
  matchRow(
    'match, telemetry only (few matches)',
    topics.filter((t) => t.endsWith('/telemetry')),
    false,
  ),
  matchRow(
    'match, alarm only (4,000+ matches)',
    topics.filter((t) => t.endsWith('/alarm')),
    false,
  ),
  {
    name: 'insert 100k subscriptions',
    perIteration: SUBSCRIPTIONS,
    ours: () => buildOurs(),
    qlobber: () => buildQlobber(),
    qlobberSub: () => buildQlobberSub(),
  },
  {
    name: 'remove 100k subscriptions',
    perIteration: SUBSCRIPTIONS,
    oursSetup() {
      oursTrie = buildOurs()
    },
    ours() {
      for (const sub of removalOrder) oursTrie.remove(sub.topic, sub.clientId)
      if (oursTrie.size !== 0) throw new Error('ours: not empty')
    },
    qlobberSetup() {
      qlobber = buildQlobber()
    },
    qlobber() {
      for (const sub of removalOrder) qlobber.remove(sub.topic, sub)
    },
    qlobberSubSetup() {
      qlobberSub = buildQlobberSub()
    },
    qlobberSub() {
      for (const sub of removalOrder) qlobberSub.remove(sub.topic, sub)
      if (qlobberSub.subscriptionsCount !== 0) throw new Error('QlobberSub: not empty')
    },
  },
]

/** Operations per second from a task's median iteration time. */
function rate(task: Task | undefined, perIteration: number): number {
  const result = task?.result
  if (result === undefined || !('latency' in result)) throw new Error(`task ${task?.name} did not complete`)
  return perIteration / (result.latency.p50 / 1000)
}

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

async function measure(row: Row): Promise<Record<Contender, number>> {
  const samples: Record<Contender, number[]> = { ours: [], qlobber: [], qlobberSub: [] }
  const bulk = row.perIteration === SUBSCRIPTIONS
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order each round so no contender always runs first (or right after a GC-heavy one).
    const order = CONTENDERS.map((_, i) => CONTENDERS[(i + round) % CONTENDERS.length] as Contender)
    for (const name of order) {
      gc()
      const bench = bulk
        ? new Bench({ time: 400, iterations: 6, warmupIterations: 2, warmupTime: 0 })
        : new Bench({ time: 700, warmupTime: 200 })
      const setup = row[`${name}Setup`]
      bench.add(name, row[name], setup === undefined ? {} : { beforeEach: setup })
      await bench.run()
      samples[name].push(rate(bench.tasks[0], row.perIteration))
    }
  }
  return {
    ours: median(samples.ours),
    qlobber: median(samples.qlobber),
    qlobberSub: median(samples.qlobberSub),
  }
}

function heapAfterBuilding(build: () => unknown): number {
  gc()
  gc()
  const before = process.memoryUsage().heapUsed
  const built = build()
  gc()
  gc()
  const after = process.memoryUsage().heapUsed
  if (built === undefined) throw new Error('unreachable')
  return (after - before) / 1024 / 1024
}

// ---------------------------------------------------------------------------------------------------------
// Retained messages: RetainedIndex against the scan a store without a topic trie has to do.

interface RetainedRow {
  name: string
  index: number
  scan: number
}

async function measureRetained(): Promise<RetainedRow[]> {
  const retained = new Map<string, number>()
  for (let i = 0; i < SUBSCRIPTIONS; i++) {
    retained.set(`devices/dev-${i % DEVICES}/${i < DEVICES ? 'status' : 'config'}`, i)
  }
  const index = new RetainedIndex<number>()
  for (const [topic, value] of retained) index.set(topic, value)
  const filters = [
    { name: 'retained lookup devices/{id}/#', filter: () => `devices/${device()}/#` },
    { name: 'retained lookup devices/+/status', filter: () => 'devices/+/status' },
  ]
  const out: RetainedRow[] = []
  const countRetained = (value: number) => {
    sink = (sink + value) | 0
  }
  for (const { name, filter } of filters) {
    const samples = { index: [] as number[], scan: [] as number[] }
    for (let round = 0; round < ROUNDS; round++) {
      const bench = new Bench({ time: 500, warmupTime: 100 })
      bench.add('index', () => index.forEachMatch(filter(), countRetained))
      bench.add('scan', () => {
        const f = filter()
        for (const [topic, value] of retained) if (topicMatches(f, topic)) sink = (sink + value) | 0
      })
      await bench.run()
      samples.index.push(rate(bench.tasks[0], 1))
      samples.scan.push(rate(bench.tasks[1], 1))
    }
    out.push({ name, index: median(samples.index), scan: median(samples.scan) })
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------

const fmt = (n: number): string =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(1)
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${ROUNDS} rounds, median of per-round medians`)
  const { meanMatches, maxMatches } = checkAgreement()
  console.log(
    `${SUBSCRIPTIONS} subscriptions, ${TOPICS} publish topics: ${meanMatches.toFixed(1)} matches per publish on average, at most ${maxMatches}; all three agree`,
  )
  console.log(`$ rule: ${checkDollarRule()}\n`)

  const table: string[][] = [
    ['operation (ops/s)', 'ours', 'Qlobber', 'ours/Qlobber', 'QlobberSub (aedes)', 'ours/QlobberSub'],
  ]
  // The match rows read the structures built at load; the remove row (last) empties them.
  for (const row of rows) {
    const r = await measure(row)
    table.push([
      row.name,
      fmt(r.ours),
      fmt(r.qlobber),
      ratio(r.ours, r.qlobber),
      fmt(r.qlobberSub),
      ratio(r.ours, r.qlobberSub),
    ])
  }
  const heap = {
    ours: heapAfterBuilding(buildOurs),
    qlobber: heapAfterBuilding(buildQlobber),
    qlobberSub: heapAfterBuilding(buildQlobberSub),
  }
  table.push([
    'heap after building 100k (MB)',
    heap.ours.toFixed(1),
    heap.qlobber.toFixed(1),
    ratio(heap.ours, heap.qlobber),
    heap.qlobberSub.toFixed(1),
    ratio(heap.ours, heap.qlobberSub),
  ])
  printTable(table)

  console.log('')
  const retained: string[][] = [
    ['operation (ops/s)', 'RetainedIndex', 'scan all 100k + topicMatches', 'ratio'],
  ]
  for (const r of await measureRetained())
    retained.push([r.name, fmt(r.index), fmt(r.scan), ratio(r.index, r.scan)])
  printTable(retained)
  if (sink === 42) console.log('')
}

function printTable(rowsToPrint: string[][]): void {
  const widths = (rowsToPrint[0] as string[]).map((_, c) =>
    Math.max(...rowsToPrint.map((r) => (r[c] as string).length)),
  )
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padEnd(widths[c] as number)).join(' | ')} |`
  console.log(line(rowsToPrint[0] as string[]))
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`)
  for (const r of rowsToPrint.slice(1)) console.log(line(r))
}

await main()
