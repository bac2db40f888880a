import { strict as assert } from 'node:assert'
import type { Kit } from '../kit.js'
import { storedSubscriptions as stored } from '../steps.js'

/** `storeSubscription`, `removeSubscription`, `clearSubscriptions`, `lookupSubscriptions`; `subscribeTopic`'s answers. */
export function subscriptionsSuite(kit: Kit): void {
  kit.describe('subscriptions', () => {
    kit.test(
      'keeps the subscriptions of a persistent session with their QoS and MQTT 5.0 options',
      async (h) => {
        const c = await h.connect('s', { persistent: true })
        await h.subscribe(c, 'a/+', 1)
        await h.subscribe(c, 'b/#', 2, { nl: true, rap: true, rh: 2, subscriptionIdentifier: 7 })
        await h.subscribe(c, '$share/g/c', 0)
        assert.deepEqual(await stored(h, 's'), [
          { topic: '$share/g/c', qos: 0 },
          { topic: 'a/+', qos: 1 },
          { topic: 'b/#', qos: 2, nl: true, rap: true, rh: 2, subscriptionIdentifier: 7 },
        ])
      },
    )

    kit.test('[MQTT-3.8.4-3] a subscription to a filter the session has replaces it', async (h) => {
      const c = await h.connect('s', { persistent: true })
      assert.equal(await h.subscribe(c, 't', 1), false, 'store.existed of a new filter')
      assert.equal(await h.subscribe(c, 't', 2), true, 'store.existed of a filter subscribed again')
      assert.deepEqual(await stored(h, 's'), [{ topic: 't', qos: 2 }])
      await h.publish('t', 'once', { qos: 2 })
      await h.settle(c)
      assert.deepEqual(
        h.forwardsTo('s').map((d) => d.packet.qos),
        [2],
        'one route, at the new QoS',
      )
    })

    kit.test('removeSubscription removes one subscription, clearSubscriptions every one', async (h) => {
      const c = await h.connect('s', { persistent: true })
      for (const topic of ['a', 'b', 'c']) await h.subscribe(c, topic, 1)
      assert.equal(await h.unsubscribe(c, 'b'), true)
      assert.deepEqual(
        (await stored(h, 's')).map((s) => s.topic),
        ['a', 'c'],
      )
      await h.run('clearSubscriptions', { clientId: 's' })
      assert.deepEqual(await stored(h, 's'), [])
    })

    kit.test('unsubscribeTopic answers removed only when the route existed', async (h) => {
      const c = await h.connect('s')
      await h.subscribe(c, 't', 0)
      assert.equal(await h.unsubscribe(c, 't'), true)
      assert.equal(await h.unsubscribe(c, 't'), false)
      assert.equal(await h.unsubscribe(c, 'never'), false)
    })

    kit.test('lookupSubscriptions answers none for an unknown client id', async (h) => {
      assert.deepEqual(await stored(h, 'nobody'), [])
    })
  })
}
