import type { Client, IPublishPacket, MqttStackError, Next, Stack } from '@mqtt-stack/core'
import type { Will } from './state.js'

/**
 * Publishes a will through `relayMessage`, after `authorizePublish` when the stack has it and the will has
 * its connection (the will of a connection whose node died was authorised when it was stored).
 */
export function authorizeAndRelay(
  stack: Stack,
  client: Client | undefined,
  packet: IPublishPacket,
  next: Next,
): void {
  if (client === undefined || !stack.provides('authorizePublish')) {
    relay(stack, client, packet, next)
    return
  }
  stack.execute('authorizePublish', { client, packet }, {}, (err, store) => {
    if (err) {
      // Not authorised to be sure: the will is dropped, the failure reported, the disconnect chain goes on.
      stack.reportError(err, client, packet)
      next()
      return
    }
    if (store.authorized === false) {
      next()
      return
    }
    relay(stack, client, packet, next)
  })
}

/** Whether `client` may publish its will (asked once, when a backend stores it at CONNECT). */
export function authorized(client: Client, packet: IPublishPacket): Promise<boolean> {
  const stack = client.stack
  if (!stack.provides('authorizePublish')) return Promise.resolve(true)
  return new Promise((resolve) => {
    stack.execute('authorizePublish', { client, packet }, {}, (err, store) => {
      if (err) stack.reportError(err, client, packet)
      resolve(err === null && store.authorized !== false)
    })
  })
}

/**
 * A failure of the relay is reported, and the disconnect chain goes on: the middlewares after this one
 * (session-manager) must still end the session, or routes would point at a dead connection (LESSONS 7).
 */
function relay(stack: Stack, client: Client | undefined, packet: IPublishPacket, next: Next): void {
  stack.execute(
    'relayMessage',
    { client, packet, topic: packet.topic, payload: packet.payload },
    {},
    (err: MqttStackError | null) => {
      if (err) stack.reportError(err, client, packet)
      next()
    },
  )
}

/**
 * [MQTT-3.1.2-16] [MQTT-3.1.2-17] The will's QoS and retain flag are those of the published message.
 * MQTT 5.0 (3.1.3.2): the will properties become the PUBLISH's, the Will Delay Interval excepted.
 */
export function willPacket(will: Will, v5: boolean): IPublishPacket {
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic: will.topic,
    payload: will.payload,
    qos: will.qos ?? 0,
    retain: will.retain ?? false,
    dup: false,
  }
  const from = will.properties
  if (!v5 || from === undefined) return packet
  const properties: NonNullable<IPublishPacket['properties']> = {}
  if (from.payloadFormatIndicator !== undefined)
    properties.payloadFormatIndicator = from.payloadFormatIndicator
  if (from.messageExpiryInterval !== undefined) properties.messageExpiryInterval = from.messageExpiryInterval
  if (from.contentType !== undefined) properties.contentType = from.contentType
  if (from.responseTopic !== undefined) properties.responseTopic = from.responseTopic
  if (from.correlationData !== undefined) properties.correlationData = from.correlationData
  if (from.userProperties !== undefined) properties.userProperties = from.userProperties
  if (Object.keys(properties).length > 0) packet.properties = properties
  return packet
}

/** MQTT 5.0: the Will Delay Interval of a will, in seconds (0 for 3.1.1). */
export function delayOf(client: Client, will: Will): number {
  return client.protocolVersion === 5 ? (will.properties?.willDelayInterval ?? 0) : 0
}
