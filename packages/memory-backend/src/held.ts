import { type InflightPacket, type IPublishPacket, ownPayload } from '@mqtt-stack/core'

/**
 * A stored message with the time it was stored: its Message Expiry Interval counts from then. Its payload
 * is made its own (`ownPayload`), so a kept message never pins the socket chunk it was read from.
 */
export class Held<T extends InflightPacket = IPublishPacket> {
  /** The copy last handed out with a reduced expiry interval, so that it can be removed by identity. */
  view: IPublishPacket | undefined = undefined
  /** Payload bytes, for the bounds on what is held. */
  readonly size: number

  constructor(
    readonly packet: T,
    /** Epoch ms when it was stored. */
    readonly storedAt: number,
  ) {
    this.size = packet.cmd === 'publish' ? payloadSize(ownPayload(packet as IPublishPacket)) : 0
  }
}

/**
 * MQTT 5.0 Message Expiry: the packet as it may leave now. Without an expiry interval, the packet itself;
 * once the interval has passed, undefined (the copy for that subscriber is deleted [MQTT-3.3.2-5]); else the
 * packet, or a copy of it whose interval is the received one minus the whole seconds it has waited here
 * [MQTT-3.3.2-6]. The stored packet is never changed.
 */
export function unexpired<T extends IPublishPacket>(packet: T, storedAt: number, now: number): T | undefined {
  const interval = packet.properties?.messageExpiryInterval
  if (interval === undefined) return packet
  const left = interval - Math.floor((now - storedAt) / 1000)
  if (left <= 0) return undefined
  if (left === interval) return packet
  return withExpiry(packet, left)
}

/** A copy of `packet` whose Message Expiry Interval is `seconds`. */
export function withExpiry<T extends IPublishPacket>(packet: T, seconds: number): T {
  return { ...packet, properties: { ...packet.properties, messageExpiryInterval: seconds } }
}

/** The bytes of a message's payload. */
export function payloadSize(packet: IPublishPacket): number {
  const { payload } = packet
  return typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength
}
