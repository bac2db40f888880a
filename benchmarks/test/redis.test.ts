/**
 * Quick mode of the scenarios on Redis, against our stack on RedisBackend (from its sources) and aedes on
 * Redis, each run with a redis-server of its own: the harness (a second node, its restart, the Redis
 * counters) must keep working. No timing is asserted. Without redis-server this is skipped, except under
 * CI=true, where it fails (hasRedis).
 */
import { hasRedis } from '@mqtt-stack/redis-backend/testing'
import { beforeAll, describe, expect, it } from 'vitest'
import { parseCommandStats, type RedisCounters, redisPerPublish } from '../src/peers/redis.js'
import type { RunRecord } from '../src/report.js'
import { runBenchmarks } from '../src/run.js'
import { REDIS_SCENARIOS } from '../src/scenarios/redis.js'
import { expectDelivered } from './expect-delivered.js'

describe.skipIf(!hasRedis())('broker benchmark on Redis, quick mode', () => {
  const runs = new Map<string, RunRecord>()

  beforeAll(async () => {
    const report = await runBenchmarks({
      quick: true,
      brokers: ['stack-redis', 'aedes-redis'],
      scenarios: REDIS_SCENARIOS.map((s) => s.name),
      fromSource: true,
      log: () => {},
    })
    for (const record of report.scenarios) {
      for (const run of record.runs) runs.set(`${record.name} ${run.broker}`, run)
    }
  }, 150_000)

  for (const scenario of REDIS_SCENARIOS) {
    for (const broker of ['stack-redis', 'aedes-redis']) {
      it(`${scenario.name} / ${broker}: messages arrive, none lost, none duplicated`, () => {
        expectDelivered(runs.get(`${scenario.name} ${broker}`))
      })
    }
  }

  it('counts Redis commands per PUBLISH on both brokers', () => {
    // aedes publishes every message through Redis; ours a message for a subscriber on another node.
    for (const [scenario, broker] of [
      ['redis-qos1', 'aedes-redis'],
      ['cross-qos1', 'stack-redis'],
    ]) {
      const metrics = runs.get(`${scenario} ${broker}`)?.result?.metrics
      expect(metrics?.redisCommandsPerPublish, broker).toBeGreaterThan(0)
      expect(metrics?.redisReadsPerPublish, broker).toBeGreaterThan(0)
    }
    // On one node, with clean sessions, ours sends none: their QoS 1 state is in the node's memory.
    expect(runs.get('redis-qos1 stack-redis')?.result?.metrics?.redisCommandsPerPublish).toBe(0)
  })
})

describe('Redis counters', () => {
  it('reads the calls of each command of INFO commandstats, without INFO itself', () => {
    const info = [
      '# Commandstats',
      'cmdstat_evalsha:calls=120,usec=900,usec_per_call=7.50,rejected_calls=0,failed_calls=0',
      'cmdstat_info:calls=3,usec=60,usec_per_call=20.00,rejected_calls=0,failed_calls=0',
      'cmdstat_publish:calls=40,usec=80,usec_per_call=2.00,rejected_calls=0,failed_calls=0',
      '',
    ].join('\r\n')
    expect([...parseCommandStats(info)]).toEqual([
      ['evalsha', 120],
      ['publish', 40],
    ])
  })

  it('divides what Redis did between two readings by the messages published', () => {
    const at = (commands: Record<string, number>, reads: number, cpuMs: number): RedisCounters => ({
      commands: Object.values(commands).reduce((a, b) => a + b, 0),
      byCommand: new Map(Object.entries(commands)),
      reads,
      cpuMs,
    })
    const { metrics, note } = redisPerPublish(
      at({ evalsha: 10, hset: 5 }, 100, 40),
      at({ evalsha: 410, hset: 205, publish: 200 }, 300, 50),
      200,
    )
    expect(metrics).toEqual({ redisCommandsPerPublish: 4, redisReadsPerPublish: 1, redisCpuPerPublish: 50 })
    expect(note).toBe('Redis per PUBLISH (200 sent): evalsha 2, hset 1, publish 1')
  })
})
