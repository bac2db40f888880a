import { persistent } from './persistent.js'
import { retained } from './retained.js'
import { slowConsumer } from './slow-consumer.js'
import { storm } from './storm.js'
import { fanIn, fanOut, qos1, qos2 } from './throughput.js'
import type { Scenario } from './types.js'

export type { Metric, Percentiles, Scenario, ScenarioContext, ScenarioResult } from './types.js'

/** The eight scenarios of the benchmark, in the order they run. */
export const SCENARIOS: readonly Scenario[] = [
  fanIn,
  fanOut,
  qos1,
  qos2,
  storm,
  retained,
  slowConsumer,
  persistent,
]
