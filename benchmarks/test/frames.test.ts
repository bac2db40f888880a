import mqtt from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { connectFrame, publishFrame, subscribeFrame } from '../src/load/connection.js'

/** The generator's hand-built frames are the bytes mqtt-packet makes of the same packet. */
describe('load frames', () => {
  it('CONNECT: clean or not, keepalive, a client id beyond ASCII', () => {
    for (const [clean, keepalive, clientId] of [
      [true, 0, 'storm-1'],
      [false, 60, 'persistent-é-🙂'],
    ] as const) {
      expect(connectFrame({ clientId, clean, keepalive })).toEqual(
        mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean, keepalive }),
      )
    }
  })

  it('CONNECT with a will, its QoS and retain flag', () => {
    const will = { topic: 'wills/a', payload: Buffer.from('gone'), qos: 1 as const, retain: true }
    expect(connectFrame({ clientId: 'w', will })).toEqual(
      mqtt.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clientId: 'w',
        clean: true,
        keepalive: 0,
        will,
      }),
    )
  })

  it('SUBSCRIBE of several filters, and one long enough for a two-byte remaining length', () => {
    for (const filters of [['storm/1/+', 'a/#'], [`long/${'x'.repeat(200)}`]]) {
      expect(subscribeFrame(513, filters, 1)).toEqual(
        mqtt.generate({
          cmd: 'subscribe',
          messageId: 513,
          subscriptions: filters.map((topic) => ({ topic, qos: 1 })),
        }),
      )
    }
  })

  it('PUBLISH with a payload over 127 bytes: the same header and topic as mqtt-packet makes', () => {
    const frame = publishFrame(Buffer.from('a/b'), 1, 7, 200, 0, 0, false)
    const made = mqtt.generate({
      cmd: 'publish',
      topic: 'a/b',
      qos: 1,
      messageId: 7,
      retain: false,
      dup: false,
      payload: frame.subarray(frame.length - 200),
    })
    expect(frame).toEqual(made)
  })
})
