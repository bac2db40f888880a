import fc from 'fast-check'
import mqtt from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import {
  CodecProblem,
  DECODED,
  type DecoderSink,
  PacketDecoder,
  serializePacket,
  UNDECODABLE,
} from '../src/codec/index.js'
import type { Packet, ProtocolVersion } from '../src/packets.js'

interface Decoded {
  packets: Packet[]
  problems: { problem: CodecProblem; message: string }[]
  decoder: PacketDecoder
}

/** A connection as the decoder sees it: a protocol version (which may change) and the two deliveries. */
function sink(
  protocolVersion: ProtocolVersion,
  onPacket: (packet: Packet) => boolean,
  onProblem: (problem: CodecProblem, detail: string, cause: Error | undefined) => void = () => {},
): DecoderSink & { protocolVersion: ProtocolVersion } {
  return { protocolVersion, [DECODED]: onPacket, [UNDECODABLE]: onProblem }
}

function decoder(protocolVersion: ProtocolVersion, maxPacketSize = 1 << 20, stopAfter = Infinity): Decoded {
  const decoded: Decoded = {
    packets: [],
    problems: [],
    decoder: new PacketDecoder(
      sink(
        protocolVersion,
        (packet) => {
          decoded.packets.push(packet)
          return decoded.packets.length < stopAfter
        },
        (problem, message) => decoded.problems.push({ problem, message }),
      ),
      maxPacketSize,
    ),
  }
  return decoded
}

/** What mqtt-packet's own parser makes of the same bytes. */
function reference(bytes: Buffer, protocolVersion: ProtocolVersion): Packet[] {
  const packets: Packet[] = []
  const parser = mqtt.parser({ protocolVersion })
  parser.on('packet', (packet: Packet) => packets.push(packet))
  parser.on('error', (err: Error) => {
    throw err
  })
  parser.parse(bytes)
  return packets
}

/** Plain data: mqtt-packet's packets and ours compared field by field, payloads by content. */
function plain(packets: Packet[]): unknown[] {
  return packets.map((packet) => ({ ...packet }))
}

const topic = fc.stringMatching(/^[a-z/+é€😀]{1,20}$/u)
const messageId = fc.integer({ min: 1, max: 0xffff })
const payload = fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes))

