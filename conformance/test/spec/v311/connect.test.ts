import { describe, expect, it } from 'vitest'
import { startBroker } from '../../support/broker.js'
import { controlPacket, mqttString, PINGREQ, u16 } from '../../support/bytes.js'
import { publish1, publish2, release } from '../../support/exchanges.js'
import { pingEvery, silentUntilClosed } from '../../support/keepalive.js'
import { publishPacket, subscribePacket } from '../../support/packets.js'
import { startWatchedBroker } from '../../support/watch.js'
import {
  bytes4,
  connect4,
  connected,
  expectClosedWithoutAnswer,
  MARKER_TOPIC,
  publishesBeforeMarker,
  rawConnect,
  resumed,
  subscribe,
  subscribed,
  subscribedWithMarker,
} from './support.js'

describe('MQTT 3.1.1 CONNECT: the first packet (3.1.0)', () => {
  const early: readonly [string, Buffer][] = [
    ['PUBLISH (QoS 0)', controlPacket(0x30, mqttString('early/t'), Buffer.from('x'))],
    ['PUBLISH (QoS 1)', controlPacket(0x32, mqttString('early/t'), u16(1), Buffer.from('x'))],
    ['SUBSCRIBE', controlPacket(0x82, u16(1), mqttString('early/t'), Buffer.from([0]))],
    ['UNSUBSCRIBE', controlPacket(0xa2, u16(1), mqttString('early/t'))],
    ['PUBREL', controlPacket(0x62, u16(1))],
    ['PINGREQ', PINGREQ],
  ]
  it.each(early)(
    '[MQTT-3.1.0-1] [MQTT-4.8.0-1] closes a connection whose first packet is %s, answering nothing',
    async (_, bytes) => {
      const { raw } = await startBroker()
      await expectClosedWithoutAnswer(await raw(), bytes)
    },
  )

  it('[MQTT-3.1.0-1] [MQTT-4.8.0-1] relays nothing a client published before its CONNECT', async () => {
    const broker = await startBroker()
    const subscriber = await subscribedWithMarker(broker, 'early-sub', [['early/#', 1]])
    const early = await broker.raw()
    early.sendRaw(controlPacket(0x33, mqttString('early/t'), u16(1), Buffer.from('x')))
    early.sendRaw(bytes4(connect4('early')))
    await early.closed()
    expect(early.received).toEqual([])
    const publisher = await connected(broker, 'early-marker')
    expect(await publishesBeforeMarker(publisher, subscriber)).toEqual([])
    // Nor was it kept as a retained message.
    const late = await subscribedWithMarker(broker, 'early-late', [['early/#', 1]])
    expect(await publishesBeforeMarker(publisher, late)).toEqual([])
  })

  it('[MQTT-3.1.0-2] closes a client that sends a second CONNECT, and processes nothing after it', async () => {
    const broker = await startBroker()
    const peer = await connected(broker, 'twice')
    peer.send(connect4('twice-again'))
    peer.send(publishPacket('twice/t', 'x', { qos: 1, messageId: 1 }))
    peer.sendRaw(PINGREQ)
    await peer.closed()
    expect(peer.received.map((packet) => packet.cmd)).toEqual(['connack'])
  })
})

