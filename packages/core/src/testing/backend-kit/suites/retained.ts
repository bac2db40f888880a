import { strict as assert } from 'node:assert'
import type { Kit } from '../kit.js'
import { expectedProperties, message, PROPERTIES, propertiesOf, topicAndPayload } from '../packets.js'
import { retain, retained } from '../steps.js'

/** `storeRetainedMessage` and `lookupRetainedMessages`. */
export function retainedSuite(kit: Kit): void {
  kit.describe('retained messages', () => {
    kit.test(
      '[MQTT-3.3.1-5] stores a retained message with its QoS; a new one for the topic replaces it',
      async (h) => {
        await retain(h, 'r', 'first', { qos: 2 })
        await retain(h, 'r', 'second', { qos: 1 })
        const { packets = [] } = await h.run('lookupRetainedMessages', { topic: 'r' })
        assert.deepEqual(
          packets.map((p) => `${topicAndPayload(p)}:${p.qos}`),
          ['r=second:1'],
        )
      },
    )

    kit.test('looks up by topic and by + and # filters', async (h) => {
      for (const topic of ['a/b', 'a/c', 'a/b/c', 'x', 'a']) await retain(h, topic, topic)
      assert.deepEqual(await retained(h, 'a/b'), ['a/b=a/b'])
      assert.deepEqual(await retained(h, 'a/+'), ['a/b=a/b', 'a/c=a/c'])
      assert.deepEqual(await retained(h, 'a/#'), ['a/b/c=a/b/c', 'a/b=a/b', 'a/c=a/c', 'a=a'])
      assert.deepEqual(await retained(h, '+/+/c'), ['a/b/c=a/b/c'])
      assert.deepEqual(await retained(h, '#'), ['a/b/c=a/b/c', 'a/b=a/b', 'a/c=a/c', 'a=a', 'x=x'])
      assert.deepEqual(await retained(h, 'none/#'), [])
    })

    kit.test(
      '[MQTT-3.3.1-10] [MQTT-3.3.1-11] an empty payload deletes the retained message of its topic and is not stored',
      async (h) => {
        await retain(h, 'a', 'v')
        await retain(h, 'b', 'v')
        await retain(h, 'a', '')
        await retain(h, 'b', Buffer.alloc(0))
        await retain(h, 'c', '')
        assert.deepEqual(await retained(h, '#'), [])
      },
    )

    kit.test('[MQTT-4.7.2-1] # and + at the first level return no $ topic; $SYS/# does', async (h) => {
      await retain(h, '$SYS/up', '1')
      await retain(h, 'up', '2')
      assert.deepEqual(await retained(h, '#'), ['up=2'])
      assert.deepEqual(await retained(h, '+/up'), [])
      assert.deepEqual(await retained(h, '+/#'), ['up=2'])
      assert.deepEqual(await retained(h, '$SYS/#'), ['$SYS/up=1'])
      assert.deepEqual(await retained(h, '$SYS/+'), ['$SYS/up=1'])
    })

    kit.test(
      '[MQTT-3.1.2-7] retained messages are not session state: removeSession leaves them',
      async (h) => {
        const c = await h.connect('publisher')
        await h.run('storeRetainedMessage', {
          client: c.client,
          topic: 'kept',
          packet: message('kept', 'v', { retain: true }),
        })
        await h.disconnect(c)
        await h.run('removeSession', { clientId: 'publisher' })
        assert.deepEqual(await retained(h, 'kept'), ['kept=v'])
      },
    )

    kit.test('keeps the MQTT 5.0 properties of a retained message', async (h) => {
      await retain(h, 'p', 'v', { properties: { ...PROPERTIES } })
      const { packets = [] } = await h.run('lookupRetainedMessages', { topic: 'p' })
      assert.equal(packets.length, 1)
      assert.deepEqual(propertiesOf(packets[0]!), expectedProperties())
    })
  })
}
