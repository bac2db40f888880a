import { connectTestSocket, type PacketPeer } from '@mqtt-stack/core/testing'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { afterEach } from 'vitest'
import { type Broker, type BrokerOptions, createBroker } from '../src/broker.js'

const brokers: Broker[] = []
const clients: MqttClient[] = []
const peers: PacketPeer[] = []

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.destroy()
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)))
  await Promise.all(brokers.splice(0).map((broker) => broker.close()))
})

export interface Running {
  broker: Broker
  port: number
  url: string
  errors: Error[]
  /** An MQTT.js client, closed after the test. Never reconnects on its own. */
  client(options?: IClientOptions): Promise<MqttClient>
  /** An MQTT.js client that records every message from the moment it connects, with its CONNACK. */
  connect(
    options?: IClientOptions,
  ): Promise<{ client: MqttClient; connack: mqtt.IConnackPacket; messages: Message[] }>
  /** A raw packet client over TCP, for what MQTT.js would refuse to send or would hide. */
  raw(options?: { protocolVersion?: 3 | 4 | 5; timeout?: number }): Promise<PacketPeer>
}

/** Starts the example broker on a free port; everything is closed after the test. */
export async function startBroker(options: BrokerOptions = {}): Promise<Running> {
  const errors: Error[] = []
  const broker = createBroker({
    ...options,
    port: 0,
    stack: { onError: (err) => errors.push(err), ...options.stack },
  })
  brokers.push(broker)
  const { port } = await broker.listen()
  const url = `mqtt://127.0.0.1:${port}`
  return {
    broker,
    port,
    url,
    errors,
    client: async (clientOptions = {}) => {
      const client = await mqtt.connectAsync(url, {
        reconnectPeriod: 0,
        connectTimeout: 2000,
        ...clientOptions,
      })
      clients.push(client)
      return client
    },
    connect: async (clientOptions = {}) => {
      const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 2000, ...clientOptions })
      clients.push(client)
      const messages = collect(client)
      const connack = await new Promise<mqtt.IConnackPacket>((resolve) => client.once('connect', resolve))
      return { client, connack, messages }
    },
    raw: async (rawOptions = {}) => {
      const peer = await connectTestSocket(port, '127.0.0.1', rawOptions)
      peers.push(peer)
      return peer
    },
  }
}

/** The next message a client receives (optionally on one topic). */
export function nextMessage(
  client: MqttClient,
  topic?: string,
): Promise<{ topic: string; payload: string; packet: mqtt.IPublishPacket }> {
  return new Promise((resolve) => {
    const onMessage = (t: string, payload: Buffer, packet: mqtt.IPublishPacket) => {
      if (topic !== undefined && t !== topic) return
      client.off('message', onMessage)
      resolve({ topic: t, payload: payload.toString(), packet })
    }
    client.on('message', onMessage)
  })
}

export interface Message {
  topic: string
  payload: string
  qos: number
  retain: boolean
}

/** Collects every message a client receives, except those of `flush`. */
export function collect(client: MqttClient): Message[] {
  const messages: Message[] = []
  client.on('message', (topic, payload, packet) => {
    if (!topic.startsWith(FLUSH))
      messages.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain })
  })
  return messages
}

/** A round trip through the broker: once it answers, everything sent before it has been processed. */
const FLUSH = 'flush/'
let flushes = 0

export async function flush(client: MqttClient, topic = `${FLUSH}${++flushes}`): Promise<void> {
  const arrived = nextMessage(client, topic)
  await client.subscribeAsync(topic)
  await client.publishAsync(topic, 'flush', { qos: 1 })
  await arrived
  await client.unsubscribeAsync(topic)
}

export const CONNECT_311 = {
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: 4,
  clean: true,
  keepalive: 0,
} as const
