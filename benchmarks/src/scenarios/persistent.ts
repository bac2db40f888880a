/**
 * Scenario 8: 1,000 persistent sessions (clean = false) subscribe at QoS 1 and go offline; a publisher sends
 * 100 QoS 1 messages that each session queues; the broker's RSS with the 100k messages queued; then every
 * session reconnects (100 handshakes at a time) and the time until all 100k are delivered and acknowledged.
 */
import { closeAll, MqttConnection, openMany } from '../load/connection.js'
import { DeliveryTracker, round, sleep } from '../load/stats.js'
import { drainSessions } from './drain.js'
import { publishToQueue } from './publish-all.js'
import { deliveryCounts } from './result.js'
import type { Scenario } from './types.js'

export const persistent: Scenario = {
  name: 'persistent',
  title: 'persistent sessions: 1,000 offline sessions queue 100 QoS 1 messages each, then reconnect',
  relay: false,
  metrics: [
    { key: 'throughput', label: 'drain: deliveries/s', unit: 'msg/s', better: 'higher' },
    { key: 'drainMs', label: 'drain: time to all', unit: 'ms', better: 'lower' },
    { key: 'rssQueuedMiB', label: 'RSS growth with all queued', unit: 'MiB', better: 'lower' },
  ],
  async run(ctx) {
    const { host, port } = ctx.broker
    const sessions = ctx.quick ? 50 : 1000
    const perSession = 100
    const notes: string[] = []
    const tracker = new DeliveryTracker(sessions, 1)
    let conns: MqttConnection[] = []
    let pub: MqttConnection | undefined
    try {
      const offline = await openMany(
        sessions,
        100,
        (i) => ({ host, port, clientId: `ps-${i}`, clean: false }),
        async (conn) => {
          await conn.subscribe(['ps/all'], 1)
          await conn.close()
        },
      )
      if (offline.some((conn) => conn.closeError))
        notes.push('a session was closed by the broker while subscribing')
      await sleep(200)
      const rssBefore = ctx.broker.rss() ?? 0
      pub = await MqttConnection.open({ host, port, clientId: 'ps-pub' })
      await publishToQueue(pub, perSession, Buffer.from('ps/all'), notes)
      // Let the broker finish queueing before the memory reading.
      await pub.ping()
      await sleep(300)
      const rssQueued = ctx.broker.rss() ?? 0
      const expected = sessions * perSession
      const drain = await drainSessions({
        host,
        port,
        clientId: (i) => `ps-${i}`,
        sessions,
        concurrency: 100,
        expected,
        tracker,
        notes,
      })
      conns = drain.conns
      const { throughput, drainMs, generatorCpu } = drain
      return {
        throughput,
        rss: rssQueued,
        ...deliveryCounts(expected, tracker, generatorCpu),
        metrics: {
          throughput,
          drainMs: round(drainMs, 1),
          rssQueuedMiB: round((rssQueued - rssBefore) / 2 ** 20, 2),
          bytesPerQueued: round((rssQueued - rssBefore) / expected, 0),
        },
        notes: [...new Set(notes)],
      }
    } finally {
      await closeAll(conns)
      await pub?.close()
    }
  },
}
