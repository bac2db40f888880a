import { ErrorCode, MqttStackError, type QoS } from '@mqtt-stack/core'

/** Options of `SubscriptionManager`. */
export interface SubscriptionManagerOptions {
  /** The highest QoS ever granted; a SUBSCRIBE asking for more is granted this [MQTT-3.8.4-6]. */
  maxQoS: QoS
}

export const DEFAULTS: Readonly<SubscriptionManagerOptions> = Object.freeze({
  maxQoS: 2,
})

/** Misconfiguration fails at construction, with a code. */
export function checkOptions(options: Readonly<SubscriptionManagerOptions>): void {
  const { maxQoS } = options
  if (maxQoS !== 0 && maxQoS !== 1 && maxQoS !== 2) {
    throw new MqttStackError(
      ErrorCode.INVALID_OPTION,
      `subscription-manager: maxQoS must be 0, 1 or 2, got ${String(maxQoS)}`,
    )
  }
}
