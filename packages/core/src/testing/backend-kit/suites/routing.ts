import { strict as assert } from 'node:assert'
import type { Kit } from '../kit.js'
import { expectedProperties, PROPERTIES, propertiesOf, text, topicAndPayload } from '../packets.js'

/** `subscribeTopic` and `relayMessage`: which connected subscribers get a message, at what QoS, in what order. */
export function routingSuite(kit: Kit): void {
  kit.describe('routing (relayMessage to forwardMessage)', () => {
    kit.test(
      'matches exact, + and # filters: + one whole level (an empty one too), # the parent level and every level below',
      async (h) => {
        const filters = { exact: 'a/b', plus: 'a/+', hash: 'a/#', middle: '+/+/c', all: '#' }
        const clients = []
        for (const [clientId, filter] of Object.entries(filters)) {
          const c = await h.connect(clientId)
          await h.subscribe(c, filter, 0)
          clients.push(c)
        }
        const topics = ['a/b', 'a', 'a/b/c', 'b/x/c', 'a/', 'b']
        for (const topic of topics) await h.publish(topic, topic, { qos: 0 })
        await h.settle(...clients)
        const got = (clientId: string) => h.received(clientId).map((m) => m.split('=')[0])
        assert.deepEqual(got('exact'), ['a/b'])
        assert.deepEqual(got('plus'), ['a/b', 'a/'])
        assert.deepEqual(got('hash'), ['a/b', 'a', 'a/b/c', 'a/'])
        assert.deepEqual(got('middle'), ['a/b/c', 'b/x/c'])
        assert.deepEqual(got('all'), topics)
      },
    )

    kit.test(
      '[MQTT-4.7.2-1] filters starting with a wildcard do not match topics starting with $; $SYS/# does',
      async (h) => {
        const hash = await h.connect('hash')
        await h.subscribe(hash, '#', 0)
        const plus = await h.connect('plus')
        await h.subscribe(plus, '+/uptime', 0)
        const sys = await h.connect('sys')
        await h.subscribe(sys, '$SYS/#', 0)
        await h.publish('$SYS/uptime', '1', { qos: 0 })
        await h.publish('x/uptime', '2', { qos: 0 })
        await h.settle(hash, plus, sys)
        assert.deepEqual(h.received('hash'), ['x/uptime=2'])
        assert.deepEqual(h.received('plus'), ['x/uptime=2'])
        assert.deepEqual(h.received('sys'), ['$SYS/uptime=1'])
      },
    )

    kit.test(
      '[MQTT-3.3.5-1] overlapping subscriptions of one client: one delivery, at the highest QoS granted among them',
      async (h) => {
        const c = await h.connect('c')
        await h.subscribe(c, 'a/+', 1)
        await h.subscribe(c, 'a/#', 2)
        await h.subscribe(c, 'a/b', 0)
        await h.publish('a/b', 'x', { qos: 2 })
        await h.settle(c)
        assert.deepEqual(
          h.forwardsTo('c').map((d) => d.packet.qos),
          [2],
        )
      },
    )

    kit.test('[MQTT-3.8.4-6] delivers at the lower of the published and the granted QoS', async (h) => {
      const c = await h.connect('c')
      await h.subscribe(c, 'q1', 1)
      await h.publish('q1', '0', { qos: 0 })
      await h.publish('q1', '1', { qos: 1 })
      await h.publish('q1', '2', { qos: 2 })
      await h.settle(c)
      assert.deepEqual(
        h
          .forwardsTo('c')
          .map((d) => `${text(d.packet.payload)}:${d.packet.qos}`)
          .sort(),
        ['0:0', '1:1', '2:1'],
      )
    })

    kit.test(
      '[MQTT-3.3.1-9] [MQTT-3.3.1-3] a forward has RETAIN 0 and DUP 0, whatever the publisher set; the subscription comes with it',
      async (h) => {
        const c = await h.connect('c')
        await h.subscribe(c, 't/#', 1)
        await h.publish('t/x', 'r', { qos: 1, retain: true, dup: true })
        await h.waitFor('c', 1)
        const forward = h.forwardsTo('c')[0]!
        assert.equal(forward.packet.retain, false)
        assert.equal(forward.packet.dup, false)
        assert.equal(forward.subscription?.topic, 't/#')
        assert.equal(forward.subscription?.qos, 1)
      },
    )

    kit.test(
      '[MQTT-4.6.0-6] messages of one publisher reach a subscriber in the order they were relayed',
      async (h) => {
        const sub = await h.connect('sub')
        await h.subscribe(sub, 'ordered', 2)
        const pub = await h.connect('pub')
        const payloads = Array.from({ length: 20 }, (_, i) => String(i))
        for (const payload of payloads) await h.publish('ordered', payload, { qos: 1, from: pub })
        await h.waitFor('sub', payloads.length)
        assert.deepEqual(
          h.received('sub'),
          payloads.map((p) => `ordered=${p}`),
        )
      },
    )

    kit.test('unsubscribeTopic stops the route; other subscribers of the filter keep theirs', async (h) => {
      const a = await h.connect('a')
      const b = await h.connect('b')
      await h.subscribe(a, 't', 0)
      await h.subscribe(b, 't', 0)
      await h.unsubscribe(a, 't')
      await h.publish('t', 'x', { qos: 0 })
      await h.settle(a, b)
      assert.deepEqual(h.received('a'), [])
      assert.deepEqual(h.received('b'), ['t=x'])
    })

    kit.test(
      'store.matched counts the matching subscriptions, 0 when none (a router that cannot count leaves it undefined)',
      async (h) => {
        const a = await h.connect('a')
        await h.subscribe(a, 'm/+', 0)
        await h.subscribe(a, 'm/#', 0)
        const b = await h.connect('b')
        await h.subscribe(b, 'm/x', 0)
        const counted = (await h.publish('m/x', '1', { qos: 0 })).matched
        const none = (await h.publish('nothing', '2', { qos: 0 })).matched
        if (counted === undefined) assert.equal(none, undefined, 'a router counts every relay or none')
        else {
          assert.equal(counted, 3, 'two overlapping subscriptions of a, one of b')
          assert.equal(none, 0)
        }
      },
    )

    kit.test(
      'MQTT 5.0 No Local: no forward to the client id that published the message [MQTT-3.8.3-3]',
      async (h) => {
        const self = await h.connect('self')
        await h.subscribe(self, 'loop', 1, { nl: true })
        const other = await h.connect('other')
        await h.subscribe(other, 'loop', 1, { nl: true })
        await h.publish('loop', 'x', { from: self })
        await h.settle(self, other)
        assert.deepEqual(h.received('self'), [])
        assert.deepEqual(h.received('other'), ['loop=x'])
      },
    )

    kit.test(
      'MQTT 5.0 properties reach the subscriber: user properties in order, correlation data bytes',
      async (h) => {
        const c = await h.connect('c')
        await h.subscribe(c, 'props', 1)
        await h.publish('props', 'p', { properties: { ...PROPERTIES } })
        await h.waitFor('c', 1)
        const forward = h.forwardsTo('c')[0]!
        assert.equal(topicAndPayload(forward.packet), 'props=p')
        assert.deepEqual(propertiesOf(forward.packet), expectedProperties())
      },
    )
  })
}
