/** Scenarios 1-4: fan-in and fan-out at QoS 0, then 10 publishers to one subscriber at QoS 1 and 2. */
import { runStream } from './stream.js'
import type { Scenario } from './types.js'

const seconds = (quick: boolean) => (quick ? 1000 : 5000)

export const fanIn: Scenario = {
  name: 'fan-in',
  title: 'fan-in QoS 0: 10 publishers → one `+` subscriber, 64 B',
  relay: true,
  ops: true,
  metrics: [
    { key: 'throughput', label: 'deliveries/s', unit: 'msg/s', better: 'higher' },
    { key: 'cpuPerDelivery', label: 'broker CPU per delivery', unit: 'µs', better: 'lower' },
  ],
  run: (ctx) =>
    runStream(ctx, {
      name: 'fanin',
      publishers: 10,
      subscribers: 1,
      topic: (p) => `bench/fanin/${p}`,
      filter: 'bench/fanin/+',
      qos: 0,
      payload: 64,
      window: 100,
      durationMs: seconds(ctx.quick),
    }),
}

export const fanOut: Scenario = {
  name: 'fan-out',
  title: 'fan-out QoS 0: 1 publisher → 50 subscribers, 64 B',
  relay: true,
  ops: true,
  metrics: [
    { key: 'throughput', label: 'deliveries/s', unit: 'msg/s', better: 'higher' },
    { key: 'p50', label: 'latency p50', unit: 'ms', better: 'lower' },
    { key: 'p99', label: 'latency p99', unit: 'ms', better: 'lower' },
    { key: 'cpuPerDelivery', label: 'broker CPU per delivery', unit: 'µs', better: 'lower' },
  ],
  run: (ctx) =>
    runStream(ctx, {
      name: 'fanout',
      publishers: 1,
      subscribers: 50,
      topic: () => 'bench/fanout',
      filter: 'bench/fanout',
      qos: 0,
      payload: 64,
      window: 200,
      durationMs: seconds(ctx.quick),
    }),
}

export const qos1: Scenario = {
  name: 'qos1',
  title: 'QoS 1: 10 publishers (≤ 100 unacked each) → one QoS 1 subscriber, 64 B',
  relay: false,
  metrics: [
    { key: 'throughput', label: 'deliveries/s', unit: 'msg/s', better: 'higher' },
    { key: 'p50', label: 'latency p50', unit: 'ms', better: 'lower' },
    { key: 'p99', label: 'latency p99', unit: 'ms', better: 'lower' },
    { key: 'p999', label: 'latency p99.9', unit: 'ms', better: 'lower' },
  ],
  run: (ctx) =>
    runStream(ctx, {
      name: 'qos1',
      publishers: 10,
      subscribers: 1,
      topic: (p) => `bench/qos1/${p}`,
      filter: 'bench/qos1/+',
      qos: 1,
      payload: 64,
      window: 100,
      durationMs: seconds(ctx.quick),
    }),
}

export const qos2: Scenario = {
  name: 'qos2',
  title: 'QoS 2: 10 publishers (≤ 100 incomplete each) → one QoS 2 subscriber, 64 B',
  relay: false,
  metrics: [
    { key: 'throughput', label: 'deliveries/s', unit: 'msg/s', better: 'higher' },
    { key: 'p99', label: 'latency p99', unit: 'ms', better: 'lower' },
  ],
  run: (ctx) =>
    runStream(ctx, {
      name: 'qos2',
      publishers: 10,
      subscribers: 1,
      topic: (p) => `bench/qos2/${p}`,
      filter: 'bench/qos2/+',
      qos: 2,
      payload: 64,
      window: 100,
      durationMs: seconds(ctx.quick),
    }),
}
