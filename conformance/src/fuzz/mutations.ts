/**
 * Byte-level mutations of a serialised packet, and hand-built packets that mqtt-packet would refuse to
 * write (repeated or unknown properties, reserved option bits, packet id 0).
 */
import type { Prng } from './prng.js'
import type { Version } from './seeds.js'

/** Names of the mutations, as counted in the report. */
export const MUTATIONS = [
  'flags',
  'type',
  'length-shorter',
  'length-longer',
  'length-non-minimal',
  'length-5-bytes',
  'length-huge',
  'truncate',
  'bit-flip',
  'byte-set',
  'bad-utf8',
  'random-bytes',
] as const

export type Mutation = (typeof MUTATIONS)[number]

/** The largest remaining length MQTT can encode (four bytes): 268,435,455. */
const MAX_REMAINING_LENGTH = 268_435_455

/** Byte pairs that are not well-formed UTF-8, or encode U+0000 [MQTT-1.5.3-1] [MQTT-1.5.3-2] (3.1.1 numbering). */
const BAD_UTF8: readonly (readonly [number, number])[] = [
  [0x00, 0x00], // U+0000
  [0xc0, 0x80], // over-long U+0000
  [0xc3, 0x28], // invalid continuation byte
  [0xff, 0xfe], // bytes that never occur in UTF-8
  [0xed, 0xa0], // start of a surrogate (U+D800..)
  [0x80, 0x80], // continuation bytes without a lead byte
  [0xf8, 0x88], // five-byte form
]

export interface Frame {
  /** The fixed header's first byte, the remaining length, and where the body starts. */
  first: number
  length: number
  bodyStart: number
}

/** Reads the fixed header of a serialised packet (which mqtt-packet wrote, so it is well formed). */
export function readFrame(bytes: Buffer): Frame {
  let length = 0
  let multiplier = 1
  let i = 1
  for (;;) {
    const byte = bytes[i++]!
    length += (byte & 0x7f) * multiplier
    multiplier *= 128
    if ((byte & 0x80) === 0) break
  }
  return { first: bytes[0]!, length, bodyStart: i }
}

/** The variable-length encoding of `value`, padded with continuation bytes to `size` bytes (non-minimal). */
export function varint(value: number, size = 0): Buffer {
  const out: number[] = []
  let rest = value
  do {
    let byte = rest % 128
    rest = Math.floor(rest / 128)
    if (rest > 0) byte |= 0x80
    out.push(byte)
  } while (rest > 0)
  while (out.length < size) {
    out[out.length - 1]! |= 0x80
    out.push(0)
  }
  return Buffer.from(out)
}

/** A packet with a fixed header of `first` around `body`. */
export function frame(first: number, body: Buffer, lengthBytes = 0): Buffer {
  return Buffer.concat([Buffer.from([first]), varint(body.length, lengthBytes), body])
}

function withLength(bytes: Buffer, header: Frame, length: Buffer): Buffer {
  return Buffer.concat([Buffer.from([header.first]), length, bytes.subarray(header.bodyStart)])
}

/** Applies `mutation` to a serialised packet. */
export function mutate(prng: Prng, bytes: Buffer, mutation: Mutation): Buffer {
  const header = readFrame(bytes)
  const bodyLength = bytes.length - header.bodyStart
  switch (mutation) {
    case 'flags': {
      // The low nibble: reserved bits of most packets, DUP/QoS/RETAIN of PUBLISH (QoS 3 among them).
      const out = Buffer.from(bytes)
      out[0] = out[0]! ^ (1 << prng.int(4))
      return out
    }
    case 'type': {
      // Type 0 and 15 (AUTH, unknown before 5.0) are reserved or out of place for most versions.
      const out = Buffer.from(bytes)
      out[0] = (prng.pick([0, 15, prng.int(16)]) << 4) | (out[0]! & 0x0f)
      return out
    }
    case 'length-shorter':
      if (header.length === 0) return withLength(bytes, header, varint(prng.range(1, 4)))
      return withLength(bytes, header, varint(Math.max(0, header.length - prng.range(1, 8))))
    case 'length-longer':
      return withLength(bytes, header, varint(header.length + prng.range(1, 8)))
    case 'length-non-minimal':
      return withLength(bytes, header, varint(header.length, prng.range(2, 4)))
    case 'length-5-bytes':
      return withLength(bytes, header, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]))
    case 'length-huge':
      // Claims 268 MB, or just over the default 1 MiB packet limit, then sends only the real body.
      return withLength(bytes, header, varint(prng.pick([MAX_REMAINING_LENGTH, 1024 * 1024 + 1, 16_000_000])))
    case 'truncate':
      return bytes.subarray(0, prng.int(bytes.length))
    case 'bit-flip': {
      const out = Buffer.from(bytes)
      if (bodyLength === 0) return out
      for (let n = prng.range(1, 3); n > 0; n--) {
        const at = header.bodyStart + prng.int(bodyLength)
        out[at] = out[at]! ^ (1 << prng.int(8))
      }
      return out
    }
    case 'byte-set': {
      const out = Buffer.from(bytes)
      if (bodyLength === 0) return out
      out[header.bodyStart + prng.int(bodyLength)] = prng.pick([0x00, 0x7f, 0x80, 0xff])
      return out
    }
    case 'bad-utf8': {
      // Same length, so the parser reaches the string: every seed string carries the marker `zz`.
      const out = Buffer.from(bytes)
      const marks: number[] = []
      for (let at = out.indexOf('zz', header.bodyStart); at >= 0; at = out.indexOf('zz', at + 2))
        marks.push(at)
      if (marks.length === 0) return out
      const at = prng.pick(marks)
      const [a, b] = prng.pick(BAD_UTF8)
      out[at] = a
      out[at + 1] = b
      return out
    }
    case 'random-bytes':
      return prng.bytes(prng.range(1, 64))
  }
}

