import { describe, expect, it } from 'vitest'
import {
  type Client,
  type IConnectPacket,
  type IPublishPacket,
  type Next,
  type Packet,
  Stack,
  serializePacket,
  type UserProperties,
  userPropertiesFromPairs,
  userPropertyPairs,
} from '../src/index.js'
import { acceptConnections, connectTestClient } from '../src/testing/index.js'

type Pairs = readonly (readonly [string, string])[]

/** A name repeated after another one, then names that look like integers after one that does not. */
const PAIRS: Pairs = [
  ['a', '1'],
  ['b', '2'],
  ['a', '3'],
  ['z', 'x'],
  ['1', 'y'],
  ['', ''],
]

function string(value: string): Buffer {
  const bytes = Buffer.from(value)
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes])
}

/** A property block of `others` (whole properties as bytes), then the User Properties `pairs` in order. */
function properties(pairs: Pairs, others: number[] = []): Buffer {
  const body = Buffer.concat([
    Buffer.from(others),
    ...pairs.flatMap(([name, value]) => [Buffer.from([0x26]), string(name), string(value)]),
  ])
  return Buffer.concat([Buffer.from([body.length]), body]) // short blocks: a one-byte length
}

function frame(first: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts)
  return Buffer.concat([Buffer.from([first, body.length]), body])
}

/** The User Properties of serialised 5.0 PUBLISH bytes whose only other properties are listed here. */
function pairsOf(bytes: Buffer): [string, string][] {
  let pos = 2 // short packets: a one-byte remaining length
  pos += 2 + bytes.readUInt16BE(pos)
  if (bytes[0]! & 0x06) pos += 2
  const end = pos + 1 + bytes[pos]!
  pos++
  const pairs: [string, string][] = []
  const read = (): string => {
    const length = bytes.readUInt16BE(pos)
    pos += 2 + length
    return bytes.toString('utf8', pos - length, pos)
  }
  while (pos < end) {
    const id = bytes[pos++]!
    if (id === 0x26) pairs.push([read(), read()])
    else if (id === 0x03)
      read() // Content Type
    else if (id === 0x23)
      pos += 2 // Topic Alias
    else throw new Error(`property ${id}`)
  }
  return pairs
}

/** A 5.0 stack that records the packets it decodes; `barrier` waits until those sent before are in. */
function recordingStack() {
  const stack = new Stack()
  const seen: Packet[] = []
  stack.use({
    handle(_client: Client, packet: Packet, next: Next) {
      seen.push(packet)
      next()
    },
  })
  stack.use(acceptConnections({ answerPings: true }))
  const t = connectTestClient(stack, { protocolVersion: 5 })
  const barrier = async () => {
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
  }
  return { stack, seen, t, barrier }
}

describe('MQTT 5.0: User Properties keep their wire order', () => {
  it('[MQTT-3.3.2-18] a decoded PUBLISH keeps the order of its User Properties, and is written in it', async () => {
    const { stack, seen, t, barrier } = recordingStack()
    await t.connect({ protocolVersion: 5, clientId: 'p' })
    // QoS 1, with a Content Type before the User Properties.
    t.sendRaw(
      frame(0x32, string('t'), Buffer.from([0, 7]), properties(PAIRS, [0x03, 0, 1, 0x63]), Buffer.from('m')),
    )
    await barrier()
    const publish = seen.find((p): p is IPublishPacket => p.cmd === 'publish')!
    const userProperties = publish.properties!.userProperties!
    // The object is as mqtt-packet makes it; the order is kept beside it.
    expect(userProperties).toEqual({ a: ['1', '3'], b: '2', z: 'x', '1': 'y', '': '' })
    expect(userPropertyPairs(userProperties)).toEqual(PAIRS)
    expect(publish.properties!.contentType).toBe('c')
    // Written as received, for a plain copy too (a fan-out adds a Topic Alias or a packet id this way).
    for (const packet of [
      publish,
      { ...publish, messageId: 9, properties: { ...publish.properties, topicAlias: 2 } },
    ]) {
      expect(pairsOf(serializePacket(packet, 5))).toEqual(PAIRS)
    }
    await stack.close()
  })

  it('[MQTT-3.1.3-10] the will of a decoded CONNECT keeps the order of its User Properties', async () => {
    const { stack, seen, t } = recordingStack()
    t.sendRaw(
      frame(
        0x10,
        string('MQTT'),
        Buffer.from([5, 0x06, 0, 0]), // level 5; Will, Clean Start; Keep Alive 0
        properties([]),
        string('w'),
        properties(PAIRS, [0x18, 0, 0, 0, 0]), // a Will Delay Interval first
        string('will/t'),
        string('gone'),
      ),
    )
    await t.expect('connack')
    const connect = seen[0] as IConnectPacket
    expect(userPropertyPairs(connect.will!.properties!.userProperties!)).toEqual(PAIRS)
    await stack.close()
  })

  it('a PUBLISH without User Properties is decoded as before', async () => {
    const { stack, seen, t, barrier } = recordingStack()
    await t.connect({ protocolVersion: 5, clientId: 'p' })
    t.sendRaw(frame(0x30, string('t'), properties([], [0x03, 0, 1, 0x63]), Buffer.from('m')))
    await barrier()
    expect((seen[1] as IPublishPacket).properties).toEqual({ contentType: 'c' })
    await stack.close()
  })
})

describe('MQTT 5.0: userPropertiesFromPairs and userPropertyPairs', () => {
  const publish = (userProperties: UserProperties): IPublishPacket => ({
    cmd: 'publish',
    topic: 't',
    payload: Buffer.from('m'),
    qos: 0,
    retain: false,
    dup: false,
    properties: { userProperties },
  })

  it('builds the object mqtt-packet would, and serialises it in the order given', () => {
    const userProperties = userPropertiesFromPairs([...PAIRS, ['__proto__', 'p']])
    expect(Object.getPrototypeOf(userProperties)).toBe(null)
    expect(Object.keys(userProperties)).toEqual(['1', 'a', 'b', 'z', '', '__proto__'])
    expect(Object.getOwnPropertyDescriptor(userProperties, '__proto__')?.value).toBe('p')
    expect(pairsOf(serializePacket(publish(userProperties), 5))).toEqual([...PAIRS, ['__proto__', 'p']])
  })

  it('an object changed in place is written in its own order, never with stale pairs', () => {
    const userProperties = userPropertiesFromPairs([
      ['b', '1'],
      ['a', '2'],
      ['b', '3'],
    ])
    userProperties.b = '1'
    userProperties.c = '3'
    // As many values as pairs, but no longer the same ones: b=1 must not be taken twice.
    expect(userPropertyPairs(userProperties)).toEqual([
      ['b', '1'],
      ['a', '2'],
      ['c', '3'],
    ])
    expect(pairsOf(serializePacket(publish(userProperties), 5))).toEqual([
      ['b', '1'],
      ['a', '2'],
      ['c', '3'],
    ])
  })

  it('an object core did not build is listed in its own order', () => {
    expect(userPropertyPairs({ b: 'x', a: ['1', '2'] })).toEqual([
      ['b', 'x'],
      ['a', '1'],
      ['a', '2'],
    ])
  })

  it('refuses a User Property longer than 65,535 bytes, as mqtt-packet would refuse the packet', () => {
    const userProperties = userPropertiesFromPairs([['long', 'x'.repeat(0x10000)]])
    expect(() => serializePacket(publish(userProperties), 5)).toThrow(/65535/)
  })
})
