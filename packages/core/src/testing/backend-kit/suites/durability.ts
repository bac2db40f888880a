import { strict as assert } from 'node:assert'
import { PERSISTENT } from '../harness.js'
import type { Kit } from '../kit.js'
import { message, outbound, pubrel, topicAndPayload } from '../packets.js'
import {
  inflight,
  persistentSession,
  queued,
  receive,
  retain,
  retained,
  storedSubscriptions,
  storeWill,
  willOf,
} from '../steps.js'

/** With `capabilities.durable`: what a session holds, retained messages and wills survive a restart. */
export function durabilitySuite(kit: Kit): void {
  if (kit.capabilities.durable !== true) return
  kit.describe('durability (a restart on the same storage)', () => {
    kit.test(
      '[MQTT-3.1.2-4] a persistent session survives, with its expiry interval, disconnectedAt and subscriptions',
      async (h) => {
        const c = await h.connect('s', { persistent: true })
        await h.subscribe(c, 'a/+', 1)
        await h.subscribe(c, 'b', 2, { subscriptionIdentifier: 3 })
        await h.disconnect(c)
        const session = { clientId: 's', expiryInterval: 3600, disconnectedAt: 1_700_000_000_000 }
        await h.run('storeSession', { clientId: 's', session })
        await h.restart()
        assert.deepEqual((await h.run('lookupSession', { clientId: 's' })).session, session)
        assert.deepEqual(await storedSubscriptions(h, 's'), [
          { topic: 'a/+', qos: 1 },
          { topic: 'b', qos: 2, subscriptionIdentifier: 3 },
        ])
      },
    )

    kit.test(
      '[MQTT-3.1.2-5] a message relayed after a restart is queued for the disconnected persistent session it matches',
      async (h) => {
        const c = await h.connect('s', { persistent: true })
        await h.subscribe(c, 'news/#', 1)
        await h.disconnect(c)
        await h.restart()
        await h.publish('news/1', 'after')
        assert.deepEqual(await queued(h, 's'), ['news/1=after'])
      },
    )

    kit.test(
      'a client reconnecting after a restart finds its session present, its queue, and its subscriptions routed again',
      async (h) => {
        const c = await h.connect('s', { persistent: true })
        await h.subscribe(c, 't', 1)
        await h.disconnect(c)
        await h.publish('t', 'queued')
        await h.restart()
        const again = await h.connect('s', { persistent: true })
        assert.equal(again.sessionPresent, true)
        assert.deepEqual(await queued(h, 's'), ['t=queued'])
        await h.publish('t', 'live')
        assert.deepEqual(await h.waitFor('s', 1), ['t=live'])
      },
    )

    kit.test('the offline queue survives in order', async (h) => {
      await persistentSession(h, 's')
      for (const payload of ['1', '2', '3'])
        await h.run('storeOfflineMessage', { clientId: 's', packet: message('t', payload) })
      await h.restart()
      assert.deepEqual(await queued(h, 's'), ['t=1', 't=2', 't=3'])
    })

    kit.test(
      'says `durable` in its answers to storeInflightMessage and lookupInflightMessages of a persistent session, so that what waits for room in the window is stored, not held in memory',
      async (h) => {
        await persistentSession(h, 's')
        const stored = await h.run('storeInflightMessage', { clientId: 's', packet: outbound(1, 1) })
        assert.equal(stored.durable, true)
        assert.equal((await h.run('lookupInflightMessages', { clientId: 's' })).durable, true)
      },
    )

    kit.test(
      '[MQTT-4.4.0-1] unacknowledged outbound PUBLISH and PUBREL packets survive, in the order sent',
      async (h) => {
        await persistentSession(h, 's')
        for (const id of [4, 2, 7])
          await h.run('storeInflightMessage', { clientId: 's', packet: outbound(id, 2) })
        await h.run('storeInflightMessage', { clientId: 's', packet: pubrel(2) })
        await h.restart()
        assert.deepEqual(await inflight(h, 's'), ['publish:4', 'pubrel:2', 'publish:7'])
      },
    )

    kit.test(
      '[MQTT-4.3.3-2] inbound QoS 2 identifiers survive: a PUBLISH sent again is still a duplicate',
      async (h) => {
        await persistentSession(h, 's')
        await receive(h, 's', 9, 'once')
        await h.restart()
        assert.equal(await receive(h, 's', 9), true)
        const { packet } = await h.run('releaseIncomingMessage', { clientId: 's', messageId: 9 })
        assert.equal(packet && topicAndPayload(packet), 'in=once')
      },
    )

    kit.test('retained messages survive, and so does a deletion', async (h) => {
      await retain(h, 'r/kept', 'v')
      await retain(h, 'r/deleted', 'v')
      await retain(h, 'r/deleted', '')
      await h.restart()
      assert.deepEqual(await retained(h, 'r/#'), ['r/kept=v'])
    })

    kit.test('a will survives with its delay', async (h) => {
      const c = await h.connect('w', { persistent: true })
      await storeWill(h, c, message('w', 'bye'), 60)
      await h.restart()
      assert.equal(await willOf(h, 'w'), 'w=bye+60')
    })

    kit.test('a session removed before the restart stays removed', async (h) => {
      await h.run('storeSession', { clientId: 's', session: { clientId: 's', expiryInterval: PERSISTENT } })
      await h.run('removeSession', { clientId: 's' })
      await h.restart()
      assert.equal((await h.run('lookupSession', { clientId: 's' })).session, undefined)
    })
  })
}
