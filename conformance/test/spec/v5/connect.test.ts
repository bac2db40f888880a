import type { Packet } from '@mqtt-stack/core'
// An independent SCRAM client (RFC 5802/7677), shared with the authentication package's tests.
import { type PacketPeer, scramClient } from '@mqtt-stack/core/testing'
import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { controlPacket, mqttString, PINGREQ } from '../../support/bytes.js'
import { barrier, nextPublish, publish0, publish1 } from '../../support/exchanges.js'
import { pingEvery, silentUntilClosed } from '../../support/keepalive.js'
import { publishPacket, subscribePacket } from '../../support/packets.js'
import { WirePeer } from '../../support/wire.js'
import {
  bytes5,
  connect5,
  connected,
  connectWithWill,
  disconnect,
  expectDisconnect,
  expectRefused,
  expectSilentClose,
  INTEGER_LIKE,
  PERSISTENT,
  patch,
  REPEATED,
  rawPeer,
  subscribed,
  userPropertiesOnWire,
  wireSubscribed,
} from './support.js'

/** A 5.0 CONNECT's variable header: protocol name, level, Clean Start only, keepalive 0, no properties. */
const CLEAN_START_HEADER = [mqttString('MQTT'), Buffer.from([5, 0x02, 0, 0, 0])]

/** The byte of the Connect Flags in a serialised 5.0 CONNECT with a one-byte Remaining Length. */
const CONNECT_FLAGS = 9

function withConnectFlags(packet: Buffer, set: number): Buffer {
  const out = Buffer.from(packet)
  out[CONNECT_FLAGS] = out[CONNECT_FLAGS]! | set
  return out
}

describe('MQTT 5.0 CONNECT: the first packet, and only one (3.1.0)', () => {
  it.each<[string, Packet]>([
    ['PINGREQ', { cmd: 'pingreq' }],
    ['SUBSCRIBE', { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't', qos: 0 }] }],
    ['PUBLISH', { cmd: 'publish', topic: 't', payload: 'p', qos: 0, dup: false, retain: false }],
  ])(
    '[MQTT-3.1.0-1] [MQTT-3.14.0-1] closes a connection whose first packet is %s, answering nothing',
    async (_name, packet) => {
      const peer = await rawPeer(await startBroker())
      peer.send(packet)
      await expectSilentClose(peer)
    },
  )

  it('[MQTT-3.1.0-2] [MQTT-3.2.0-2] a second CONNECT is a Protocol Error: DISCONNECT 0x82, no second CONNACK, close', async () => {
    const broker = await startBroker()
    const peer = await connected(broker, 'twice')
    peer.send(connect5('twice'))
    await expectDisconnect(peer, 0x82)
    expect(peer.received.map((packet) => packet.cmd)).toEqual(['connack', 'disconnect'])
  })
})

