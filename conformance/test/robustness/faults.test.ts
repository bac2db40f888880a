/**
 * Clients killed in the middle of QoS 1 and QoS 2 flows, reconnecting with their persistent session: no QoS 1
 * message is lost, no QoS 2 message is lost or duplicated, counted end to end. Driven by packets only.
 */
import { describe, expect, it } from 'vitest'
import { startBroker } from '../support/broker.js'
import {
  CountingSubscriber,
  FaultyPublisher,
  type PublisherFaults,
  type SubscriberFaults,
  type Version,
} from './persistent-peers.js'

/** Messages per QoS. */
const N = 200

const none = new Set<number>()
const NO_SUBSCRIBER_FAULTS: SubscriberFaults = {
  q1BeforePuback: none,
  q2BeforePubrec: none,
  q2AfterPubrec: none,
  q2BeforePubcomp: none,
}
const SUBSCRIBER_FAULTS: SubscriberFaults = {
  q1BeforePuback: new Set([20, 75, 130, 185]),
  q2BeforePubrec: new Set([15, 90, 160]),
  q2AfterPubrec: new Set([40, 115, 190]),
  q2BeforePubcomp: new Set([60, 140, 200]),
}
const NO_PUBLISHER_FAULTS: PublisherFaults = {
  q1AfterPublish: none,
  q1BeforePuback: none,
  q2BeforePubrec: none,
  q2BeforePubrel: none,
  q2AfterPubrel: none,
}
const PUBLISHER_FAULTS: PublisherFaults = {
  q1AfterPublish: new Set([50, 170]),
  q1BeforePuback: new Set([30, 110]),
  q2BeforePubrec: new Set([25, 125]),
  q2BeforePubrel: new Set([45, 145]),
  q2AfterPubrel: new Set([65, 165]),
}

const kills = (faults: SubscriberFaults | PublisherFaults): number =>
  Object.values(faults).reduce((sum: number, points: ReadonlySet<number>) => sum + points.size, 0)

async function run(version: Version, subscriberFaults: SubscriberFaults, publisherFaults: PublisherFaults) {
  const { raw } = await startBroker()
  const open = () => raw({ protocolVersion: version, timeout: 5000 })
  const subscriber = new CountingSubscriber(open, `faults-sub-${version}`, version, subscriberFaults)
  await subscriber.connect()
  await subscriber.subscribe()
  const publisher = new FaultyPublisher(open, `faults-pub-${version}`, version, publisherFaults)
  await publisher.connect()

  await Promise.all([subscriber.run(N), publisher.run(N)])

  expect(subscriber.problems).toEqual([])
  expect(subscriber.missingOrDuplicated(N)).toEqual([])
  expect(subscriber.kills).toBe(kills(subscriberFaults))
  expect(publisher.kills).toBe(kills(publisherFaults))

  // Nothing is left for the subscriber: on a new connection to its session, PINGRESP is the first answer
  // (a message still owed would be resent before it), so no duplicate can come later.
  subscriber.peer.send({ cmd: 'disconnect' })
  await subscriber.peer.closed()
  await subscriber.connect()
  subscriber.peer.send({ cmd: 'pingreq' })
  expect((await subscriber.peer.next()).cmd).toBe('pingresp')
  expect(subscriber.problems).toEqual([])
  return { subscriber, publisher }
}

/**
 * A subscriber killed before PUBACK, before and after PUBREC and before PUBCOMP: every kill before PUBACK or
 * PUBREC owed a PUBLISH with DUP 1, every kill before PUBCOMP a PUBREL; after PUBREC either comes, depending on
 * whether the broker read the PUBREC before the reset.
 */
async function subscriberKilled(version: 4 | 5): Promise<void> {
  const { subscriber } = await run(version, SUBSCRIBER_FAULTS, NO_PUBLISHER_FAULTS)
  const { q1BeforePuback, q2BeforePubrec, q2AfterPubrec, q2BeforePubcomp } = SUBSCRIBER_FAULTS
  expect(subscriber.resentPublishes).toBeGreaterThanOrEqual(q1BeforePuback.size + q2BeforePubrec.size)
  expect(subscriber.resentPubrels).toBeGreaterThanOrEqual(q2BeforePubcomp.size)
  expect(subscriber.resentPublishes + subscriber.resentPubrels).toBe(
    q1BeforePuback.size + q2BeforePubrec.size + q2AfterPubrec.size + q2BeforePubcomp.size,
  )
}

// The titles are written out per protocol version, whose statements have different numbers: the conformance
// document reads literal titles only.
describe('MQTT 3.1.1 robustness: clients killed mid-flow, persistent sessions', () => {
  it('[MQTT-4.4.0-1] [MQTT-3.3.1-1] [MQTT-3.2.2-2] [MQTT-4.3.3-1] a subscriber killed before PUBACK, before and after PUBREC and before PUBCOMP gets every QoS 1 message at least once and every QoS 2 message exactly once; unacknowledged PUBLISH packets come again with DUP 1 and their packet id, unfinished QoS 2 flows with PUBREL', async () => {
    await subscriberKilled(4)
  })

  it('[MQTT-4.3.3-2] [MQTT-3.2.2-2] a publisher killed before PUBACK, before PUBREC, before PUBREL and after PUBREL resends on its session: QoS 1 arrives at least once, QoS 2 exactly once', async () => {
    await run(4, NO_SUBSCRIBER_FAULTS, PUBLISHER_FAULTS)
  })

  it('[MQTT-4.4.0-1] [MQTT-4.3.3-2] [MQTT-3.2.2-2] publisher and subscriber killed mid-flow at the same time: QoS 1 at least once, QoS 2 exactly once', async () => {
    await run(4, SUBSCRIBER_FAULTS, PUBLISHER_FAULTS)
  })
})

describe('MQTT 5.0 robustness: clients killed mid-flow, persistent sessions', () => {
  it('[MQTT-4.4.0-1] [MQTT-3.3.1-1] [MQTT-3.2.2-3] [MQTT-4.3.3-6] a subscriber killed before PUBACK, before and after PUBREC and before PUBCOMP gets every QoS 1 message at least once and every QoS 2 message exactly once; unacknowledged PUBLISH packets come again with DUP 1 and their packet id, unfinished QoS 2 flows with PUBREL', async () => {
    await subscriberKilled(5)
  })

  it('[MQTT-4.3.3-10] [MQTT-3.2.2-3] a publisher killed before PUBACK, before PUBREC, before PUBREL and after PUBREL resends on its session: QoS 1 arrives at least once, QoS 2 exactly once', async () => {
    await run(5, NO_SUBSCRIBER_FAULTS, PUBLISHER_FAULTS)
  })

  it('[MQTT-4.4.0-1] [MQTT-4.3.3-10] [MQTT-3.2.2-3] publisher and subscriber killed mid-flow at the same time: QoS 1 at least once, QoS 2 exactly once', async () => {
    await run(5, SUBSCRIBER_FAULTS, PUBLISHER_FAULTS)
  })
})