describe('MQTT 3.1.1 CONNECT: variable header (3.1.2)', () => {
  const names: readonly [string, Buffer][] = [
    ['MQTX', rawConnect({ protocolName: 'MQTX' })],
    ['mqtt (lower case)', rawConnect({ protocolName: 'mqtt' })],
    ['MQIsdp (the 3.1 name) with level 4', rawConnect({ protocolName: 'MQIsdp' })],
  ]
  it.each(names)(
    '[MQTT-3.1.2-1] does not accept a CONNECT whose protocol name is %s: no CONNACK 0, the connection closed',
    async (_, bytes) => {
      const { raw } = await startBroker()
      const peer = await raw()
      peer.sendRaw(bytes)
      peer.sendRaw(PINGREQ)
      await peer.closed()
      // Closing at once or after a refusal (CONNACK 0x01) both end the connection; accepting it does not.
      const cmds = peer.received.map((packet) =>
        packet.cmd === 'connack' ? `connack ${packet.returnCode}` : packet.cmd,
      )
      expect(cmds.length === 0 || (cmds.length === 1 && cmds[0] !== 'connack 0')).toBe(true)
    },
  )

  it.each([0, 2, 3, 6, 255])(
    '[MQTT-3.1.2-2] answers protocol level %i with CONNACK 0x01, then closes',
    async (level) => {
      const { raw } = await startBroker()
      const peer = await raw()
      peer.sendRaw(rawConnect({ level }))
      peer.sendRaw(PINGREQ)
      await peer.closed()
      expect(peer.received).toEqual([
        expect.objectContaining({ cmd: 'connack', returnCode: 1, sessionPresent: false }),
      ])
    },
  )

  it('[MQTT-3.1.2-3] closes without CONNACK a CONNECT whose reserved connect flag is 1', async () => {
    const { raw } = await startBroker()
    await expectClosedWithoutAnswer(await raw(), rawConnect({ flags: 0x03 }))
  })

  it('[MQTT-3.1.2-4] [MQTT-3.2.2-2] [MQTT-4.1.0-1] resumes a persistent session: session present 1, and its subscriptions still deliver', async () => {
    const { broker, watch } = await startWatchedBroker()
    const first = await subscribed(broker, 'resume', [['resume/t', 1]], { clean: false })
    first.send({ cmd: 'disconnect' })
    await watch.closed('resume')
    const again = await broker.raw()
    const connack = await again.connect({ clientId: 'resume', clean: false })
    expect([connack.returnCode, connack.sessionPresent]).toEqual([0, true])
    const publisher = await connected(broker, 'resume-pub')
    publisher.send(publishPacket('resume/t', 'kept', { qos: 1, messageId: 1 }))
    const delivered = await again.expect('publish')
    expect([delivered.topic, String(delivered.payload), delivered.qos]).toEqual(['resume/t', 'kept', 1])
  })

  it('[MQTT-3.1.2-5] [MQTT-4.5.0-1] keeps the QoS 1 and 2 messages of a disconnected persistent session and delivers them when it returns', async () => {
    const { broker, watch } = await startWatchedBroker()
    const subscriber = await subscribed(broker, 'offline', [['offline/t', 2]], { clean: false })
    subscriber.destroy()
    await watch.closed('offline')
    const publisher = await connected(broker, 'offline-pub')
    await publish1(publisher, 'offline/t', 'one', 1)
    await publish2(publisher, 'offline/t', 'two', 2)
    await release(publisher, 2)
    const back = await resumed(broker, 'offline')
    const first = await back.expect('publish')
    const second = await back.expect('publish')
    expect([first, second].map((packet) => [String(packet.payload), packet.qos])).toEqual([
      ['one', 1],
      ['two', 2],
    ])
  })

  it('[MQTT-3.1.2-6] [MQTT-3.2.2-1] discards the previous session for a clean session: session present 0, no subscription, no stored message, nothing reused later', async () => {
    const { broker, watch } = await startWatchedBroker()
    const persistent = await subscribed(broker, 'cleaned', [['cleaned/t', 1]], { clean: false })
    persistent.destroy()
    await watch.closed('cleaned')
    const publisher = await connected(broker, 'cleaned-pub')
    await publish1(publisher, 'cleaned/t', 'stored', 1)

    const clean = await broker.raw()
    expect(await clean.connect({ clientId: 'cleaned', clean: true })).toMatchObject({
      returnCode: 0,
      sessionPresent: false,
    })
    await subscribe(clean, [[MARKER_TOPIC, 0]])
    publisher.send(publishPacket('cleaned/t', 'live', { qos: 1, messageId: 2 }))
    // Neither the stored message nor the live one: the subscription went with the old session.
    expect(await publishesBeforeMarker(publisher, clean)).toEqual([])
    clean.send({ cmd: 'disconnect' })
    await watch.closed('cleaned')

    // The clean session left nothing behind either.
    const later = await broker.raw()
    expect(await later.connect({ clientId: 'cleaned', clean: false })).toMatchObject({
      returnCode: 0,
      sessionPresent: false,
    })
  })

  it('[MQTT-3.1.2-7] keeps retained messages when the session that published them ends', async () => {
    const { broker, watch } = await startWatchedBroker()
    const publisher = await connected(broker, 'retainer')
    await publish1(publisher, 'retained/by-gone', 'still', 1, { retain: true })
    publisher.send({ cmd: 'disconnect' })
    await watch.closed('retainer')
    const subscriber = await subscribed(broker, 'retained-reader', [['retained/by-gone', 1]])
    const packet = await subscriber.expect('publish')
    expect([packet.topic, String(packet.payload), packet.retain]).toEqual(['retained/by-gone', 'still', true])
  })

  it('[MQTT-3.1.2-8] [MQTT-3.1.2-16] publishes the will, as a non-retained message, when the connection ends without DISCONNECT', async () => {
    const { broker, watch } = await startWatchedBroker()
    const subscriber = await subscribedWithMarker(broker, 'will-watch', [['will/#', 1]])
    const doomed = await connected(broker, 'will-plain', {
      will: { topic: 'will/plain', payload: Buffer.from('gone'), qos: 1, retain: false },
    })
    doomed.destroy()
    const will = await subscriber.expect('publish')
    expect([will.topic, String(will.payload), will.qos, will.retain]).toEqual([
      'will/plain',
      'gone',
      1,
      false,
    ])
    await watch.closed('will-plain')
    // Not retained: a new subscriber gets nothing.
    const late = await subscribedWithMarker(broker, 'will-late', [['will/#', 1]])
    const publisher = await connected(broker, 'will-marker')
    expect(await publishesBeforeMarker(publisher, late)).toEqual([])
  })

  it('[MQTT-3.1.2-17] publishes a will with the will retain flag as a retained message', async () => {
    const { broker, watch } = await startWatchedBroker()
    const doomed = await connected(broker, 'will-retained', {
      will: { topic: 'will/retained', payload: Buffer.from('last'), qos: 1, retain: true },
    })
    doomed.destroy()
    await watch.closed('will-retained')
    const late = await subscribed(broker, 'will-retained-late', [['will/retained', 1]])
    const will = await late.expect('publish')
    expect([will.topic, String(will.payload), will.retain]).toEqual(['will/retained', 'last', true])
  })

  it('[MQTT-3.1.2-9] [MQTT-3.1.4-1] closes without CONNACK a CONNECT with the will flag but no will topic and message', async () => {
    const { raw } = await startBroker()
    await expectClosedWithoutAnswer(
      await raw(),
      rawConnect({ flags: 0x06, payload: [mqttString('no-will-fields')] }),
    )
  })

  it.each([
    ['1', 0x0a],
    ['2', 0x12],
  ])(
    '[MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.4-1] closes without CONNACK a CONNECT whose will flag is 0 but whose will QoS is %s',
    async (_, flags) => {
      const { raw } = await startBroker()
      await expectClosedWithoutAnswer(await raw(), rawConnect({ flags }))
    },
  )

  it('[MQTT-3.1.2-11] [MQTT-3.1.2-15] [MQTT-3.1.4-1] closes without CONNACK a CONNECT whose will flag is 0 but whose will retain flag is 1', async () => {
    const { raw } = await startBroker()
    await expectClosedWithoutAnswer(await raw(), rawConnect({ flags: 0x22 }))
  })

  it('[MQTT-3.1.2-12] publishes no will for a connection whose CONNECT had none, even if an earlier connection of its client id had one', async () => {
    const { broker, watch } = await startWatchedBroker()
    const subscriber = await subscribedWithMarker(broker, 'no-will-watch', [['#', 1]])
    const withWill = await connected(broker, 'no-will', {
      will: { topic: 'no-will/earlier', payload: Buffer.from('earlier'), qos: 1, retain: false },
    })
    withWill.send({ cmd: 'disconnect' })
    await watch.closed('no-will')
    const without = await connected(broker, 'no-will')
    without.destroy()
    await watch.closed('no-will')
    const publisher = await connected(broker, 'no-will-marker')
    expect(await publishesBeforeMarker(publisher, subscriber)).toEqual([])
  })

  it('[MQTT-3.1.2-14] [MQTT-3.1.4-1] closes without CONNACK a CONNECT whose will QoS is 3', async () => {
    const { raw } = await startBroker()
    await expectClosedWithoutAnswer(
      await raw(),
      rawConnect({ flags: 0x1e, payload: [mqttString('will-qos3'), mqttString('will/t'), mqttString('x')] }),
    )
  })

  it('[MQTT-3.1.2-19] [MQTT-3.1.4-1] closes without CONNACK a CONNECT whose user name flag is set but whose payload ends before the user name', async () => {
    const { raw } = await startBroker()
    await expectClosedWithoutAnswer(
      await raw(),
      rawConnect({ flags: 0x82, payload: [mqttString('missing')] }),
    )
  })

  it('[MQTT-3.1.2-21] [MQTT-3.1.4-1] closes without CONNACK a CONNECT whose password flag is set but whose payload ends before the password', async () => {
    const { raw } = await startBroker()
    await expectClosedWithoutAnswer(
      await raw(),
      rawConnect({ flags: 0xc2, payload: [mqttString('missing'), mqttString('user')] }),
    )
  })

  it('[MQTT-3.1.2-22] [MQTT-3.1.4-1] closes without CONNACK a CONNECT with the password flag but not the user name flag', async () => {
    const { raw } = await startBroker()
    await expectClosedWithoutAnswer(
      await raw(),
      rawConnect({ flags: 0x42, payload: [mqttString('pw-only'), mqttString('secret')] }),
    )
  })
})

