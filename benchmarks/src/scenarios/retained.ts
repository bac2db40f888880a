/**
 * Scenario 6: retained messages on distinct 4-level topics `sensors/s<i>/<j>/<k>` (100 × 100 × 10 = 100k in
 * the full run). After the first 10% are stored, a new `#` subscriber times how long all of them take to
 * arrive; after all are stored, a new `sensors/+/7/#` subscriber (1% of them) and a new `#` subscriber.
 */
import { MqttConnection } from '../load/connection.js'
import { CpuMeter, round, sleep, waitFor } from '../load/stats.js'
import { publishAll } from './publish-all.js'
import type { Scenario, ScenarioContext } from './types.js'

const J = 100
const K = 10

function topic(index: number): Buffer {
  const k = index % K
  const j = Math.floor(index / K) % J
  const i = Math.floor(index / (K * J))
  return Buffer.from(`sensors/s${i}/${j}/${k}`)
}

/** Milliseconds from SUBSCRIBE until `expected` retained messages arrived, and how many did. */
async function timeRetained(
  ctx: ScenarioContext,
  clientId: string,
  filter: string,
  expected: number,
): Promise<{ ms: number; received: number }> {
  let received = 0
  let last = 0
  const conn = await MqttConnection.open({
    host: ctx.broker.host,
    port: ctx.broker.port,
    clientId,
    onMessage: () => {
      received++
      last = performance.now()
    },
  })
  try {
    const start = performance.now()
    await conn.subscribe([filter], 0)
    await waitFor(
      () => received >= expected,
      () => received,
      2000,
    )
    return { ms: round(Math.max(last, start) - start, 1), received }
  } finally {
    await conn.close()
  }
}

export const retained: Scenario = {
  name: 'retained',
  title: 'retained: `#` over 10k stored, then a 1% filter and `#` over 100k',
  relay: false,
  metrics: [
    { key: 'hash10k', label: '`#` over 10k: time to all', unit: 'ms', better: 'lower' },
    { key: 'filter100k', label: '1% filter over 100k: time to all', unit: 'ms', better: 'lower' },
    { key: 'hash100k', label: '`#` over 100k: time to all', unit: 'ms', better: 'lower' },
    { key: 'storeRate', label: 'retained PUBLISH stored/s', unit: 'msg/s', better: 'higher' },
  ],
  async run(ctx) {
    const total = ctx.quick ? 10_000 : 100_000
    const first = total / 10
    const notes: string[] = []
    const pub = await MqttConnection.open({
      host: ctx.broker.host,
      port: ctx.broker.port,
      clientId: 'retain-pub',
    })
    try {
      const cpu = new CpuMeter()
      const options = { payload: 16, retain: true, window: 100 }
      let storeStart = performance.now()
      let acked = await publishAll(pub, first, topic, options)
      let storeMs = performance.now() - storeStart
      const hash10k = await timeRetained(ctx, 'retain-hash-first', '#', first)
      storeStart = performance.now()
      acked += await publishAll(pub, total - first, (i) => topic(first + i), options)
      storeMs += performance.now() - storeStart
      const generatorCpu = cpu.share()
      if (acked < total) notes.push(`${total - acked} retained PUBLISH never acknowledged`)
      await sleep(100)
      const rss = ctx.broker.rss()
      const filterExpected = total / J
      const filter = await timeRetained(ctx, 'retain-filter', 'sensors/+/7/#', filterExpected)
      const hashAll = await timeRetained(ctx, 'retain-hash-all', '#', total)
      const expected = first + filterExpected + total
      const received = hash10k.received + filter.received + hashAll.received
      if (hash10k.received !== first) notes.push(`\`#\` over ${first}: ${hash10k.received} arrived`)
      if (filter.received !== filterExpected)
        notes.push(`1% filter: ${filter.received} of ${filterExpected} arrived`)
      if (hashAll.received !== total) notes.push(`\`#\` over ${total}: ${hashAll.received} arrived`)
      if (pub.closeError) notes.push(`publisher closed by the broker: ${pub.closeError.message}`)
      const storeRate = round((acked / storeMs) * 1000, 0)
      return {
        throughput: storeRate,
        ...(rss !== undefined ? { rss } : {}),
        sent: expected,
        received,
        lost: Math.max(0, expected - received),
        duplicates: Math.max(0, received - expected),
        generatorCpu: round(generatorCpu),
        // Retained delivery is timed on one subscriber with the generator mostly idle: not a CPU race.
        generatorBottleneck: false,
        metrics: {
          hash10k: hash10k.ms,
          filter100k: filter.ms,
          hash100k: hashAll.ms,
          storeRate,
          rssMiB: round((rss ?? 0) / 2 ** 20, 1),
        },
        notes,
      }
    } finally {
      await pub.close()
    }
  },
}
