import type { Duplex } from 'node:stream'
import mqtt, { type IClientOptions, MqttClient } from 'mqtt'
import { afterEach } from 'vitest'
import { type Broker, type BrokerOptions, createBroker } from '../src/index.js'

const brokers: Broker[] = []
const clients: MqttClient[] = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)))
  await Promise.all(brokers.splice(0).map((broker) => broker.close()))
})

/** Starts a broker (by default one mqtt listener on a free port of 127.0.0.1); closed after the test. */
export async function startBroker(options: BrokerOptions = {}) {
  const errors: Error[] = []
  const broker = createBroker({
    listeners: [{ type: 'mqtt', port: 0 }],
    ...options,
    stack: { onError: (err) => errors.push(err), ...options.stack },
  })
  brokers.push(broker)
  const addresses = await broker.listen()
  return { broker, addresses, errors, url: addresses[0]!.url }
}

/** An MQTT.js client that never reconnects; closed after the test. Rejects on a refused CONNECT. */
export function connectClient(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  return connected(mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 2000, ...options }))
}

/** The same over a stream the test opens itself (through a proxy, say). */
export function connectThrough(open: () => Duplex, clientId: string): Promise<MqttClient> {
  return connected(new MqttClient(open, { reconnectPeriod: 0, connectTimeout: 2000, clientId }))
}

async function connected(client: MqttClient): Promise<MqttClient> {
  clients.push(client)
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
  })
  return client
}

/** Subscribes `subscriber`, publishes from `publisher` and resolves with the payload received. */
export async function roundTrip(
  subscriber: MqttClient,
  publisher: MqttClient,
  topic = 't/1',
): Promise<string> {
  await subscriber.subscribeAsync(topic, { qos: 1 })
  const received = new Promise<Buffer>((resolve) =>
    subscriber.once('message', (_topic, payload) => resolve(payload)),
  )
  await publisher.publishAsync(topic, 'hello', { qos: 1 })
  const payload = await received
  return payload.toString()
}
