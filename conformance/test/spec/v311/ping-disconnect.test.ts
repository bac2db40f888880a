import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { startWatchedBroker } from '../../support/watch.js'
import { connected, publishesBeforeMarker, subscribed, subscribedWithMarker } from './support.js'

describe('MQTT 3.1.1 PINGREQ and PINGRESP (3.12, 3.13)', () => {
  it('[MQTT-3.12.4-1] answers each PINGREQ with a PINGRESP', async () => {
    const broker = await startBroker()
    const peer = await connected(broker, 'pinger')
    for (let i = 0; i < 3; i++) peer.send({ cmd: 'pingreq' })
    for (let i = 0; i < 3; i++) await peer.expect('pingresp')
  })
})

describe('MQTT 3.1.1 DISCONNECT (3.14)', () => {
  it('[MQTT-3.14.1-1] [MQTT-2.2.2-2] closes a client whose DISCONNECT has reserved bits set, as an unclean end: its will is published', async () => {
    const { broker } = await startWatchedBroker()
    const watcher = await subscribed(broker, 'bad-disconnect-watch', [['bad-disconnect/will', 1]])
    const peer = await connected(broker, 'bad-disconnect', {
      will: { topic: 'bad-disconnect/will', payload: Buffer.from('published'), qos: 1, retain: false },
    })
    peer.sendRaw(Buffer.from([0xe1, 0x00]))
    await peer.closed()
    expect(peer.received.map((packet) => packet.cmd)).toEqual(['connack'])
    // A malformed DISCONNECT is no DISCONNECT: the will is not discarded.
    const will = await watcher.expect('publish')
    expect([will.topic, String(will.payload)]).toEqual(['bad-disconnect/will', 'published'])
  })

  it('[MQTT-3.14.4-3] [MQTT-3.1.2-10] discards the will on DISCONNECT without publishing it', async () => {
    const { broker, watch } = await startWatchedBroker()
    const watcher = await subscribedWithMarker(broker, 'disconnect-watch', [['disconnect/#', 1]])
    const peer = await connected(broker, 'disconnecting', {
      will: { topic: 'disconnect/will', payload: Buffer.from('never'), qos: 1, retain: true },
    })
    peer.send({ cmd: 'disconnect' })
    await watch.closed('disconnecting')
    const publisher = await connected(broker, 'disconnect-marker')
    expect(await publishesBeforeMarker(publisher, watcher)).toEqual([])
    // Nor was it kept as a retained message.
    const late = await subscribedWithMarker(broker, 'disconnect-late', [['disconnect/#', 1]])
    expect(await publishesBeforeMarker(publisher, late)).toEqual([])
  })
})
