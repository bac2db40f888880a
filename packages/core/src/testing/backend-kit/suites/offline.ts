import { strict as assert } from 'node:assert'
import type { Kit } from '../kit.js'
import { expectedProperties, message, PROPERTIES, propertiesOf, topicAndPayload } from '../packets.js'
import { persistentSession, queued } from '../steps.js'

/** `storeOfflineMessage`, `lookupOfflineMessages`, `removeOfflineMessages`, `clearOfflineMessages`. */
export function offlineSuite(kit: Kit): void {
  kit.describe('offline queues', () => {
    kit.test(
      '[MQTT-3.1.2-5] queues the QoS 1 and 2 messages of a disconnected persistent session, in order; QoS 0 ones are not',
      async (h) => {
        const c = await h.connect('away', { persistent: true })
        await h.subscribe(c, 'q/#', 2)
        await h.disconnect(c)
        await h.publish('q/1', 'a', { qos: 1 })
        await h.publish('q/0', 'b', { qos: 0 })
        await h.publish('q/2', 'c', { qos: 2 })
        const { packets = [] } = await h.run('lookupOfflineMessages', { clientId: 'away' })
        assert.deepEqual(
          packets.map((p) => `${topicAndPayload(p)}:${p.qos}`),
          ['q/1=a:1', 'q/2=c:2'],
        )
      },
    )

    kit.test(
      'storeOfflineMessage appends; lookupOfflineMessages hands out the queue oldest first and keeps it',
      async (h) => {
        await persistentSession(h, 's')
        for (const payload of ['1', '2', '3']) {
          const { dropped } = await h.run('storeOfflineMessage', {
            clientId: 's',
            packet: message('t', payload),
          })
          assert.equal(dropped ?? false, false)
        }
        assert.deepEqual(await queued(h, 's'), ['t=1', 't=2', 't=3'])
        assert.deepEqual(await queued(h, 's'), ['t=1', 't=2', 't=3'])
      },
    )

    kit.test(
      'lookupOfflineMessages with a limit hands out at least that many, oldest first, and says how many are queued',
      async (h) => {
        await persistentSession(h, 's')
        for (const payload of ['1', '2', '3'])
          await h.run('storeOfflineMessage', { clientId: 's', packet: message('t', payload) })
        const { packets = [], queued: total } = await h.run('lookupOfflineMessages', {
          clientId: 's',
          limit: 2,
        })
        assert.deepEqual(packets.slice(0, 2).map(topicAndPayload), ['t=1', 't=2'])
        // A backend may hand out more than the limit; the count is the whole queue.
        if (total !== undefined) assert.equal(total, 3)
        else assert.equal(packets.length, 3)
        assert.deepEqual(await queued(h, 's'), ['t=1', 't=2', 't=3'])
      },
    )

    kit.test(
      'removeOfflineMessages removes the messages a lookup handed out; one queued since stays',
      async (h) => {
        await persistentSession(h, 's')
        await h.run('storeOfflineMessage', { clientId: 's', packet: message('t', '1') })
        await h.run('storeOfflineMessage', { clientId: 's', packet: message('t', '2') })
        const { packets = [] } = await h.run('lookupOfflineMessages', { clientId: 's' })
        await h.run('storeOfflineMessage', { clientId: 's', packet: message('t', '3') })
        await h.run('removeOfflineMessages', { clientId: 's', packets: packets.slice(0, 1) })
        assert.deepEqual(await queued(h, 's'), ['t=2', 't=3'])
        await h.run('removeOfflineMessages', { clientId: 's', packets: packets.slice(1) })
        assert.deepEqual(await queued(h, 's'), ['t=3'])
      },
    )

    kit.test('clearOfflineMessages empties the queue', async (h) => {
      await persistentSession(h, 's')
      await h.run('storeOfflineMessage', { clientId: 's', packet: message('t', '1') })
      await h.run('clearOfflineMessages', { clientId: 's' })
      assert.deepEqual(await queued(h, 's'), [])
    })

    kit.test(
      'drops a message for an unknown session or one with expiry 0 (store.dropped), and creates no session',
      async (h) => {
        await h.run('storeSession', { clientId: 'clean', session: { clientId: 'clean', expiryInterval: 0 } })
        for (const clientId of ['clean', 'unknown']) {
          const { dropped } = await h.run('storeOfflineMessage', { clientId, packet: message('t', '1') })
          assert.equal(dropped, true, `store.dropped for ${clientId}`)
          assert.deepEqual(await queued(h, clientId), [])
        }
        assert.equal((await h.run('lookupSession', { clientId: 'unknown' })).session, undefined)
      },
    )

    kit.test(
      'keeps the MQTT 5.0 properties of a queued message, and the subscription identifier of its subscription',
      async (h) => {
        const c = await h.connect('away', { persistent: true })
        await h.subscribe(c, 'p', 1, { subscriptionIdentifier: 7 })
        await h.disconnect(c)
        await h.publish('p', 'v', { properties: { ...PROPERTIES } })
        const { packets = [] } = await h.run('lookupOfflineMessages', { clientId: 'away' })
        assert.equal(packets.length, 1)
        assert.deepEqual(propertiesOf(packets[0]!), { ...expectedProperties(), subscriptionIdentifier: 7 })
      },
    )
  })
}
