/**
 * Checks the UTF-8 strings of the frames mqtt-packet decodes on their bytes, before it decodes them: its
 * decoding replaces ill-formed UTF-8 with U+FFFD, after which nobody can tell [MQTT-1.5.3-1] (5.0:
 * [MQTT-1.5.4-1]). That is the strings of CONNECT, SUBSCRIBE and UNSUBSCRIBE, and in MQTT 5.0 the string
 * properties of every packet, which must not hold U+0000 either [MQTT-1.5.4-2] [MQTT-1.5.7-1]. MQTT 5.0
 * properties are also checked against the packet that carries them: one that does not belong there, or one
 * given twice that may be given once, is a Protocol Error (a broker that passed them on would send its
 * subscribers malformed packets). A CONNECT is walked to its end: bytes left after the payload its flags
 * announce make it malformed [MQTT-3.1.4-1]. A frame too short for what it announces is left to
 * mqtt-packet, which says what is missing.
 */
import { isUtf8 } from 'node:buffer'
import type { ProtocolVersion } from '../packets.js'
import { CodecProblem, CodecRefusal } from './problems.js'
import {
  AUTH,
  CONNECT,
  DISCONNECT,
  PASSWORD,
  PUBACK,
  PUBCOMP,
  PUBLISH,
  SUBSCRIBE,
  UNSUBSCRIBE,
  USERNAME,
  WILL,
} from './wire.js'

/**
 * What is wrong with the bytes of a UTF-8 string named `what`: not well formed [MQTT-1.5.3-1], or holding
 * U+0000 [MQTT-1.5.3-2] (5.0: [MQTT-1.5.4-1] [MQTT-1.5.4-2]); undefined when nothing is.
 */
export function stringProblem(text: Buffer, what: string): CodecRefusal | undefined {
  if (!isUtf8(text)) return new CodecRefusal(CodecProblem.INVALID_UTF8, `${what} is not valid UTF-8`)
  if (text.includes(0)) return new CodecRefusal(CodecProblem.NULL_CHARACTER, `U+0000 in the ${what}`)
  return undefined
}

/** Why the frame cannot be accepted, or undefined when what is checked here is right. */
export function checkFrame(
  buf: Buffer,
  first: number,
  body: number,
  end: number,
  version: ProtocolVersion,
): CodecRefusal | undefined {
  const type = first >> 4
  const flags = first & 0x0f
  const required = REQUIRED_FLAGS[type]!
  // [MQTT-2.2.2-2] reserved flags that are not as Table 2.2 says make the packet malformed.
  if (required >= 0 ? flags !== required : type === PUBLISH && (flags & 0x06) === 0x06)
    return new CodecRefusal(
      CodecProblem.INVALID_FLAGS,
      `${TYPE_NAMES[type]} with header flags 0x${flags.toString(16)}`,
    )
  if (type === CONNECT) return connect(buf, body, end)
  if (version === 5) {
    // Where the properties start (after the packet identifier and reason code), and where they belong.
    let at = -1
    let where = 0
    if (type === PUBLISH) {
      at = fieldEnd(buf, body, end)
      if (at >= 0 && (first & 0x06) !== 0) at += 2
      where = IN_PUBLISH
    } else if (type >= PUBACK && type <= PUBCOMP && end - body > 3) {
      at = body + 3
      where = IN_ACK
    } else if ((type === DISCONNECT || type === AUTH) && end - body > 1) {
      at = body + 1
      where = type === AUTH ? IN_AUTH : IN_DISCONNECT
    } else if (type === SUBSCRIBE || type === UNSUBSCRIBE) {
      at = body + 2
      where = type === SUBSCRIBE ? IN_SUBSCRIBE : IN_UNSUBSCRIBE
    }
    if (at >= 0) {
      const problem = checkProperties(buf, at, end, where, TYPE_NAMES[type]!)
      if (problem !== undefined) return problem
    }
  }
  if (type !== SUBSCRIBE && type !== UNSUBSCRIBE) return undefined
  let pos = body + 2 // packet identifier
  if (pos > end)
    return new CodecRefusal(CodecProblem.TRUNCATED, `${TYPE_NAMES[type]} without a packet identifier`)
  if (version === 5) pos = skipProperties(buf, pos, end)
  while (pos >= 0 && pos < end) {
    const next = fieldEnd(buf, pos, end)
    if (next < 0) return undefined
    const problem = stringProblem(buf.subarray(pos + 2, next), 'topic filter')
    if (problem !== undefined) return problem
    pos = type === SUBSCRIBE ? next + 1 : next // SUBSCRIBE: the options byte
  }
  return undefined
}