function packetArbitrary(protocolVersion: ProtocolVersion): fc.Arbitrary<Packet> {
  const properties =
    protocolVersion === 5
      ? fc.option(
          fc.record({ contentType: fc.string({ maxLength: 10 }), messageExpiryInterval: fc.nat(1000) }),
          { nil: undefined },
        )
      : fc.constant(undefined)
  const publish = fc
    .record({
      topic,
      payload,
      qos: fc.constantFrom(0, 1, 2),
      retain: fc.boolean(),
      dup: fc.boolean(),
      messageId,
      properties,
    })
    .map(
      ({ qos, messageId, dup, properties, ...rest }): Packet => ({
        cmd: 'publish',
        qos: qos as 0 | 1 | 2,
        dup: qos > 0 && dup,
        ...(qos > 0 ? { messageId } : {}),
        ...(properties ? { properties } : {}),
        ...rest,
      }),
    )
  const ack = fc
    .record({
      cmd: fc.constantFrom('puback', 'pubrec', 'pubrel', 'pubcomp'),
      messageId,
      // 0x80 is an error of PUBACK and PUBREC; PUBREL and PUBCOMP have 0x92 instead.
      reasonCode: protocolVersion === 5 ? fc.constantFrom(0, 0x80, undefined) : fc.constant(undefined),
    })
    .map(({ cmd, reasonCode, ...rest }) => {
      const code = reasonCode === 0x80 && (cmd === 'pubrel' || cmd === 'pubcomp') ? 0x92 : reasonCode
      return { cmd, ...rest, ...(code === undefined ? {} : { reasonCode: code }) } as Packet
    })
  const other = fc.oneof(
    fc.constant({ cmd: 'pingreq' } as Packet),
    fc
      .record({
        messageId,
        subscriptions: fc.array(fc.record({ topic, qos: fc.constantFrom(0, 1, 2) }), {
          minLength: 1,
          maxLength: 3,
        }),
      })
      .map(({ messageId, subscriptions }) => ({ cmd: 'subscribe', messageId, subscriptions }) as Packet),
    fc
      .record({
        level: protocolVersion === 5 ? fc.constant(5) : fc.constantFrom(3, 4),
        clientId: fc.stringMatching(/^[a-z0-9é]{1,12}$/),
        clean: fc.boolean(),
        keepalive: fc.nat(0xffff),
        will: fc.option(fc.record({ topic, payload, qos: fc.constantFrom(0, 1, 2), retain: fc.boolean() }), {
          nil: undefined,
        }),
        username: fc.option(fc.stringMatching(/^[a-z€]{0,8}$/), { nil: undefined }),
        password: fc.option(payload, { nil: undefined }),
      })
      .map(
        ({ level, will, username, password, ...rest }) =>
          ({
            cmd: 'connect',
            protocolId: level === 3 ? 'MQIsdp' : 'MQTT',
            protocolVersion: level,
            ...rest,
            ...(will ? { will } : {}),
            ...(username !== undefined ? { username } : {}),
            // mqtt-packet writes no password without a user name.
            ...(username !== undefined && password !== undefined ? { password } : {}),
          }) as Packet,
      ),
    // What a server sends: decoded by mqtt-packet, written by serializePacket.
    fc
      .record({ sessionPresent: fc.boolean(), code: fc.constantFrom(0, 1, 5) })
      .map(({ sessionPresent, code }) =>
        protocolVersion === 5
          ? ({ cmd: 'connack', sessionPresent, reasonCode: code === 0 ? 0 : 0x87 } as Packet)
          : ({ cmd: 'connack', sessionPresent, returnCode: code } as Packet),
      ),
    fc
      .record({
        messageId,
        granted: fc.array(fc.constantFrom(0, 1, 2, 0x80), { minLength: 1, maxLength: 4 }),
      })
      .map(({ messageId, granted }) => ({ cmd: 'suback', messageId, granted }) as Packet),
    fc
      .record({ messageId, topic })
      .map(({ messageId, topic }): Packet => ({ cmd: 'unsubscribe', messageId, unsubscriptions: [topic] })),
  )
  return fc.oneof(
    { weight: 3, arbitrary: publish },
    { weight: 2, arbitrary: ack },
    { weight: 1, arbitrary: other },
  )
}

/** Cuts `bytes` at the given offsets, as a socket may deliver them. */
function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Buffer[] = []
  let from = 0
  for (const cut of at) {
    out.push(bytes.subarray(from, cut))
    from = cut
  }
  out.push(bytes.subarray(from))
  return out.filter((chunk) => chunk.length > 0)
}

