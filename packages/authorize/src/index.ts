/**
 * @packageDocumentation
 * Authorisation for mqtt-stack: `Authorize` runs `authorizePacket` for every packet after CONNECT and
 * `authorizePublish` for every PUBLISH (allowing everything when nobody answers them); `TopicAcl` answers
 * the publish, subscribe and forward checks from mosquitto-style topic rules.
 */
export { Authorize } from './authorize.js'
export { AuthorizeErrorCode } from './errors.js'
export { filterCovers } from './filter-covers.js'
export {
  AUTHORIZE_DEFAULTS,
  type AuthorizeOptions,
  TOPIC_ACL_DEFAULTS,
  type TopicAccess,
  type TopicAclOptions,
  type TopicAclRule,
} from './options.js'
export type { AuthorizeState } from './state.js'
export { TopicAcl } from './topic-acl.js'