function connect(buf: Buffer, body: number, end: number): CodecRefusal | undefined {
  const fields = new Fields(buf, body, end)
  if (!fields.next() || fields.pos >= end) return undefined // protocol name
  // The high bit of the level marks a bridge (as mqtt-packet reads it); the level itself must be one we speak.
  const level = buf[fields.pos]! & 0x7f
  if ((level < 3 || level > 5) && isProtocolName(buf.toString('latin1', body + 2, fields.pos)))
    return new CodecRefusal(CodecProblem.UNSUPPORTED_PROTOCOL_VERSION, `CONNECT with protocol level ${level}`)
  if (fields.pos + 4 > end) return undefined
  const flags = buf[fields.pos + 1]!
  fields.pos += 4 // level, flags, keep alive
  const v5 = level === 5
  const walked =
    (!v5 || fields.properties(IN_CONNECT, 'CONNECT')) &&
    fields.next('client identifier') &&
    (!(flags & WILL) ||
      ((!v5 || fields.properties(IN_WILL, 'will')) && fields.next('will topic') && fields.next())) &&
    (!(flags & USERNAME) || fields.next('user name')) &&
    (!(flags & PASSWORD) || fields.next())
  if (!walked) return fields.problem
  return fields.pos === end
    ? undefined
    : new CodecRefusal(CodecProblem.TRAILING_BYTES, 'bytes after the end of the CONNECT payload')
}

/**
 * The first byte of a frame with the header flags 3.1.1 fixes for its type (Table 2.2), PUBLISH's own kept.
 * MQTT 3.1 gave every fixed header DUP, QoS and RETAIN bits: PUBREL, SUBSCRIBE and UNSUBSCRIBE carried QoS 1
 * and set DUP when they were sent again, and the other packets did not use them, so a 3.1 client's flags
 * there are no violation. 3.1.1 fixed them [MQTT-2.2.2-1] [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1]; a
 * 3.1 frame is decoded with them, so middlewares get the same packet from a 3.1 and a 3.1.1 client.
 */
export function withFixedFlags(first: number): number {
  const required = REQUIRED_FLAGS[first >> 4]!
  return required < 0 ? first : (first & 0xf0) | required
}

/** Whether the CONNECT whose body starts at `body` asks for MQTT 3.1: protocol MQIsdp, level 3. */
export function isLevel3Connect(buf: Buffer, body: number, end: number): boolean {
  const level = fieldEnd(buf, body, end)
  return level >= 0 && level < end && buf[level] === 3 && buf.toString('latin1', body + 2, level) === 'MQIsdp'
}

/** MQTT 3.1.1 and 5.0 name their protocol MQTT, 3.1 MQIsdp [MQTT-3.1.2-1]; any other name is malformed. */
function isProtocolName(name: string): boolean {
  return name === 'MQTT' || name === 'MQIsdp'
}

/** A walk over the fields of a frame: stops at the first ill-formed string, or where a field does not fit. */
class Fields {
  /** Why the walk stopped at a wrong field; undefined when it stopped because a field did not fit. */
  problem: CodecRefusal | undefined = undefined

  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}

  /** Past a two-byte-length field; a string (named by `what`, unlike binary data) must be right. */
  next(what?: string): boolean {
    const next = fieldEnd(this.buf, this.pos, this.end)
    if (next < 0) return false
    const problem =
      what === undefined ? undefined : stringProblem(this.buf.subarray(this.pos + 2, next), what)
    if (problem !== undefined) {
      this.problem = problem
      return false
    }
    this.pos = next
    return true
  }

  /** Past an MQTT 5.0 property block, which must be right for `where`. */
  properties(where: number, name: string): boolean {
    this.problem = checkProperties(this.buf, this.pos, this.end, where, name)
    if (this.problem !== undefined) return false
    this.pos = skipProperties(this.buf, this.pos, this.end)
    return this.pos >= 0
  }
}

/**
 * The end of the field at `pos` that starts with its two-byte length (a UTF-8 string or binary data), or -1
 * when it does not fit before `end`.
 */
export function fieldEnd(buf: Buffer, pos: number, end: number): number {
  if (pos < 0 || pos + 2 > end) return -1
  const next = pos + 2 + buf.readUInt16BE(pos)
  return next > end ? -1 : next
}

/** Past an MQTT 5.0 property block (its length, then the properties), or -1 when it does not fit. */
function skipProperties(buf: Buffer, pos: number, end: number): number {
  if (pos < 0) return -1
  let length = 0
  let multiplier = 1
  for (let i = 0; i < 4; i++) {
    if (pos >= end) return -1
    const byte = buf[pos++]!
    length += (byte & 0x7f) * multiplier
    if ((byte & 0x80) === 0) return pos + length > end ? -1 : pos + length
    multiplier *= 128
  }
  return -1
}

/** What each MQTT 5.0 property identifier is followed by (section 2.2.2.2). */
const BYTE = 1
const TWO_BYTES = 2
const FOUR_BYTES = 4
const VARIABLE = 5
const BINARY = 6
const STRING = 7
const STRING_PAIR = 8

/** Where a property may be sent by a client. */
const IN_CONNECT = 1
const IN_WILL = 2
const IN_PUBLISH = 4
const IN_ACK = 8
const IN_SUBSCRIBE = 16
const IN_UNSUBSCRIBE = 32
const IN_DISCONNECT = 64
const IN_AUTH = 128
const ANYWHERE = 255