describe('MQTT 5.0 CONNECT: variable header (3.1.2)', () => {
  it('[MQTT-3.1.2-1] closes on a protocol name other than "MQTT", with no successful CONNACK', async () => {
    const peer = await rawPeer(await startBroker())
    await expectRefused(peer, patch(bytes5(connect5('name')), 'MQTT', Buffer.from('MQTX')))
  })

  it.each([6, 2, 0])(
    '[MQTT-3.1.2-2] closes on protocol version %i, after at most a CONNACK refusing it',
    async (level) => {
      const peer = await rawPeer(await startBroker())
      const packet = bytes5(connect5('level'))
      packet[8] = level // after the fixed header (2 bytes) and the protocol name (6 bytes)
      peer.sendRaw(packet)
      await peer.closed()
      // 0x84 (Unsupported Protocol Version) in a 5.0 CONNACK, or 0x01 in the form of earlier versions.
      for (const received of peer.received) expect(received).toMatchObject({ cmd: 'connack' })
      for (const received of peer.received)
        if (received.cmd === 'connack') expect([0x01, 0x84]).toContain(received.reasonCode)
    },
  )

  it('[MQTT-3.1.2-3] closes on a CONNECT whose reserved flag is 1, with no successful CONNACK', async () => {
    const peer = await rawPeer(await startBroker())
    await expectRefused(peer, withConnectFlags(bytes5(connect5('reserved')), 0x01))
  })

  it('[MQTT-3.1.2-4] [MQTT-3.1.4-4] [MQTT-3.2.2-2] Clean Start 1 discards the session: Session Present 0, its subscriptions gone', async () => {
    const broker = await startBroker()
    const first = await subscribed(broker, 'cleaned', 't', 1, PERSISTENT)
    await disconnect(first)
    const again = await rawPeer(broker)
    const clean = connect5('cleaned', { clean: true, properties: { sessionExpiryInterval: 60 } })
    expect(await again.connect(clean)).toMatchObject({ reasonCode: 0, sessionPresent: false })
    const publisher = await connected(broker, 'publisher')
    await publish1(publisher, 't', 'lost', 1)
    expect(await barrier(again)).toEqual([])
  })

  it('[MQTT-3.1.2-5] [MQTT-3.2.2-3] Clean Start 0 resumes the session: Session Present 1, its subscriptions deliver', async () => {
    const broker = await startBroker()
    const first = await subscribed(broker, 'resumed', 't', 1, PERSISTENT)
    await disconnect(first)
    const again = await rawPeer(broker)
    const connack = await again.connect(connect5('resumed', PERSISTENT))
    expect(connack).toMatchObject({ reasonCode: 0, sessionPresent: true })
    const publisher = await connected(broker, 'publisher')
    await publish1(publisher, 't', 'kept', 1)
    expect((await nextPublish(again)).text).toBe('kept')
  })

  it('[MQTT-3.1.2-6] [MQTT-3.2.2-3] Clean Start 0 without a session creates one: Session Present 0, then 1', async () => {
    const broker = await startBroker()
    const first = await rawPeer(broker)
    const firstConnack = await first.connect(connect5('created', PERSISTENT))
    expect(firstConnack).toMatchObject({ reasonCode: 0, sessionPresent: false })
    await disconnect(first)
    const again = await rawPeer(broker)
    const againConnack = await again.connect(connect5('created', PERSISTENT))
    expect(againConnack).toMatchObject({ reasonCode: 0, sessionPresent: true })
  })

  it('[MQTT-3.1.2-7] [MQTT-3.1.2-14] stores the will and publishes it, not retained, when the connection drops', async () => {
    const broker = await startBroker()
    const watcher = await subscribed(broker, 'watcher', 'will/#', 1)
    const dying = await connected(broker, 'dying', {
      will: { topic: 'will/dying', payload: Buffer.from('gone'), qos: 1, retain: false },
    })
    dying.destroy()
    const will = await nextPublish(watcher)
    expect(will).toMatchObject({ topic: 'will/dying', text: 'gone', qos: 1, retain: false })
    watcher.send({ cmd: 'puback', messageId: will.messageId!, reasonCode: 0 })
    // Not retained: a new subscription gets nothing.
    const late = await subscribed(broker, 'late', 'will/#')
    expect(await barrier(late)).toEqual([])
  })

  it('[MQTT-3.1.2-15] publishes a will with Will Retain 1 as a retained message', async () => {
    const broker = await startBroker()
    const dying = await connected(broker, 'dying', {
      will: { topic: 'will/kept', payload: Buffer.from('gone'), qos: 0, retain: true },
    })
    const watcher = await subscribed(broker, 'watcher', 'will/#')
    dying.destroy()
    expect(await nextPublish(watcher)).toMatchObject({ topic: 'will/kept', text: 'gone' })
    const late = await subscribed(broker, 'late', 'will/#')
    expect(await nextPublish(late)).toMatchObject({ topic: 'will/kept', text: 'gone', retain: true })
  })

  it('[MQTT-3.1.2-10] removes the will once published: it is not published again when the session ends', async () => {
    const broker = await startBroker({ sessionExpiryCheckInterval: 20 })
    const watcher = await subscribed(broker, 'watcher', 'will/#')
    const session = { clean: false, properties: { sessionExpiryInterval: 1 } }
    const dying = await connected(broker, 'dying', {
      ...session,
      will: { topic: 'will/dying', payload: Buffer.from('once'), qos: 0, retain: false },
    })
    dying.destroy()
    expect(await nextPublish(watcher)).toMatchObject({ topic: 'will/dying', text: 'once' })
    // A second session ends after the first one: its delayed will is published when its session ends
    // [MQTT-3.1.3-9], which tells the test that the first session has ended too.
    const later = await connected(broker, 'later', {
      ...session,
      will: {
        topic: 'will/later',
        payload: Buffer.from('session over'),
        qos: 0,
        retain: false,
        properties: { willDelayInterval: 3600 },
      },
    })
    later.destroy()
    const next = await watcher.next()
    expect(next).toMatchObject({ cmd: 'publish', topic: 'will/later' })
    expect(await barrier(watcher)).toEqual([])
  })

  it('[MQTT-3.1.2-9] [MQTT-3.1.4-1] closes on a Will Flag of 1 without will properties, topic and payload', async () => {
    const peer = await rawPeer(await startBroker())
    await expectRefused(peer, withConnectFlags(bytes5(connect5('no-will')), 0x04))
  })

  it.each([
    ['[MQTT-3.1.2-11] a Will QoS of 1 with Will Flag 0', 0x08],
    ['[MQTT-3.1.2-11] a Will QoS of 2 with Will Flag 0', 0x10],
    ['[MQTT-3.1.2-13] Will Retain 1 with Will Flag 0', 0x20],
  ])('%s is malformed: closed with no successful CONNACK', async (_name, flags) => {
    const peer = await rawPeer(await startBroker())
    await expectRefused(peer, withConnectFlags(bytes5(connect5('will-flags')), flags))
  })

  it('[MQTT-3.1.2-12] a Will QoS of 3 is malformed: closed with no successful CONNACK, and no will', async () => {
    const broker = await startBroker()
    const watcher = await subscribed(broker, 'watcher', 'will/#')
    const peer = await rawPeer(broker)
    const will = { topic: 'will/q3', payload: Buffer.from('gone'), qos: 0 as const, retain: false }
    peer.sendRaw(withConnectFlags(bytes5(connect5('qos3', { will })), 0x18))
    await expectRefused(peer)
    expect(await barrier(watcher)).toEqual([])
  })

  it('[MQTT-3.1.2-16] [MQTT-3.1.4-1] closes on a User Name in the payload while the User Name Flag is 0', async () => {
    const peer = await rawPeer(await startBroker())
    // A client identifier, then a user name nobody announced.
    await expectRefused(peer, controlPacket(0x10, ...CLEAN_START_HEADER, mqttString('c'), mqttString('u')))
  })

  it('[MQTT-3.1.2-18] [MQTT-3.1.4-1] closes on a Password in the payload while the Password Flag is 0', async () => {
    // Anonymous clients are welcome: only the unannounced password makes this CONNECT malformed.
    const peer = await rawPeer(await startBroker())
    // A client identifier, then binary password data.
    const password = mqttString(Buffer.from([0xff, 0xfe, 0x00]))
    await expectRefused(peer, controlPacket(0x10, ...CLEAN_START_HEADER, mqttString('c'), password))
  })

  it('[MQTT-3.1.2-17] [MQTT-3.1.4-1] closes on a User Name Flag of 1 without a User Name', async () => {
    const peer = await rawPeer(await startBroker())
    await expectRefused(peer, withConnectFlags(bytes5(connect5('anonymous')), 0x80))
  })

  it('[MQTT-3.1.2-19] [MQTT-3.1.4-1] closes on a Password Flag of 1 without a Password', async () => {
    const peer = await rawPeer(await startBroker())
    await expectRefused(peer, withConnectFlags(bytes5(connect5('no-password', { username: 'u' })), 0x40))
  })

  it('[MQTT-3.1.2-22] [MQTT-3.2.2-22] closes a client silent for 1.5 times its Keep Alive of 1 s within 100 ms (1.5 s to 1.6 s after its last packet, default options), with DISCONNECT 0x8D Keep Alive timeout; its CONNACK named no other Server Keep Alive', async () => {
    const broker = await startBroker()
    const peer = await broker.raw({ protocolVersion: 5, timeout: 3000 })
    const connack = await peer.connect(connect5('silent', { keepalive: 1 }))
    expect(connack.reasonCode).toBe(0)
    // No Server Keep Alive: the client's own 1 s is the one the broker enforces.
    expect(connack.properties?.serverKeepAlive).toBeUndefined()
    const { silence, after } = await silentUntilClosed(peer)
    expect(silence).toBeGreaterThanOrEqual(1500)
    expect(silence).toBeLessThanOrEqual(1600)
    expect(after).toMatchObject([{ cmd: 'disconnect', reasonCode: 0x8d }])
  })

  it('[MQTT-3.1.2-22] [MQTT-3.12.4-1] keeps a client with a Keep Alive of 1 s that sends PINGREQ within each second', async () => {
    const peer = await connected(await startBroker(), 'pinging', { keepalive: 1 })
    // 3.6 s in all: the broker would have closed a client whose PINGREQs it did not count after 1.5 s.
    await pingEvery(peer, 900, 4)
  })

  it('[MQTT-3.1.2-24] sends no packet larger than the Maximum Packet Size of the client: live and retained messages too large are left out, the others come', async () => {
    const broker = await startBroker()
    const publisher = await connected(broker, 'publisher')
    const big = 'x'.repeat(100)
    await publish1(publisher, 'size/retained-big', big, 1, { retain: true })
    await publish1(publisher, 'size/retained-small', 'r', 2, { retain: true })
    const limit = { properties: { maximumPacketSize: 64 } }
    const wire = await wireSubscribed(broker, 'small', 'size/#', 1, limit)
    await publish1(publisher, 'size/live', big, 3)
    await publish0(publisher, 'size/live', 'small')
    await publish0(publisher, 'size/live', big)
    await publish1(publisher, 'size/live', 'last', 4)
    const texts: string[] = []
    for (let i = 0; i < 3; i++) {
      const { bytes, packet } = await wire.expect('publish')
      expect(bytes.length).toBeLessThanOrEqual(64)
      if (packet.cmd !== 'publish') continue
      texts.push(packet.payload.toString())
      if (packet.qos > 0) wire.send({ cmd: 'puback', messageId: packet.messageId!, reasonCode: 0 })
    }
    expect(texts.sort()).toEqual(['last', 'r', 'small'])
    wire.send({ cmd: 'pingreq' })
    const { bytes } = await wire.expect('pingresp')
    expect(bytes.length).toBeLessThanOrEqual(64)
    expect(wire.frames.every((frame) => frame.bytes.length <= 64)).toBe(true)
  })

  it('[MQTT-3.1.2-28] returns Response Information only to a client that asked for it', async () => {
    const broker = await startBroker({ responseInformation: 'replies/' })
    for (const [clientId, request] of [
      ['absent', undefined],
      ['zero', false],
    ] as const) {
      const properties = request === undefined ? {} : { properties: { requestResponseInformation: request } }
      const peer = await rawPeer(broker)
      const connack = await peer.connect(connect5(clientId, properties))
      expect(connack.reasonCode).toBe(0)
      expect(connack.properties?.responseInformation).toBeUndefined()
    }
    const asking = await rawPeer(broker)
    const asked = { properties: { requestResponseInformation: true } }
    const connack = await asking.connect(connect5('one', asked))
    expect(connack.properties?.responseInformation).toBe('replies/')
  })
})

