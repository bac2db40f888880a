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
  /**
   * Milliseconds the event loop may run late before new connections are shed: while it lags more, a CONNECT
   * is refused with CONNACK 0x89 Server busy (3.1.1: 0x03 Server unavailable) and counted
   * (`stats.refusedBusy`), rather than waiting unanswered. 0 never sheds. Default 1000.
   */
  busyLag: number
}

export const DEFAULTS: Readonly<ConnectionOptions> = Object.freeze({
  connectTimeout: 10_000,
  maximumQoS: 2,
  busyLag: 1000,
})

/** Misconfiguration fails at construction, not at the first connection. */
export function checkOptions(options: Readonly<ConnectionOptions>): void {
  const { connectTimeout, maximumQoS, busyLag } = options
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
  if (typeof busyLag !== 'number' || !Number.isFinite(busyLag) || busyLag < 0) {
    throw new MqttStackError(
      ErrorCode.INVALID_OPTION,
      `connection: busyLag must be a finite number of milliseconds >= 0, got ${String(busyLag)}`,
    )
  }
}
