import { describe, expect, it } from 'vitest'
import { startBroker } from './broker.js'

describe('the default example broker over TCP (MQTT 3.1.1 and 5.0)', () => {
  // TCP is an ordered, lossless, two-way byte stream: 3.1.1 [MQTT-7.1.1-1], 5.0 [MQTT-4.2.0-1]. A plain
  // client of either version needs nothing outside the specification [MQTT-7.0.0-2].
  for (const protocolVersion of [4, 5] as const) {
    it(`[MQTT-7.1.1-1] [MQTT-4.2.0-1] [MQTT-7.0.0-2] serves a plain client of protocol level ${protocolVersion}: 100 messages arrive in order`, async () => {
      const { raw } = await startBroker()
      const peer = await raw({ protocolVersion })
      const connack = await peer.connect({ clientId: `plain-${protocolVersion}`, protocolVersion })
      expect(connack.returnCode ?? connack.reasonCode).toBe(0)
      peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'order/#', qos: 1 }] })
      await peer.expect('suback')
      for (let i = 0; i < 100; i++) {
        peer.send({
          cmd: 'publish',
          topic: `order/${i}`,
          payload: String(i),
          qos: 0,
          retain: false,
          dup: false,
        })
      }
      const topics: string[] = []
      while (topics.length < 100) topics.push((await peer.expect('publish')).topic)
      expect(topics).toEqual(Array.from({ length: 100 }, (_, i) => `order/${i}`))
    })
  }
})
