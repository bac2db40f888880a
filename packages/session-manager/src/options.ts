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
  responseInformation: undefined,
  expiryCheckInterval: 1000,
})

/** Largest delay setInterval accepts. */
const MAX_TIMER_DELAY = 2 ** 31 - 1

/** Misconfiguration fails at construction, with a code. */
export function checkOptions(options: Readonly<SessionManagerOptions>): void {
  const { generateClientId, maxSessionExpiryInterval, responseInformation, expiryCheckInterval } = options
  if (typeof generateClientId !== 'function') {
    throw new MqttStackError(ErrorCode.INVALID_OPTION, 'session-manager: generateClientId must be a function')
  }
  if (
    !Number.isInteger(maxSessionExpiryInterval) ||
    maxSessionExpiryInterval < 0 ||
    maxSessionExpiryInterval > 0xffffffff
  ) {
    throw new MqttStackError(
      ErrorCode.INVALID_OPTION,
      `session-manager: maxSessionExpiryInterval must be an integer number of seconds from 0 to 4294967295, got ${String(maxSessionExpiryInterval)}`,
    )
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
