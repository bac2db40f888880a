import { strict as assert } from 'node:assert'
import type { Kit } from '../kit.js'

/** `registerClient` and `unregisterClient`: one connection per client id, and takeover. */
export function clientsSuite(kit: Kit): void {
  kit.describe('client registration and takeover', () => {
    kit.test(
      '[MQTT-3.1.4-2] registerClient of a connected client id closes the earlier connection and returns it in store.previous',
      async (h) => {
        const first = await h.connect('same')
        const second = await h.connect('same')
        assert.equal(second.previous, first.client, 'store.previous is the connection taken over')
        await first.connection.closed()
        assert.equal(first.client.closed, true)
        assert.equal(second.client.closed, false)
      },
    )

    kit.test('sets no store.previous for a first connection, nor after the earlier one ended', async (h) => {
      const c = await h.connect('a')
      assert.equal(c.previous, undefined)
      await h.disconnect(c)
      assert.equal((await h.connect('a')).previous, undefined)
    })

    kit.test(
      'unregisterClient answers removed only for the current connection of its client id',
      async (h) => {
        const old = await h.connect('id', { persistent: true })
        const current = await h.connect('id', { persistent: true })
        await old.connection.closed()
        assert.equal(await h.disconnect(old), false, 'the connection taken over is no longer the current one')
        assert.equal(await h.disconnect(current), true)
        const again = await h.run('unregisterClient', { client: current.client, clientId: 'id' })
        assert.equal(again.removed ?? false, false, 'a client id without a connection')
      },
    )

    kit.test('after a takeover, messages go to the new connection only', async (h) => {
      const old = await h.connect('same', { persistent: true })
      await h.subscribe(old, 'news', 1)
      const fresh = await h.connect('same', { persistent: true })
      assert.equal(fresh.sessionPresent, true)
      await old.connection.closed()
      await h.disconnect(old)
      await h.publish('news', 'after')
      await h.waitFor('same', 1)
      await h.settle(fresh)
      const forwards = h.forwardsTo('same')
      assert.equal(forwards.length, 1)
      assert.equal(forwards[0]!.client, fresh.client)
    })
  })
}
