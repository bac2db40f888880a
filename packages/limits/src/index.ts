/**
 * @packageDocumentation
 * Limits and abuse protection for mqtt-stack: connection caps (all, per listener, per IP address) and the
 * connection rate per address; bans of client ids, usernames and addresses changed at run time; flapping
 * detection; failed-authentication lockouts per address and per username; a publish rate and byte rate per
 * client; subscriptions per client; topic length and levels. Every limit has a default a normal deployment
 * never reaches.
 */
export type { Ban, BanKind, BanRule } from './ban-list.js'
export { LimitsErrorCode } from './errors.js'
export { type BanOptions, Limits } from './limits.js'
export {
  LIMITS_DEFAULTS,
  type LimitsHooks,
  type LimitsOptions,
  validateLimitsOptions,
} from './options.js'
export { LimitsState } from './state.js'
export type { LimitsStats } from './stats.js'
