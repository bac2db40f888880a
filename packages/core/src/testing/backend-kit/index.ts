import type { MiddlewareLike } from '../../middleware.js'
import { kitOf } from './kit.js'
import { clientsSuite } from './suites/clients.js'
import { clusterSuite } from './suites/cluster.js'
import { durabilitySuite } from './suites/durability.js'
import { incomingSuite } from './suites/incoming.js'
import { inflightSuite } from './suites/inflight.js'
import { limitsSuite } from './suites/limits.js'
import { monitoringSuite } from './suites/monitoring.js'
import { offlineSuite } from './suites/offline.js'
import { retainedSuite } from './suites/retained.js'
import { routingSuite } from './suites/routing.js'
import { sessionsSuite } from './suites/sessions.js'
import { sharedSuite } from './suites/shared.js'
import { subscriptionsSuite } from './suites/subscriptions.js'
import { willsSuite } from './suites/wills.js'
import type { BackendTarget, TestFunctions } from './target.js'

/**
 * Declares the backend test kit: what every backend (memory, Redis, a third party's) must do, checked through
 * the callbacks of core's catalogue in a real `Stack`. Each test creates a backend with `target.create()`,
 * drives it as the built-ins do (awaiting every answer, so an asynchronous backend passes), and closes it.
 * The groups: client registration and takeover, sessions, subscriptions, routing, MQTT 5.0 shared
 * subscriptions, retained messages, offline queues, inflight state, inbound QoS 2 identifiers, wills; the
 * declared limits; with `capabilities.durable`, a restart on the same storage; with `capabilities.cluster`,
 * several nodes on one storage.
 *
 * ```ts
 * import { describe, it } from 'vitest'
 * describeBackend('memory-backend', { create: () => new MemoryBackend() }, { describe, it })
 * ```
 */
export function describeBackend<B extends MiddlewareLike>(
  name: string,
  target: BackendTarget<B>,
  functions: TestFunctions,
): void {
  if (target.capabilities?.durable === true && target.restart === undefined)
    throw new TypeError(`describeBackend(${JSON.stringify(name)}): a durable backend needs restart()`)
  if (target.capabilities?.cluster === true && target.peer === undefined)
    throw new TypeError(`describeBackend(${JSON.stringify(name)}): a cluster backend needs peer()`)
  const kit = kitOf(target, functions)
  functions.describe(`${name}: the backend test kit`, () => {
    clientsSuite(kit)
    sessionsSuite(kit)
    subscriptionsSuite(kit)
    routingSuite(kit)
    sharedSuite(kit)
    retainedSuite(kit)
    offlineSuite(kit)
    inflightSuite(kit)
    incomingSuite(kit)
    willsSuite(kit)
    limitsSuite(kit)
    monitoringSuite(kit)
    durabilitySuite(kit)
    clusterSuite(kit)
  })
}

export { BackendHarness, type Delivery, type KitClient, type PublishOptions } from './harness.js'
export type { BackendCapabilities, BackendLimits, BackendTarget, TestFunctions } from './target.js'
