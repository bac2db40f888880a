import type {
  CallbackHandlers,
  Client,
  MiddlewareLike,
  MqttStackError,
  Packet,
  QoS,
  Stack,
  Subscription,
} from '@mqtt-stack/core'
import type { TestConnection } from '@mqtt-stack/core/testing'

/**
 * Stands in for connection and session-manager: accepts CONNECT with its client id and answers PINGREQ,
 * which a test uses to know that every earlier packet's chain has ended (packets run one at a time).
 */
export const connector: MiddlewareLike = {
  name: 'fake-connector',
  packetTypes: ['connect', 'pingreq'],
  handle(client: Client, packet: Packet, _next, done) {
    if (packet.cmd === 'connect') {
      client.id = packet.clientId
      client.write(
        client.protocolVersion === 5
          ? { cmd: 'connack', reasonCode: 0, sessionPresent: false }
          : { cmd: 'connack', returnCode: 0, sessionPresent: false },
      )
    } else {
      client.write({ cmd: 'pingresp' })
    }
    done()
  },
}

/** Waits until the chains of every packet sent before it have ended. */
export async function settled(t: TestConnection): Promise<void> {
  t.send({ cmd: 'pingreq' })
  await t.expect('pingresp')
}

export interface Call {
  name: string
  clientId: string
  topic: string
  qos?: QoS
  subscription?: Subscription
  hasPacket?: boolean
}

/** A tiny backend: routes and persisted subscriptions in Maps, every call recorded. */
export function fakeBackend() {
  const calls: Call[] = []
  const routes = new Map<Client, Map<string, QoS>>()
  const persisted = new Map<string, Map<string, Subscription>>()
  const middleware: MiddlewareLike = {
    name: 'fake-backend',
    callbacks: (): CallbackHandlers => ({
      subscribeTopic(ctx, store, next) {
        calls.push({
          name: 'subscribeTopic',
          clientId: ctx.client.id,
          topic: ctx.topic,
          qos: ctx.qos,
          subscription: ctx.subscription,
          hasPacket: ctx.packet !== undefined,
        })
        const mine = routes.get(ctx.client) ?? new Map<string, QoS>()
        routes.set(ctx.client, mine)
        store.existed = mine.has(ctx.topic)
        mine.set(ctx.topic, ctx.qos)
        next()
      },
      storeSubscription(ctx, _store, next) {
        calls.push({ name: 'storeSubscription', clientId: ctx.clientId, topic: ctx.topic, qos: ctx.qos })
        const mine = persisted.get(ctx.clientId) ?? new Map<string, Subscription>()
        persisted.set(ctx.clientId, mine)
        mine.set(ctx.topic, ctx.subscription)
        next()
      },
      unsubscribeTopic(ctx, store, next) {
        calls.push({ name: 'unsubscribeTopic', clientId: ctx.client.id, topic: ctx.topic })
        // Leaves `store.removed` unset when nothing was subscribed, as a minimal backend might.
        if (routes.get(ctx.client)?.delete(ctx.topic)) store.removed = true
        next()
      },
      removeSubscription(ctx, _store, next) {
        calls.push({ name: 'removeSubscription', clientId: ctx.clientId, topic: ctx.topic })
        persisted.get(ctx.clientId)?.delete(ctx.topic)
        next()
      },
    }),
  }
  return { middleware, calls, routes, persisted }
}

/** Keeps every error the stack reports. */
export function collectErrors(stack: Stack): MqttStackError[] {
  const errors: MqttStackError[] = []
  stack.on('error', (err) => errors.push(err))
  return errors
}
