/**
 * Found by the fuzz run: a packet whose remaining length ends before one of its fields does. mqtt-packet
 * reads a packet identifier or a number property cut off this way as -1 (a string as null) instead of
 * failing, so such an MQTT 5.0 PUBLISH was relayed, and its PUBACK (or the forwarded copy, with a Maximum
 * Packet Size of -1) could not be serialised. The connection must close instead, as for any malformed packet.
 */
import { describe, expect, it } from 'vitest'
import { startBroker } from '../support/broker.js'

function frame(first: number, body: number[]): Buffer {
  return Buffer.from([first, body.length, ...body])
}

const topic = [...Buffer.from('cut/a')]
/** A topic name and nothing after it: no packet identifier, no properties, no payload. */
const topicOnly = [0, topic.length, ...topic]

/** A packet identifier the remaining length cuts off. */
const CASES: [string, Buffer][] = [
  ['a QoS 1 PUBLISH without packet identifier (topic name only)', frame(0x32, topicOnly)],
  ['a QoS 2 PUBLISH without packet identifier (topic name only)', frame(0x34, topicOnly)],
  ['a QoS 1 PUBLISH with one byte of packet identifier', frame(0x32, [...topicOnly, 7])],
  ['an empty SUBSCRIBE', frame(0x82, [])],
  ['an UNSUBSCRIBE with one byte of packet identifier', frame(0xa2, [0])],
]

/**
 * MQTT 5.0 only: a property whose identifier ends the property block while its value needs more bytes than
 * the packet has left (the payload, if any, is shorter than the value).
 */
const PROPERTY_CASES: [string, Buffer][] = [
  ['a PUBLISH whose Message Expiry Interval is cut off', frame(0x30, [...topicOnly, 1, 0x02, 0x7a, 0x7a])],
  ['a PUBLISH whose Content Type is cut off', frame(0x30, [...topicOnly, 1, 0x03, 0x00])],
  ['a PUBLISH whose User Property value is cut off', frame(0x30, [...topicOnly, 1, 0x26, 0x00, 0x01, 0x61])],
]

/** The test of one case: the connection of a client of `version` that sends `bytes` closes, nothing relayed. */
function cutOff(version: 4 | 5) {
  return async (_case: string, bytes: Buffer): Promise<void> => {
    const { raw, errors } = await startBroker()
    const subscriber = await raw({ protocolVersion: version })
    await subscriber.connect({ clientId: 'cut-sub', protocolVersion: version })
    subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'cut/#', qos: 2 }] })
    await subscriber.expect('suback')

    const client = await raw({ protocolVersion: version })
    await client.connect({ clientId: 'cut-pub', protocolVersion: version })
    client.sendRaw(bytes)
    await client.closed()
    // After the CONNACK, at most a 5.0 DISCONNECT (Malformed Packet): no PUBACK, PUBREC or SUBACK.
    const answers = client.received.slice(1)
    expect(answers.map((packet) => packet.cmd)).toEqual(version === 5 ? ['disconnect'] : [])
    if (version === 5) expect(answers[0]).toMatchObject({ reasonCode: 0x81 })
    expect(errors.map((err) => (err as { code?: string }).code)).toEqual(['MQS_ERR_MALFORMED_PACKET'])

    // Nothing was relayed: the subscriber's next packet is the answer to its PINGREQ.
    subscriber.send({ cmd: 'pingreq' })
    expect((await subscriber.next()).cmd).toBe('pingresp')
  }
}

// The titles are written out per protocol version, whose statements have different numbers: the conformance
// document reads literal titles only.
describe('MQTT 3.1.1 robustness: a field cut off by the remaining length', () => {
  it.each(CASES)('[MQTT-2.3.1-1] %s: the connection closes, nothing is relayed or acknowledged', cutOff(4))
})

describe('MQTT 5.0 robustness: a field cut off by the remaining length', () => {
  it.each([...CASES, ...PROPERTY_CASES])(
    '[MQTT-4.13.1-1] %s: the connection closes, nothing is relayed or acknowledged',
    cutOff(5),
  )
})
