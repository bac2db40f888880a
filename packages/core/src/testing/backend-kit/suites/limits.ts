import { strict as assert } from 'node:assert'
import type { Kit } from '../kit.js'
import { message, outbound } from '../packets.js'
import { inflight, persistentSession, queued, retain, retained } from '../steps.js'

/** The bounds the target declares in `capabilities.limits`, each checked where it is declared. */
export function limitsSuite(kit: Kit): void {
  const limits = kit.capabilities.limits ?? {}
  const { maxOfflineMessages, maxInflightMessages, maxRetainedMessages } = limits
  if (
    maxOfflineMessages === undefined &&
    maxInflightMessages === undefined &&
    maxRetainedMessages === undefined
  )
    return
  kit.describe('declared limits', () => {
    if (maxOfflineMessages !== undefined) {
      const policy = limits.offlineDropPolicy ?? 'newest'
      kit.test(
        `keeps at most maxOfflineMessages (${maxOfflineMessages}) per session; a full queue drops the ${policy} message`,
        async (h) => {
          await persistentSession(h, 's')
          await persistentSession(h, 'other')
          const payloads = Array.from({ length: maxOfflineMessages + 2 }, (_, i) => String(i))
          const dropped: boolean[] = []
          for (const payload of payloads) {
            const store = await h.run('storeOfflineMessage', { clientId: 's', packet: message('t', payload) })
            dropped.push(store.dropped ?? false)
          }
          const kept = policy === 'newest' ? payloads.slice(0, maxOfflineMessages) : payloads.slice(2)
          assert.deepEqual(
            await queued(h, 's'),
            kept.map((p) => `t=${p}`),
          )
          if (policy === 'newest')
            assert.deepEqual(
              dropped,
              payloads.map((_, i) => i >= maxOfflineMessages),
              'store.dropped of each',
            )
          // The bound is per session: another session's queue has room.
          const other = await h.run('storeOfflineMessage', { clientId: 'other', packet: message('t', 'x') })
          assert.equal(other.dropped ?? false, false)
          h.takeErrors() // a backend may report a full queue
        },
      )
    }

    if (maxInflightMessages !== undefined) {
      kit.test(
        `storeInflightMessage of a new identifier past maxInflightMessages (${maxInflightMessages}) fails; one held is replaced`,
        async (h) => {
          await persistentSession(h, 's')
          for (let id = 1; id <= maxInflightMessages; id++)
            await h.run('storeInflightMessage', { clientId: 's', packet: outbound(id) })
          await assert.rejects(
            h.run('storeInflightMessage', { clientId: 's', packet: outbound(maxInflightMessages + 1) }),
            'a new identifier past the bound is an error for the outbound side',
          )
          await h.run('storeInflightMessage', { clientId: 's', packet: { cmd: 'pubrel', messageId: 1 } })
          const ids = await inflight(h, 's')
          assert.equal(ids.length, maxInflightMessages)
          assert.equal(ids[0], 'pubrel:1')
          h.takeErrors()
        },
      )
    }

    if (maxRetainedMessages !== undefined) {
      kit.test(
        `refuses a retained message for a new topic past maxRetainedMessages (${maxRetainedMessages}); replacing and deleting still work`,
        async (h) => {
          for (let i = 0; i < maxRetainedMessages; i++) await retain(h, `r/${i}`, 'v')
          await retain(h, 'r/new', 'v')
          assert.equal((await retained(h, '#')).length, maxRetainedMessages)
          assert.deepEqual(await retained(h, 'r/new'), [], 'a new topic is refused')
          await retain(h, 'r/0', 'replaced')
          assert.deepEqual(await retained(h, 'r/0'), ['r/0=replaced'], 'a stored topic is replaced')
          await retain(h, 'r/0', '')
          await retain(h, 'r/new', 'v')
          assert.deepEqual(await retained(h, 'r/new'), ['r/new=v'], 'a deletion makes room')
          assert.equal((await retained(h, '#')).length, maxRetainedMessages)
          h.takeErrors() // a backend may report the refusal
        },
      )
    }
  })
}
