import { ErrorCode, MqttStackError, type QoS } from '@mqtt-stack/core'

/** Options of `SubscriptionManager`. */
export interface SubscriptionManagerOptions {
  /** The highest QoS ever granted; a SUBSCRIBE asking for more is granted this [MQTT-3.8.4-6]. */
  maxQoS: QoS
  /** MQTT 5.0: accept filters with `+` or `#`; off, they are refused with 0xA2 (and CONNACK says so). */
  wildcardSubscriptionAvailable: boolean
  /** MQTT 5.0: accept Subscription Identifiers; off, a SUBSCRIBE carrying one is refused with 0xA1. */
  subscriptionIdentifiersAvailable: boolean
  /** MQTT 5.0: accept `$share/{group}/{filter}`; off, such filters are refused with 0x9E. */
  sharedSubscriptionAvailable: boolean
}

export const DEFAULTS: Readonly<SubscriptionManagerOptions> = Object.freeze({
  maxQoS: 2,
  wildcardSubscriptionAvailable: true,
  subscriptionIdentifiersAvailable: true,
  sharedSubscriptionAvailable: true,
})

const FLAGS = [
  'wildcardSubscriptionAvailable',
  'subscriptionIdentifiersAvailable',
  'sharedSubscriptionAvailable',
] as const

/** Misconfiguration fails at construction, with a code. */
export function checkOptions(options: Readonly<SubscriptionManagerOptions>): void {
  const { maxQoS } = options
  if (maxQoS !== 0 && maxQoS !== 1 && maxQoS !== 2) {
    throw new MqttStackError(
      ErrorCode.INVALID_OPTION,
      `subscription-manager: maxQoS must be 0, 1 or 2, got ${String(maxQoS)}`,
    )
  }
  for (const flag of FLAGS) {
    if (typeof options[flag] !== 'boolean') {
      throw new MqttStackError(
        ErrorCode.INVALID_OPTION,
        `subscription-manager: ${flag} must be a boolean, got ${String(options[flag])}`,
      )
    }
  }
}
