import {
  type Client,
  type IPublishPacket,
  type ISubscribePacket,
  type MiddlewareLike,
  type MqttStackError,
  type Packet,
  type QoS,
  Stack,
  type Subscription,
} from '@mqtt-stack/core'
import { connectTestClient, type TestConnection } from '@mqtt-stack/core/testing'
import { MemoryBackend, type MemoryBackendOptions } from '../src/index.js'

export interface Delivery {
  clientId: string
  packet: IPublishPacket
  subscription: Subscription | undefined
}

/**
 * A fake outbound side: answers `forwardMessage` by recording the delivery and writing the packet (with a
 * packet identifier of its own for QoS 1/2, on a copy: the forwarded object is shared between subscribers).
 */
export function recorder(): { deliveries: Delivery[]; middleware: MiddlewareLike } {
  const deliveries: Delivery[] = []
  let nextId = 0
  return {
    deliveries,
    middleware: {
      name: 'recorder',
      callbacks: () => ({
        forwardMessage: (ctx, _store, _next, done) => {
          deliveries.push({ clientId: ctx.client.id, packet: ctx.packet, subscription: ctx.subscription })
          const { packet } = ctx
          ctx.client.write(packet.qos === 0 ? packet : { ...packet, messageId: (nextId++ % 65535) + 1 })
          done()
        },
      }),
    },
  }
}

/**
 * A fake of the packet-handling built-ins, just enough to drive the backend's flows from a test client:
 * CONNECT (register, clean or resumed session, CONNACK), SUBSCRIBE, UNSUBSCRIBE, PUBLISH (relay, then
 * PUBACK), PINGREQ and DISCONNECT; on close, `unregisterClient` then `removeSession` for a clean session.
 */
export function fakeBroker(): MiddlewareLike & { ended(client: Client): Promise<void> } {
  const ended = new WeakMap<Client, Promise<void>>()
  const clean = new WeakMap<Client, boolean>()
  return {
    name: 'fake-broker',
    packetTypes: ['connect', 'subscribe', 'unsubscribe', 'publish', 'pingreq', 'disconnect'],
    ended: (client) => ended.get(client) ?? Promise.reject(new Error('unknown client')),
    install(client) {
      const { stack } = client
      ended.set(
        client,
        new Promise((resolve) => {
          client.once('close', () => {
            if (!client.id) return resolve()
            stack.execute('unregisterClient', { client, clientId: client.id }, {}, (_err, store) => {
              if (store.removed !== true || !clean.get(client)) return resolve()
              stack.execute('removeSession', { clientId: client.id }, {}, () => resolve())
            })
          })
        }),
      )
    },
    async handle(client: Client, packet: Packet, _next, done) {
      const { stack } = client
      switch (packet.cmd) {
        case 'connect': {
          const clientId = packet.clientId
          client.id = clientId
          clean.set(client, packet.clean !== false)
          await stack.run('registerClient', { client, clientId }, {})
          let sessionPresent = false
          if (packet.clean !== false) {
            await stack.run('removeSession', { clientId }, {})
            await stack.run('storeSession', { clientId, session: { clientId, expiryInterval: 0 } }, {})
          } else {
            const { session } = await stack.run('lookupSession', { clientId }, {})
            if (session) {
              sessionPresent = true
              const { subscriptions = [] } = await stack.run('lookupSubscriptions', { clientId }, {})
              for (const subscription of subscriptions) {
                const { topic, qos } = subscription
                await stack.run('subscribeTopic', { client, topic, qos, subscription }, {})
              }
            } else {
              const session = { clientId, expiryInterval: 0xffffffff }
              await stack.run('storeSession', { clientId, session }, {})
            }
          }
          client.write(
            client.protocolVersion === 5
              ? { cmd: 'connack', reasonCode: 0, sessionPresent }
              : { cmd: 'connack', returnCode: 0, sessionPresent },
          )
          break
        }
        case 'subscribe': {
          const subscriptionIdentifier = packet.properties?.subscriptionIdentifier
          for (const options of packet.subscriptions) {
            const { topic, qos } = options
            // As a subscription manager keeps them: the 5.0 options and the SUBSCRIBE's identifier.
            const subscription: Subscription = { ...options }
            if (subscriptionIdentifier !== undefined)
              subscription.subscriptionIdentifier = subscriptionIdentifier
            await stack.run('subscribeTopic', { client, packet, topic, qos, subscription }, {})
            await stack.run(
              'storeSubscription',
              { client, clientId: client.id, topic, qos, subscription },
              {},
            )
          }
          const granted = packet.subscriptions.map(({ qos }) => qos)
          client.write({ cmd: 'suback', messageId: packet.messageId!, granted })
          break
        }
        case 'unsubscribe':
          for (const topic of packet.unsubscriptions) {
            await stack.run('unsubscribeTopic', { client, packet, topic }, {})
            await stack.run('removeSubscription', { client, clientId: client.id, topic }, {})
          }
          client.write({ cmd: 'unsuback', messageId: packet.messageId!, granted: [] })
          break
        case 'publish':
          await stack.run(
            'relayMessage',
            { client, packet, topic: packet.topic, payload: packet.payload },
            {},
          )
          if (packet.qos === 1) client.write({ cmd: 'puback', messageId: packet.messageId! })
          break
        case 'pingreq':
          client.write({ cmd: 'pingresp' })
          break
        case 'disconnect':
          client.close()
          break
      }
      done()
    },
  }
}

