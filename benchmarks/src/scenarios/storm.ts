/**
 * Scenario 5: 5,000 clients connect and subscribe, 100 handshakes at a time; then the broker's RSS and its
 * CPU per connection. The bare relay runs it too, as the floor Node itself sets. On Redis (redis-storm), also
 * the Redis commands per connection.
 *
 * The first 5,000 meet a fresh process: much of their cost is the JIT compiling the connect path, on threads
 * that share the two cores with the generator. Two more waves of 5,000 follow, each after the last has left;
 * the third measures the connect path of a broker that has been running, as a storm of clients reconnecting
 * after a network failure meets it.
 */
import { closeAll, type MqttConnection, openMany } from '../load/connection.js'
import {
  BOTTLENECK_CPU_SHARE,
  CpuMeter,
  cpuMicrosPer,
  readCpuMs,
  round,
  sleep,
  whenIdle,
} from '../load/stats.js'
import { redisPerPublish } from '../peers/redis.js'
import { handshakeCounts } from './result.js'
import type { Scenario } from './types.js'

export const storm: Scenario = {
  name: 'storm',
  title: 'connection storm: 5,000 clients connect + subscribe, 100 at a time; then 2 × 5,000 more',
  relay: true,
  metrics: [
    { key: 'throughput', label: 'connect+subscribe/s', unit: 'conn/s', better: 'higher' },
    { key: 'cpuPerConnection', label: 'broker CPU per connect+subscribe', unit: 'µs', better: 'lower' },
    {
      key: 'throughputWarm',
      label: 'connect+subscribe/s of the third 5,000 (a warmed-up broker)',
      unit: 'conn/s',
      better: 'higher',
    },
    {
      key: 'cpuPerConnectionWarm',
      label: 'broker CPU per connect+subscribe of the third 5,000',
      unit: 'µs',
      better: 'lower',
    },
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
    const open = (from: number, n: number): Promise<MqttConnection[]> =>
      openMany(
        n,
        100,
        (i) => ({ host, port, clientId: `storm-${from + i}` }),
        async (conn, i) => {
          const qos = await conn.subscribe([`storm/${from + i}/+`], 0)
          if (qos === 0) granted++
        },
      )
    /** Counts the connections of a wave that the broker closed, closes the wave, waits until the broker idles. */
    let closedByBroker = 0
    const leave = async (wave: MqttConnection[]): Promise<void> => {
      closedByBroker += wave.filter((conn) => conn.closed).length
      await closeAll(wave)
      await whenIdle(ctx.broker.pid)
    }
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
      const redisAfter = await ctx.redis?.counters()
      await sleep(200)
      const rssAfter = ctx.broker.rss() ?? 0
      // The warm waves: the first 5,000 leave, 5,000 others connect and leave (the broker warms up), and 5,000
      // more are measured. Each wave starts once the broker has finished closing the last.
      await leave(conns)
      conns = []
      await leave(await open(count, count))
      const warmCpuBefore = readCpuMs(ctx.broker.pid)
      cpu.reset()
      start = performance.now()
      conns = await open(2 * count, count)
      const warmElapsed = performance.now() - start
      const warmGeneratorCpu = cpu.share()
      const warmCpuAfter = readCpuMs(ctx.broker.pid)
      if (warmGeneratorCpu > BOTTLENECK_CPU_SHARE)
        notes.push(
          `the generator was the bottleneck of the third 5,000 (${round(warmGeneratorCpu)} of a core)`,
        )
      const throughput = round((count / elapsed) * 1000, 0)
      const rssPerConnection = round((rssAfter - rssBefore) / count / 1024, 2)
      const metrics: Record<string, number> = {
        throughput,
        rssPerConnection,
        rssPerConnectionSecondHalf: round((rssAfter - rssHalf) / (count - half) / 1024, 2),
        rssBeforeMiB: round(rssBefore / 2 ** 20, 1),
      }
      const cpuPerConnection = cpuMicrosPer(brokerCpuBefore, brokerCpuAfter, count, 1)
      if (cpuPerConnection !== undefined) metrics.cpuPerConnection = cpuPerConnection
      metrics.throughputWarm = round((count / warmElapsed) * 1000, 0)
      const cpuPerConnectionWarm = cpuMicrosPer(warmCpuBefore, warmCpuAfter, count, 1)
      if (cpuPerConnectionWarm !== undefined) metrics.cpuPerConnectionWarm = cpuPerConnectionWarm
      if (redisBefore && redisAfter) {
        const redis = redisPerPublish(redisBefore, redisAfter, count, 'connect+subscribe')
        metrics.redisCommandsPerConnection = redis.metrics.redisCommandsPerPublish!
        if (redis.metrics.redisReadsPerPublish !== undefined)
          metrics.redisReadsPerConnection = redis.metrics.redisReadsPerPublish
        notes.push(redis.note)
      }
      if (closedByBroker > 0)
        notes.push(`${closedByBroker} connections of the first two waves closed by the broker`)
      return {
        throughput,
        rss: rssAfter,
        ...handshakeCounts(3 * count, granted, generatorCpu, conns, notes),
        metrics,
        notes,
      }
    } finally {
      await closeAll(conns)
    }
  },
}
