import { ErrorCode, MqttStackError } from '@mqtt-stack/core'

export interface ConnectionOptions {
  /**
   * Milliseconds a new connection has to send its CONNECT before it is closed. 0 disables the limit.
   * Default 10000.
   */
  connectTimeout: number
}

export const DEFAULTS: Readonly<ConnectionOptions> = Object.freeze({
  connectTimeout: 10_000,
})

/** Misconfiguration fails at construction, not at the first connection. */
export function checkOptions(options: Readonly<ConnectionOptions>): void {
  const { connectTimeout } = options
  if (typeof connectTimeout !== 'number' || !Number.isFinite(connectTimeout) || connectTimeout < 0) {
    throw new MqttStackError(
      ErrorCode.INVALID_OPTION,
      `connection: connectTimeout must be a finite number of milliseconds >= 0, got ${String(connectTimeout)}`,
    )
  }
}
