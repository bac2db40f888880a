import type { InflightPacket } from '../../callbacks.js'
import type { IPublishPacket, IPubrelPacket, QoS } from '../../packets.js'

/** A PUBLISH as a client sends it: topic and payload, QoS 1, no retain, no DUP unless `extra` says so. */
export function message(topic: string, payload: string, extra: Partial<IPublishPacket> = {}): IPublishPacket {
  return { cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false, ...extra }
}

/** An outbound PUBLISH with its packet identifier, as the outbound side stores it inflight. */
export function outbound(messageId: number, qos: QoS = 1): IPublishPacket {
  return message('kit/out', `m${messageId}`, { messageId, qos })
}

/** The PUBREL that replaces the PUBLISH of `messageId` once its PUBREC came. */
export function pubrel(messageId: number): IPubrelPacket {
  return { cmd: 'pubrel', messageId }
}

/** A payload as text, whether the backend hands back the string it was given or bytes. */
export function text(payload: Buffer | Uint8Array | string): string {
  return typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8')
}

/** `topic=payload`: what a stored message is compared by (a backend may hand back a copy, and bytes). */
export function topicAndPayload(packet: IPublishPacket): string {
  return `${packet.topic}=${text(packet.payload)}`
}

/** `publish:3` or `pubrel:3`: an inflight packet by its type and identifier. */
export function inflightId(packet: InflightPacket): string {
  return `${packet.cmd}:${packet.messageId}`
}

/**
 * MQTT 5.0 properties a stored message keeps, some of which a serialising backend easily loses: user
 * properties in their order (one name twice), bytes of correlation data, text of content type.
 */
export const PROPERTIES = Object.freeze({
  payloadFormatIndicator: true,
  contentType: 'text/plain',
  responseTopic: 'kit/reply',
  correlationData: Buffer.from([0, 1, 2, 255]),
  userProperties: { b: ['2', '1'], a: '3' },
}) satisfies IPublishPacket['properties']

/** The properties of `packet` compared by value: correlation data as bytes, whatever its class. */
export function propertiesOf(packet: IPublishPacket): Record<string, unknown> {
  const { correlationData, ...rest } = packet.properties ?? {}
  return correlationData === undefined ? rest : { ...rest, correlationData: [...correlationData] }
}

/** `PROPERTIES` as `propertiesOf` gives them back. */
export function expectedProperties(): Record<string, unknown> {
  const { correlationData, ...rest } = PROPERTIES
  return { ...rest, correlationData: [...correlationData] }
}
