import { type IPublishPacket, ownPayload } from '@mqtt-stack/core'
import type { OutboundManagerState } from './state.js'

/** Queues a message for room in the window, noting when it started to wait if it can expire. */
export function enqueue(state: OutboundManagerState, packet: IPublishPacket): void {
  // Kept until the window has room: its payload must not pin the chunk it was read from.
  state.queue.push(ownPayload(packet))
  // [MQTT-3.3.2-5] [MQTT-3.3.2-6]
  state.queuedAt.push(packet.properties?.messageExpiryInterval === undefined ? 0 : Date.now())
}

/**
 * A message that waited in the queue since `queuedAt` (0: it cannot expire): undefined once its Message
 * Expiry Interval has passed [MQTT-3.3.2-5], else with the interval minus the time it waited
 * [MQTT-3.3.2-6] (a copy; rounded up, so that a message still valid never says 0).
 */
export function unexpired(packet: IPublishPacket, queuedAt: number): IPublishPacket | undefined {
  const interval = packet.properties?.messageExpiryInterval
  if (queuedAt === 0 || interval === undefined) return packet
  const left = interval * 1000 - (Date.now() - queuedAt)
  if (left <= 0) return undefined
  const seconds = Math.ceil(left / 1000)
  if (seconds >= interval) return packet
  return { ...packet, properties: { ...packet.properties, messageExpiryInterval: seconds } }
}