describe('PacketDecoder', () => {
  /** Any stream of valid packets, cut anywhere, decodes to what mqtt-packet's own parser makes of it. */
  function decodesAsMqttPacket(protocolVersion: 4 | 5): void {
    fc.assert(
      fc.property(
        fc.array(packetArbitrary(protocolVersion), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(4000), { maxLength: 12 }),
        (packets, cuts) => {
          const bytes = Buffer.concat(packets.map((packet) => mqtt.generate(packet, { protocolVersion })))
          const decoded = decoder(protocolVersion)
          for (const chunk of chunks(bytes, cuts)) decoded.decoder.push(chunk)
          expect(decoded.problems).toEqual([])
          expect(plain(decoded.packets)).toEqual(plain(reference(bytes, protocolVersion)))
        },
      ),
      { numRuns: 300 },
    )
  }

  // Chunks of a byte stream need not line up with packets, as WebSocket frames need not [MQTT-6.0.0-2].
  it('[MQTT-6.0.0-2] decodes any stream of MQTT 3.1.1 packets, however it is cut, as mqtt-packet does', () => {
    decodesAsMqttPacket(4)
  })

  it('[MQTT-6.0.0-2] decodes any stream of MQTT 5.0 packets, however it is cut, as mqtt-packet does', () => {
    decodesAsMqttPacket(5)
  })

  it('delivers a stream cut into single bytes', () => {
    const packets: Packet[] = [
      {
        cmd: 'publish',
        topic: 'a/b',
        payload: Buffer.alloc(200, 7),
        qos: 1,
        messageId: 9,
        retain: false,
        dup: false,
      },
      { cmd: 'puback', messageId: 9 },
      { cmd: 'pingreq' },
    ]
    const bytes = Buffer.concat(packets.map((packet) => mqtt.generate(packet)))
    const decoded = decoder(4)
    for (let i = 0; i < bytes.length; i++) decoded.decoder.push(bytes.subarray(i, i + 1))
    expect(decoded.packets.map((packet) => packet.cmd)).toEqual(['publish', 'puback', 'pingreq'])
    expect(plain(decoded.packets)).toEqual(plain(reference(bytes, 4)))
  })

  it('uses the protocol version of the connection as it is when each frame is decoded', () => {
    const seen: Packet[] = []
    const connection = sink(4, (packet) => {
      seen.push(packet)
      if (packet.cmd === 'connect') connection.protocolVersion = 5
      return true
    })
    const decoder = new PacketDecoder(connection, 1 << 20)
    const connect = mqtt.generate(
      {
        cmd: 'connect',
        protocolVersion: 5,
        clientId: 'c',
        protocolId: 'MQTT',
        clean: true,
        keepalive: 0,
      } as Packet,
      { protocolVersion: 5 },
    )
    const publish = mqtt.generate(
      {
        cmd: 'publish',
        topic: 't',
        payload: 'x',
        qos: 0,
        retain: false,
        dup: false,
        properties: { contentType: 'text' },
      },
      { protocolVersion: 5 },
    )
    decoder.push(Buffer.concat([connect, publish]))
    expect(seen.map((packet) => packet.cmd)).toEqual(['connect', 'publish'])
    expect(seen[1]).toMatchObject({ topic: 't', properties: { contentType: 'text' } })
  })

  it('stops when the packet callback says the connection is closing', () => {
    const decoded = decoder(4, 1 << 20, 1)
    decoded.decoder.push(
      Buffer.concat([mqtt.generate({ cmd: 'pingreq' }), mqtt.generate({ cmd: 'pingreq' })]),
    )
    decoded.decoder.push(mqtt.generate({ cmd: 'pingreq' }))
    expect(decoded.packets).toHaveLength(1)
  })

  it('[MQTT-2.2.2-2] MQTT 3.1 (level 3): header flags a 3.1 client sets where 3.1.1 fixes them are accepted, and decoded as the 3.1.1 packet; 3.1.1 refuses the same bytes', () => {
    // The first byte as a 3.1 client sent it, the same byte with the flags of 3.1.1, the rest of the frame.
    const frames: [sent: number, fixed: number, rest: number[]][] = [
      [0x6a, 0x62, [0x02, 0x00, 0x01]], // PUBREL sent again: QoS 1 and DUP [MQTT-3.6.1-1]
      [0x60, 0x62, [0x02, 0x00, 0x01]], // PUBREL without its QoS 1
      [0x8a, 0x82, [0x06, 0x00, 0x01, 0x00, 0x01, 0x74, 0x01]], // SUBSCRIBE sent again [MQTT-3.8.1-1]
      [0xaa, 0xa2, [0x05, 0x00, 0x01, 0x00, 0x01, 0x74]], // UNSUBSCRIBE sent again (mqtt-packet decodes it) [MQTT-3.10.1-1]
      [0x4b, 0x40, [0x02, 0x00, 0x01]], // PUBACK, PUBREC and PUBCOMP: 3.1 did not use their flags
      [0x59, 0x50, [0x02, 0x00, 0x01]],
      [0x7f, 0x70, [0x02, 0x00, 0x01]],
      [0xc2, 0xc0, [0x00]], // PINGREQ
      [0xe8, 0xe0, [0x00]], // DISCONNECT
    ]
    for (const [sent, fixed, rest] of frames) {
      const v31 = decoder(3)
      v31.decoder.push(Buffer.from([sent, ...rest]))
      const as311 = decoder(3)
      as311.decoder.push(Buffer.from([fixed, ...rest]))
      expect(v31.problems).toEqual([])
      expect(v31.packets).toHaveLength(1)
      expect(plain(v31.packets)).toEqual(plain(as311.packets))
      const v311 = decoder(4)
      v311.decoder.push(Buffer.from([sent, ...rest]))
      expect(v311.problems.map(({ problem }) => problem)).toEqual([CodecProblem.INVALID_FLAGS])
    }
    // A PUBLISH keeps its flags, and QoS 3 is no more a QoS in 3.1 than in 3.1.1 [MQTT-3.3.1-4].
    const publish = decoder(3)
    publish.decoder.push(Buffer.from([0x3b, 0x06, 0x00, 0x01, 0x74, 0x00, 0x07, 0x78]))
    expect(publish.packets).toMatchObject([{ cmd: 'publish', qos: 1, dup: true, retain: true, messageId: 7 }])
    const qos3 = decoder(3)
    qos3.decoder.push(Buffer.from([0x36, 0x06, 0x00, 0x01, 0x74, 0x00, 0x07, 0x78]))
    expect(qos3.problems.map(({ problem }) => problem)).toEqual([CodecProblem.INVALID_FLAGS])
  })

  it('[MQTT-2.2.2-2] a CONNECT with header flags: accepted at level 3 (MQIsdp, before the level is known), refused at level 4', () => {
    const connect = (protocolId: string, protocolVersion: number): Buffer => {
      const frame = mqtt.generate({
        cmd: 'connect',
        protocolId,
        protocolVersion,
        clean: true,
        keepalive: 0,
        clientId: 'old',
      } as Packet)
      frame[0] = 0x1a
      return frame
    }
    const v31 = decoder(4)
    v31.decoder.push(connect('MQIsdp', 3))
    expect(v31.problems).toEqual([])
    expect(v31.packets).toMatchObject([
      { cmd: 'connect', protocolVersion: 3, clientId: 'old', qos: 0, dup: false },
    ])
    const v311 = decoder(4)
    v311.decoder.push(connect('MQTT', 4))
    expect(v311.problems.map(({ problem }) => problem)).toEqual([CodecProblem.INVALID_FLAGS])
    // The level must be 3 and the name MQIsdp: a level 3 CONNECT named MQTT keeps the rules of 3.1.1.
    const misnamed = decoder(4)
    misnamed.decoder.push(connect('MQTT', 3))
    expect(misnamed.problems.map(({ problem }) => problem)).toEqual([CodecProblem.INVALID_FLAGS])
  })

  describe('refuses', () => {
    function refused(
      bytes: number[],
      protocolVersion: ProtocolVersion = 4,
      maxPacketSize = 1 << 20,
    ): Decoded {
      const decoded = decoder(protocolVersion, maxPacketSize)
      decoded.decoder.push(Buffer.from(bytes))
      // Nothing after a refusal is decoded.
      decoded.decoder.push(mqtt.generate({ cmd: 'pingreq' }))
      expect(decoded.packets).toEqual([])
      expect(decoded.problems).toHaveLength(1)
      return decoded
    }

    it('a remaining length longer than four bytes (3.1.1 section 2.2.3, 5.0 section 1.5.5), even when it arrives byte by byte', () => {
      expect(refused([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]).problems[0]!.problem).toBe(
        CodecProblem.MALFORMED_LENGTH,
      )
      const decoded = decoder(4)
      for (const byte of [0x30, 0xff, 0xff, 0xff, 0xff, 0x01]) decoded.decoder.push(Buffer.from([byte]))
      expect(decoded.problems.map((p) => p.problem)).toEqual([CodecProblem.MALFORMED_LENGTH])
    })

    it('a packet over the maximum size from its header alone, before its body arrives', () => {
      // 1 MiB announced; only the header is sent.
      expect(refused([0x30, 0x80, 0x80, 0x40], 4, 1024).problems[0]!.problem).toBe(
        CodecProblem.PACKET_TOO_LARGE,
      )
      const decoded = decoder(4, 1024)
      decoded.decoder.push(Buffer.from([0x30, 0x80]))
      decoded.decoder.push(Buffer.from([0x80, 0x40]))
      expect(decoded.problems.map((p) => p.problem)).toEqual([CodecProblem.PACKET_TOO_LARGE])
    })

    it('[MQTT-3.3.1-4] a PUBLISH with both QoS bits set, with and without MQTT 5.0 properties', () => {
      expect(refused([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]).problems[0]!.problem).toBe(
        CodecProblem.INVALID_FLAGS,
      )
      // Property length 2: Payload Format Indicator 1.
      expect(
        refused([0x36, 0x08, 0x00, 0x01, 0x61, 0x00, 0x01, 0x02, 0x01, 0x01], 5).problems[0]!.problem,
      ).toBe(CodecProblem.INVALID_FLAGS)
    })

    it('a PUBLISH whose topic is not well-formed UTF-8 [MQTT-1.5.3-1] [MQTT-1.5.4-1], in 3.1.1 and in MQTT 5.0 with properties', () => {
      expect(refused([0x30, 0x04, 0x00, 0x02, 0xc3, 0x28]).problems[0]!.problem).toBe(
        CodecProblem.INVALID_UTF8,
      )
      // MQTT 5.0, property length 2: Payload Format Indicator 1.
      expect(refused([0x30, 0x07, 0x00, 0x02, 0xed, 0xa0, 0x02, 0x01, 0x01], 5).problems[0]!.problem).toBe(
        CodecProblem.INVALID_UTF8,
      )
    })

    /** A valid frame of `packet` with the bytes of `marker` (found in it) replaced by `bytes`. */
    function corrupt(
      packet: Packet,
      protocolVersion: ProtocolVersion,
      marker: string,
      bytes: number[],
    ): number[] {
      const frame = mqtt.generate(packet, { protocolVersion })
      const at = frame.indexOf(marker)
      expect(at).toBeGreaterThan(0)
      frame.set(bytes, at)
      return [...frame]
    }

    const connect = (protocolVersion: 4 | 5): Packet => ({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion,
      clean: true,
      keepalive: 0,
      clientId: 'client-ok',
      will: { topic: 'will-topic', payload: Buffer.from([0xff, 0xfe]), qos: 1, retain: false },
      username: 'user-ok',
      password: Buffer.from([0xff]),
    })

    for (const protocolVersion of [4, 5] as const) {
      const version = protocolVersion === 5 ? 'MQTT 5.0 [MQTT-1.5.4-1]' : 'MQTT 3.1.1 [MQTT-1.5.3-1]'
      it(`ill-formed UTF-8 in a CONNECT's client id, will topic or user name, and in (UN)SUBSCRIBE filters (${version})`, () => {
        // Binary will payload and password may hold any bytes: the valid CONNECT decodes.
        const valid = decoder(protocolVersion)
        valid.decoder.push(mqtt.generate(connect(protocolVersion), { protocolVersion }))
        expect(valid.packets).toHaveLength(1)
        for (const marker of ['client-ok', 'will-topic', 'user-ok']) {
          const { problems } = refused(
            corrupt(connect(protocolVersion), protocolVersion, marker, [0xc3, 0x28]),
            protocolVersion,
          )
          expect(problems[0]!.problem).toBe(CodecProblem.INVALID_UTF8)
        }
        const subscribe: Packet = {
          cmd: 'subscribe',
          messageId: 1,
          subscriptions: [
            { topic: 'ok/x', qos: 0 },
            { topic: 'bad/x', qos: 1 },
          ],
        }
        const filters = [
          corrupt(subscribe, protocolVersion, 'bad', [0xed, 0xa0, 0x80]),
          corrupt(
            { cmd: 'unsubscribe', messageId: 1, unsubscriptions: ['ok/x', 'bad/x'] },
            protocolVersion,
            'bad',
            [0xff],
          ),
        ]
        for (const bytes of filters)
          expect(refused(bytes, protocolVersion).problems[0]!.problem).toBe(CodecProblem.INVALID_UTF8)
      })
    }

    it('MQTT 5.0: string properties of ill-formed UTF-8 or holding U+0000 [MQTT-1.5.4-1] [MQTT-1.5.4-2] [MQTT-1.5.7-1]', () => {
      const publish = (properties: Record<string, unknown>): Packet =>
        ({
          cmd: 'publish',
          topic: 't',
          payload: 'p',
          qos: 1,
          messageId: 3,
          retain: false,
          dup: false,
          properties,
        }) as Packet
      // Binary properties may hold any bytes.
      const valid = decoder(5)
      valid.decoder.push(
        mqtt.generate(publish({ correlationData: Buffer.from([0xff, 0]), contentType: 'ok' }), {
          protocolVersion: 5,
        }),
      )
      expect(valid.packets).toHaveLength(1)
      refused(corrupt(publish({ contentType: 'type-x' }), 5, 'type-x', [0xc3, 0x28]), 5)
      refused(corrupt(publish({ userProperties: { name: 'value-x' } }), 5, 'value-x', [0x00]), 5)
      refused(corrupt(publish({ responseTopic: 'reply-x' }), 5, 'reply-x', [0xff]), 5)
      const puback = {
        cmd: 'puback',
        messageId: 1,
        reasonCode: 0x80,
        properties: { reasonString: 'why-x' },
      } as Packet
      refused(corrupt(puback, 5, 'why-x', [0xed, 0xa0, 0x80]), 5)
      const withProperties = { ...connect(5), properties: { userProperties: { key: 'conn-x' } } } as Packet
      refused(corrupt(withProperties, 5, 'conn-x', [0xff]), 5)
      const willProperties = connect(5) as Packet & { will: { properties?: object } }
      willProperties.will.properties = { contentType: 'will-x' }
      refused(corrupt(willProperties, 5, 'will-x', [0x00]), 5)
    })

    it('MQTT 5.0: a property that does not belong in its packet, or is given twice, is a Protocol Error', () => {
      /** A QoS 1 PUBLISH to `t` with packet id 1 and these property bytes. */
      const publish = (properties: number[]): number[] => {
        const body = [0, 1, 0x74, 0, 1, properties.length, ...properties, 0x70]
        return [0x32, body.length, ...body]
      }
      const misplaced = (bytes: number[]) =>
        expect(refused(bytes, 5).problems[0]!.problem).toBe(CodecProblem.PROPERTY_NOT_ALLOWED)
      const twice = (bytes: number[]) =>
        expect(refused(bytes, 5).problems[0]!.problem).toBe(CodecProblem.DUPLICATE_PROPERTY)
      misplaced(publish([39, 0, 0, 1, 0])) // Maximum Packet Size: a CONNECT property
      misplaced(publish([11, 1])) // Subscription Identifier: not from a client [MQTT-3.3.4-6]
      twice(publish([35, 0, 1, 35, 0, 2])) // Topic Alias
      twice(publish([1, 0, 1, 1])) // Payload Format Indicator
      // A SUBSCRIBE with two Subscription Identifiers.
      twice([0x82, 11, 0, 1, 4, 11, 1, 11, 2, 0, 1, 0x74, 0])
      // A PUBACK with a Reason String twice.
      twice([0x40, 11, 0, 1, 0x80, 6, 31, 0, 1, 0x61, 31, 0, 0])
      // User Properties may repeat.
      const valid = decoder(5)
      valid.decoder.push(Buffer.from(publish([38, 0, 1, 0x61, 0, 1, 0x62, 38, 0, 1, 0x61, 0, 1, 0x63])))
      expect(valid.problems).toEqual([])
      expect(valid.packets[0]).toMatchObject({ properties: { userProperties: { a: ['b', 'c'] } } })
    })

    it('MQTT 5.0: a CONNECT or will property that does not belong there is a Protocol Error', () => {
      const withTopicAlias = { ...connect(5), properties: { topicAlias: 1 } } as unknown as Packet
      expect(
        refused([...mqtt.generate(withTopicAlias, { protocolVersion: 5 })], 5).problems[0]!.problem,
      ).toBe(CodecProblem.PROPERTY_NOT_ALLOWED)
      const will = connect(5) as Packet & { will: { properties?: object } }
      will.will.properties = { sessionExpiryInterval: 10 }
      expect(refused([...mqtt.generate(will, { protocolVersion: 5 })], 5).problems[0]!.problem).toBe(
        CodecProblem.PROPERTY_NOT_ALLOWED,
      )
    })

    it('[MQTT-2.3.1-1] a QoS 1 PUBLISH, a SUBSCRIBE or an UNSUBSCRIBE with packet identifier 0, in 3.1.1 and MQTT 5.0', () => {
      for (const protocolVersion of [4, 5] as const) {
        for (const packet of [
          { cmd: 'publish', topic: 't', payload: 'p', qos: 1, messageId: 0, retain: false, dup: false },
          { cmd: 'subscribe', messageId: 0, subscriptions: [{ topic: 't', qos: 0 }] },
          { cmd: 'unsubscribe', messageId: 0, unsubscriptions: ['t'] },
        ] as Packet[]) {
          const { problems } = refused([...mqtt.generate(packet, { protocolVersion })], protocolVersion)
          expect(problems[0]!.problem).toBe(CodecProblem.ZERO_PACKET_IDENTIFIER)
        }
      }
    })

    it('[MQTT-1.5.3-2] U+0000 in a topic, client identifier, user name or topic filter (MQTT 3.1.1 and 5.0 [MQTT-1.5.4-2])', () => {
      for (const protocolVersion of [4, 5] as const) {
        const publish = {
          cmd: 'publish',
          topic: 'a\u0000',
          payload: '',
          qos: 0,
          retain: false,
          dup: false,
        } as Packet
        const subscribe = {
          cmd: 'subscribe',
          messageId: 1,
          subscriptions: [{ topic: 'a\u0000', qos: 0 }],
        } as Packet
        const withNull = (field: 'clientId' | 'username') =>
          ({ ...connect(protocolVersion), [field]: 'x\u0000' }) as Packet
        for (const packet of [publish, subscribe, withNull('clientId'), withNull('username')]) {
          const { problems } = refused([...mqtt.generate(packet, { protocolVersion })], protocolVersion)
          expect(problems[0]!.problem).toBe(CodecProblem.NULL_CHARACTER)
        }
      }
    })

    it('[MQTT-3.1.4-1] a CONNECT with bytes after the payload its flags announce', () => {
      const frame = mqtt.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        keepalive: 0,
        clientId: 'c',
      })
      // One more byte in the body, and one more in the remaining length.
      const bytes = [...frame, 0x00]
      bytes[1]! += 1
      expect(refused(bytes).problems[0]!.problem).toBe(CodecProblem.TRAILING_BYTES)
    })

    it('[MQTT-2.2.2-2] reserved flag bits of the fixed header that are not as Table 2.2 says, in 3.1.1 and MQTT 5.0', () => {
      const invalidFlags = (bytes: number[], protocolVersion: ProtocolVersion = 4) =>
        expect(refused(bytes, protocolVersion).problems[0]!.problem).toBe(CodecProblem.INVALID_FLAGS)
      for (const first of [0x41, 0x52, 0x60, 0x72]) invalidFlags([first, 0x02, 0x00, 0x01])
      invalidFlags([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x74, 0x00]) // SUBSCRIBE with 0000 instead of 0010
      invalidFlags([0xa0, 0x05, 0x00, 0x01, 0x00, 0x01, 0x74]) // UNSUBSCRIBE likewise
      invalidFlags([0xc1, 0x00]) // PINGREQ
      invalidFlags([0xe8, 0x00]) // DISCONNECT
      // MQTT 5.0: a PUBACK with a reason code and properties, decoded by mqtt-packet.
      invalidFlags([0x41, 0x04, 0x00, 0x01, 0x80, 0x00], 5)
    })

    it('[MQTT-3.8.3-4] a SUBSCRIBE whose requested QoS byte has reserved bits set, or QoS 3', () => {
      for (const options of [0x04, 0x80, 0x03]) {
        expect(refused([0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x74, options]).problems[0]!.problem).toBe(
          CodecProblem.INVALID_SUBSCRIPTION_OPTIONS,
        )
      }
    })

    it('a 3.1.1 acknowledgement whose remaining length is not 2', () => {
      expect(refused([0x40, 0x03, 0x00, 0x01, 0x00]).problems[0]!.problem).toBe(CodecProblem.TRAILING_BYTES)
      expect(refused([0x40, 0x01, 0x00]).problems[0]!.problem).toBe(CodecProblem.TRUNCATED)
    })

    it('a packet identifier or a subscription cut off by the end of the packet', () => {
      expect(refused([0xa2, 0x01, 0x00]).problems[0]!.problem).toBe(CodecProblem.TRUNCATED) // UNSUBSCRIBE
      expect(refused([0x82, 0x01, 0x00]).problems[0]!.problem).toBe(CodecProblem.TRUNCATED) // SUBSCRIBE
      // A filter with no options byte after it.
      expect(refused([0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 0x74]).problems[0]!.problem).toBe(
        CodecProblem.TRUNCATED,
      )
      expect(refused([0x32, 0x04, 0x00, 0x01, 0x74, 0x00]).problems[0]!.problem).toBe(CodecProblem.TRUNCATED)
    })

    it('[MQTT-3.1.2-2] a CONNECT of protocol MQTT or MQIsdp at a level other than 3, 4 and 5, whatever follows', () => {
      const connectAt = (name: string, level: number): number[] => {
        const body = [0, name.length, ...Buffer.from(name), level, 0x02, 0, 0, 0, 1, 0x78]
        return [0x10, body.length, ...body]
      }
      for (const [name, level] of [
        ['MQTT', 6],
        ['MQTT', 0],
        ['MQTT', 2],
        ['MQTT', 0x86], // the bridge bit does not make 6 a level
        ['MQIsdp', 255],
      ] as const) {
        expect(refused(connectAt(name, level)).problems[0]!.problem).toBe(
          CodecProblem.UNSUPPORTED_PROTOCOL_VERSION,
        )
      }
      // Another protocol name is not MQTT at all: malformed, whatever its level.
      expect(refused(connectAt('MQTX', 6)).problems[0]!.problem).toBe(CodecProblem.MALFORMED_PACKET)
      // A known level is decoded, even at a name that does not fit it (Connection refuses that).
      const decoded = decoder(4)
      decoded.decoder.push(Buffer.from(connectAt('MQTT', 3)))
      expect(decoded.packets).toMatchObject([{ cmd: 'connect', protocolVersion: 3 }])
    })

    it('a frame mqtt-packet cannot parse (unknown packet type 0), with its error as the cause', () => {
      const decoded = decoder(4)
      const causes: unknown[] = []
      const withCause = new PacketDecoder(
        sink(
          4,
          () => true,
          (problem, _detail, cause) => causes.push(problem, cause),
        ),
        1024,
      )
      withCause.push(Buffer.from([0x00, 0x00]))
      expect(causes).toEqual([CodecProblem.MALFORMED_PACKET, expect.any(Error)])
      expect(decoded.problems).toEqual([])
    })
  })
})

