import { once } from 'node:events'
import { connect as connectSocket } from 'node:net'
import { connectTestClient } from '@mqtt-stack/core/testing'
import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type Broker, createBroker } from '../src/broker.js'

let broker: Broker
let url: string
const clients: MqttClient[] = []

beforeEach(async () => {
  broker = createBroker({ port: 0, stack: { onError: () => {} } })
  const { port } = await broker.listen()
  url = `mqtt://127.0.0.1:${port}`
})

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)))
  await broker.close()
})

async function client(options: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...options })
  clients.push(c)
  return c
}

function nextMessage(c: MqttClient): Promise<[string, Buffer]> {
  return new Promise((resolve) => c.once('message', (topic, payload) => resolve([topic, payload])))
}

describe('the example broker over TCP with MQTT.js', () => {
  for (const protocolVersion of [4, 5] as const) {
    it(`routes a publish to a wildcard subscriber (protocol level ${protocolVersion})`, async () => {
      const subscriber = await client({ protocolVersion })
      const publisher = await client({ protocolVersion })
      const granted = await subscriber.subscribeAsync('sensors/+/temperature')
      expect(granted[0]?.qos).toBe(0)
      const message = nextMessage(subscriber)
      await publisher.publishAsync('sensors/kitchen/temperature', '21.5', { qos: 1 })
      const [topic, payload] = await message
      expect(topic).toBe('sensors/kitchen/temperature')
      expect(payload.toString()).toBe('21.5')
    })
  }

  it('delivers between a 3.1.1 and a 5.0 client', async () => {
    const subscriber = await client({ protocolVersion: 5 })
    const publisher = await client({ protocolVersion: 4 })
    await subscriber.subscribeAsync('mixed/#')
    const message = nextMessage(subscriber)
    publisher.publish('mixed/a', 'hello')
    expect((await message)[0]).toBe('mixed/a')
  })

  it('[MQTT-4.7.1-2] refuses an invalid filter with 0x80 in SUBACK (raw packets: MQTT.js would refuse to send it)', async () => {
    const t = connectTestClient(broker.stack)
    await t.connect()
    t.send({
      cmd: 'subscribe',
      messageId: 7,
      subscriptions: [
        { topic: 'bad/#/filter', qos: 0 },
        { topic: 'ok/#', qos: 0 },
      ],
    })
    const suback = await t.expect('suback')
    expect(suback).toMatchObject({ messageId: 7, granted: [0x80, 0] })
  })

  it('a malformed packet closes that connection only', async () => {
    const good = await client()
    const socket = connectSocket(Number(new URL(url).port), '127.0.0.1')
    await once(socket, 'connect')
    socket.on('data', () => {})
    const closed = once(socket, 'close')
    socket.write(Buffer.from([0x10, 0x03, 0xff, 0xff, 0xff])) // CONNECT whose protocol name overruns it
    await closed
    await good.subscribeAsync('still/alive')
    const message = nextMessage(good)
    good.publish('still/alive', 'yes')
    expect((await message)[1].toString()).toBe('yes')
  })
})
