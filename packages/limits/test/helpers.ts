import { once } from 'node:events'
import { type AddressInfo, createServer, type Server } from 'node:net'
import {
  type Client,
  type Done,
  type MiddlewareLike,
  MqttStackError,
  type Next,
  type Packet,
  type QoS,
  type Stack,
  type StackOptions,
} from '@mqtt-stack/core'
import { acceptConnections, type PacketPeer, testStack } from '@mqtt-stack/core/testing'
import { afterEach } from 'vitest'
import { Limits, type LimitsHooks, type LimitsOptions } from '../src/index.js'

/** A clock the test moves: rates, windows and ban durations never wait for real time. */
export function testClock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let time = start
  return {
    now: () => time,
    advance: (ms) => {
      time += ms
    },
  }
}

/**
 * Stands in for authentication: a CONNECT whose password is not "secret" is refused as
 * @mqtt-stack/authentication refuses it (CONNACK, then close with MQS_ERR_NOT_AUTHENTICATED).
 */
function fakeAuthentication(): MiddlewareLike {
  return {
    name: 'fake-authentication',
    packetTypes: ['connect'],
    handle(client: Client, packet: Packet, next: Next, done: Done) {
      if (
        packet.cmd !== 'connect' ||
        packet.password === undefined ||
        packet.password.toString() === 'secret'
      )
        return next()
      client.write(
        client.protocolVersion === 5
          ? { cmd: 'connack', reasonCode: 0x86, sessionPresent: false }
          : { cmd: 'connack', returnCode: 4, sessionPresent: false },
      )
      client.close(undefined, new MqttStackError('MQS_ERR_NOT_AUTHENTICATED', 'bad password'))
      done()
    },
  }
}

/** Stands in for inbound-manager: records each PUBLISH that gets through, acknowledges QoS 1 and 2. */
function fakeInbound(published: string[]): MiddlewareLike {
  return {
    name: 'fake-inbound',
    packetTypes: ['publish'],
    handle(client: Client, packet: Packet, _next: Next, done: Done) {
      if (packet.cmd !== 'publish') return done()
      published.push(packet.topic)
      if (packet.qos === 1) client.write({ cmd: 'puback', messageId: packet.messageId! })
      if (packet.qos === 2) client.write({ cmd: 'pubrec', messageId: packet.messageId! })
      done()
    },
  }
}

/**
 * Stands in for subscription-manager: per filter `authorizeSubscribe` (when provided), then
 * `subscribeTopic` for a granted one; one SUBACK code per filter; UNSUBSCRIBE runs `unsubscribeTopic`.
 */
function fakeSubscriptions(batch: boolean): MiddlewareLike {
  return {
    name: 'fake-subscriptions',
    packetTypes: ['subscribe', 'unsubscribe'],
    async handle(client: Client, packet: Packet, _next: Next, done: Done) {
      const stack = client.stack
      if (packet.cmd === 'unsubscribe') {
        for (const topic of packet.unsubscriptions)
          await stack.run('unsubscribeTopic', { client, packet, topic }, {})
        client.write({
          cmd: 'unsuback',
          messageId: packet.messageId!,
          granted: packet.unsubscriptions.map(() => 0),
        })
        return done()
      }
      if (packet.cmd !== 'subscribe') return done()
      const codes: number[] = []
      const granted: Array<{ topic: string; qos: QoS }> = []
      for (const { topic, qos } of packet.subscriptions) {
        const subscription = { topic, qos: qos as QoS }
        const verdict = await stack.run('authorizeSubscribe', { client, packet, subscription }, {})
        if (verdict.authorized === false) {
          codes.push(client.protocolVersion === 5 ? verdict.reasonCode! : 0x80)
          continue
        }
        codes.push(qos)
        if (batch) granted.push(subscription)
        else await stack.run('subscribeTopic', { client, packet, topic, qos: qos as QoS, subscription }, {})
      }
      // As subscription-manager does: every filter authorised first, then every granted one routed.
      for (const subscription of granted) {
        const { topic, qos } = subscription
        await stack.run('subscribeTopic', { client, packet, topic, qos, subscription }, {})
      }
      client.write({ cmd: 'suback', messageId: packet.messageId!, granted: codes })
      done()
    },
  }
}

export interface TestBroker {
  stack: Stack
  limits: Limits
  errors: MqttStackError[]
  published: string[]
}

/** Limits in a real Stack, between stand-ins for authentication, session-manager, inbound and subscriptions. */
export function broker(
  options: Partial<LimitsOptions & LimitsHooks> = {},
  stackOptions: StackOptions = {},
  { batchSubscriptions = false } = {},
): TestBroker {
  const { stack, errors } = testStack(stackOptions)
  const limits = new Limits(options)
  const published: string[] = []
  stack
    .use(limits)
    .use(fakeAuthentication())
    .use(acceptConnections())
    .use(fakeInbound(published))
    .use(fakeSubscriptions(batchSubscriptions))
  return { stack, limits, errors, published }
}

/** Runs `test` with `stack` listening on TCP (127.0.0.1, a port of the system's choosing), then closes both. */
export async function overTcp(stack: Stack, test: (port: number) => Promise<void>): Promise<void> {
  const server: Server = createServer(stack.handler())
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  try {
    await test((server.address() as AddressInfo).port)
  } finally {
    await stack.close()
    server.close()
    await once(server, 'close')
  }
}

const opened: PacketPeer[] = []
/** Keeps a test connection to destroy after the test, whatever happened. */
export function track<T extends PacketPeer>(peer: T): T {
  opened.push(peer)
  return peer
}
afterEach(() => {
  for (const peer of opened.splice(0)) peer.destroy()
})
