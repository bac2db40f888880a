/** Error codes of `@mqtt-stack/limits`; the table in its README says when each is reported and how to fix it. */
export const LimitsErrorCode = {
  /** A connection was refused: too many open connections (all, on its listener, or from its address). */
  TOO_MANY_CONNECTIONS: 'MQS_ERR_TOO_MANY_CONNECTIONS',
  /** A connection was refused: its address opens connections faster than `connectionRate`. */
  CONNECTION_RATE: 'MQS_ERR_CONNECTION_RATE',
  /** A connection was refused, or closed, because a ban matches its client id, username or address. */
  BANNED: 'MQS_ERR_BANNED',
  /** A client id connected more than `flappingConnects` times in `flappingWindow`: it is banned for a while. */
  FLAPPING: 'MQS_ERR_FLAPPING',
  /** Too many failed authentications from one address or with one username: it is banned for a while. */
  AUTH_FAILURES: 'MQS_ERR_AUTH_FAILURES',
  /** A client published faster than `publishRate` / `publishByteRate` allow; it was disconnected. */
  PUBLISH_RATE: 'MQS_ERR_PUBLISH_RATE',
  /** A topic name or filter over `maxTopicLength` or `maxTopicLevels` was refused. */
  TOPIC_LIMIT: 'MQS_ERR_TOPIC_LIMIT',
  /** A subscription past `maxSubscriptionsPerClient` was refused. */
  SUBSCRIPTION_QUOTA: 'MQS_ERR_SUBSCRIPTION_QUOTA',
} as const

export type LimitsErrorCode = (typeof LimitsErrorCode)[keyof typeof LimitsErrorCode]
