import type { CallbackHandlers, MiddlewareLike } from '@mqtt-stack/core'
import { DeferredBackend, describeBackend } from '@mqtt-stack/core/testing'
import { describe, it } from 'vitest'
import { MemoryBackend } from '../src/index.js'

const limits = { maxOfflineMessages: 3, maxInflightMessages: 4, maxRetainedMessages: 5 }

describeBackend(
  'memory-backend',
  { create: () => new MemoryBackend(limits), capabilities: { limits, stats: true } },
  { describe, it },
)

// Every answer after a seeded random 0-2 ms, in order per client id: the kit never assumes an answer in the
// same tick. A failure prints the seed; MQTT_STACK_DEFER_SEED=<seed> replays it.
const seed = Number(process.env.MQTT_STACK_DEFER_SEED ?? Math.floor(Math.random() * 0x7fffffff))
describeBackend(
  `memory-backend answering asynchronously (DeferredBackend, seed ${seed})`,
  {
    create: () => new DeferredBackend(new MemoryBackend(limits), { seed }),
    capabilities: { limits, stats: true },
  },
  { describe, it },
)

/**
 * Stands in for a backend on storage outside the process, so that the kit's restart and several-node tests run
 * here too: one MemoryBackend serves the stack after a restart, and the stacks of other nodes at the same
 * time, as a store outside the process would (its `close()`, which forgets everything, is not passed on).
 * Like a durable store, it says `durable` of the sessions it keeps.
 */
function onSharedStorage(inner: MemoryBackend): MiddlewareLike & { inner: MemoryBackend } {
  const durable = (): CallbackHandlers => {
    const handlers = inner.callbacks()
    const { storeInflightMessage, lookupInflightMessages } = handlers
    return {
      ...handlers,
      storeInflightMessage: (ctx, store, next, done) => {
        store.durable = true
        storeInflightMessage!(ctx, store, next, done)
      },
      lookupInflightMessages: (ctx, store, next, done) => {
        store.durable = true
        lookupInflightMessages!(ctx, store, next, done)
      },
    }
  }
  return {
    inner,
    name: inner.name,
    requires: inner.requires,
    roles: inner.roles,
    setup: (stack) => inner.setup(stack),
    callbacks: durable,
  }
}

describeBackend(
  'memory-backend on shared storage (a stand-in for a durable store of several nodes)',
  {
    create: () => onSharedStorage(new MemoryBackend()),
    restart: (previous) => onSharedStorage(previous.inner),
    peer: (first) => onSharedStorage(first.inner),
    dispose: (backend) => backend.inner.close(),
    capabilities: { durable: true, cluster: true },
  },
  { describe, it },
)
