import { strict as assert } from 'node:assert'
import type { Kit } from '../kit.js'
import { expectedProperties, outbound, PROPERTIES, propertiesOf, pubrel, text } from '../packets.js'
import { inflight, persistentSession } from '../steps.js'

/** `storeInflightMessage`, `removeInflightMessage`, `lookupInflightMessages`, `clearInflightMessages`. */
export function inflightSuite(kit: Kit): void {
  kit.describe('outbound QoS 1 and 2 state (inflight)', () => {
    kit.test(
      '[MQTT-4.3.3-1] keeps the order first sent; a PUBREL replaces the PUBLISH of its identifier, in its place',
      async (h) => {
        await persistentSession(h, 's')
        for (const id of [3, 1, 2])
          await h.run('storeInflightMessage', { clientId: 's', packet: outbound(id, 2) })
        await h.run('storeInflightMessage', { clientId: 's', packet: pubrel(1) })
        assert.deepEqual(await inflight(h, 's'), ['publish:3', 'pubrel:1', 'publish:2'])
      },
    )

    kit.test(
      'removeInflightMessage forgets one (an unknown identifier is harmless); clearInflightMessages every one',
      async (h) => {
        await persistentSession(h, 's')
        for (const id of [1, 2, 3])
          await h.run('storeInflightMessage', { clientId: 's', packet: outbound(id) })
        await h.run('removeInflightMessage', { clientId: 's', messageId: 2 })
        await h.run('removeInflightMessage', { clientId: 's', messageId: 99 })
        assert.deepEqual(await inflight(h, 's'), ['publish:1', 'publish:3'])
        await h.run('clearInflightMessages', { clientId: 's' })
        assert.deepEqual(await inflight(h, 's'), [])
      },
    )

    kit.test('keeps the packet: topic, payload, QoS, identifier, DUP and MQTT 5.0 properties', async (h) => {
      await persistentSession(h, 's')
      const packet = { ...outbound(5, 2), dup: true, properties: { ...PROPERTIES } }
      await h.run('storeInflightMessage', { clientId: 's', packet })
      const { packets = [] } = await h.run('lookupInflightMessages', { clientId: 's' })
      const [kept] = packets
      assert.ok(kept?.cmd === 'publish', 'a PUBLISH')
      assert.deepEqual(
        [kept.topic, text(kept.payload), kept.qos, kept.messageId, kept.dup],
        ['kit/out', 'm5', 2, 5, true],
      )
      assert.deepEqual(propertiesOf(kept), expectedProperties())
    })

    kit.test('keeps nothing for an unknown session', async (h) => {
      await h.run('storeInflightMessage', { clientId: 'unknown', packet: outbound(1) })
      assert.deepEqual(await inflight(h, 'unknown'), [])
      assert.equal((await h.run('lookupSession', { clientId: 'unknown' })).session, undefined)
    })
  })
}
