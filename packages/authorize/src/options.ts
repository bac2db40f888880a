/** Options of {@link Authorize}. */
export interface AuthorizeOptions {
  /**
   * What a denied PUBLISH gets. `false` (default): the acknowledgement its QoS calls for (MQTT 5.0: reason
   * 0x87) and the message is dropped. `true`: the connection is closed instead. Both are allowed by
   * [MQTT-3.3.5-2].
   */
  closeOnDeniedPublish: boolean
}

export const AUTHORIZE_DEFAULTS: Readonly<AuthorizeOptions> = Object.freeze({ closeOnDeniedPublish: false })

/** What a rule grants: `read` (subscribe, receive), `write` (publish), both, or `deny` (neither). */
export type TopicAccess = 'read' | 'write' | 'readwrite' | 'deny'

/** One rule of a {@link TopicAcl}. */
export interface TopicAclRule {
  /** A topic filter; `%c` is replaced by the client identifier and `%u` by the CONNECT username. */
  topic: string
  access: TopicAccess
  /** Only for clients that connected with one of these usernames. Unset: every client. */
  users?: readonly string[]
}

/** Options of {@link TopicAcl}. */
export interface TopicAclOptions {
  /** Checked in order; the first rule that applies decides. */
  rules: readonly TopicAclRule[]
  /** The verdict when no rule applies. */
  default: 'deny' | 'allow'
  /** Also answer `authorizeForward`: re-check read access for every delivery. */
  checkOnForward: boolean
}

export const TOPIC_ACL_DEFAULTS: Readonly<TopicAclOptions> = Object.freeze({
  rules: Object.freeze([]),
  default: 'deny',
  checkOnForward: false,
})