describe('MQTT 5.0 CONNECT: payload (3.1.3)', () => {
  it('[MQTT-3.1.3-2] keeps the session state of each Client Identifier apart', async () => {
    const broker = await startBroker()
    const first = await subscribed(broker, 'first', 't', 1, PERSISTENT)
    first.destroy()
    const other = await rawPeer(broker)
    const otherConnack = await other.connect(connect5('other', PERSISTENT))
    expect(otherConnack).toMatchObject({ reasonCode: 0, sessionPresent: false })
    const back = await rawPeer(broker)
    const backConnack = await back.connect(connect5('first', PERSISTENT))
    expect(backConnack).toMatchObject({ reasonCode: 0, sessionPresent: true })
  })

  it('[MQTT-3.1.3-5] accepts Client Identifiers of 1 to 23 characters from 0-9, a-z and A-Z', async () => {
    const broker = await startBroker()
    for (const clientId of ['0', 'Z', 'abcdefghijklmnopqrstuvw', '0123456789ABCDEFGHIJKLM']) {
      const peer = await rawPeer(broker)
      expect(await peer.connect(connect5(clientId))).toMatchObject({ reasonCode: 0 })
    }
  })

  it('[MQTT-3.1.3-6] [MQTT-3.1.3-7] [MQTT-3.2.2-16] assigns a new Client Identifier to an empty one, returns it and uses it', async () => {
    const broker = await startBroker()
    const first = await rawPeer(broker)
    const assigned = (await first.connect(connect5(''))).properties?.assignedClientIdentifier
    expect(assigned).toMatch(/.+/)
    const second = await rawPeer(broker)
    const other = (await second.connect(connect5(''))).properties?.assignedClientIdentifier
    expect(other).toMatch(/.+/)
    expect(other).not.toBe(assigned)
    // The first connection holds the assigned identifier: connecting with it takes the connection over.
    const third = await rawPeer(broker)
    expect(await third.connect(connect5(assigned!))).toMatchObject({ reasonCode: 0 })
    expect(third.received[0]).not.toHaveProperty('properties.assignedClientIdentifier')
    await expectDisconnect(first, 0x8e)
    expect(await barrier(second)).toEqual([])
  })

  it('[MQTT-3.1.3-3] [MQTT-3.1.4-1] closes on a CONNECT without a Client Identifier field', async () => {
    const peer = await rawPeer(await startBroker())
    // The variable header, and nothing after it.
    await expectRefused(peer, controlPacket(0x10, ...CLEAN_START_HEADER))
  })

  it('[MQTT-3.1.3-10] publishes the will with its User Properties in the order of the CONNECT', async () => {
    const broker = await startBroker()
    const watcher = await wireSubscribed(broker, 'watcher', 'will/#')
    const dying = await rawPeer(broker)
    const pairs = [...REPEATED, ...INTEGER_LIKE]
    dying.sendRaw(connectWithWill('dying', 'will/dying', 'gone', pairs))
    expect(await dying.expect('connack')).toMatchObject({ reasonCode: 0 })
    dying.destroy()
    const { bytes, packet } = await watcher.expect('publish')
    expect(packet).toMatchObject({ topic: 'will/dying' })
    expect(userPropertiesOnWire(bytes)).toEqual(pairs)
  })

  it('[MQTT-3.1.3-11] refuses a will topic that is not a valid topic name: no successful CONNACK, close', async () => {
    const broker = await startBroker()
    for (const topic of ['will/#', 'will/+/x', '']) {
      const peer = await rawPeer(broker)
      // Flags: Will Flag and Clean Start; Property Length 0; client id; Will Property Length 0; topic; payload.
      const header = [mqttString('MQTT'), Buffer.from([5, 0x06, 0, 0, 0])]
      const payload = [mqttString('bad-will'), Buffer.from([0]), mqttString(topic), mqttString('p')]
      await expectRefused(peer, controlPacket(0x10, ...header, ...payload))
    }
  })
})

