import { strict as assert } from 'node:assert'
import type { CallbackStore } from '../../../callbacks.js'
import type { BackendHarness } from '../harness.js'
import type { Kit } from '../kit.js'
import { message } from '../packets.js'
import { claimWill, retain, storeWill } from '../steps.js'

/** `collectStats`, for a backend that declares `stats`: each figure it gives is the right one. */
export function monitoringSuite(kit: Kit): void {
  if (!kit.capabilities.stats) return
  kit.describe('monitoring', () => {
    kit.test(
      'collectStats: sessions, persistent ones not connected, subscriptions, retained messages, wills (each figure the backend gives)',
      async (h) => {
        assert.ok(h.stack.provides('collectStats'), 'a backend with stats answers collectStats')
        const kept = await h.connect('kept', { persistent: true })
        await h.subscribe(kept, 'a/#', 1)
        const clean = await h.connect('clean')
        await h.subscribe(clean, 'b', 0)
        await h.subscribe(clean, 'c', 0)
        await retain(h, 'r/1', 'one')
        await retain(h, 'r/2', 'two')
        await storeWill(h, kept, message('will/kept', 'gone'), 0, 'kept-1')
        await storeWill(h, clean, message('will/clean', 'gone'), 30, 'clean-1')
        expectStats(await stats(h), {
          sessions: 2,
          disconnectedSessions: 0,
          subscriptions: 3,
          retainedMessages: 2,
          retainedBytes: 6,
          wills: 2,
        })
        assert.ok(await claimWill(h, 'kept', 'kept-1'))
        await h.disconnect(kept)
        await h.disconnect(clean)
        await retain(h, 'r/1', '')
        expectStats(await stats(h), {
          sessions: 1,
          disconnectedSessions: 1,
          subscriptions: 1,
          retainedMessages: 1,
          retainedBytes: 3,
          wills: 1,
        })
      },
    )
  })
}

function stats(h: BackendHarness): Promise<CallbackStore<'collectStats'>> {
  return h.run('collectStats', {})
}

/** Every figure the backend gave equals the expected one; a figure it left undefined is not known. */
function expectStats(actual: CallbackStore<'collectStats'>, expected: CallbackStore<'collectStats'>): void {
  for (const [key, value] of Object.entries(expected) as [keyof typeof expected, number][]) {
    if (actual[key] !== undefined) assert.equal(actual[key], value, `collectStats ${key}`)
  }
}