describe('serializePacket', () => {
  for (const protocolVersion of [3, 4] as const) {
    it(`writes PUBLISH and acknowledgements byte for byte as mqtt-packet does (protocol level ${protocolVersion})`, () => {
      fc.assert(
        fc.property(packetArbitrary(protocolVersion), (packet) => {
          expect(serializePacket(packet, protocolVersion)).toEqual(mqtt.generate(packet, { protocolVersion }))
        }),
        { numRuns: 300 },
      )
    })
  }

  it('writes MQTT 5.0 packets that decode to what was written', () => {
    fc.assert(
      fc.property(packetArbitrary(5), (packet) => {
        const [decoded] = reference(serializePacket(packet, 5), 5)
        const expected = reference(mqtt.generate(packet, { protocolVersion: 5 }), 5)[0]!
        expect({ ...decoded, length: 0 }).toEqual({ ...expected, length: 0 })
      }),
      { numRuns: 300 },
    )
  })

  it('writes a string payload and remaining lengths of every size class', () => {
    for (const size of [0, 100, 200, 20_000, 3_000_000]) {
      const packet: Packet = {
        cmd: 'publish',
        topic: 'size',
        payload: 'x'.repeat(size),
        qos: 0,
        retain: true,
        dup: false,
      }
      // Buffer.equals: a deep comparison of megabytes takes seconds.
      expect(serializePacket(packet, 4).equals(mqtt.generate(packet))).toBe(true)
    }
  })

  it('leaves invalid packets to mqtt-packet, which says what is wrong', () => {
    expect(() =>
      serializePacket({ cmd: 'publish', topic: 't', payload: '', qos: 1, retain: false, dup: false }, 4),
    ).toThrow(/messageId/)
  })
})
