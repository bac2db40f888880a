/**
 * The scenarios on Redis, against `stack-redis` and `aedes-redis` only, each run with a redis-server of its
 * own. One node: QoS 1 throughput, and the connection storm. Two nodes of one broker on that Redis (node A is
 * the broker of the run, node B a second process started by the scenario): fan-in and fan-out at QoS 0 and
 * QoS 1 from publishers on A to subscribers on B, and the drain of persistent sessions after B restarts.
 */
import { closeAll, MqttConnection, openMany } from '../load/connection.js'
import { CpuMeter, DeliveryTracker, round, waitFor } from '../load/stats.js'
import type { RunningBroker } from '../peers/index.js'
import { redisPerPublish } from '../peers/redis.js'
import { publishAll } from './publish-all.js'
import { deliveryCounts } from './result.js'
import { storm } from './storm.js'
import { awaitRoutes, runStream } from './stream.js'
import { qos1 } from './throughput.js'
import type { Metric, Scenario } from './types.js'

const seconds = (quick: boolean) => (quick ? 1000 : 5000)

const REDIS_METRICS: readonly Metric[] = [
  { key: 'redisCommandsPerPublish', label: 'Redis commands per PUBLISH', unit: 'cmd', better: 'lower' },
  {
    key: 'redisReadsPerPublish',
    label: 'Redis reads (round trips) per PUBLISH',
    unit: 'cmd',
    better: 'lower',
  },
]

const LATENCY: readonly Metric[] = [
  { key: 'p50', label: 'latency p50', unit: 'ms', better: 'lower' },
  { key: 'p99', label: 'latency p99', unit: 'ms', better: 'lower' },
]

export const redisQos1: Scenario = {
  ...qos1,
  name: 'redis-qos1',
  title: 'one node on Redis, QoS 1: 10 publishers (≤ 100 unacked each) → one QoS 1 subscriber, 64 B',
  redis: true,
  metrics: [...qos1.metrics, ...REDIS_METRICS],
}

export const redisStorm: Scenario = {
  ...storm,
  name: 'redis-storm',
  title: 'connection storm on one node on Redis: 5,000 clients connect + subscribe, 100 at a time',
  redis: true,
  metrics: [
    ...storm.metrics,
    {
      key: 'redisCommandsPerConnection',
      label: 'Redis commands per connect+subscribe',
      unit: 'cmd',
      better: 'lower',
    },
  ],
}

export const crossFanIn: Scenario = {
  name: 'cross-fan-in',
  title: 'across nodes, fan-in QoS 0: 10 publishers on node A → one `+` subscriber on node B, 64 B',
  relay: false,
  redis: true,
  metrics: [
    { key: 'throughput', label: 'deliveries/s', unit: 'msg/s', better: 'higher' },
    ...LATENCY,
    ...REDIS_METRICS,
  ],
  run: (ctx) =>
    runStream(ctx, {
      name: 'xfanin',
      publishers: 10,
      subscribers: 1,
      topic: (p) => `bench/xfanin/${p}`,
      filter: 'bench/xfanin/+',
      qos: 0,
      payload: 64,
      window: 100,
      durationMs: seconds(ctx.quick),
      crossNode: true,
    }),
}

export const crossFanOut: Scenario = {
  name: 'cross-fan-out',
  title: 'across nodes, fan-out QoS 0: 1 publisher on node A → 50 subscribers on node B, 64 B',
  relay: false,
  redis: true,
  metrics: [
    { key: 'throughput', label: 'deliveries/s', unit: 'msg/s', better: 'higher' },
    ...LATENCY,
    ...REDIS_METRICS,
  ],
  run: (ctx) =>
    runStream(ctx, {
      name: 'xfanout',
      publishers: 1,
      subscribers: 50,
      topic: () => 'bench/xfanout',
      filter: 'bench/xfanout',
      qos: 0,
      payload: 64,
      window: 200,
      durationMs: seconds(ctx.quick),
      crossNode: true,
    }),
}

export const crossQos1: Scenario = {
  name: 'cross-qos1',
  title: 'across nodes, QoS 1: 10 publishers on node A (≤ 100 unacked each) → one QoS 1 subscriber on node B',
  relay: false,
  redis: true,
  metrics: [
    { key: 'throughput', label: 'deliveries/s', unit: 'msg/s', better: 'higher' },
    ...LATENCY,
    { key: 'p999', label: 'latency p99.9', unit: 'ms', better: 'lower' },
    ...REDIS_METRICS,
  ],
  run: (ctx) =>
    runStream(ctx, {
      name: 'xqos1',
      publishers: 10,
      subscribers: 1,
      topic: (p) => `bench/xqos1/${p}`,
      filter: 'bench/xqos1/+',
      qos: 1,
      payload: 64,
      window: 100,
      durationMs: seconds(ctx.quick),
      crossNode: true,
    }),
}

/**
 * Persistent sessions subscribe at QoS 1 on node B and disconnect; a publisher on node A sends QoS 1
 * messages that each session queues; node B is killed (`kill -9`) and started again; every session
 * reconnects to the new node B and drains. Reported: the time to all and the deliveries per second of the
 * drain, the part of it until every session had its CONNACK, the restart of B, and every queued message
 * counted (lost, duplicated).
 */