describe('MQTT 3.1.1 CONNECT: Keep Alive (3.1.2.10)', () => {
  it('[MQTT-3.1.2-24] closes a client silent for 1.5 times its keepalive of 1 s within 100 ms: 1.5 s to 1.6 s after its last packet, with the default options', async () => {
    const broker = await startBroker()
    const peer = await broker.raw({ timeout: 3000 })
    expect((await peer.connect({ clientId: 'silent', keepalive: 1 })).returnCode).toBe(0)
    const { silence, after } = await silentUntilClosed(peer)
    expect(silence).toBeGreaterThanOrEqual(1500)
    expect(silence).toBeLessThanOrEqual(1600)
    // 3.1.1 has no DISCONNECT from the server: the connection just ends.
    expect(after).toEqual([])
  })

  it('[MQTT-3.1.2-24] [MQTT-3.12.4-1] keeps a client with a keepalive of 1 s that sends PINGREQ within each second', async () => {
    const broker = await startBroker()
    const peer = await broker.raw()
    expect((await peer.connect({ clientId: 'pinging', keepalive: 1 })).returnCode).toBe(0)
    // 3.6 s in all: the broker would have closed a client whose PINGREQs it did not count after 1.5 s.
    await pingEvery(peer, 900, 4)
  })
})

describe('MQTT 3.1.1 CONNECT: payload and client identifier (3.1.3)', () => {
  it('[MQTT-3.1.3-2] identifies a session by its client identifier: another identifier does not resume it', async () => {
    const { broker, watch } = await startWatchedBroker()
    const owner = await subscribed(broker, 'owner-a', [['owner/t', 1]], { clean: false })
    owner.send({ cmd: 'disconnect' })
    await watch.closed('owner-a')
    const other = await broker.raw()
    expect((await other.connect({ clientId: 'owner-b', clean: false })).sessionPresent).toBe(false)
    const back = await broker.raw()
    expect((await back.connect({ clientId: 'owner-a', clean: false })).sessionPresent).toBe(true)
  })

  it.each(['0', 'z', 'Z', '0123456789abcdefghijKLM', 'ABCDEFGHIJKLMNOPQRSTUVW'])(
    '[MQTT-3.1.3-5] accepts the client identifier %s (1 to 23 of 0-9, a-z, A-Z)',
    async (clientId) => {
      const broker = await startBroker()
      const peer = await connected(broker, clientId)
      peer.sendRaw(PINGREQ)
      await peer.expect('pingresp')
    },
  )

  it('[MQTT-3.1.3-6] accepts an empty client identifier with a clean session as a client of its own', async () => {
    const broker = await startBroker()
    const first = await subscribed(broker, '', [['anon/t', 0]])
    const second = await connected(broker, '')
    // Two identifiers were assigned: the second connection did not take over the first.
    second.send(publishPacket('anon/t', 'hello'))
    expect(String((await first.expect('publish')).payload)).toBe('hello')
    expect(first.isClosed).toBe(false)
  })

  it('[MQTT-3.1.3-8] [MQTT-3.1.3-9] [MQTT-3.2.2-4] [MQTT-3.2.2-5] refuses an empty client identifier with clean session 0: CONNACK 0x02 with session present 0, then close', async () => {
    const { raw } = await startBroker()
    const peer = await raw()
    // mqtt-packet will not write this CONNECT: flags 0x00 (clean session 0), client identifier "".
    peer.sendRaw(rawConnect({ flags: 0x00, payload: [mqttString('')] }))
    peer.sendRaw(PINGREQ)
    await peer.closed()
    expect(peer.received).toEqual([
      expect.objectContaining({ cmd: 'connack', returnCode: 2, sessionPresent: false }),
    ])
  })
})

