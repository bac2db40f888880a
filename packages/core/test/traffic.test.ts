import mqtt from 'mqtt-packet'
import { afterEach, describe, expect, it } from 'vitest'
import { type IPublishPacket, Stack } from '../src/index.js'
import { acceptConnections, connectTestClient } from '../src/testing/index.js'

let stack: Stack
afterEach(async () => {
  await stack?.close()
})

describe('stack.traffic', () => {
  it('counts the bytes and packets read and written, PUBLISH apart', async () => {
    stack = new Stack().use(acceptConnections({ answerPings: true }))
    expect({ ...stack.traffic }).toEqual({
      bytesReceived: 0,
      bytesSent: 0,
      packetsReceived: 0,
      packetsSent: 0,
      publishReceived: 0,
      publishSent: 0,
    })
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'counted' })
    const publish: IPublishPacket = {
      cmd: 'publish',
      topic: 'a/b',
      payload: 'hello',
      qos: 0,
      retain: false,
      dup: false,
    }
    t.send(publish)
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    t.client.write({ ...publish, topic: 'back' })
    await t.expect('publish')
    const sizeOf = (packet: mqtt.Packet) => mqtt.generate(packet).length
    const connect = sizeOf({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: 'counted',
      keepalive: 0,
    })
    expect({ ...stack.traffic }).toEqual({
      bytesReceived: connect + sizeOf(publish) + 2,
      // CONNACK (4), PINGRESP (2) and the PUBLISH
      bytesSent: 4 + 2 + sizeOf({ ...publish, topic: 'back' }),
      packetsReceived: 3,
      packetsSent: 3,
      publishReceived: 1,
      publishSent: 1,
    })
  })

  it('does not count a write refused to a closed client', async () => {
    stack = new Stack().use(acceptConnections())
    const t = connectTestClient(stack)
    await t.connect()
    const sent = stack.traffic.packetsSent
    t.client.close()
    expect(t.client.write({ cmd: 'pingresp' })).toBe(false)
    expect(stack.traffic.packetsSent).toBe(sent)
  })
})
