/**
 * @packageDocumentation
 * An example of a third-party middleware, published the way `@scope/mqtt-stack-*` packages are: core as a
 * peer dependency, a callback of its own declared by declaration merging with its own prefix.
 */
export { RATE_LIMIT_CALLBACKS, RateLimit, type RateLimitOptions } from './rate-limit.js'
