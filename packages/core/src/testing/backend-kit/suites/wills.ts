import { strict as assert } from 'node:assert'
import type { Kit } from '../kit.js'
import { expectedProperties, message, PROPERTIES, propertiesOf } from '../packets.js'
import { storeWill, willOf } from '../steps.js'

/** `storeWill`, `lookupWill`, `removeWill`. */
export function willsSuite(kit: Kit): void {
  kit.describe('wills', () => {
    kit.test(
      '[MQTT-3.1.2-8] stores the will of a session with its delay; lookupWill hands it back, removeWill forgets it',
      async (h) => {
        const c = await h.connect('w', { persistent: true })
        const packet = message('last/w', 'gone', { qos: 1, retain: true })
        await storeWill(h, c, packet, 30)
        assert.equal(await willOf(h, 'w'), 'last/w=gone+30')
        const { packet: found } = await h.run('lookupWill', { clientId: 'w' })
        assert.equal(found?.qos, 1)
        assert.equal(found?.retain, true)
        await h.run('removeWill', { clientId: 'w' })
        assert.equal(await willOf(h, 'w'), undefined)
      },
    )

    kit.test('a new will replaces the stored one; wills of client ids are apart', async (h) => {
      const a = await h.connect('a', { persistent: true })
      const b = await h.connect('b', { persistent: true })
      await storeWill(h, a, message('w', 'a1'), 0)
      await storeWill(h, b, message('w', 'b1'), 0)
      await storeWill(h, a, message('w', 'a2'), 5)
      assert.equal(await willOf(h, 'a'), 'w=a2+5')
      assert.equal(await willOf(h, 'b'), 'w=b1+0')
    })

    kit.test('keeps the MQTT 5.0 properties of a will', async (h) => {
      const c = await h.connect('w', { persistent: true })
      const packet = message('w', 'v', { properties: { ...PROPERTIES } })
      await storeWill(h, c, packet, 0)
      const { packet: found } = await h.run('lookupWill', { clientId: 'w' })
      assert.ok(found !== undefined)
      assert.deepEqual(propertiesOf(found), expectedProperties())
    })
  })
}
