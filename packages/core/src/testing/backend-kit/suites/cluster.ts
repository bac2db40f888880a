import { strict as assert } from 'node:assert'
import type { Kit } from '../kit.js'
import { text } from '../packets.js'
import { queued } from '../steps.js'

/** With `capabilities.cluster`: two broker nodes at once on one storage. */
export function clusterSuite(kit: Kit): void {
  if (kit.capabilities.cluster !== true) return
  kit.describe('several nodes on one storage', () => {
    kit.test(
      '[MQTT-3.1.4-2] a client id connecting on another node closes its connection on the first; messages go to the new one',
      async (h) => {
        const other = await h.peer()
        const first = await h.connect('same', { persistent: true })
        await h.subscribe(first, 't', 1)
        const second = await other.connect('same', { persistent: true })
        assert.equal(second.sessionPresent, true)
        await first.connection.closed()
        assert.equal(
          await h.disconnect(first),
          false,
          'the connection taken over is no longer the current one',
        )
        await h.publish('t', 'x')
        await h.waitFor('same', 1)
        await h.settle(second)
        const forwards = h.forwardsTo('same')
        assert.equal(forwards.length, 1)
        assert.equal(forwards[0]!.client, second.client)
      },
    )

    kit.test(
      '[MQTT-4.6.0-6] a message relayed on one node reaches the subscribers of every node, in order',
      async (h) => {
        const other = await h.peer()
        const here = await h.connect('here')
        const there = await other.connect('there')
        await h.subscribe(here, 'news', 1)
        await other.subscribe(there, 'news', 1)
        const pub = await h.connect('pub')
        const payloads = ['1', '2', '3', '4', '5']
        for (const payload of payloads) await h.publish('news', payload, { from: pub })
        const expected = payloads.map((p) => `news=${p}`)
        assert.deepEqual(await h.waitFor('here', payloads.length), expected)
        assert.deepEqual(await h.waitFor('there', payloads.length), expected)
      },
    )

    kit.test(
      'MQTT 5.0: a shared subscription with members on two nodes gives each message to one member',
      async (h) => {
        const other = await h.peer()
        const a = await h.connect('a')
        const b = await other.connect('b')
        await h.subscribe(a, '$share/g/jobs', 1)
        await other.subscribe(b, '$share/g/jobs', 1)
        const payloads = ['1', '2', '3', '4', '5', '6']
        for (const payload of payloads) await h.publish('jobs', payload)
        for (const payload of payloads) await other.publish('jobs', payload)
        await h.settle(a, b)
        await other.settle(a, b)
        const forwards = [...h.forwardsTo('a'), ...h.forwardsTo('b')]
        assert.deepEqual(
          forwards.map((d) => text(d.packet.payload)).sort(),
          [...payloads, ...payloads].sort(),
          'every message once',
        )
      },
    )

    kit.test(
      'a persistent session left on one node resumes on another, with its queue and its subscriptions',
      async (h) => {
        const other = await h.peer()
        const c = await h.connect('s', { persistent: true })
        await h.subscribe(c, 't', 1)
        await h.disconnect(c)
        await other.publish('t', 'queued')
        const again = await other.connect('s', { persistent: true })
        assert.equal(again.sessionPresent, true)
        assert.deepEqual(await queued(other, 's'), ['t=queued'])
        await h.publish('t', 'live')
        assert.deepEqual(await h.waitFor('s', 1), ['t=live'])
        assert.equal(h.forwardsTo('s')[0]!.client, again.client)
      },
    )
  })
}
