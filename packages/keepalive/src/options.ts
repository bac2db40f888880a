import { ErrorCode, MqttStackError } from '@mqtt-stack/core'

export interface KeepAliveOptions {
  /**
   * The largest keepalive, in seconds, the server enforces; a client asking for more is held to this one.
   * 1 to 65535. Default 65535 (no cap).
   */
  maxKeepalive: number
  /**
   * The coarsest resolution of the deadline checks, in milliseconds: a silent client is closed at most this
   * late. Each client's deadline is also checked to within about a 32nd of 1.5 times its keepalive (32 ms for
   * a keepalive of 1 s), so this bounds only long keepalives. Default 1000.
   */
  checkInterval: number
}

export const DEFAULTS: Readonly<KeepAliveOptions> = Object.freeze({
  maxKeepalive: 65_535,
  checkInterval: 1000,
})

/** Largest delay setInterval accepts. */
const MAX_TIMER_DELAY = 2 ** 31 - 1

/** Misconfiguration fails at construction, not at the first connection. */
export function checkOptions(options: Readonly<KeepAliveOptions>): void {
  const { maxKeepalive, checkInterval } = options
  if (!Number.isInteger(maxKeepalive) || maxKeepalive < 1 || maxKeepalive > 65_535) {
    throw new MqttStackError(
      ErrorCode.INVALID_OPTION,
      `keepalive: maxKeepalive must be an integer number of seconds from 1 to 65535, got ${String(maxKeepalive)}`,
    )
  }
  if (
    typeof checkInterval !== 'number' ||
    !Number.isFinite(checkInterval) ||
    checkInterval <= 0 ||
    checkInterval > MAX_TIMER_DELAY
  ) {
    throw new MqttStackError(
      ErrorCode.INVALID_OPTION,
      `keepalive: checkInterval must be a number of milliseconds > 0, got ${String(checkInterval)}`,
    )
  }
}
