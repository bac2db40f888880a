/**
 * What the interop scenarios of every client share. clients.test.ts gives each scenario its title, once
 * per protocol version: MQTT 3.1.1 and MQTT 5.0 number different statements alike, and
 * scripts/conformance.mjs reads literal titles only.
 */

export type Version = 4 | 5

export type QoS = 0 | 1 | 2

/** The QoS levels of the round trip tests. */
export const QOS: readonly QoS[] = [0, 1, 2]

/** The tests of one client at one protocol version. */
export interface Scenarios {
  /** A CONNACK with success first, to a clean CONNECT of this version. */
  connects(): Promise<void>
  /** PUBLISH acknowledged as its QoS requires; delivered at min(published QoS, granted QoS 2). */
  roundTrip(qos: QoS): Promise<void>
  /** A retained message is stored and sent, retain flag set, to a new subscription. */
  retained(): Promise<void>
  /** An empty retained message removes the retained message and is not stored itself. */
  clearRetained(): Promise<void>
  /** A will is published when the connection ends without DISCONNECT. */
  will(): Promise<void>
  /** A persistent session keeps its subscriptions and queues QoS 1 messages while disconnected. */
  session(): Promise<void>
}
