import { strict as assert } from 'node:assert'
import type { Kit } from '../kit.js'
import { text, topicAndPayload } from '../packets.js'

/** MQTT 5.0 shared subscriptions, `$share/{group}/{filter}`: one member per message. */
export function sharedSuite(kit: Kit): void {
  kit.describe('MQTT 5.0 shared subscriptions', () => {
    kit.test(
      'MQTT 5.0: each message goes to one connected member, at the QoS granted to that member [MQTT-4.8.2-3]',
      async (h) => {
        const a = await h.connect('a')
        const b = await h.connect('b')
        await h.subscribe(a, '$share/g/jobs/+', 0)
        await h.subscribe(b, '$share/g/jobs/+', 1)
        const payloads = ['1', '2', '3', '4', '5', '6']
        for (const payload of payloads) await h.publish('jobs/x', payload, { qos: 1 })
        await h.settle(a, b)
        const forwards = [...h.forwardsTo('a'), ...h.forwardsTo('b')]
        assert.deepEqual(forwards.map((d) => text(d.packet.payload)).sort(), payloads, 'every message once')
        for (const d of forwards)
          assert.equal(d.packet.qos, d.clientId === 'a' ? 0 : 1, `the QoS of ${d.clientId}`)
      },
    )

    kit.test(
      'each shared subscription gets its own copy, and an ordinary subscription of a member its own',
      async (h) => {
        const a = await h.connect('a')
        const b = await h.connect('b')
        await h.subscribe(a, '$share/one/t', 1)
        await h.subscribe(a, 't', 1)
        await h.subscribe(b, '$share/two/t', 1)
        await h.publish('t', 'x')
        await h.settle(a, b)
        assert.deepEqual(h.received('a'), ['t=x', 't=x'])
        assert.deepEqual(h.received('b'), ['t=x'])
      },
    )

    kit.test(
      'a member that unsubscribes or disconnects gets no more; the others get every message',
      async (h) => {
        const a = await h.connect('a')
        const b = await h.connect('b')
        const c = await h.connect('c')
        for (const member of [a, b, c]) await h.subscribe(member, '$share/g/t', 1)
        await h.unsubscribe(a, '$share/g/t')
        await h.disconnect(b)
        for (const payload of ['1', '2', '3']) await h.publish('t', payload)
        await h.settle(a, c)
        assert.deepEqual(h.received('a'), [])
        assert.deepEqual(h.received('b'), [])
        assert.deepEqual(h.received('c'), ['t=1', 't=2', 't=3'])
      },
    )

    kit.test(
      'with no member connected, a QoS 1 message is queued for one persistent member only',
      async (h) => {
        const a = await h.connect('a', { persistent: true })
        const b = await h.connect('b', { persistent: true })
        await h.subscribe(a, '$share/g/t', 1)
        await h.subscribe(b, '$share/g/t', 1)
        await h.disconnect(a)
        await h.disconnect(b)
        await h.publish('t', '1')
        await h.publish('t', '2')
        const queued = []
        for (const clientId of ['a', 'b']) {
          const { packets = [] } = await h.run('lookupOfflineMessages', { clientId })
          queued.push(...packets.map(topicAndPayload))
        }
        assert.deepEqual(queued.sort(), ['t=1', 't=2'])
      },
    )
  })
}
