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
}

export const DEFAULTS: Readonly<SessionManagerOptions> = Object.freeze({
  generateClientId: () => `mqs-${randomBytes(12).toString('base64url')}`,
})

/** Misconfiguration fails at construction, with a code. */
export function checkOptions(options: Readonly<SessionManagerOptions>): void {
  if (typeof options.generateClientId !== 'function') {
    throw new MqttStackError(ErrorCode.INVALID_OPTION, 'session-manager: generateClientId must be a function')
  }
}
