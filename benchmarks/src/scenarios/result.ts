import { BOTTLENECK_CPU_SHARE, type DeliveryTracker, round } from '../load/stats.js'
import type { ScenarioResult } from './types.js'

type DeliveryCounts = Pick<
  ScenarioResult,
  'sent' | 'received' | 'lost' | 'duplicates' | 'generatorCpu' | 'generatorBottleneck'
>

/** What every scenario that counts deliveries reports of them, and of the generator's own CPU. */
export function deliveryCounts(
  expected: number,
  tracker: DeliveryTracker,
  generatorCpu: number,
): DeliveryCounts {
  return {
    sent: expected,
    received: tracker.unique + tracker.duplicates,
    lost: expected - tracker.unique,
    duplicates: tracker.duplicates,
    generatorCpu: round(generatorCpu),
    generatorBottleneck: generatorCpu > BOTTLENECK_CPU_SHARE,
  }
}

/**
 * What the scenarios that open connections report: `count` handshakes, `granted` of them answered with the
 * QoS asked for, and the broker closing some of `conns` noted.
 */
export function handshakeCounts(
  count: number,
  granted: number,
  generatorCpu: number,
  conns: readonly { closed: boolean }[],
  notes: string[],
): DeliveryCounts {
  const closedByBroker = conns.filter((conn) => conn.closed).length
  if (closedByBroker > 0) notes.push(`${closedByBroker} connections closed by the broker`)
  return {
    sent: count,
    received: granted,
    lost: count - granted,
    duplicates: 0,
    generatorCpu: round(generatorCpu),
    generatorBottleneck: generatorCpu > BOTTLENECK_CPU_SHARE,
  }
}
