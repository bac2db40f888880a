/**
 * Packet types, re-exported so that middlewares depend on core alone. Core is the only package that
 * parses or serialises packets (PUBLISH and its acknowledgements itself, the others with mqtt-packet).
 */
export type {
  IAuthPacket,
  IConnackPacket,
  IConnectPacket,
  IDisconnectPacket,
  IPingreqPacket,
  IPingrespPacket,
  IPubackPacket,
  IPubcompPacket,
  IPublishPacket,
  IPubrecPacket,
  IPubrelPacket,
  ISubackPacket,
  ISubscribePacket,
  ISubscription,
  IUnsubackPacket,
  IUnsubscribePacket,
  Packet,
  PacketCmd,
  QoS,
  UserProperties,
} from 'mqtt-packet'

import type { Packet, PacketCmd } from 'mqtt-packet'

/** A packet's `cmd`, for example `'publish'`. */
export type PacketType = PacketCmd

/** The packet whose `cmd` is `T`. */
export type PacketOf<T extends PacketType> = Extract<Packet, { cmd: T }>

/** Every packet type, in the order of the fixed header's type field (1 to 15). */
export const PACKET_TYPES: readonly PacketType[] = Object.freeze([
  'connect',
  'connack',
  'publish',
  'puback',
  'pubrec',
  'pubrel',
  'pubcomp',
  'subscribe',
  'suback',
  'unsubscribe',
  'unsuback',
  'pingreq',
  'pingresp',
  'disconnect',
  'auth',
] as const)

/** MQTT protocol levels: 3 is MQTT 3.1, 4 is 3.1.1, 5 is 5.0. */
export type ProtocolVersion = 3 | 4 | 5
