import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { controlPacket, mqttString, u16 } from '../../support/bytes.js'
import { publishPacket } from '../../support/packets.js'
import {
  connected,
  expectClosedWithoutAnswer,
  publishesBeforeMarker,
  rawConnect,
  subscribed,
  subscribedWithMarker,
  subscribeWithMarker,
} from './support.js'

/** "a", an ill-formed sequence, "b". */
const ILL_FORMED: readonly [string, number[]][] = [
  ['a byte that never starts a character (0xFF)', [0xff]],
  ['an encoded surrogate (U+D800 as ED A0 80)', [0xed, 0xa0, 0x80]],
  ['an overlong encoding of "/" (C0 AF)', [0xc0, 0xaf]],
  ['a sequence cut short (E2 82)', [0xe2, 0x82]],
  ['a continuation byte alone (0x80)', [0x80]],
]

function withInside(bytes: readonly number[]): Buffer {
  return Buffer.from([0x61, ...bytes, 0x62])
}

describe('MQTT 3.1.1 data representation: UTF-8 encoded strings (1.5.3)', () => {
  it.each(ILL_FORMED)(
    '[MQTT-1.5.3-1] [MQTT-3.3.2-1] closes a client whose PUBLISH topic holds %s',
    async (_, bytes) => {
      const broker = await startBroker()
      const subscriber = await subscribedWithMarker(broker, 'utf8-sub', [['#', 0]])
      const peer = await connected(broker, 'utf8-pub')
      await expectClosedWithoutAnswer(
        peer,
        controlPacket(0x30, mqttString(withInside(bytes)), Buffer.from('x')),
      )
      // Nothing of it reached the subscriber.
      const publisher = await connected(broker, 'utf8-marker')
      expect(await publishesBeforeMarker(publisher, subscriber)).toEqual([])
    },
  )

  const NUL = withInside([0x00])
  const afterConnack: readonly [string, Buffer][] = [
    ['a PUBLISH topic name', controlPacket(0x30, mqttString(NUL), Buffer.from('x'))],
    ['a SUBSCRIBE topic filter', controlPacket(0x82, u16(1), mqttString(NUL), Buffer.from([0]))],
    ['an UNSUBSCRIBE topic filter', controlPacket(0xa2, u16(1), mqttString(NUL))],
  ]
  it.each(afterConnack)(
    '[MQTT-1.5.3-2] [MQTT-4.7.3-2] closes a client that sends U+0000 in %s',
    async (_, bytes) => {
      await expectClosedWithoutAnswer(await connected(await startBroker(), 'nul'), bytes)
    },
  )

  const inConnect: readonly [string, Buffer][] = [
    ['the client identifier', rawConnect({ payload: [mqttString(NUL)] })],
    [
      'the will topic',
      rawConnect({ flags: 0x06, payload: [mqttString('nul-will'), mqttString(NUL), mqttString('gone')] }),
    ],
    ['the user name', rawConnect({ flags: 0x82, payload: [mqttString('nul-user'), mqttString(NUL)] })],
  ]
  it.each(inConnect)(
    '[MQTT-1.5.3-2] [MQTT-3.1.4-1] closes without CONNACK a CONNECT with U+0000 in %s',
    async (_, bytes) => {
      const { raw } = await startBroker()
      await expectClosedWithoutAnswer(await raw(), bytes)
    },
  )

  it('[MQTT-1.5.3-3] keeps U+FEFF where it appears in a topic: neither skipped nor stripped', async () => {
    const broker = await startBroker()
    const subscriber = await connected(broker, 'bom-sub')
    expect(await subscribeWithMarker(subscriber, [['\uFEFFbom/t', 1]])).toEqual([1])
    const publisher = await connected(broker, 'bom-pub')
    // Only the topic that has U+FEFF matches the filter that has it.
    publisher.send(publishPacket('bom/t', 'plain'))
    publisher.sendRaw(
      controlPacket(
        0x30,
        mqttString(Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('bom/t')])),
        Buffer.from('bom'),
      ),
    )
    const delivered = await publishesBeforeMarker(publisher, subscriber)
    expect(delivered.map((packet) => [packet.topic, String(packet.payload)])).toEqual([
      ['\uFEFFbom/t', 'bom'],
    ])
  })
})

describe('MQTT 3.1.1 data representation: the remaining length (2.2.3)', () => {
  it('[MQTT-4.8.0-1] closes a client whose remaining length runs past four bytes', async () => {
    const peer = await connected(await startBroker(), 'long-length')
    await expectClosedWithoutAnswer(peer, Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]))
  })

  it('[MQTT-6.0.0-2] decodes remaining lengths of one, two and three bytes, packets split across writes and packets joined in one', async () => {
    const broker = await startBroker()
    const subscriber = await subscribed(broker, 'length-sub', [['len/#', 0]])
    const publisher = await connected(broker, 'length-pub')
    const sizes = [10, 200, 20000]
    const frames = sizes.map((size) =>
      controlPacket(0x30, mqttString(`len/${size}`), Buffer.alloc(size, 0x61)),
    )
    // Split: one byte, the next two, up to half the frame, the rest. A round trip on the other connection
    // after each piece but the last lets that piece reach the broker on its own.
    for (const [index, frame] of frames.entries()) {
      const cuts = [0, 1, 3, Math.floor(frame.length / 2), frame.length]
      for (let i = 0; i + 1 < cuts.length; i++) {
        publisher.sendRaw(frame.subarray(cuts[i], cuts[i + 1]))
        if (i + 2 === cuts.length) break
        subscriber.send({ cmd: 'pingreq' })
        await subscriber.expect('pingresp')
      }
      const packet = await subscriber.expect('publish')
      expect([packet.topic, packet.payload.length]).toEqual([`len/${sizes[index]}`, sizes[index]])
    }
    // Joined: the three packets in one write.
    publisher.sendRaw(Buffer.concat(frames))
    for (const size of sizes) {
      const packet = await subscriber.expect('publish')
      expect([packet.topic, packet.payload.length]).toEqual([`len/${size}`, size])
    }
  })
})
