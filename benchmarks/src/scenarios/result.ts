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
