import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { controlPacket, u16 } from '../../support/bytes.js'
import { barrier, nextPublish, publish0, publish1, publish2 } from '../../support/exchanges.js'
import { brokerWithPeer, connected, expectDisconnect, subscribe, wireConnected } from './support.js'

/** UNSUBACK Reason Codes of MQTT 5.0 (3.11.3). */
const UNSUBACK_CODES = [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91]

describe('MQTT 5.0 UNSUBSCRIBE: payload (3.10.3)', () => {
  it('[MQTT-3.10.3-2] [MQTT-4.13.1-1] an UNSUBSCRIBE without a Topic Filter is a Protocol Error: DISCONNECT 0x82, no UNSUBACK', async () => {
    const { peer } = await brokerWithPeer()
    peer.sendRaw(controlPacket(0xa2, u16(1), Buffer.from([0])))
    await expectDisconnect(peer, 0x82)
  })
})

describe('MQTT 5.0 UNSUBSCRIBE: actions and UNSUBACK (3.10.4, 3.11)', () => {
  it('[MQTT-3.10.4-1] compares filters character by character: only the identical one is deleted', async () => {
    const { broker, peer: subscriber } = await brokerWithPeer('subscriber')
    await subscribe(subscriber, ['a/+', 'a/b'])
    subscriber.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['a/#', 'A/+', 'a/b/', 'a/b'] })
    expect(await subscriber.expect('unsuback')).toMatchObject({
      messageId: 2,
      granted: [0x11, 0x11, 0x11, 0],
    })
    // "a/+" remains, "a/b" is gone: one delivery, not two.
    const publisher = await connected(broker, 'publisher')
    await publish0(publisher, 'a/b', 'once')
    expect((await nextPublish(subscriber)).text).toBe('once')
    expect(await barrier(subscriber)).toEqual([])
  })

  it('[MQTT-3.10.4-2] stops sending messages for the filter once unsubscribed', async () => {
    const { broker, peer: subscriber } = await brokerWithPeer('subscriber')
    await subscribe(subscriber, 't', 1)
    subscriber.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['t'] })
    expect(await subscriber.expect('unsuback')).toMatchObject({ granted: [0] })
    const publisher = await connected(broker, 'publisher')
    await publish1(publisher, 't', 'after', 1)
    await publish0(publisher, 't', 'after')
    expect(await barrier(subscriber)).toEqual([])
  })

  it('[MQTT-3.10.4-3] completes the delivery of a QoS 2 message it had started to send before the UNSUBSCRIBE', async () => {
    const { broker, peer: subscriber } = await brokerWithPeer('subscriber')
    await subscribe(subscriber, 't', 2)
    const publisher = await connected(broker, 'publisher')
    await publish2(publisher, 't', 'm', 1)
    const publish = await nextPublish(subscriber)
    subscriber.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['t'] })
    expect(await subscriber.expect('unsuback')).toMatchObject({ granted: [0] })
    subscriber.send({ cmd: 'pubrec', messageId: publish.messageId!, reasonCode: 0 })
    expect(await subscriber.expect('pubrel')).toMatchObject({ messageId: publish.messageId, reasonCode: 0 })
  })

  it('[MQTT-3.10.4-4] [MQTT-3.10.4-5] answers UNSUBACK with the Packet Identifier even when nothing was subscribed', async () => {
    const { peer } = await brokerWithPeer()
    for (const messageId of [1, 4096, 65_535]) {
      peer.send({ cmd: 'unsubscribe', messageId, unsubscriptions: ['never/subscribed'] })
      expect(await peer.expect('unsuback')).toMatchObject({ messageId, granted: [0x11] })
    }
  })

  it('[MQTT-3.10.4-6] [MQTT-3.11.3-1] [MQTT-3.11.3-2] handles several filters as a sequence of UNSUBSCRIBEs, answered by one UNSUBACK with a code per filter, in order', async () => {
    const { peer } = await brokerWithPeer()
    await subscribe(peer, ['x', 'z'])
    peer.send({ cmd: 'unsubscribe', messageId: 9, unsubscriptions: ['x', 'y', 'z', 'bad/#/filter'] })
    const unsuback = await peer.expect('unsuback')
    expect(unsuback).toMatchObject({ messageId: 9, granted: [0, 0x11, 0, 0x8f] })
    for (const code of unsuback.granted) expect(UNSUBACK_CODES).toContain(code)
    expect(await barrier(peer)).toEqual([])
  })

  it('[MQTT-3.11.2-1] [MQTT-3.11.2-2] keeps UNSUBACK within the client Maximum Packet Size', async () => {
    const broker = await startBroker()
    const wire = await wireConnected(broker, 'small', { properties: { maximumPacketSize: 16 } })
    wire.send({ cmd: 'unsubscribe', messageId: 1, unsubscriptions: ['none', 'a/#/b'] })
    const { bytes, packet } = await wire.expect('unsuback')
    expect(bytes.length).toBeLessThanOrEqual(16)
    expect(packet).toMatchObject({ messageId: 1, granted: [0x11, 0x8f] })
  })
})
