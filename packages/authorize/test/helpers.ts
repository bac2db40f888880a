import {
  type Client,
  type Done,
  type MqttStackError,
  type Next,
  type Packet,
  type PacketType,
  Stack,
} from '@mqtt-stack/core'

/** A stack whose reported errors are kept, not printed. */
export function testStack() {
  const errors: MqttStackError[] = []
  const stack = new Stack({ onError: (err) => errors.push(err) })
  return { stack, errors }
}

/** Stands in for session-manager: accepts every CONNECT that reaches it with CONNACK 0. */
export function fakeSessionManager() {
  const seen: string[] = []
  return {
    seen,
    name: 'fake-session-manager',
    packetTypes: ['connect'] as PacketType[],
    handle(client: Client, packet: Packet, _next: Next, done: Done) {
      if (packet.cmd !== 'connect') return done()
      seen.push(packet.clientId)
      client.id = packet.clientId
      if (client.protocolVersion === 5) client.write({ cmd: 'connack', reasonCode: 0, sessionPresent: false })
      else client.write({ cmd: 'connack', returnCode: 0, sessionPresent: false })
      done()
    },
  }
}

/** Records every packet of the given types that reaches it. */
export function recorder(types: PacketType[]) {
  const packets: Packet[] = []
  return {
    packets,
    name: 'recorder',
    packetTypes: types,
    handle(_client: Client, packet: Packet, _next: Next, done: Done) {
      packets.push(packet)
      done()
    },
  }
}

/** A promise with its resolve and reject, for providers that answer later. */
export function deferred<T>() {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/**
 * Stands in for inbound-manager, subscription-manager and keepalive: relays a PUBLISH (relayMessage) then
 * acknowledges it, answers SUBSCRIBE with authorizeSubscribe per filter, PUBREL with PUBCOMP, PINGREQ with
 * PINGRESP, and closes on DISCONNECT.
 */
export function fakeBroker() {
  const subscribed: string[] = []
  return {
    subscribed,
    name: 'fake-broker',
    packetTypes: ['publish', 'subscribe', 'pubrel', 'pingreq', 'disconnect'] as PacketType[],
    async handle(client: Client, packet: Packet, _next: Next, done: Done) {
      switch (packet.cmd) {
        case 'publish':
          await client.stack.run(
            'relayMessage',
            { client, packet, topic: packet.topic, payload: packet.payload },
            {},
          )
          if (packet.qos === 1) client.write({ cmd: 'puback', messageId: packet.messageId! })
          if (packet.qos === 2) client.write({ cmd: 'pubrec', messageId: packet.messageId! })
          break
        case 'subscribe': {
          const granted: number[] = []
          for (const subscription of packet.subscriptions) {
            const store = await client.stack.run(
              'authorizeSubscribe',
              { client, packet, subscription: { topic: subscription.topic, qos: subscription.qos } },
              {},
            )
            if (store.authorized === false) granted.push(0x80)
            else {
              subscribed.push(subscription.topic)
              granted.push(subscription.qos)
            }
          }
          client.write({ cmd: 'suback', messageId: packet.messageId!, granted })
          break
        }
        case 'pubrel':
          client.write({ cmd: 'pubcomp', messageId: packet.messageId! })
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

/** Answers relayMessage and records the topics relayed. */
export function fakeRelay() {
  const topics: string[] = []
  return {
    topics,
    name: 'fake-relay',
    relayMessage(ctx: { topic: string }, _store: object, next: Next) {
      topics.push(ctx.topic)
      next()
    },
  }
}