export const crossPersistent: Scenario = {
  name: 'cross-persistent',
  title:
    'across nodes, persistent sessions: 100 sessions on node B queue 200 QoS 1 messages each published on node A; B is killed and restarted; they reconnect to B and drain',
  relay: false,
  redis: true,
  metrics: [
    { key: 'throughput', label: 'drain: deliveries/s', unit: 'msg/s', better: 'higher' },
    { key: 'drainMs', label: 'drain: time to all', unit: 'ms', better: 'lower' },
    { key: 'reconnectMs', label: 'drain: time to every CONNACK', unit: 'ms', better: 'lower' },
    { key: 'restartMs', label: 'node B: kill -9 to accepting again', unit: 'ms', better: 'lower' },
    ...REDIS_METRICS,
  ],
  async run(ctx) {
    if (!ctx.startNode) throw new Error('cross-persistent needs a broker with a second node (on Redis)')
    const a = ctx.broker
    const sessions = ctx.quick ? 20 : 100
    const perSession = ctx.quick ? 50 : 200
    const notes: string[] = []
    const tracker = new DeliveryTracker(sessions, 1)
    let nodeB: RunningBroker | undefined = await ctx.startNode()
    let conns: MqttConnection[] = []
    let pub: MqttConnection | undefined
    let probe: MqttConnection | undefined
    try {
      const b = nodeB
      const offline = await openMany(
        sessions,
        50,
        (i) => ({ host: b.host, port: b.port, clientId: `xps-${i}`, clean: false }),
        async (conn) => {
          await conn.subscribe(['xps/all'], 1)
          await conn.close()
        },
      )
      if (offline.some((conn) => conn.closeError))
        notes.push('a session was closed by the broker while subscribing')
      // Node A learns the subscriptions made on B in the order they were made: once a probe subscribed on B
      // after them gets what A publishes, A knows them all.
      let probed = false
      probe = await MqttConnection.open({
        host: b.host,
        port: b.port,
        clientId: 'xps-probe',
        onMessage: () => {
          probed = true
        },
      })
      await probe.subscribe(['xps/probe'], 0)
      pub = await MqttConnection.open({ host: a.host, port: a.port, clientId: 'xps-pub' })
      if (!(await awaitRoutes(pub, Buffer.from('xps/probe'), () => probed, ctx.quick ? 3000 : 10_000)))
        notes.push('a message published on node A did not reach node B')
      await probe.close()
      const redisBefore = await ctx.redis?.counters()
      const topic = Buffer.from('xps/all')
      const acked = await publishAll(pub, perSession, () => topic, {
        payload: 64,
        retain: false,
        window: 100,
      })
      if (acked < perSession)
        notes.push(`${perSession - acked} of the publisher's messages never acknowledged`)
      // Node B dies with the sessions queued, and comes back.
      const killedAt = performance.now()
      await nodeB.kill()
      nodeB = await ctx.startNode()
      const restartMs = performance.now() - killedAt
      const restarted = nodeB
      const expected = sessions * perSession
      let last = 0
      const cpu = new CpuMeter()
      const start = performance.now()
      conns = await openMany(sessions, 50, (i) => ({
        host: restarted.host,
        port: restarted.port,
        clientId: `xps-${i}`,
        clean: false,
        onMessage: (buf, from, to) => {
          tracker.record(i, buf, from, to)
          last = performance.now()
        },
      }))
      const reconnectMs = performance.now() - start
      const drained = await waitFor(
        () => tracker.unique >= expected,
        () => tracker.unique + tracker.duplicates,
        3000,
      )
      const generatorCpu = cpu.share()
      if (!drained) notes.push(`drain incomplete: ${expected - tracker.unique} of ${expected} missing`)
      for (const conn of conns) {
        if (conn.closeError) notes.push(`a session was closed by the broker: ${conn.closeError.message}`)
      }
      const drainMs = Math.max(last, start + 1) - start
      const throughput = round((tracker.unique / drainMs) * 1000, 0)
      // With nothing delivered there is no drain to time.
      const metrics: Record<string, number> = {
        throughput,
        reconnectMs: round(reconnectMs, 1),
        restartMs: round(restartMs, 1),
      }
      if (tracker.unique > 0) metrics.drainMs = round(drainMs, 1)
      if (ctx.redis && redisBefore) {
        const redis = redisPerPublish(redisBefore, await ctx.redis.counters(), perSession)
        Object.assign(metrics, redis.metrics)
        notes.push(`${redis.note}, with the drain`)
      }
      return {
        throughput,
        ...deliveryCounts(expected, tracker, generatorCpu),
        metrics,
        notes: [...new Set(notes)],
      }
    } finally {
      await closeAll([...conns, pub, probe])
      await nodeB?.stop()
    }
  },
}

/** In the order they run. */
export const REDIS_SCENARIOS: readonly Scenario[] = [
  redisQos1,
  redisStorm,
  crossFanIn,
  crossFanOut,
  crossQos1,
  crossPersistent,
]
