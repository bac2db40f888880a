import { type CallbackStore, ReasonCode } from '@mqtt-stack/core'

/** @deprecated Use `ReasonCode.SUCCESS` from `@mqtt-stack/core`; this alias goes in the next major release. */
export const AUTH_SUCCESS = ReasonCode.SUCCESS
/** @deprecated Use `ReasonCode.CONTINUE_AUTHENTICATION` from `@mqtt-stack/core`. */
export const CONTINUE_AUTHENTICATION = ReasonCode.CONTINUE_AUTHENTICATION
/** @deprecated Use `ReasonCode.RE_AUTHENTICATE` from `@mqtt-stack/core`. */
export const RE_AUTHENTICATE = ReasonCode.RE_AUTHENTICATE

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