describe('MQTT 5.0 CONNECT: actions and CONNACK (3.1.4, 3.2)', () => {
  it('[MQTT-3.1.4-1] closes on a CONNECT whose properties are malformed (an unknown property)', async () => {
    const peer = await rawPeer(await startBroker())
    // Protocol name, level 5, flags (Clean Start), keepalive 0, Property Length 2: property 0x7F, then a
    // client identifier.
    const header = [mqttString('MQTT'), Buffer.from([5, 0x02, 0, 0, 2, 0x7f, 0])]
    await expectRefused(peer, controlPacket(0x10, ...header, mqttString('x')))
  })

  it('[MQTT-3.1.4-2] [MQTT-3.2.2-6] [MQTT-3.2.2-7] [MQTT-3.2.2-8] refuses bad credentials with CONNACK 0x86, Session Present 0, then closes', async () => {
    const broker = await startBroker({ users: { alice: 'secret' } })
    const owner = await connected(broker, 'kept', {
      ...PERSISTENT,
      username: 'alice',
      password: Buffer.from('secret'),
    })
    owner.destroy()
    const peer = await rawPeer(broker)
    const wrong = connect5('kept', { ...PERSISTENT, username: 'alice', password: Buffer.from('wrong') })
    expect(await peer.connect(wrong)).toMatchObject({ reasonCode: 0x86, sessionPresent: false })
    await expectSilentClose(peer)
  })

  it('[MQTT-3.1.4-5] [MQTT-3.2.2-8] acknowledges an accepted CONNECT with CONNACK 0x00', async () => {
    const peer = await rawPeer(await startBroker())
    expect(await peer.connect(connect5('accepted'))).toMatchObject({ reasonCode: 0, sessionPresent: false })
  })

  it('[MQTT-3.1.4-6] processes nothing sent after a CONNECT it refuses', async () => {
    const broker = await startBroker({ users: { alice: 'secret' } })
    const peer = await rawPeer(broker)
    peer.sendRaw(
      Buffer.concat([
        bytes5(connect5('intruder', { username: 'alice', password: Buffer.from('wrong') })),
        bytes5(publishPacket('leak', 'kept?', { qos: 1, messageId: 1, retain: true })),
        bytes5(subscribePacket(2, [['#', 0]])),
        PINGREQ,
      ]),
    )
    expect(await peer.expect('connack')).toMatchObject({ reasonCode: 0x86 })
    await expectSilentClose(peer)
    const credentials = { username: 'alice', password: Buffer.from('secret') }
    const checker = await subscribed(broker, 'checker', 'leak', 0, credentials)
    expect(await barrier(checker)).toEqual([])
  })

  it('[MQTT-3.2.0-1] sends CONNACK before any other packet, even when the client does not wait for it', async () => {
    const peer = await rawPeer(await startBroker())
    peer.sendRaw(Buffer.concat([bytes5(connect5('eager')), PINGREQ, bytes5(subscribePacket(1, [['t', 0]]))]))
    expect((await peer.next()).cmd).toBe('connack')
    expect((await peer.next()).cmd).toBe('pingresp')
    expect((await peer.next()).cmd).toBe('suback')
  })

  it('[MQTT-3.2.2-1] writes the CONNACK Acknowledge Flags with bits 7-1 at 0', async () => {
    const broker = await startBroker()
    for (const sessionPresent of [0, 1]) {
      const wire = await WirePeer.connect(broker.port, 5)
      wire.send(connect5('flags', PERSISTENT))
      const { bytes } = await wire.expect('connack')
      // Fixed header (2 bytes with this length), then the flags: Session Present alone.
      expect(bytes[2]).toBe(sessionPresent)
      wire.destroy()
    }
  })

  it('[MQTT-3.2.2-12] with Maximum QoS 1, refuses a will of QoS 2: CONNACK 0x9B, close, the will never published; takes a will of QoS 1', async () => {
    const broker = await startBroker({ maximumQoS: 1 })
    const watcher = await subscribed(broker, 'watcher', 'will/#', 1)
    const will = { topic: 'will/t', payload: Buffer.from('gone'), retain: false }
    const refused = await rawPeer(broker)
    refused.send(connect5('qos-2-will', { will: { ...will, qos: 2 } }))
    expect(await expectRefused(refused)).toMatchObject({ reasonCode: 0x9b })
    expect(await barrier(watcher)).toEqual([])
    const accepted = await connected(broker, 'qos-1-will', { will: { ...will, qos: 1 } })
    accepted.destroy()
    expect(await nextPublish(watcher)).toMatchObject({ topic: 'will/t', qos: 1, text: 'gone' })
  })

  it('[MQTT-3.2.2-10] [MQTT-3.2.2-9] with Maximum QoS 0, still accepts SUBSCRIBE at QoS 0, 1 and 2 (granting QoS 0)', async () => {
    const broker = await startBroker({ maximumQoS: 0 })
    const peer = await rawPeer(broker)
    const connack = await peer.connect(connect5('limited'))
    expect(connack).toMatchObject({ reasonCode: 0, properties: { maximumQoS: 0 } })
    peer.send(
      subscribePacket(1, [
        ['a', 0],
        ['b', 1],
        ['c', 2],
      ]),
    )
    expect(await peer.expect('suback')).toMatchObject({ messageId: 1, granted: [0, 0, 0] })
  })

  it('[MQTT-3.2.2-19] [MQTT-3.2.2-20] keeps a CONNACK within the Maximum Packet Size the client set', async () => {
    const broker = await startBroker({ users: { alice: 'secret' } })
    for (const password of ['secret', 'wrong']) {
      const wire = await WirePeer.connect(broker.port, 5)
      wire.send(
        connect5(`small-${password}`, {
          username: 'alice',
          password: Buffer.from(password),
          properties: { maximumPacketSize: 32 },
        }),
      )
      const { bytes, packet } = await wire.expect('connack')
      expect(bytes.length).toBeLessThanOrEqual(32)
      expect(packet).toMatchObject({ reasonCode: password === 'secret' ? 0 : 0x86 })
    }
  })
})

