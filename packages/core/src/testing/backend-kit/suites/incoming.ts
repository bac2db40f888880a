import { strict as assert } from 'node:assert'
import type { Kit } from '../kit.js'
import { topicAndPayload } from '../packets.js'
import { persistentSession, receive } from '../steps.js'

/** `storeIncomingMessage` and `releaseIncomingMessage`: inbound QoS 2, exactly once. */
export function incomingSuite(kit: Kit): void {
  kit.describe('inbound QoS 2 packet identifiers', () => {
    kit.test('[MQTT-4.3.3-2] a PUBLISH with an identifier held until PUBREL is a duplicate', async (h) => {
      await persistentSession(h, 's')
      assert.equal(await receive(h, 's', 9), false)
      assert.equal(await receive(h, 's', 9), true)
      assert.equal(await receive(h, 's', 10), false)
    })

    kit.test(
      '[MQTT-4.3.3-2] releaseIncomingMessage hands back the held message once; then the identifier is new',
      async (h) => {
        await persistentSession(h, 's')
        await receive(h, 's', 9, 'held')
        const released = await h.run('releaseIncomingMessage', { clientId: 's', messageId: 9 })
        assert.equal(released.packet && topicAndPayload(released.packet), 'in=held')
        const again = await h.run('releaseIncomingMessage', { clientId: 's', messageId: 9 })
        assert.equal(again.packet, undefined, 'a PUBREL sent again releases nothing')
        assert.equal(await receive(h, 's', 9), false)
      },
    )

    kit.test('keeps the identifiers of each client id apart', async (h) => {
      await persistentSession(h, 'a')
      await persistentSession(h, 'b')
      assert.equal(await receive(h, 'a', 1), false)
      assert.equal(await receive(h, 'b', 1), false)
      await h.run('releaseIncomingMessage', { clientId: 'a', messageId: 1 })
      assert.equal(await receive(h, 'b', 1), true)
    })
  })
}