// Hand-built packets --------------------------------------------------------------------------------------

function str(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value
  const length = Buffer.alloc(2)
  length.writeUInt16BE(bytes.length)
  return Buffer.concat([length, bytes])
}

function u16(value: number): Buffer {
  const out = Buffer.alloc(2)
  out.writeUInt16BE(value)
  return out
}

function u32(value: number): Buffer {
  const out = Buffer.alloc(4)
  out.writeUInt32BE(value >>> 0)
  return out
}

/** MQTT 5.0 property lists that break a rule: unknown, repeated, out of place, zero or overrunning. */
function badProperties(prng: Prng, packet: 'connect' | 'publish' | 'subscribe'): Buffer {
  const choices: Buffer[] = [
    Buffer.from([0x00]), // property id 0 does not exist
    Buffer.from([0x7f, 0x01]), // neither does 0x7f
    Buffer.from([0x04, 0x00, 0x00, 0x00, 0x01]), // 0x04 is unassigned
    Buffer.concat([Buffer.from([0x26]), str('k'), str(Buffer.from([0xc3, 0x28]))]), // user property, bad UTF-8
    Buffer.concat([Buffer.from([0x1f]), str(Buffer.from([0x61, 0x00, 0x62]))]), // reason string with U+0000
    Buffer.from([0x0b, 0x80, 0x80, 0x80, 0x80, 0x01]), // subscription identifier, 5-byte varint
    prng.bytes(prng.range(1, 12)),
  ]
  if (packet === 'publish') {
    choices.push(
      Buffer.from([0x01, 0x01, 0x01, 0x00]), // payload format indicator twice
      Buffer.from([0x23, 0x00, 0x01, 0x23, 0x00, 0x02]), // topic alias twice
      Buffer.from([0x23, 0x00, 0x00]), // topic alias 0
      Buffer.from([0x23, 0xff, 0xff]), // topic alias above any maximum
      Buffer.concat([Buffer.from([0x02]), u32(10), Buffer.from([0x02]), u32(20)]), // message expiry twice
      Buffer.concat([Buffer.from([0x11]), u32(10)]), // session expiry interval: not a PUBLISH property
      Buffer.from([0x0b, 0x00]), // subscription identifier 0
      Buffer.from([0x01, 0x07]), // payload format indicator 7
    )
  } else if (packet === 'connect') {
    choices.push(
      Buffer.concat([Buffer.from([0x11]), u32(10), Buffer.from([0x11]), u32(0)]), // session expiry twice
      Buffer.from([0x21, 0x00, 0x00]), // receive maximum 0
      Buffer.concat([Buffer.from([0x27]), u32(0)]), // maximum packet size 0
      Buffer.from([0x19, 0x02]), // request response information 2
      Buffer.from([0x17, 0x05]), // request problem information 5
      Buffer.concat([Buffer.from([0x16]), str('zz')]), // authentication data without a method
      Buffer.concat([Buffer.from([0x15]), str('a'), Buffer.from([0x15]), str('b')]), // method twice
    )
  } else {
    choices.push(
      Buffer.from([0x0b, 0x01, 0x0b, 0x02]), // subscription identifier twice
      Buffer.from([0x0b, 0x00]), // subscription identifier 0
    )
  }
  const properties = prng.pick(choices)
  // Sometimes the property length claims more (or fewer) bytes than follow.
  const claimed = prng.chance(0.15) ? properties.length + prng.range(-2, 6) : properties.length
  return Buffer.concat([varint(Math.max(0, claimed)), properties])
}

