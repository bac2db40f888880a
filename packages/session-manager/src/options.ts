import { randomBytes } from 'node:crypto'
import { ErrorCode, MqttStackError } from '@mqtt-stack/core'

/** Options of `SessionManager`. */
export interface SessionManagerOptions {
  /**
   * Makes the client identifier of a CONNECT that has none [MQTT-3.1.3-6]. It must return a non-empty
   * string no other client uses. Default: `mqs-` and 16 random base64url characters (20 in all, within the
   * 23 that every server must accept).
   */
  generateClientId: () => string
  /**
   * MQTT 5.0: the longest Session Expiry Interval granted, in seconds; a longer one (from CONNECT or
   * DISCONNECT) is lowered to this, and the CONNACK says so. Default 0xFFFFFFFF (no cap: never expires).
   */
  maxSessionExpiryInterval: number
  /**
   * MQTT 3.1 and 3.1.1: seconds a persistent session (clean session 0) is kept after its connection ends
   * without the client coming back; then it is removed with everything it holds, as MQTT 5.0 sessions are
   * at their expiry. 3.1.1 lets a server discard stored sessions by administrative policy (section 4.1), and
   * without a bound every client id that ever connected with clean session 0 would be kept forever.
   * 0xFFFFFFFF keeps them forever (mosquitto's default). Default 604800 (7 days).
   */
  persistentSessionExpiry: number
  /**
   * MQTT 5.0: the Response Information sent in CONNACK to a client that asks for it (Request Response
   * Information 1), typically the root of its response topics. Default undefined: none is sent.
   */
  responseInformation: string | undefined
  /**
   * Milliseconds between two sweeps over disconnected MQTT 5.0 sessions with an expiry: how late a session
   * may be removed. Default 1000.
   */
  expiryCheckInterval: number
}

export const DEFAULTS: Readonly<SessionManagerOptions> = Object.freeze({
  generateClientId: () => `mqs-${randomBytes(12).toString('base64url')}`,
  maxSessionExpiryInterval: 0xffffffff,
  persistentSessionExpiry: 7 * 24 * 60 * 60,
  responseInformation: undefined,
  expiryCheckInterval: 1000,
})

/** Largest delay setInterval accepts. */
const MAX_TIMER_DELAY = 2 ** 31 - 1

/** Misconfiguration fails at construction, with a code. */
export function checkOptions(options: Readonly<SessionManagerOptions>): void {
  const { generateClientId, responseInformation, expiryCheckInterval } = options
  if (typeof generateClientId !== 'function') {
    throw new MqttStackError(ErrorCode.INVALID_OPTION, 'session-manager: generateClientId must be a function')
  }
  for (const key of ['maxSessionExpiryInterval', 'persistentSessionExpiry'] as const) {
    const value = options[key]
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new MqttStackError(
        ErrorCode.INVALID_OPTION,
        `session-manager: ${key} must be an integer number of seconds from 0 to 4294967295, got ${String(value)}`,
      )
    }
  }
  if (responseInformation !== undefined && typeof responseInformation !== 'string') {
    throw new MqttStackError(
      ErrorCode.INVALID_OPTION,
      'session-manager: responseInformation must be a string',
    )
  }
  if (
    typeof expiryCheckInterval !== 'number' ||
    !Number.isFinite(expiryCheckInterval) ||
    expiryCheckInterval <= 0 ||
    expiryCheckInterval > MAX_TIMER_DELAY
  ) {
    throw new MqttStackError(
      ErrorCode.INVALID_OPTION,
      `session-manager: expiryCheckInterval must be a number of milliseconds > 0, got ${String(expiryCheckInterval)}`,
    )
  }
}
