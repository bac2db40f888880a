/**
 * Checks the UTF-8 strings of the frames mqtt-packet decodes on their bytes, before it decodes them: its
 * decoding replaces ill-formed UTF-8 with U+FFFD, after which nobody can tell [MQTT-1.5.3-1] (5.0:
 * [MQTT-1.5.4-1]). That is the strings of CONNECT, SUBSCRIBE and UNSUBSCRIBE, and in MQTT 5.0 the string
 * properties of every packet, which must not hold U+0000 either [MQTT-1.5.4-2] [MQTT-1.5.7-1]. A CONNECT is
 * also walked to its end: bytes left after the payload its flags announce make it malformed [MQTT-3.1.4-1].
 * A frame too short for what it announces is left to mqtt-packet, which says what is missing.
 */
import { isUtf8 } from 'node:buffer'
import type { ProtocolVersion } from './packets.js'

const CONNECT = 1
const PUBLISH = 3
const PUBACK = 4
const PUBCOMP = 7
const SUBSCRIBE = 8
const UNSUBSCRIBE = 10
const DISCONNECT = 14
const AUTH = 15

/** Flags of the CONNECT variable header. */
const USERNAME = 0x80
const PASSWORD = 0x40
const WILL = 0x04

/** Why the frame is malformed, or undefined when its strings are well formed (or it is not checked here). */
export function illFormedStrings(
  buf: Buffer,
  first: number,
  body: number,
  end: number,
  version: ProtocolVersion,
): string | undefined {
  const type = first >> 4
  if (type === CONNECT) return connect(buf, body, end)
  if (version === 5) {
    // Where the properties start: after the packet identifier and reason code, when there are any.
    let at = -1
    if (type === PUBLISH) {
      at = stringEnd(buf, body, end)
      if (at >= 0 && (first & 0x06) !== 0) at += 2
    } else if (type >= PUBACK && type <= PUBCOMP && end - body > 3) at = body + 3
    else if ((type === DISCONNECT || type === AUTH) && end - body > 1) at = body + 1
    else if (type === SUBSCRIBE || type === UNSUBSCRIBE) at = body + 2
    if (at >= 0) {
      const problem = propertyStrings(buf, at, end)
      if (problem !== undefined) return problem
    }
  }
  if (type !== SUBSCRIBE && type !== UNSUBSCRIBE) return undefined
  let pos = body + 2 // packet identifier
  if (version === 5) pos = skipProperties(buf, pos, end)
  while (pos >= 0 && pos < end) {
    const next = stringEnd(buf, pos, end)
    if (next < 0) return undefined
    if (!isUtf8(buf.subarray(pos + 2, next))) return 'topic filter is not valid UTF-8'
    pos = type === SUBSCRIBE ? next + 1 : next // SUBSCRIBE: the options byte
  }
  return undefined
}

function connect(buf: Buffer, body: number, end: number): string | undefined {
  const fields = new Fields(buf, body, end)
  if (!fields.next() || fields.pos + 4 > end) return undefined // protocol name
  const level = buf[fields.pos]! & 0x7f
  const flags = buf[fields.pos + 1]!
  fields.pos += 4 // level, flags, keep alive
  const v5 = level === 5
  const walked =
    (!v5 || fields.properties()) &&
    fields.next('client identifier') &&
    (!(flags & WILL) || ((!v5 || fields.properties()) && fields.next('will topic') && fields.next())) &&
    (!(flags & USERNAME) || fields.next('user name')) &&
    (!(flags & PASSWORD) || fields.next())
  if (!walked) return fields.problem
  return fields.pos === end ? undefined : 'bytes after the end of the CONNECT payload'
}

/** A walk over the fields of a frame: stops at the first ill-formed string, or where a field does not fit. */
class Fields {
  /** Why the walk stopped at an ill-formed string; undefined when it stopped because a field did not fit. */
  problem: string | undefined = undefined

  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}

  /** Past a two-byte-length field; a string (named by `what`, unlike binary data) must be well-formed UTF-8. */
  next(what?: string): boolean {
    const next = stringEnd(this.buf, this.pos, this.end)
    if (next < 0) return false
    if (what !== undefined && !isUtf8(this.buf.subarray(this.pos + 2, next))) {
      this.problem = `${what} is not valid UTF-8`
      return false
    }
    this.pos = next
    return true
  }

  /** Past an MQTT 5.0 property block, whose strings must be well formed. */
  properties(): boolean {
    this.problem = propertyStrings(this.buf, this.pos, this.end)
    if (this.problem !== undefined) return false
    this.pos = skipProperties(this.buf, this.pos, this.end)
    return this.pos >= 0
  }
}

/** The end of the two-byte-length field at `pos`, or -1 when it does not fit before `end`. */
function stringEnd(buf: Buffer, pos: number, end: number): number {
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
const PROPERTY_KINDS: Readonly<Record<number, number>> = {
  1: BYTE,
  2: FOUR_BYTES,
  3: STRING,
  8: STRING,
  9: BINARY,
  11: VARIABLE,
  17: FOUR_BYTES,
  18: STRING,
  19: TWO_BYTES,
  21: STRING,
  22: BINARY,
  23: BYTE,
  24: FOUR_BYTES,
  25: BYTE,
  26: STRING,
  28: STRING,
  31: STRING,
  33: TWO_BYTES,
  34: TWO_BYTES,
  35: TWO_BYTES,
  36: BYTE,
  37: BYTE,
  38: STRING_PAIR,
  39: FOUR_BYTES,
  40: BYTE,
  41: BYTE,
  42: BYTE,
}

/**
 * The problem of the first string property at `pos` (a property block) that is not well-formed UTF-8 or
 * holds U+0000; undefined when none, or when the block is not well formed (mqtt-packet says why).
 */
function propertyStrings(buf: Buffer, pos: number, end: number): string | undefined {
  const blockEnd = skipProperties(buf, pos, end)
  if (blockEnd < 0) return undefined
  while (pos < end && buf[pos]! & 0x80) pos++
  pos++ // the last byte of the property length
  while (pos < blockEnd) {
    const kind = PROPERTY_KINDS[buf[pos++]!]
    if (kind === undefined) return undefined
    if (kind <= FOUR_BYTES) pos += kind
    else if (kind === VARIABLE) {
      while (pos < blockEnd && buf[pos]! & 0x80) pos++
      pos++
    } else {
      for (let i = kind === STRING_PAIR ? 2 : 1; i > 0; i--) {
        const next = stringEnd(buf, pos, blockEnd)
        if (next < 0) return undefined
        if (kind !== BINARY) {
          const text = buf.subarray(pos + 2, next)
          if (!isUtf8(text)) return 'a string property is not valid UTF-8'
          if (text.includes(0)) return 'U+0000 in a string property'
        }
        pos = next
      }
    }
  }
  return undefined
}
