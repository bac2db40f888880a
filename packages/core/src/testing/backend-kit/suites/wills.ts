import { strict as assert } from 'node:assert'
import type { Kit } from '../kit.js'
import { expectedProperties, message, PROPERTIES, propertiesOf, topicAndPayload } from '../packets.js'

/** `storeWill`, `lookupWill`, `removeWill`. */
export function willsSuite(kit: Kit): void {
  kit.describe('wills', () => {
    kit.test(
      '[MQTT-3.1.2-8] stores the will of a session with its delay; lookupWill hands it back, removeWill forgets it',
      async (h) => {
        const c = await h.connect('w', { persistent: true })
        const packet = message('last/w', 'gone', { qos: 1, retain: true })
        await h.run('storeWill', { client: c.client, clientId: 'w', packet, delayInterval: 30 })
        const found = await h.run('lookupWill', { clientId: 'w' })
        assert.equal(found.packet && topicAndPayload(found.packet), 'last/w=gone')
        assert.equal(found.packet?.qos, 1)
        assert.equal(found.packet?.retain, true)
        assert.equal(found.delayInterval, 30)
        await h.run('removeWill', { clientId: 'w' })
        assert.equal((await h.run('lookupWill', { clientId: 'w' })).packet, undefined)
      },
    )

    kit.test('a new will replaces the stored one; wills of client ids are apart', async (h) => {
      const a = await h.connect('a', { persistent: true })
      const b = await h.connect('b', { persistent: true })
      await h.run('storeWill', {
        client: a.client,
        clientId: 'a',
        packet: message('w', 'a1'),
        delayInterval: 0,
      })
      await h.run('storeWill', {
        client: b.client,
        clientId: 'b',
        packet: message('w', 'b1'),
        delayInterval: 0,
      })
      await h.run('storeWill', {
        client: a.client,
        clientId: 'a',
        packet: message('w', 'a2'),
        delayInterval: 5,
      })
      const willOf = async (clientId: string) => {
        const { packet, delayInterval } = await h.run('lookupWill', { clientId })
        return packet && `${topicAndPayload(packet)}+${delayInterval}`
      }
      assert.equal(await willOf('a'), 'w=a2+5')
      assert.equal(await willOf('b'), 'w=b1+0')
    })

    kit.test('keeps the MQTT 5.0 properties of a will', async (h) => {
      const c = await h.connect('w', { persistent: true })
      const packet = message('w', 'v', { properties: { ...PROPERTIES } })
      await h.run('storeWill', { client: c.client, clientId: 'w', packet, delayInterval: 0 })
      const { packet: found } = await h.run('lookupWill', { clientId: 'w' })
      assert.ok(found !== undefined)
      assert.deepEqual(propertiesOf(found), expectedProperties())
    })
  })
}
