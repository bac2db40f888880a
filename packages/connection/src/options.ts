import { ErrorCode, MqttStackError } from '@mqtt-stack/core'

export interface ConnectionOptions {
  /**
   * Milliseconds a new connection has to send its CONNECT before it is closed. 0 disables the limit.
   * Default 10000.
   */
  connectTimeout: number
  /**
   * MQTT 5.0: the highest QoS the broker supports (as the CONNACK's Maximum QoS says). A CONNECT whose Will
   * QoS is above it is refused with CONNACK 0x9B [MQTT-3.2.2-12]. Default 2.
   */
  maximumQoS: 0 | 1 | 2
}

export const DEFAULTS: Readonly<ConnectionOptions> = Object.freeze({
  connectTimeout: 10_000,
  maximumQoS: 2,
})

/** Misconfiguration fails at construction, not at the first connection. */
export function checkOptions(options: Readonly<ConnectionOptions>): void {
  const { connectTimeout, maximumQoS } = options
  if (maximumQoS !== 0 && maximumQoS !== 1 && maximumQoS !== 2) {
    throw new MqttStackError(
      ErrorCode.INVALID_OPTION,
      `connection: maximumQoS must be 0, 1 or 2, got ${String(maximumQoS)}`,
    )
  }
  if (typeof connectTimeout !== 'number' || !Number.isFinite(connectTimeout) || connectTimeout < 0) {
    throw new MqttStackError(
      ErrorCode.INVALID_OPTION,
      `connection: connectTimeout must be a finite number of milliseconds >= 0, got ${String(connectTimeout)}`,
    )
  }
}
