import { strict as assert } from 'node:assert'
import type { Kit } from '../kit.js'
import { expectedProperties, message, PROPERTIES, propertiesOf, topicAndPayload } from '../packets.js'
import { claimWill, storeWill, willOf } from '../steps.js'

/** `storeWill`, `lookupWill`, `removeWill`: wills by the connection that stored them, claimed once. */
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
    kit.test(
      'wills of two connections of one client id are apart; removeWill by owner claims one, once (removed)',
      async (h) => {
        const c = await h.connect('w', { persistent: true })
        await storeWill(h, c, message('w', 'old'), 0, 'conn-1')
        await storeWill(h, c, message('w', 'new'), 0, 'conn-2')
        assert.equal(await willOf(h, 'w', 'conn-1'), 'w=old+0')
        assert.equal(await willOf(h, 'w', 'conn-2'), 'w=new+0')
        assert.equal(await willOf(h, 'w'), 'w=new+0', 'without owner: the last one stored')
        assert.equal(await claimWill(h, 'w', 'conn-1'), true)
        assert.equal(await claimWill(h, 'w', 'conn-1'), false, 'claimed already')
        assert.equal(await willOf(h, 'w', 'conn-1'), undefined)
        assert.equal(await willOf(h, 'w', 'conn-2'), 'w=new+0')
        assert.equal(await claimWill(h, 'w', 'unknown'), false)
      },
    )

    kit.test('two claims of one will at the same time: exactly one removes it', async (h) => {
      const c = await h.connect('w', { persistent: true })
      await storeWill(h, c, message('w', 'once'), 0, 'conn')
      const claims = await Promise.all([
        claimWill(h, 'w', 'conn'),
        claimWill(h, 'w', 'conn'),
        claimWill(h, 'w', 'conn'),
      ])
      assert.deepEqual(claims.filter(Boolean).length, 1, `claims: ${claims.join(', ')}`)
    })

    kit.test(
      'MQTT 5.0 [MQTT-3.1.3-9]: removeWill without owner removes the wills that wait out a delay and hands them back, not those without one',
      async (h) => {
        const c = await h.connect('w', { persistent: true })
        await storeWill(h, c, message('w', 'delayed'), 30, 'conn-1')
        await storeWill(h, c, message('w', 'now'), 0, 'conn-2')
        const taken = await h.run('removeWill', { clientId: 'w' })
        assert.equal(taken.removed, true)
        assert.deepEqual((taken.packets ?? []).map(topicAndPayload), ['w=delayed'], 'handed back')
        assert.equal(await willOf(h, 'w', 'conn-1'), undefined)
        assert.equal(await willOf(h, 'w', 'conn-2'), 'w=now+0')
        assert.equal((await h.run('removeWill', { clientId: 'w' })).removed ?? false, false)
      },
    )

    kit.test(
      'storeWill with dueAt marks when a stored will is due; it creates none once the will is gone',
      async (h) => {
        const c = await h.connect('w', { persistent: true })
        const packet = message('w', 'later')
        await storeWill(h, c, packet, 30, 'conn')
        const dueAt = Date.now() + 30_000
        const ctx = { client: c.client, clientId: 'w', packet, delayInterval: 30, owner: 'conn' }
        await h.run('storeWill', { ...ctx, dueAt })
        const found = await h.run('lookupWill', { clientId: 'w', owner: 'conn' })
        assert.equal(found.dueAt, dueAt)
        assert.equal(await claimWill(h, 'w', 'conn'), true)
        await h.run('storeWill', { ...ctx, dueAt })
        assert.equal(await willOf(h, 'w', 'conn'), undefined, 'a claimed will is not stored again')
      },
    )
  })
}