export interface Broker {
  stack: Stack
  backend: MemoryBackend
  broker: ReturnType<typeof fakeBroker>
  deliveries: Delivery[]
  errors: MqttStackError[]
}

/** A Stack of MemoryBackend, the fake broker and the recorder, collecting reported errors. */
export function createBroker(options: Partial<MemoryBackendOptions> = {}): Broker {
  const errors: MqttStackError[] = []
  const stack = new Stack({ onError: (err) => errors.push(err) })
  const backend = new MemoryBackend(options)
  const broker = fakeBroker()
  const { deliveries, middleware } = recorder()
  stack.use(backend).use(broker).use(middleware)
  return { stack, backend, broker, deliveries, errors }
}

/** A connected test client (CONNACK received) with these subscriptions granted. */
export async function connectClient(
  stack: Stack,
  clientId: string,
  subscriptions: { topic: string; qos: QoS }[] = [],
  clean = true,
): Promise<TestConnection> {
  const t = connectTestClient(stack)
  await t.connect({ clientId, clean })
  if (subscriptions.length > 0) {
    t.send({ cmd: 'subscribe', messageId: 1, subscriptions })
    await t.expect('suback')
  }
  return t
}

/** An MQTT 5.0 subscription as a SUBSCRIBE carries it. */
export interface Subscription5 {
  topic: string
  qos: QoS
  nl?: boolean
  rap?: boolean
  rh?: number
}

/** A connected MQTT 5.0 test client; `id` is the Subscription Identifier of its one SUBSCRIBE. */
export async function connectClient5(
  stack: Stack,
  clientId: string,
  subscriptions: Subscription5[] = [],
  { clean = true, id }: { clean?: boolean; id?: number } = {},
): Promise<TestConnection> {
  const t = connectTestClient(stack, { protocolVersion: 5 })
  await t.connect({ clientId, clean, protocolVersion: 5 })
  if (subscriptions.length > 0) await subscribe5(t, subscriptions, id)
  return t
}

/** Sends an MQTT 5.0 SUBSCRIBE, with a Subscription Identifier when `id` is given, and awaits the SUBACK. */
export async function subscribe5(t: TestConnection, subscriptions: Subscription5[], id?: number) {
  const packet: ISubscribePacket = { cmd: 'subscribe', messageId: 1, subscriptions }
  if (id !== undefined) packet.properties = { subscriptionIdentifier: id }
  t.send(packet)
  await t.expect('suback')
}

/** Publishes and waits until the broker has processed the PUBLISH (a PINGREQ behind it is answered). */
export async function publish(
  t: TestConnection,
  topic: string,
  qos: QoS = 0,
  payload = 'x',
  retain = false,
): Promise<void> {
  t.send({ cmd: 'publish', topic, payload, qos, retain, dup: false, ...(qos > 0 ? { messageId: 7 } : {}) })
  if (qos === 1) await t.expect('puback')
  t.send({ cmd: 'pingreq' })
  await t.expect('pingresp')
}

/** A relayMessage from the server itself (no client, as last-will executes it), or from `client`. */
export function relay(
  stack: Stack,
  topic: string,
  qos: QoS = 0,
  extra: Partial<IPublishPacket> = {},
  client?: Client,
) {
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic,
    payload: 'p',
    qos,
    retain: false,
    dup: false,
    ...extra,
  }
  return stack.run('relayMessage', { client, packet, topic, payload: packet.payload }, {})
}