/** An MQTT 5.0 PUBLISH with a broken property list, or a payload that contradicts its format indicator. */
export function badPublish5(prng: Prng, topic: string): Buffer {
  const qos = prng.int(3)
  const parts = [str(topic)]
  if (qos > 0) parts.push(u16(prng.range(1, 20)))
  if (prng.chance(0.2)) {
    // Payload Format Indicator 1 (UTF-8) on a payload that is not: refused with 0x99, or dropped at QoS 0.
    parts.push(Buffer.from([0x02, 0x01, 0x01]), Buffer.from([0xff, 0xfe, 0x00]))
  } else {
    parts.push(badProperties(prng, 'publish'), Buffer.from('zz'))
  }
  return frame(0x30 | (qos << 1), Buffer.concat(parts))
}

/** A SUBSCRIBE with option bits that are reserved or out of range, or a broken 5.0 property list. */
export function badSubscribe(prng: Prng, version: Version, filter: string): Buffer {
  const parts = [u16(prng.range(1, 20))]
  if (version === 5) parts.push(prng.chance(0.5) ? badProperties(prng, 'subscribe') : varint(0))
  // 3.1.1: only the QoS bits may be set [MQTT-3.8.3-4]; 5.0: bits 6-7 reserved, QoS 3 and Retain Handling 3 invalid.
  const options = prng.pick([0x03, 0x04, 0x40, 0x80, 0x30, 0xff, version === 5 ? 0x0c : 0x08])
  parts.push(str(filter), Buffer.from([options]))
  return frame(0x82, Buffer.concat(parts))
}

/** A CONNECT with a flaw in its fixed part: reserved flag, will QoS 3, password without user name, ... */
export function badConnect(prng: Prng, version: Version, clientId: string): Buffer {
  let name = version === 3 ? 'MQIsdp' : 'MQTT'
  let level: number = version
  let flags = 0x02 // clean session
  const payload = [str(clientId)]
  const flaw = prng.int(8)
  if (flaw === 0)
    flags |= 0x01 // the reserved flag [MQTT-3.1.2-3]
  else if (flaw === 1)
    flags |= 0x18 | 0x04 // will QoS 3
  else if (flaw === 2)
    flags |= 0x40 // a password without a user name (3.1.1)
  else if (flaw === 3)
    flags |= 0x20 // will retain without will flag
  else if (flaw === 4) name = 'MQTX'
  else if (flaw === 5) level = prng.pick([0, 2, 6, 255])
  else if (flaw === 6)
    flags |= 0x80 // user name flag, but no user name follows
  else flags = 0x00 // clean 0 with the client id below made empty
  if (flaw === 7) payload[0] = str('')
  if (flaw === 1 || flaw === 3) payload.push(str('fuzz/zz/will'), str('zz'))
  if (flaw === 2) payload.push(str('pzz'))
  const variable = [str(name), Buffer.from([level, flags]), u16(prng.pick([0, 10]))]
  if (version === 5) variable.push(prng.chance(0.6) ? badProperties(prng, 'connect') : varint(0))
  return frame(0x10, Buffer.concat([...variable, ...payload]))
}

/** QoS 1/2 PUBLISH, SUBSCRIBE or UNSUBSCRIBE with packet identifier 0 [MQTT-2.3.1-1] (3.1.1 numbering). */
export function zeroPacketId(prng: Prng, version: Version, topic: string): Buffer {
  const props = version === 5 ? varint(0) : Buffer.alloc(0)
  switch (prng.int(3)) {
    case 0:
      return frame(0x32, Buffer.concat([str(topic), u16(0), props, Buffer.from('zz')]))
    case 1:
      return frame(0x82, Buffer.concat([u16(0), props, str(`${topic}/#`), Buffer.from([0x01])]))
    default:
      return frame(0xa2, Buffer.concat([u16(0), props, str(`${topic}/#`)]))
  }
}

/** Splits `bytes` into two to four writes at random points. */
export function split(prng: Prng, bytes: Buffer): Buffer[] {
  if (bytes.length < 2) return [bytes]
  const cuts = new Set<number>()
  for (let n = prng.range(1, Math.min(3, bytes.length - 1)); n > 0; n--)
    cuts.add(prng.range(1, bytes.length - 1))
  const points = [...cuts].sort((a, b) => a - b)
  const chunks: Buffer[] = []
  let from = 0
  for (const at of points) {
    chunks.push(bytes.subarray(from, at))
    from = at
  }
  chunks.push(bytes.subarray(from))
  return chunks
}
