/**
 * The default example broker on a free port of 127.0.0.1, with raw packet peers and MQTT.js clients that
 * are all closed after each test. Every conformance, interop and robustness test starts from here.
 */

import { connectTestSocket, DeferredBackend, type PacketPeer } from '@mqtt-stack/core/testing'
import { type Broker, type BrokerOptions, createBroker } from '@mqtt-stack/example-basic'
import { MemoryBackend } from '@mqtt-stack/memory-backend'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { afterEach, onTestFailed } from 'vitest'

/**
 * The conformance-async project sets MQTT_STACK_BACKEND=deferred: every broker then answers its callbacks
 * through a DeferredBackend, with MQTT_STACK_DEFER_SEED as its seed when set (a random one otherwise, printed
 * when a test fails so that the run can be replayed).
 */
const deferred = process.env.MQTT_STACK_BACKEND === 'deferred'
const seedVariable = process.env.MQTT_STACK_DEFER_SEED
const seed = seedVariable ? Number(seedVariable) : Math.floor(Math.random() * 0x7fffffff)

const brokers: Broker[] = []
const clients: MqttClient[] = []
const peers: PacketPeer[] = []

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.destroy()
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)))
  await Promise.all(brokers.splice(0).map((broker) => broker.close()))
})

export interface RunningBroker {
  broker: Broker
  port: number
  url: string
  /** Errors the stack reported through `onError`. */
  errors: Error[]
  /** A raw packet client over TCP: for malformed input and for what a client library would hide. */
  raw(options?: { protocolVersion?: 3 | 4 | 5; timeout?: number }): Promise<PacketPeer>
  /** An MQTT.js client that never reconnects on its own. */
  client(options?: IClientOptions): Promise<MqttClient>
}

/** A MemoryBackend answering late; a failing test prints the seed that replays its delays. */
function deferredBackend(): DeferredBackend {
  onTestFailed(() => {
    console.error(`the backend answered late; replay with MQTT_STACK_DEFER_SEED=${seed}`)
  })
  return new DeferredBackend(new MemoryBackend(), { seed })
}

/** Starts the default example broker (every built-in) on a free port; it is closed after the test. */
export async function startBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const errors: Error[] = []
  const broker = createBroker({
    ...(deferred ? { backend: deferredBackend() } : {}),
    ...options,
    host: '127.0.0.1',
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
    raw: async (rawOptions = {}) => {
      const peer = await connectTestSocket(port, '127.0.0.1', rawOptions)
      peers.push(peer)
      return peer
    },
    client: async (clientOptions = {}) => {
      const client = await mqtt.connectAsync(url, {
        reconnectPeriod: 0,
        connectTimeout: 2000,
        ...clientOptions,
      })
      clients.push(client)
      return client
    },
  }
}