describe('MQTT 3.1.1 CONNECT: response (3.1.4) and CONNACK (3.2)', () => {
  const malformed: readonly [string, Buffer][] = [
    ['no client identifier', controlPacket(0x10, mqttString('MQTT'), Buffer.from([4, 0x02]), u16(0))],
    [
      'a client identifier longer than the packet',
      controlPacket(0x10, mqttString('MQTT'), Buffer.from([4, 0x02]), u16(0), u16(10), Buffer.from('abc')),
    ],
    ['no keep alive', controlPacket(0x10, mqttString('MQTT'), Buffer.from([4, 0x02]))],
    ['a protocol name cut short', controlPacket(0x10, u16(4), Buffer.from('MQ'))],
  ]
  it.each(malformed)(
    '[MQTT-3.1.4-1] [MQTT-3.2.2-6] closes without CONNACK a CONNECT with %s',
    async (_, bytes) => {
      const { raw } = await startBroker()
      await expectClosedWithoutAnswer(await raw(), bytes)
    },
  )

  it('[MQTT-3.1.4-2] closes the existing connection of a client identifier that connects again', async () => {
    const broker = await startBroker()
    const first = await connected(broker, 'taken')
    const second = await connected(broker, 'taken')
    await first.closed()
    second.sendRaw(PINGREQ)
    await second.expect('pingresp')
  })

  it('[MQTT-3.1.4-3] [MQTT-3.1.4-4] [MQTT-3.2.2-3] accepts a valid CONNECT with CONNACK 0, session present 0 when no session was stored', async () => {
    const { raw } = await startBroker()
    const peer = await raw()
    expect(await peer.connect({ clientId: 'fresh', clean: false })).toMatchObject({
      returnCode: 0,
      sessionPresent: false,
    })
  })

  it('[MQTT-3.1.4-5] processes nothing a client sent after a CONNECT it refused', async () => {
    const broker = await startBroker({ users: { alice: 'right' } })
    const alice = { username: 'alice', password: Buffer.from('right') }
    const subscriber = await subscribedWithMarker(broker, 'refuse-watch', [['refused/#', 1]], alice)
    const refused = await broker.raw()
    refused.sendRaw(
      Buffer.concat([
        bytes4(connect4('intruder', { username: 'alice', password: Buffer.from('wrong') })),
        bytes4(publishPacket('refused/t', 'sneaked', { qos: 1, messageId: 1, retain: true })),
        bytes4(subscribePacket(2, [['refused/#', 0]])),
        PINGREQ,
      ]),
    )
    await refused.closed()
    expect(refused.received).toEqual([
      expect.objectContaining({ cmd: 'connack', returnCode: 4, sessionPresent: false }),
    ])
    const publisher = await connected(broker, 'refuse-marker', alice)
    expect(await publishesBeforeMarker(publisher, subscriber)).toEqual([])
    const late = await subscribedWithMarker(broker, 'refuse-late', [['refused/#', 1]], alice)
    expect(await publishesBeforeMarker(publisher, late)).toEqual([])
  })

  it('[MQTT-3.2.0-1] sends CONNACK before anything else, to a client that sends packets right behind its CONNECT and to a resumed session with messages waiting', async () => {
    const { broker, watch } = await startWatchedBroker()
    const resume = bytes4(connect4('eager', { clean: false }))
    const eager = await broker.raw()
    eager.sendRaw(Buffer.concat([resume, bytes4(subscribePacket(1, [['eager/t', 1]])), PINGREQ]))
    expect((await eager.next()).cmd).toBe('connack')
    await eager.expect('suback')
    await eager.expect('pingresp')
    eager.destroy()
    await watch.closed('eager')
    const publisher = await connected(broker, 'eager-pub')
    await publish1(publisher, 'eager/t', 'waiting', 1)
    const back = await broker.raw()
    back.sendRaw(Buffer.concat([resume, PINGREQ]))
    const first = await back.next()
    expect(first).toMatchObject({ cmd: 'connack', returnCode: 0, sessionPresent: true })
    const rest = [await back.next(), await back.next()].map((packet) => packet.cmd).sort()
    expect(rest).toEqual(['pingresp', 'publish'])
  })
})
