/**
 * What the interop tests of every client share. Their titles are written out in each test file, per protocol
 * version, because MQTT 3.1.1 and MQTT 5.0 number different statements alike and scripts/conformance.mjs
 * reads literal titles only: a title built from substitutions would cite nothing.
 */

export type Version = 4 | 5

export type QoS = 0 | 1 | 2

/** The QoS levels of the round trip tests. */
export const QOS: readonly QoS[] = [0, 1, 2]
