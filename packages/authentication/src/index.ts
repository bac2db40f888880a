/**
 * @packageDocumentation
 * Authentication for mqtt-stack: `Authentication` checks the credentials of every CONNECT through the
 * `authenticateConnection` callback and refuses with the right CONNACK code; `StaticCredentials` answers
 * that callback from a table of users or your own check function.
 */
export { Authentication } from './authentication.js'
export { AuthenticationErrorCode } from './errors.js'
export {
  AUTHENTICATION_DEFAULTS,
  type AuthenticationOptions,
  type CredentialsCheck,
  STATIC_CREDENTIALS_DEFAULTS,
  type StaticCredentialsOptions,
} from './options.js'
export type { AuthenticationState } from './state.js'
export { StaticCredentials } from './static-credentials.js'
