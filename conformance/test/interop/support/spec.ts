/**
 * The spec statements each interop scenario checks, per protocol version: MQTT 3.1.1 and MQTT 5.0 number
 * different statements alike, so a title takes its ids from the entry of the version it tests.
 */

export type Version = 4 | 5

export interface Scenario {
  /** The describe title of a protocol version. */
  title: string
  /** A CONNACK with success first. */
  connect: string
  /** No session present after a clean start. */
  cleanStart: string
  /** PUBLISH acknowledged as its QoS requires; delivered at min(published QoS, granted QoS). */
  qos: string
  /** A retained message is stored and sent, retain flag set, to a new subscription. */
  retained: string
  /** An empty retained message removes the retained message and is not stored itself. */
  clearRetained: string
  /** A will is published when the connection ends without DISCONNECT. */
  will: string
  /** A persistent session keeps its subscriptions and queues QoS 1 messages while disconnected. */
  session: string
  /** Session present when a persistent session is resumed. */
  sessionPresent: string
}

export const SCENARIOS: Readonly<Record<Version, Scenario>> = {
  4: {
    title: 'MQTT 3.1.1',
    connect: '[MQTT-3.2.0-1]',
    cleanStart: '[MQTT-3.2.2-1]',
    qos: '[MQTT-3.3.4-1] [MQTT-3.8.4-6]',
    retained: '[MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-8]',
    clearRetained: '[MQTT-3.3.1-10] [MQTT-3.3.1-11]',
    will: '[MQTT-3.1.2-8]',
    session: '[MQTT-3.1.2-4] [MQTT-3.1.2-5]',
    sessionPresent: '[MQTT-3.2.2-2]',
  },
  5: {
    title: 'MQTT 5.0',
    connect: '[MQTT-3.2.0-1]',
    cleanStart: '[MQTT-3.2.2-2]',
    qos: '[MQTT-3.3.4-1] [MQTT-3.8.4-8]',
    retained: '[MQTT-3.3.1-5] [MQTT-3.3.1-9]',
    clearRetained: '[MQTT-3.3.1-6] [MQTT-3.3.1-7]',
    will: '[MQTT-3.1.2-8]',
    session: '[MQTT-3.1.2-5] [MQTT-3.1.2-23]',
    sessionPresent: '[MQTT-3.2.2-3]',
  },
}

export const VERSIONS: readonly Version[] = [4, 5]
