import { ErrorCode, MqttStackError } from '@mqtt-stack/core'
import { MAX_PACKET_ID } from './packet-ids.js'

/** Options of `new OutboundManager(options)`. */
export interface OutboundManagerOptions {
  /**
   * Most QoS 1/2 messages sent to one client and not yet acknowledged (PUBLISH or PUBREL), 1..65535. An MQTT
   * 5.0 client's Receive Maximum lowers it for that client.
   */
  maxInflight: number
  /**
   * Most messages waiting per client while its window is full. Past it, a forward waits (it completes, and
   * the publisher gets its acknowledgement, only when the message finds room): publishers are slowed down to
   * the pace of their slowest subscriber instead of losing messages.
   */
  maxQueued: number
  /**
   * Milliseconds a client may acknowledge nothing while a forward waits for room before it is disconnected
   * as a slow consumer (`MQS_ERR_SLOW_CONSUMER`, MQTT 5.0 reason 0x97), counted from its last progress; its
   * waiting messages then go to `storeOfflineMessage` (kept for a persistent session, dropped with a session
   * that ends).
   */
  slowConsumerTimeout: number
}

export const DEFAULTS: Readonly<OutboundManagerOptions> = Object.freeze({
  maxInflight: 1000,
  maxQueued: 1000,
  slowConsumerTimeout: 2000,
})

/** Throws `MQS_ERR_INVALID_OPTION` at construction for a value the manager cannot work with. */
export function checkOptions(config: Readonly<OutboundManagerOptions>): void {
  const { maxInflight, maxQueued, slowConsumerTimeout } = config
  if (!Number.isInteger(maxInflight) || maxInflight < 1 || maxInflight > MAX_PACKET_ID) {
    throw new MqttStackError(
      ErrorCode.INVALID_OPTION,
      `outbound-manager: maxInflight must be an integer from 1 to 65535, got ${String(maxInflight)}`,
    )
  }
  if (!Number.isInteger(maxQueued) || maxQueued < 0) {
    throw new MqttStackError(
      ErrorCode.INVALID_OPTION,
      `outbound-manager: maxQueued must be an integer of at least 0, got ${String(maxQueued)}`,
    )
  }
  if (!(slowConsumerTimeout > 0)) {
    throw new MqttStackError(
      ErrorCode.INVALID_OPTION,
      `outbound-manager: slowConsumerTimeout must be a positive number of ms, got ${String(slowConsumerTimeout)}`,
    )
  }
}
