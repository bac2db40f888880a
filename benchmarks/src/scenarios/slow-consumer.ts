/**
 * Scenario 7: a steady stream (half QoS 0, half QoS 1) to 20 QoS 1 subscribers, first alone, then with a
 * 21st subscriber that stops reading. The others' throughput with the slow one over without it, and the
 * broker's RSS growth while the slow one stalls: it must stay bounded (our broker drops QoS 0 to a client
 * with over 1 MiB unread and disconnects it past 8 MiB; its QoS 1 queues are bounded in messages).
 */
import { closeAll, MqttConnection, openMany } from '../load/connection.js'
import { CpuMeter, DeliveryTracker, round, sleep, waitFor } from '../load/stats.js'
import { deliveryCounts } from './result.js'
import type { Scenario } from './types.js'

const FAST = 20

export const slowConsumer: Scenario = {
  name: 'slow-consumer',
  title: 'slow consumer: steady QoS 0 + QoS 1 stream to 20 readers, then a 21st stops reading',
  relay: false,
  metrics: [
    {
      key: 'keptThroughput',
      label: "others' throughput with / without the slow one",
      unit: '%',
      better: 'higher',
    },
    { key: 'rssGrowthMiB', label: 'broker RSS growth while it stalls', unit: 'MiB', better: 'lower' },
    { key: 'throughput', label: "others' deliveries/s with the slow one", unit: 'msg/s', better: 'higher' },
  ],
  async run(ctx) {
    const { host, port } = ctx.broker
    const phaseMs = ctx.quick ? 700 : 15_000
    const rate = ctx.quick ? 500 : 1000 // messages per second, alternating QoS 0 and QoS 1
    const payload = ctx.quick ? 512 : 2048
    const topic = Buffer.from('slow/stream')
    const notes: string[] = []
    const tracker = new DeliveryTracker(FAST, 2)
    let conns: MqttConnection[] = []
    let slow: MqttConnection | undefined
    let fastDeliveries = 0
    let timer: NodeJS.Timeout | undefined
    try {
      conns = await openMany(
        FAST,
        20,
        (s) => ({
          host,
          port,
          clientId: `slow-reader-${s}`,
          onMessage: (buf, start, end) => {
            tracker.record(s, buf, start, end)
            fastDeliveries++
          },
        }),
        (conn) => conn.subscribe(['slow/stream'], 1),
      )
      const [pub0, pub1] = await openMany(2, 2, (p) => ({ host, port, clientId: `slow-pub-${p}` }))
      conns.push(pub0!, pub1!)
      let inflight = 0
      pub1!.onAck = () => {
        inflight--
      }
      const seq = [0, 0]
      let skipped = 0
      let sent = 0
      const start = performance.now()
      const tick = (): void => {
        const due = Math.floor(((performance.now() - start) / 1000) * rate)
        while (sent < due) {
          if (sent % 2 === 0) pub0!.publish(topic, 0, payload, 0, seq[0]!++)
          else if (inflight < 100) {
            pub1!.publish(topic, 1, payload, 1, seq[1]!++)
            inflight++
          } else skipped++
          sent++
        }
      }
      timer = setInterval(tick, 5)
      const cpu = new CpuMeter()
      // Phase 1: the 20 readers alone (after a short warm-up).
      await sleep(Math.min(500, phaseMs / 2))
      let mark = fastDeliveries
      let markTime = performance.now()
      await sleep(phaseMs)
      const alone = ((fastDeliveries - mark) / (performance.now() - markTime)) * 1000
      // Phase 2: a 21st subscriber that reads nothing after its SUBACK.
      slow = await MqttConnection.open({ host, port, clientId: 'slow-stalled' })
      await slow.subscribe(['slow/stream'], 1)
      slow.autoAck = false
      slow.socket.pause()
      const rssStart = ctx.broker.rss() ?? 0
      let rssMax = rssStart
      mark = fastDeliveries
      markTime = performance.now()
      const phaseEnd = markTime + phaseMs
      while (performance.now() < phaseEnd) {
        await sleep(250)
        rssMax = Math.max(rssMax, ctx.broker.rss() ?? 0)
      }
      const withSlow = ((fastDeliveries - mark) / (performance.now() - markTime)) * 1000
      const rssEnd = ctx.broker.rss() ?? 0
      clearInterval(timer)
      const generatorCpu = cpu.share()
      const published = seq[0]! + seq[1]!
      const expected = published * FAST
      const drained = await waitFor(
        () => tracker.unique >= expected,
        () => tracker.unique,
        2000,
      )
      if (!drained) notes.push(`the readers miss ${expected - tracker.unique} deliveries`)
      if (skipped > 0) notes.push(`${skipped} QoS 1 messages not sent: the publisher's window stayed full`)
      notes.push(
        slow.closed
          ? `the slow subscriber was disconnected${slow.closeError ? ` (${slow.closeError.message})` : ''}`
          : 'the slow subscriber stayed connected',
      )
      for (const conn of conns) {
        if (conn.closeError)
          notes.push(`a reader or publisher was closed by the broker: ${conn.closeError.message}`)
      }
      const keptThroughput = round((withSlow / Math.max(alone, 1)) * 100, 1)
      return {
        throughput: round(withSlow, 0),
        rss: rssEnd,
        ...deliveryCounts(expected, tracker, generatorCpu),
        metrics: {
          keptThroughput,
          throughput: round(withSlow, 0),
          alone: round(alone, 0),
          rssGrowthMiB: round((rssEnd - rssStart) / 2 ** 20, 2),
          rssMaxGrowthMiB: round((rssMax - rssStart) / 2 ** 20, 2),
          slowDisconnected: slow.closed ? 1 : 0,
        },
        notes: [...new Set(notes)],
      }
    } finally {
      clearInterval(timer)
      slow?.destroy()
      await closeAll(conns)
    }
  },
}