const TYPE_NAMES = [
  'reserved type 0',
  'CONNECT',
  'CONNACK',
  'PUBLISH',
  'PUBACK',
  'PUBREC',
  'PUBREL',
  'PUBCOMP',
  'SUBSCRIBE',
  'SUBACK',
  'UNSUBSCRIBE',
  'UNSUBACK',
  'PINGREQ',
  'PINGRESP',
  'DISCONNECT',
  'AUTH',
] as const

/**
 * The flags of each packet type's fixed header (Table 2.2), by type; -1: PUBLISH's are its DUP, QoS and
 * RETAIN, checked for QoS 3 only [MQTT-3.3.1-4]; type 0 is for mqtt-packet to refuse.
 */
const REQUIRED_FLAGS = [-1, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0] as const

/**
 * Property identifier: what follows it, and where a client may send it (0: only servers send it). A
 * Subscription Identifier is for SUBSCRIBE: a client's PUBLISH must not carry one [MQTT-3.3.4-6].
 */
const PROPERTIES: Readonly<Record<number, readonly [kind: number, where: number]>> = {
  1: [BYTE, IN_WILL | IN_PUBLISH], // Payload Format Indicator
  2: [FOUR_BYTES, IN_WILL | IN_PUBLISH], // Message Expiry Interval
  3: [STRING, IN_WILL | IN_PUBLISH], // Content Type
  8: [STRING, IN_WILL | IN_PUBLISH], // Response Topic
  9: [BINARY, IN_WILL | IN_PUBLISH], // Correlation Data
  11: [VARIABLE, IN_SUBSCRIBE], // Subscription Identifier
  17: [FOUR_BYTES, IN_CONNECT | IN_DISCONNECT], // Session Expiry Interval
  18: [STRING, 0], // Assigned Client Identifier
  19: [TWO_BYTES, 0], // Server Keep Alive
  21: [STRING, IN_CONNECT | IN_AUTH], // Authentication Method
  22: [BINARY, IN_CONNECT | IN_AUTH], // Authentication Data
  23: [BYTE, IN_CONNECT], // Request Problem Information
  24: [FOUR_BYTES, IN_WILL], // Will Delay Interval
  25: [BYTE, IN_CONNECT], // Request Response Information
  26: [STRING, 0], // Response Information
  28: [STRING, IN_DISCONNECT], // Server Reference
  31: [STRING, IN_ACK | IN_DISCONNECT | IN_AUTH], // Reason String
  33: [TWO_BYTES, IN_CONNECT], // Receive Maximum
  34: [TWO_BYTES, IN_CONNECT], // Topic Alias Maximum
  35: [TWO_BYTES, IN_PUBLISH], // Topic Alias
  36: [BYTE, 0], // Maximum QoS
  37: [BYTE, 0], // Retain Available
  38: [STRING_PAIR, ANYWHERE], // User Property: the only one that may be given more than once
  39: [FOUR_BYTES, IN_CONNECT], // Maximum Packet Size
  40: [BYTE, 0], // Wildcard Subscription Available
  41: [BYTE, 0], // Subscription Identifier Available
  42: [BYTE, 0], // Shared Subscription Available
}

const USER_PROPERTY = 38

/**
 * The problem of the property block at `pos`: a property that does not belong in `where` or is given
 * twice (Protocol Errors), a string that is not well-formed UTF-8 or holds U+0000 (malformed); undefined
 * when there is none, or when the block itself is not well formed (mqtt-packet says why).
 */
function checkProperties(
  buf: Buffer,
  pos: number,
  end: number,
  where: number,
  name: string,
): CodecRefusal | undefined {
  const blockEnd = skipProperties(buf, pos, end)
  if (blockEnd < 0) return undefined
  while (pos < end && buf[pos]! & 0x80) pos++
  pos++ // the last byte of the property length
  let seenLow = 0 // identifiers 0-31 seen, as bits
  let seenHigh = 0 // identifiers 32-63
  while (pos < blockEnd) {
    const id = buf[pos++]!
    const property = PROPERTIES[id]
    if (property === undefined) return undefined
    const [kind, allowed] = property
    if ((allowed & where) === 0)
      return new CodecRefusal(CodecProblem.PROPERTY_NOT_ALLOWED, `property ${id} does not belong in ${name}`)
    if (id !== USER_PROPERTY) {
      const bit = 1 << (id & 31)
      const seen = id < 32 ? seenLow : seenHigh
      if (seen & bit)
        return new CodecRefusal(CodecProblem.DUPLICATE_PROPERTY, `property ${id} more than once in ${name}`)
      if (id < 32) seenLow |= bit
      else seenHigh |= bit
    }
    if (kind <= FOUR_BYTES) pos += kind
    else if (kind === VARIABLE) {
      while (pos < blockEnd && buf[pos]! & 0x80) pos++
      pos++
    } else {
      for (let i = kind === STRING_PAIR ? 2 : 1; i > 0; i--) {
        const next = fieldEnd(buf, pos, blockEnd)
        if (next < 0) return undefined
        if (kind !== BINARY) {
          const problem = stringProblem(buf.subarray(pos + 2, next), `string of property ${id}`)
          if (problem !== undefined) return problem
        }
        pos = next
      }
    }
  }
  return undefined
}
