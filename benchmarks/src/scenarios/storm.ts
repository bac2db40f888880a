/**
 * Scenario 5: 5,000 clients connect and subscribe, 100 handshakes at a time; then the broker's RSS and its
 * CPU per connection. The bare relay runs it too, as the floor Node itself sets. On Redis (redis-storm), also
 * the Redis commands per connection.
 */
import { closeAll, type MqttConnection, openMany } from '../load/connection.js'
import { CpuMeter, readCpuMs, round, sleep } from '../load/stats.js'
import { redisPerPublish } from '../peers/redis.js'
import { handshakeCounts } from './result.js'
import type { Scenario } from './types.js'

export const storm: Scenario = {
  name: 'storm',
  title: 'connection storm: 5,000 clients connect + subscribe, 100 at a time',
  relay: true,
  metrics: [
    { key: 'throughput', label: 'connect+subscribe/s', unit: 'conn/s', better: 'higher' },
    { key: 'cpuPerConnection', label: 'broker CPU per connect+subscribe', unit: 'µs', better: 'lower' },
    { key: 'rssPerConnection', label: 'RSS per connection', unit: 'KiB', better: 'lower' },
    {
      key: 'rssPerConnectionSecondHalf',
      label: 'RSS per connection of the second half',
      unit: 'KiB',
      better: 'lower',
    },
  ],
  async run(ctx) {
    const { host, port } = ctx.broker
    const count = ctx.quick ? 300 : 5000
    const notes: string[] = []
    await sleep(100)
    const rssBefore = ctx.broker.rss() ?? 0
    let granted = 0
    let conns: MqttConnection[] = []
    const half = Math.floor(count / 2)
    const open = (from: number, n: number) =>
      openMany(
        n,
        100,
        (i) => ({ host, port, clientId: `storm-${from + i}` }),
        async (conn, i) => {
          const qos = await conn.subscribe([`storm/${from + i}/+`], 0)
          if (qos === 0) granted++
        },
      )
    try {
      // Two halves, the RSS read between them: the second half's growth is what one more connection costs,
      // without the one-off growth of the runtime (V8's young generation grows to its maximum in the first).
      const redisBefore = await ctx.redis?.counters()
      const cpu = new CpuMeter()
      // The broker's CPU per connection: what the connect path costs, much less moved than the rate by what
      // else runs on the machine (and the measure of a change to it).
      const brokerCpuBefore = readCpuMs(ctx.broker.pid)
      let start = performance.now()
      conns = await open(0, half)
      let elapsed = performance.now() - start
      const rssHalf = ctx.broker.rss() ?? 0
      start = performance.now()
      conns.push(...(await open(half, count - half)))
      elapsed += performance.now() - start
      const generatorCpu = cpu.share()
      const brokerCpuAfter = readCpuMs(ctx.broker.pid)
      await sleep(200)
      const rssAfter = ctx.broker.rss() ?? 0
      const throughput = round((count / elapsed) * 1000, 0)
      const rssPerConnection = round((rssAfter - rssBefore) / count / 1024, 2)
      const metrics: Record<string, number> = {
        throughput,
        rssPerConnection,
        rssPerConnectionSecondHalf: round((rssAfter - rssHalf) / (count - half) / 1024, 2),
        rssBeforeMiB: round(rssBefore / 2 ** 20, 1),
      }
      if (brokerCpuBefore !== undefined && brokerCpuAfter !== undefined)
        metrics.cpuPerConnection = round(((brokerCpuAfter - brokerCpuBefore) * 1000) / count, 1)
      if (ctx.redis && redisBefore) {
        const redis = redisPerPublish(redisBefore, await ctx.redis.counters(), count, 'connect+subscribe')
        metrics.redisCommandsPerConnection = redis.metrics.redisCommandsPerPublish!
        if (redis.metrics.redisReadsPerPublish !== undefined)
          metrics.redisReadsPerConnection = redis.metrics.redisReadsPerPublish
        notes.push(redis.note)
      }
      return {
        throughput,
        rss: rssAfter,
        ...handshakeCounts(count, granted, generatorCpu, conns, notes),
        metrics,
        notes,
      }
    } finally {
      await closeAll(conns)
    }
  },
}
