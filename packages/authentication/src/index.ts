/**
 * @packageDocumentation
 * Authentication for mqtt-stack: `Authentication` checks the credentials of every CONNECT through the
 * `authenticateConnection` callback and refuses with the right CONNACK code; `StaticCredentials` answers
 * that callback from a table of users or your own check function. MQTT 5.0 enhanced authentication runs
 * AUTH exchanges through `continueAuthentication`; `ScramSha256` answers them with SCRAM-SHA-256.
 */
export { Authentication } from './authentication.js'
export { AuthenticationErrorCode } from './errors.js'
export {
  AUTH_SUCCESS,
  CONTINUE_AUTHENTICATION,
  type EnhancedConnectStore,
  type EnhancedStepStore,
  RE_AUTHENTICATE,
} from './exchange.js'
export {
  AUTHENTICATION_DEFAULTS,
  type AuthenticationOptions,
  type CredentialsCheck,
  SCRAM_SHA_256_DEFAULTS,
  type ScramSha256Options,
  STATIC_CREDENTIALS_DEFAULTS,
  type StaticCredentialsOptions,
} from './options.js'
export { SCRAM_SHA_256, ScramSha256 } from './scram-sha-256.js'
export type { AuthenticationPhase, AuthenticationState } from './state.js'
export { StaticCredentials } from './static-credentials.js'
