import { idle } from './idle.js'
import { persistent } from './persistent.js'
import { REDIS_SCENARIOS } from './redis.js'
import { retained } from './retained.js'
import { slowConsumer } from './slow-consumer.js'
import { soak } from './soak.js'
import { storedBytes } from './stored-bytes.js'
import { storm } from './storm.js'
import { fanIn, fanOut, qos1, qos2 } from './throughput.js'
import type { Scenario } from './types.js'

export type { Check, Metric, Percentiles, Scenario, ScenarioContext, ScenarioResult } from './types.js'

/** The nine scenarios of a full benchmark run against the in-memory brokers, in the order they run. */
export const MEMORY_SCENARIOS: readonly Scenario[] = [
  fanIn,
  fanOut,
  qos1,
  qos2,
  storm,
  retained,
  slowConsumer,
  persistent,
  idle,
]

/** Every scenario of a full run: the nine above, then the six against the brokers on Redis. */
export const SCENARIOS: readonly Scenario[] = [...MEMORY_SCENARIOS, ...REDIS_SCENARIOS]

/**
 * Scenarios that run only when named (`--scenario soak`): too long for every run (stored-bytes: eight broker
 * processes per broker, 60 MB each, ~10 s a broker).
 */
export const ON_DEMAND: readonly Scenario[] = [soak, storedBytes]

export const ALL_SCENARIOS: readonly Scenario[] = [...SCENARIOS, ...ON_DEMAND]
