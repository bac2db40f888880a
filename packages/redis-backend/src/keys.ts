/**
 * The names of every key, under one prefix. The keys of one client id share the hash tag `{c:<client id>}`,
 * so that they live in one slot of a Redis Cluster and one MULTI or script reaches them all; the retained
 * messages and their topic index share `{retained}`, the index of sessions `{sessions}`.
 */
export class Keys {
  readonly sessions: string
  /** Retained messages: topic -> stored message. */
  readonly retained: string
  /** Payload bytes of each retained message: topic -> bytes. */
  readonly retainedSizes: string
  /** Payload bytes of all retained messages. */
  readonly retainedBytes: string
  /** The root of the topic index of retained messages: `<root>/<topic>` is the set of a topic's next levels. */
  readonly retainedIndex: string

  constructor(readonly prefix: string) {
    this.sessions = `${prefix}{sessions}`
    this.retained = `${prefix}{retained}:m`
    this.retainedSizes = `${prefix}{retained}:s`
    this.retainedBytes = `${prefix}{retained}:b`
    this.retainedIndex = `${prefix}{retained}:i`
  }

  /** Hash: `e` expiry interval, `d` disconnectedAt, `s` the sequence of inflight packet identifiers. */
  session(clientId: string): string {
    return `${this.prefix}{c:${clientId}}:session`
  }
  /** Hash: filter -> persisted subscription (JSON). */
  subscriptions(clientId: string): string {
    return `${this.prefix}{c:${clientId}}:subs`
  }
  /** List: the offline queue, oldest first. */
  offline(clientId: string): string {
    return `${this.prefix}{c:${clientId}}:offline`
  }
  /** Hash: packet identifier -> `<n> <packet>`, an unacknowledged outbound PUBLISH or PUBREL, `n` its order first sent. */
  inflight(clientId: string): string {
    return `${this.prefix}{c:${clientId}}:inflight`
  }
  /** Hash: packet identifier -> origin of the inbound QoS 2 message an inflight packet delivers. */
  origins(clientId: string): string {
    return `${this.prefix}{c:${clientId}}:origins`
  }
  /**
   * Hash: packet identifier -> inbound QoS 2 PUBLISH held until PUBREL, as `p <message>` while its relay
   * is not done, `r <message>` once it is.
   */
  incoming(clientId: string): string {
    return `${this.prefix}{c:${clientId}}:incoming`
  }
  /**
   * Sorted set: origins of inbound QoS 2 messages whose delivery to this client was completed, by when (the
   * last DELIVERED_KEPT): a relay done again after a crash skips this client even once it acknowledged it.
   */
  delivered(clientId: string): string {
    return `${this.prefix}{c:${clientId}}:done`
  }
  /** Every key of a session (all in one slot); not its wills (`{c:<id>}:wills`), which outlive it (wills.ts). */
  ofClient(clientId: string): string[] {
    return [
      this.session(clientId),
      this.subscriptions(clientId),
      this.offline(clientId),
      this.inflight(clientId),
      this.origins(clientId),
      this.incoming(clientId),
      this.delivered(clientId),
    ]
  }
}