/** Enhanced authentication in the tests below: SCRAM-SHA-256, a user the broker knows. */
const METHOD = 'SCRAM-SHA-256'
const SCRAM_USERS = { scramUsers: { alice: 'wonderland' } }

/**
 * One SCRAM-SHA-256 exchange as alice with `password`: `start` sends the client-first-message (in a CONNECT
 * or an AUTH 0x19), the broker's challenge must be AUTH 0x18, and its answer (AUTH 0x18) is sent. Returns the
 * server-final-message a right password earns.
 */
async function scramExchange(
  peer: PacketPeer,
  password: string,
  start: (first: Buffer) => void,
): Promise<string> {
  const scram = scramClient('alice', password)
  start(scram.first)
  const challenge = await peer.expect('auth')
  expect(challenge).toMatchObject({ reasonCode: 0x18, properties: { authenticationMethod: METHOD } })
  const { message, expectedServerFinal } = scram.final(challenge.properties!.authenticationData!.toString())
  peer.send({
    cmd: 'auth',
    reasonCode: 0x18,
    properties: { authenticationMethod: METHOD, authenticationData: message },
  })
  return expectedServerFinal
}

/** `password`'s SCRAM exchange started by a CONNECT of `clientId`. */
function scramConnect(peer: PacketPeer, clientId: string, password: string): Promise<string> {
  return scramExchange(peer, password, (first) =>
    peer.send(
      connect5(clientId, { properties: { authenticationMethod: METHOD, authenticationData: first } }),
    ),
  )
}

