import type { Client, Done, Next, Packet, PacketType } from '@mqtt-stack/core'

export {
  acceptConnections as fakeSessionManager,
  deferred,
  recordPackets as recorder,
  testStack,
} from '@mqtt-stack/core/testing'

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
