/**
 * The scenarios on Redis, against `stack-redis` and `aedes-redis` only, each run with a redis-server of its
 * own. One node: QoS 1 throughput, and the connection storm. Two nodes of one broker on that Redis (node A is
 * the broker of the run, node B a second process started by the scenario): fan-in and fan-out at QoS 0 and
 * QoS 1 from publishers on A to subscribers on B, and the drain of persistent sessions after B restarts.
 */
import { closeAll, MqttConnection, openMany } from '../load/connection.js'
import { DeliveryTracker, round } from '../load/stats.js'
import type { RunningBroker } from '../peers/index.js'
import { redisPerPublish } from '../peers/redis.js'
import { drainSessions } from './drain.js'
import { publishToQueue } from './publish-all.js'
import { deliveryCounts } from './result.js'
import { storm } from './storm.js'
import { awaitRoutes, runStream, type StreamOptions } from './stream.js'
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
  { key: 'redisCpuPerPublish', label: 'redis-server CPU per PUBLISH', unit: 'µs', better: 'lower' },
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

const DELIVERIES: Metric = { key: 'throughput', label: 'deliveries/s', unit: 'msg/s', better: 'higher' }

/** A stream from publishers on node A to subscribers on node B, 64 B payloads, for 5 s (quick: 1 s). */
function crossStream(
  name: string,
  title: string,
  metrics: readonly Metric[],
  stream: Omit<StreamOptions, 'payload' | 'durationMs' | 'crossNode'>,
): Scenario {
  return {
    name,
    title,
    relay: false,
    redis: true,
    metrics,
    run: (ctx) => runStream(ctx, { ...stream, payload: 64, durationMs: seconds(ctx.quick), crossNode: true }),
  }
}

export const crossFanIn = crossStream(
  'cross-fan-in',
  'across nodes, fan-in QoS 0: 10 publishers on node A → one `+` subscriber on node B, 64 B',
  [DELIVERIES, ...LATENCY, ...REDIS_METRICS],
  {
    name: 'xfanin',
    publishers: 10,
    subscribers: 1,
    topic: (p) => `bench/xfanin/${p}`,
    filter: 'bench/xfanin/+',
    qos: 0,
    window: 100,
  },
)

export const crossFanOut = crossStream(
  'cross-fan-out',
  'across nodes, fan-out QoS 0: 1 publisher on node A → 50 subscribers on node B, 64 B',
  [DELIVERIES, ...LATENCY, ...REDIS_METRICS],
  {
    name: 'xfanout',
    publishers: 1,
    subscribers: 50,
    topic: () => 'bench/xfanout',
    filter: 'bench/xfanout',
    qos: 0,
    window: 200,
  },
)

export const crossQos1 = crossStream(
  'cross-qos1',
  'across nodes, QoS 1: 10 publishers on node A (≤ 100 unacked each) → one QoS 1 subscriber on node B, 64 B',
  [
    DELIVERIES,
    ...LATENCY,
    { key: 'p999', label: 'latency p99.9', unit: 'ms', better: 'lower' },
    ...REDIS_METRICS,
  ],
  {
    name: 'xqos1',
    publishers: 10,
    subscribers: 1,
    topic: (p) => `bench/xqos1/${p}`,
    filter: 'bench/xqos1/+',
    qos: 1,
    window: 100,
  },
)

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
    { ...DELIVERIES, label: 'drain: deliveries/s' },
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
      await publishToQueue(pub, perSession, Buffer.from('xps/all'), notes)
      // Node B dies with the sessions queued, and comes back.
      const killedAt = performance.now()
      await nodeB.kill()
      nodeB = await ctx.startNode()
      const restartMs = performance.now() - killedAt
      const expected = sessions * perSession
      const drain = await drainSessions({
        host: nodeB.host,
        port: nodeB.port,
        clientId: (i) => `xps-${i}`,
        sessions,
        concurrency: 50,
        expected,
        tracker,
        notes,
      })
      conns = drain.conns
      const { throughput, drainMs, reconnectMs, generatorCpu } = drain
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