describe('MQTT 5.0 AUTH (3.15) and enhanced authentication (4.12)', () => {
  it('[MQTT-3.15.2-1] [MQTT-4.12.0-2] [MQTT-4.12.0-5] sends AUTH during enhanced authentication only with an Authenticate Reason Code (0x18), then CONNACK 0x00, each with the method of the CONNECT', async () => {
    const peer = await rawPeer(await startBroker(SCRAM_USERS))
    const expectedServerFinal = await scramConnect(peer, 'scram', 'wonderland')
    const connack = await peer.expect('connack')
    expect(connack).toMatchObject({ reasonCode: 0, properties: { authenticationMethod: METHOD } })
    expect(connack.properties?.authenticationData?.toString()).toBe(expectedServerFinal)
  })

  it('[MQTT-4.12.0-1] refuses an Authentication Method it does not support, also where it supports another (SCRAM-SHA-256): CONNACK 0x8C, close', async () => {
    const broker = await startBroker(SCRAM_USERS)
    const peer = await rawPeer(broker)
    peer.send(connect5('unknown-method', { properties: { authenticationMethod: 'NO-SUCH-METHOD' } }))
    expect(await expectRefused(peer)).toMatchObject({ reasonCode: 0x8c })
  })

  it('[MQTT-4.12.0-4] refuses a client whose SCRAM proof is wrong: CONNACK 0x86, close, and nothing it sent after is processed', async () => {
    const broker = await startBroker(SCRAM_USERS)
    const watcher = await subscribed(broker, 'watcher', 't')
    const peer = await rawPeer(broker)
    await scramConnect(peer, 'wrong-password', 'looking-glass')
    peer.send(publishPacket('t', 'after the refusal'))
    expect(await peer.expect('connack')).toMatchObject({ reasonCode: 0x86 })
    await expectSilentClose(peer)
    expect(await barrier(watcher)).toEqual([])
  })

  it('[MQTT-4.12.0-6] sends a client that named no Authentication Method no AUTH, and no method in its CONNACK', async () => {
    const broker = await startBroker(SCRAM_USERS)
    const peer = await rawPeer(broker)
    const connack = await peer.connect(connect5('plain'))
    expect(connack.reasonCode).toBe(0)
    expect(connack.properties?.authenticationMethod).toBeUndefined()
    expect(connack.properties?.authenticationData).toBeUndefined()
    await publish1(peer, 't', 'x', 1)
    expect(await barrier(peer)).toEqual([])
    expect(peer.received.filter((packet) => packet.cmd === 'auth')).toEqual([])
  })

  it('[MQTT-4.12.1-2] a failed re-authentication closes the connection: DISCONNECT 0x87 first; a right one is answered with AUTH 0x00', async () => {
    const broker = await startBroker(SCRAM_USERS)
    const peer = await rawPeer(broker)
    await scramConnect(peer, 'reauth', 'wonderland')
    expect((await peer.expect('connack')).reasonCode).toBe(0)
    const reauthenticate = (first: Buffer) =>
      peer.send({
        cmd: 'auth',
        reasonCode: 0x19,
        properties: { authenticationMethod: METHOD, authenticationData: first },
      })
    await scramExchange(peer, 'wonderland', reauthenticate)
    expect(await peer.expect('auth')).toMatchObject({ reasonCode: 0 })
    await scramExchange(peer, 'looking-glass', reauthenticate)
    await expectDisconnect(peer, 0x87)
  })
})
