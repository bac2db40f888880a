/**
 * The fuzz run from the command line (docs/robustness.md):
 *
 *   pnpm --filter @mqtt-stack/conformance fuzz                 # the bounded run of the test suite
 *   pnpm --filter @mqtt-stack/conformance fuzz -- --long       # 1,000,000 packets, 1,000 connections at once
 *   pnpm --filter @mqtt-stack/conformance fuzz -- --seed 1234  # repeat a run
 *
 * Options: --seed N, --packets N, --concurrency N, --min N / --max N (packets per connection),
 * --mutation-rate P, --heap-bound MiB, --only I,J (play only these connections of the run: the I of a
 * client id fz-I-zz in a failure), --show (with --only: print what those connections send, packet by packet),
 * --json (print the whole report as JSON), --quiet (no line per batch).
 * Exits 1 on any failure.
 */
import { parseArgs } from 'node:util'
import { planConnection } from './plan.js'
import { Prng } from './prng.js'
import { type FuzzOptions, runFuzz, summary } from './runner.js'

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    long: { type: 'boolean', default: false },
    seed: { type: 'string' },
    packets: { type: 'string' },
    concurrency: { type: 'string' },
    min: { type: 'string' },
    max: { type: 'string' },
    'mutation-rate': { type: 'string' },
    'heap-bound': { type: 'string' },
    only: { type: 'string' },
    show: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
  },
})

function number(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const parsed = Number(value)
  if (!Number.isFinite(parsed)) throw new Error(`not a number: ${value}`)
  return parsed
}

const options: FuzzOptions = {
  packets: number(values.packets, values.long ? 1_000_000 : 30_000),
  concurrency: number(values.concurrency, values.long ? 1_000 : 50),
  packetsPerConnection: [number(values.min, 10), number(values.max, 50)],
  mutationRate: number(values['mutation-rate'], 0.2),
  heapBound: number(values['heap-bound'], 10) * 1024 * 1024,
  stopOnFailure: false,
}
if (values.seed !== undefined) options.seed = number(values.seed, 0) >>> 0
if (values.only !== undefined) options.only = values.only.split(',').map((index) => number(index, 0))
if (!values.quiet) {
  options.onBatch = (batch) => {
    const mib = (batch.heapUsed / 1024 / 1024).toFixed(1)
    const failed = batch.failures.length > 0 ? ` FAILED: ${batch.failures.join('; ')}` : ''
    console.log(
      `batch ${batch.batch}: ${batch.connections} connections, ${batch.packets} packets, heap ${mib} MiB${failed}`,
    )
  }
}

if (values.show && options.only !== undefined && options.seed !== undefined) {
  const [min, max] = options.packetsPerConnection ?? [10, 50]
  const counts = new Prng(options.seed, -1)
  const drawn = Array.from({ length: Math.max(...options.only) + 1 }, () => counts.range(min, max))
  for (const index of options.only) {
    const plan = planConnection(options.seed, index, {
      packets: drawn[index]!,
      mutationRate: options.mutationRate ?? 0.2,
    })
    console.log(
      `connection ${index} (${plan.clientId}): MQTT level ${plan.version}, ${plan.pacing}, ends with ${plan.ending}`,
    )
    plan.packets.forEach((packet, n) => {
      const sync = plan.syncAfter.has(n) ? ' (then PINGREQ)' : ''
      console.log(
        `  ${n} ${packet.kind}${sync}: ${packet.chunks.map((chunk) => chunk.toString('hex')).join(' | ')}`,
      )
    })
  }
}

const report = await runFuzz(options)
console.log(summary(report))
if (values.json) console.log(JSON.stringify({ ...report, node: process.version }, null, 2))
process.exitCode = report.failures.length > 0 ? 1 : 0
