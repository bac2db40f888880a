/**
 * The packet objects the conformance tests of both protocol versions send most often, and their
 * serialisation (bytes.ts writes the packets a serialiser refuses to produce).
 */
import type { Packet, PacketOf } from '@mqtt-stack/core'
import mqtt from 'mqtt-packet'

export type ProtocolVersion = 4 | 5
export type QoS = 0 | 1 | 2

/** Serialises `packet` as `protocolVersion` writes it. */
export function serialise(packet: Packet, protocolVersion: ProtocolVersion): Buffer {
  return mqtt.generate(packet, { protocolVersion })
}

/** A CONNECT of `protocolVersion` with a clean session (Clean Start) and no keepalive; `overrides` win. */
export function connectPacket(
  protocolVersion: ProtocolVersion,
  clientId: string,
  overrides: Partial<PacketOf<'connect'>> = {},
): PacketOf<'connect'> {
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion,
    clean: true,
    clientId,
    keepalive: 0,
    ...overrides,
  }
}

/**
 * A PUBLISH: QoS 0, RETAIN 0 and DUP 0 unless `fields` say otherwise. A QoS 1 or 2 PUBLISH needs its
 * `messageId` in `fields`: the tests choose every packet identifier they send.
 */
export function publishPacket(
  topic: string,
  payload: string | Buffer,
  fields: Partial<PacketOf<'publish'>> = {},
): PacketOf<'publish'> {
  return { cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false, ...fields }
}

/** A SUBSCRIBE with identifier `messageId` of `filters`, each a topic filter and its requested QoS. */
export function subscribePacket(
  messageId: number,
  filters: readonly (readonly [topic: string, qos: QoS])[],
): PacketOf<'subscribe'> {
  return { cmd: 'subscribe', messageId, subscriptions: filters.map(([topic, qos]) => ({ topic, qos })) }
}
