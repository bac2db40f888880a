/** How many times each limit was hit since the broker started. */
export interface LimitsStats {
  /** Connections open now (counted ones: a refused connection is not). */
  connections: number
  /** Connections refused, by reason. */
  refusedMaxConnections: number
  refusedMaxConnectionsPerListener: number
  refusedMaxConnectionsPerAddress: number
  refusedConnectionRate: number
  /** Refused connections closed at once, without CONNACK, past `maxRefusedPending`. */
  closedRefused: number
  refusedBanned: number
  /** Client ids banned for flapping, and addresses or usernames banned for failed authentications. */
  bannedFlapping: number
  bannedAuthFailures: number
  /** Clients closed by `ban()`. */
  disconnectedBanned: number
  /** Clients disconnected for their publish rate (5.0 at once; 3.1.1 past `maxThrottle`). */
  disconnectedPublishRate: number
  /** PUBLISH packets held back by the rate (3.1/3.1.1). */
  throttledPublishes: number
  /** Topic names and filters refused for their length or levels. */
  refusedTopics: number
  /** Subscriptions refused past `maxSubscriptionsPerClient`. */
  refusedSubscriptions: number
  /** Failed authentications seen. */
  authFailures: number
}

export function newStats(): LimitsStats {
  return {
    connections: 0,
    refusedMaxConnections: 0,
    refusedMaxConnectionsPerListener: 0,
    refusedMaxConnectionsPerAddress: 0,
    refusedConnectionRate: 0,
    closedRefused: 0,
    refusedBanned: 0,
    bannedFlapping: 0,
    bannedAuthFailures: 0,
    disconnectedBanned: 0,
    disconnectedPublishRate: 0,
    throttledPublishes: 0,
    refusedTopics: 0,
    refusedSubscriptions: 0,
    authFailures: 0,
  }
}
