import mqtt from 'mqtt-packet'
import type { Packet, ProtocolVersion } from './packets.js'

const SETTINGS: Readonly<Record<ProtocolVersion, { protocolVersion: ProtocolVersion }>> = Object.freeze({
  3: Object.freeze({ protocolVersion: 3 }),
  4: Object.freeze({ protocolVersion: 4 }),
  5: Object.freeze({ protocolVersion: 5 }),
})

/**
 * Serialises a packet for one protocol version, to write the same bytes to many clients with
 * `client.writeBuffer`. Throws when the packet is not valid for that version.
 */
export function serializePacket(packet: Packet, protocolVersion: ProtocolVersion): Buffer {
  return mqtt.generate(packet, SETTINGS[protocolVersion])
}
