import type { CallbackHandlers, MiddlewareLike } from '@mqtt-stack/core'
import { type BackendTarget, describeBackend } from '@mqtt-stack/core/testing'
import { describe, expect, it } from 'vitest'
import { MemoryBackend } from '../src/index.js'

interface CollectedTest {
  title: string
  run: () => Promise<void>
}

/** The kit's tests for `target`, collected (not registered with vitest), each titled with its groups. */
function collect(target: BackendTarget): CollectedTest[] {
  const tests: CollectedTest[] = []
  const path: string[] = []
  describeBackend('kit', target, {
    describe: (name, body) => {
      path.push(name)
      body()
      path.pop()
    },
    it: (name, run) => {
      tests.push({ title: [...path.slice(1), name].join(' > '), run })
    },
  })
  return tests
}

/** The titles of the tests that fail, run one after the other. */
async function failures(target: BackendTarget): Promise<string[]> {
  const failed: string[] = []
  for (const test of collect(target)) await test.run().catch(() => failed.push(test.title))
  return failed
}

/** A MemoryBackend with some of its handlers replaced by broken ones. */
function broken(replace: (inner: Required<CallbackHandlers>) => CallbackHandlers): MiddlewareLike {
  const inner = new MemoryBackend()
  const handlers = inner.callbacks() as Required<CallbackHandlers>
  return {
    name: 'broken',
    requires: inner.requires,
    setup: (stack) => inner.setup(stack),
    close: () => inner.close(),
    callbacks: () => ({ ...handlers, ...replace(handlers) }),
  }
}

describe('the backend test kit fails a backend that breaks the contract', () => {
  it('passes MemoryBackend as it is', async () => {
    expect(await failures({ create: () => new MemoryBackend() })).toEqual([])
  })

  it('a backend that never detects a QoS 2 duplicate fails the inbound QoS 2 tests, and only those', async () => {
    const target = {
      create: () =>
        broken((inner) => ({
          storeIncomingMessage: (ctx, store, next, done) =>
            inner.storeIncomingMessage(
              ctx,
              store,
              () => {
                delete store.duplicate
                next()
              },
              done,
            ),
        })),
    }
    expect(await failures(target)).toEqual([
      'inbound QoS 2 packet identifiers > [MQTT-4.3.3-2] a PUBLISH with an identifier held until PUBREL is a duplicate',
      'inbound QoS 2 packet identifiers > keeps the identifiers of each client id apart',
    ])
  })

  it('a backend that routes $ topics to # subscribers, and hands out its offline queue newest first, fails those tests', async () => {
    const target = {
      create: () =>
        broken((inner) => ({
          relayMessage: (ctx, store, next, done) =>
            inner.relayMessage({ ...ctx, topic: ctx.topic.replace(/^\$SYS\//, 'SYS/') }, store, next, done),
          lookupOfflineMessages: (ctx, store, next, done) =>
            inner.lookupOfflineMessages(
              ctx,
              store,
              () => {
                store.packets?.reverse()
                next()
              },
              done,
            ),
        })),
    }
    const failed = await failures(target)
    expect(failed).toContain(
      'routing (relayMessage to forwardMessage) > [MQTT-4.7.2-1] filters starting with a wildcard do not match topics starting with $; $SYS/# does',
    )
    expect(failed).toContain(
      'offline queues > [MQTT-3.1.2-5] queues the QoS 1 and 2 messages of a disconnected persistent session, in order; QoS 0 ones are not',
    )
    expect(failed.filter((title) => !/^(routing \(|offline queues >)/.test(title))).toEqual([])
  })

  it('a "durable" backend that forgets everything on restart fails the durability tests', async () => {
    const target = {
      create: () => new MemoryBackend(),
      restart: () => new MemoryBackend(),
      capabilities: { durable: true },
    }
    const durability = collect(target)
      .map((test) => test.title)
      .filter((title) => title.startsWith('durability'))
    expect(durability.length).toBeGreaterThan(5)
    // Every one but the check that a removed session stays removed, which forgetting everything passes.
    expect(await failures(target)).toEqual(durability.filter((title) => !title.includes('stays removed')))
  })

  it('a "cluster" whose nodes each keep their own storage fails the several-node tests', async () => {
    const target = {
      create: () => new MemoryBackend(),
      peer: () => new MemoryBackend(),
      capabilities: { cluster: true },
      timeout: 200, // a delivery that never comes fails sooner
    }
    const cluster = collect(target)
      .map((test) => test.title)
      .filter((title) => title.startsWith('several nodes'))
    expect(cluster.length).toBeGreaterThan(3)
    expect(await failures(target)).toEqual(cluster)
  })

  it('refuses a cluster target without peer()', () => {
    expect(() => collect({ create: () => new MemoryBackend(), capabilities: { cluster: true } })).toThrow(
      /a cluster backend needs peer\(\)/,
    )
  })

  it('refuses a durable target without restart()', () => {
    expect(() => collect({ create: () => new MemoryBackend(), capabilities: { durable: true } })).toThrow(
      /a durable backend needs restart\(\)/,
    )
  })
})
