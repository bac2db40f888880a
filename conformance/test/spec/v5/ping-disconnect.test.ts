import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { controlPacket, PINGREQ } from '../../support/bytes.js'
import { barrier, publish1 } from '../../support/exchanges.js'
import {
  brokerWithPeer,
  bytes5,
  connect5,
  connected,
  expectDisconnect,
  expectSilentClose,
  PERSISTENT,
  rawPeer,
  subscribed,
  wireConnected,
} from './support.js'

/** DISCONNECT Reason Codes of MQTT 5.0 (3.14.2.1). */
const DISCONNECT_CODES = [
  0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97,
  0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
]

describe('MQTT 5.0 PINGREQ (3.12)', () => {
  it('[MQTT-3.12.4-1] answers every PINGREQ with a PINGRESP', async () => {
    const { peer } = await brokerWithPeer()
    for (let i = 0; i < 3; i++) peer.send({ cmd: 'pingreq' })
    for (let i = 0; i < 3; i++) await peer.expect('pingresp')
  })
})

describe('MQTT 5.0 DISCONNECT (3.14)', () => {
  it('[MQTT-3.14.0-1] sends no DISCONNECT to a connection whose CONNECT was refused or never came', async () => {
    const broker = await startBroker({ users: { alice: 'secret' }, connectTimeout: 100 })
    const refused = await rawPeer(broker)
    const wrong = connect5('refused', { username: 'alice', password: Buffer.from('wrong') })
    expect(await refused.connect(wrong)).toMatchObject({ reasonCode: 0x86 })
    await expectSilentClose(refused)
    const malformed = await rawPeer(broker)
    malformed.sendRaw(controlPacket(0x10, Buffer.from([0, 4])))
    await expectSilentClose(malformed)
    // No CONNECT within the connect timeout.
    const idle = await rawPeer(broker)
    await expectSilentClose(idle)
  })

  it('[MQTT-3.14.1-1] [MQTT-4.13.1-1] a DISCONNECT with reserved flags set is a Malformed Packet: DISCONNECT 0x81, close', async () => {
    const { peer } = await brokerWithPeer()
    peer.sendRaw(controlPacket(0xe8))
    await expectDisconnect(peer, 0x81)
  })

  it('[MQTT-3.14.2-1] [MQTT-3.14.2-2] on a takeover, sends DISCONNECT 0x8E, a DISCONNECT Reason Code, without a Session Expiry Interval', async () => {
    const broker = await startBroker()
    const first = await connected(broker, 'twin', PERSISTENT)
    await connected(broker, 'twin', PERSISTENT)
    const disconnect = await first.expect('disconnect')
    expect(disconnect.reasonCode).toBe(0x8e)
    expect(DISCONNECT_CODES).toContain(disconnect.reasonCode)
    expect(disconnect.properties?.sessionExpiryInterval).toBeUndefined()
    await first.closed()
  })

  it('[MQTT-3.14.2-1] [MQTT-3.14.2-2] on a protocol violation, sends a DISCONNECT Reason Code without a Session Expiry Interval', async () => {
    const broker = await startBroker()
    const peer = await connected(broker, 'violating', PERSISTENT)
    peer.send(connect5('violating'))
    const disconnect = await peer.expect('disconnect')
    expect(DISCONNECT_CODES).toContain(disconnect.reasonCode)
    expect(disconnect.properties?.sessionExpiryInterval).toBeUndefined()
    await peer.closed()
  })

  it('[MQTT-3.14.2-3] [MQTT-3.14.2-4] sends a DISCONNECT too large for the client without its Reason String, never drops it', async () => {
    const broker = await startBroker()
    // A second CONNECT is a Protocol Error, whose DISCONNECT explains it in a Reason String.
    const wide = await wireConnected(broker, 'wide')
    wide.send(connect5('wide'))
    const full = await wide.expect('disconnect')
    expect(full.packet).toMatchObject({ reasonCode: 0x82, properties: { reasonString: expect.any(String) } })
    // A client (of a Client Identifier as long) whose Maximum Packet Size is one byte short of that.
    const limit = full.bytes.length - 1
    const tiny = await wireConnected(broker, 'tiny', { properties: { maximumPacketSize: limit } })
    tiny.send(connect5('tiny'))
    const { bytes, packet } = await tiny.expect('disconnect')
    expect(packet.cmd === 'disconnect' && packet.reasonCode).toBe(0x82)
    expect(packet.cmd === 'disconnect' && packet.properties?.reasonString).toBeFalsy()
    expect(bytes.length).toBeLessThanOrEqual(limit)
    await expect(tiny.next()).rejects.toThrow(/closed/)
  })

  it('[MQTT-3.14.4-3] discards the will on a DISCONNECT with Reason Code 0x00: never published, while a connection lost without one publishes its will', async () => {
    const broker = await startBroker()
    const watcher = await subscribed(broker, 'watcher', 'will/#', 1)
    const will = (topic: string) => ({
      will: { topic, payload: Buffer.from('gone'), qos: 1 as const, retain: false },
    })
    const leaving = await connected(broker, 'leaving', will('will/leaving'))
    leaving.send({ cmd: 'disconnect', reasonCode: 0 })
    await leaving.closed()
    // Lost after the normal disconnection: its will comes, and the first one would have come before it.
    const lost = await connected(broker, 'lost', will('will/lost'))
    lost.destroy()
    const publish = await watcher.expect('publish')
    expect(publish).toMatchObject({ topic: 'will/lost' })
    watcher.send({ cmd: 'puback', messageId: publish.messageId!, reasonCode: 0 })
    expect(await barrier(watcher)).toEqual([])
  })

  it('[MQTT-3.14.4-1] [MQTT-3.14.4-2] [MQTT-4.13.2-1] sends nothing after its DISCONNECT and closes the connection', async () => {
    const { peer } = await brokerWithPeer()
    // The protocol violation and a PINGREQ in one write: the PINGREQ must not be answered.
    peer.sendRaw(Buffer.concat([bytes5(connect5('again')), PINGREQ, PINGREQ]))
    await expectDisconnect(peer, 0x82)
    expect(peer.received.map((packet) => packet.cmd)).toEqual(['connack', 'disconnect'])
  })

  it('[MQTT-3.14.4-1] [MQTT-3.14.4-2] a connection taken over gets nothing after its DISCONNECT 0x8E, not even messages', async () => {
    const broker = await startBroker()
    const first = await subscribed(broker, 'twin', 't')
    const second = await connected(broker, 'twin')
    await publish1(second, 't', 'p', 1)
    await expectDisconnect(first, 0x8e)
    expect(first.received.map((packet) => packet.cmd)).toEqual(['connack', 'suback', 'disconnect'])
  })
})
