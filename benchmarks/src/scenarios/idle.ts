/**
 * Scenario 9: idle persistent connections, each with one subscription, as many as this machine lets one
 * process hold up to 100,000; then the broker's RSS per connection and what 100,000 would take.
 *
 * A process may open only as many files as its RLIMIT_NOFILE (20,000 on the project's machines, and only a
 * privileged process may raise it): the broker holds one socket per connection, so the count is that limit
 * less a margin, and the figure for 100,000 is a projection from the same run: the RSS before the first
 * connection plus 100,000 times the RSS per connection.
 */
import { readFileSync } from 'node:fs'
import { closeAll, type MqttConnection, openMany } from '../load/connection.js'
import { CpuMeter, round, sleep } from '../load/stats.js'
import { handshakeCounts } from './result.js'
import type { Scenario } from './types.js'

const TARGET = 100_000
/** File descriptors the broker needs besides its connections (listeners, stdio, libraries). */
const MARGIN = 1_000

/** The soft limit on open files in `/proc/self/limits` text (the brokers started inherit it), or undefined. */
export function openFilesLimit(limits: string | undefined): number | undefined {
  const line = limits?.split('\n').find((row) => row.startsWith('Max open files'))
  const soft = line?.split(/\s{2,}/)[1]
  return soft === undefined || soft === 'unlimited' ? undefined : Number(soft)
}

function readLimits(): string | undefined {
  try {
    return readFileSync('/proc/self/limits', 'utf8')
  } catch {
    return undefined
  }
}

/** How many connections to open: 100,000, or as many as the open-files limit leaves room for. */
export function idleCount(quick: boolean, limit: number | undefined): number {
  if (quick) return 500
  return limit === undefined ? TARGET : Math.max(1, Math.min(TARGET, limit - MARGIN))
}

export const idle: Scenario = {
  name: 'idle',
  title: 'idle persistent connections: one subscription each, up to 100,000 (the open-files limit allowing)',
  relay: false,
  metrics: [
    { key: 'rssPerConnection', label: 'RSS per connection', unit: 'KiB', better: 'lower' },
    { key: 'projectedMiB', label: 'RSS projected for 100,000', unit: 'MiB', better: 'lower' },
  ],
  async run(ctx) {
    const { host, port } = ctx.broker
    const count = idleCount(ctx.quick, openFilesLimit(readLimits()))
    const notes: string[] =
      count < TARGET ? [`${count} connections: the open-files limit allows no more`] : []
    await sleep(100)
    const rssBefore = ctx.broker.rss() ?? 0
    let granted = 0
    let conns: MqttConnection[] = []
    try {
      const cpu = new CpuMeter()
      const start = performance.now()
      conns = await openMany(
        count,
        100,
        (i) => ({ host, port, clientId: `idle-${i}`, clean: false }),
        async (conn, i) => {
          if ((await conn.subscribe([`idle/${i}/+`], 1)) === 1) granted++
        },
      )
      const elapsed = performance.now() - start
      const generatorCpu = cpu.share()
      // Idle: what the broker keeps once the handshakes' garbage is collected in its own time.
      await sleep(1000)
      const rssAfter = ctx.broker.rss() ?? 0
      const perConnection = (rssAfter - rssBefore) / count
      const throughput = round((count / elapsed) * 1000, 0)
      return {
        throughput,
        rss: rssAfter,
        ...handshakeCounts(count, granted, generatorCpu, conns, notes),
        // What is measured is the memory held once every client is connected, which does not depend on
        // how fast the generator connected them (the storm measures that): never the generator's limit.
        generatorBottleneck: false,
        metrics: {
          rssPerConnection: round(perConnection / 1024, 2),
          projectedMiB: round((rssBefore + perConnection * TARGET) / 2 ** 20, 0),
          throughput,
          connections: count,
        },
        notes,
      }
    } finally {
      await closeAll(conns)
    }
  },
}
