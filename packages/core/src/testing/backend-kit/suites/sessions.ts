import { strict as assert } from 'node:assert'
import { PERSISTENT } from '../harness.js'
import type { Kit } from '../kit.js'
import { message, outbound } from '../packets.js'
import { storeWill, willOf } from '../steps.js'

/** `storeSession`, `lookupSession`, `removeSession`: what a session is, and that removing it leaves nothing. */
export function sessionsSuite(kit: Kit): void {
  kit.describe('sessions', () => {
    kit.test(
      'stores, looks up and removes a session, keeping its expiry interval and disconnectedAt',
      async (h) => {
        const session = { clientId: 's', expiryInterval: 300, disconnectedAt: 1_700_000_000_000 }
        await h.run('storeSession', { clientId: 's', session })
        assert.deepEqual((await h.run('lookupSession', { clientId: 's' })).session, session)
        await h.run('removeSession', { clientId: 's' })
        assert.equal((await h.run('lookupSession', { clientId: 's' })).session, undefined)
      },
    )

    kit.test('storeSession updates a stored session: a new expiry interval, connected again', async (h) => {
      await h.run('storeSession', {
        clientId: 's',
        session: { clientId: 's', expiryInterval: 60, disconnectedAt: 5 },
      })
      await h.run('storeSession', { clientId: 's', session: { clientId: 's', expiryInterval: PERSISTENT } })
      const { session } = await h.run('lookupSession', { clientId: 's' })
      assert.deepEqual(session, { clientId: 's', expiryInterval: PERSISTENT })
    })

    kit.test(
      'lookupSession answers no session for an unknown client id, and removeSession of one is harmless',
      async (h) => {
        await h.run('removeSession', { clientId: 'nobody' })
        assert.equal((await h.run('lookupSession', { clientId: 'nobody' })).session, undefined)
      },
    )

    kit.test('lookupSession hands out a copy: changing it changes nothing stored', async (h) => {
      await h.run('storeSession', { clientId: 's', session: { clientId: 's', expiryInterval: 10 } })
      const { session } = await h.run('lookupSession', { clientId: 's' })
      session!.expiryInterval = 99
      assert.equal((await h.run('lookupSession', { clientId: 's' })).session?.expiryInterval, 10)
    })

    kit.test(
      '[MQTT-3.1.2-6] removeSession forgets everything of the client id: subscriptions, queue, inflight, QoS 2 ids (not its will)',
      async (h) => {
        const c = await h.connect('gone', { persistent: true })
        await h.subscribe(c, 'a/#', 1)
        await h.run('storeInflightMessage', { clientId: 'gone', packet: outbound(1) })
        await h.run('storeIncomingMessage', {
          clientId: 'gone',
          packet: message('in', 'x', { qos: 2, messageId: 9 }),
        })
        await storeWill(h, c, message('will', 'bye'), 0)
        await h.disconnect(c)
        await h.publish('a/queued', 'q')
        assert.equal((await h.run('lookupOfflineMessages', { clientId: 'gone' })).packets?.length, 1)

        await h.run('removeSession', { clientId: 'gone' })
        await h.run('storeSession', {
          clientId: 'gone',
          session: { clientId: 'gone', expiryInterval: PERSISTENT },
        })
        assert.deepEqual((await h.run('lookupSubscriptions', { clientId: 'gone' })).subscriptions ?? [], [])
        assert.deepEqual((await h.run('lookupOfflineMessages', { clientId: 'gone' })).packets ?? [], [])
        assert.deepEqual((await h.run('lookupInflightMessages', { clientId: 'gone' })).packets ?? [], [])
        // A will outlives its session: last-will publishes it when the session ends within its delay [MQTT-3.1.3-9].
        assert.equal(await willOf(h, 'gone'), 'will=bye+0')
        const incoming = message('in', 'x', { qos: 2, messageId: 9 })
        assert.equal(
          (await h.run('storeIncomingMessage', { clientId: 'gone', packet: incoming })).duplicate ?? false,
          false,
        )
        // Its routes went with it: a new message matches nothing and is not queued.
        const { matched } = await h.publish('a/later', 'l')
        assert.ok(matched === undefined || matched === 0, `store.matched ${matched}`)
        assert.deepEqual((await h.run('lookupOfflineMessages', { clientId: 'gone' })).packets ?? [], [])
      },
    )

    kit.test('a clean session that ends with its connection leaves no route behind', async (h) => {
      const c = await h.connect('clean')
      await h.subscribe(c, 't', 1)
      await h.disconnect(c)
      const watcher = await h.connect('watcher')
      await h.subscribe(watcher, 't', 1)
      const { matched } = await h.publish('t', 'x')
      await h.waitFor('watcher', 1)
      assert.ok(matched === undefined || matched === 1, `store.matched ${matched}`)
      assert.deepEqual(h.received('clean'), [])
      assert.equal((await h.run('lookupSession', { clientId: 'clean' })).session, undefined)
    })
  })
}
