import type { CallbackStore } from '@mqtt-stack/core'

/** MQTT 5.0 AUTH reason codes. */
export const AUTH_SUCCESS = 0x00
export const CONTINUE_AUTHENTICATION = 0x18
export const RE_AUTHENTICATE = 0x19

/**
 * `authenticateConnection`'s store as an enhanced-authentication provider fills it: to go on with an AUTH
 * exchange it sets `reasonCode = 0x18` and the Authentication Data of the server's AUTH; when it accepts at
 * once, `authenticationData` goes into the CONNACK. (Core's catalogue types no `authenticationData` here.)
 */
export type EnhancedConnectStore = CallbackStore<'authenticateConnection'> & { authenticationData?: Buffer }

/**
 * `continueAuthentication`'s store, plus the `user` an accepting provider names (kept in
 * `client.state.authentication.user`, as for `authenticateConnection`).
 */
export type EnhancedStepStore = CallbackStore<'continueAuthentication'> & { user?: unknown }
