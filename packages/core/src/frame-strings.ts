/**
 * Checks the UTF-8 strings of CONNECT, SUBSCRIBE and UNSUBSCRIBE frames on their bytes, before mqtt-packet
 * decodes them: its decoding replaces ill-formed UTF-8 with U+FFFD, after which nobody can tell
 * [MQTT-1.5.3-1] (5.0: [MQTT-1.5.4-1]). A CONNECT is also walked to its end: bytes left after the payload
 * its flags announce make it malformed [MQTT-3.1.4-1]. A frame too short for what it announces is left to
 * mqtt-packet, which says what is missing.
 */
import { isUtf8 } from 'node:buffer'
import type { ProtocolVersion } from './packets.js'

const CONNECT = 1
const SUBSCRIBE = 8
const UNSUBSCRIBE = 10

/** Flags of the CONNECT variable header. */
const USERNAME = 0x80
const PASSWORD = 0x40
const WILL = 0x04

/** Why the frame is malformed, or undefined when its strings are well formed (or it is not checked here). */
export function illFormedStrings(
  buf: Buffer,
  type: number,
  body: number,
  end: number,
  version: ProtocolVersion,
): string | undefined {
  if (type === CONNECT) return connect(buf, body, end)
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
  let pos = stringEnd(buf, body, end) // protocol name
  if (pos < 0 || pos + 4 > end) return undefined
  const level = buf[pos]! & 0x7f
  const flags = buf[pos + 1]!
  pos += 4 // level, flags, keep alive
  if (level === 5) pos = skipProperties(buf, pos, end)
  const clientIdAt = pos
  pos = stringEnd(buf, pos, end)
  if (pos < 0) return undefined
  if (!isUtf8(buf.subarray(clientIdAt + 2, pos))) return 'client identifier is not valid UTF-8'
  if (flags & WILL) {
    if (level === 5) pos = skipProperties(buf, pos, end)
    const topicAt = pos
    pos = stringEnd(buf, pos, end)
    if (pos < 0) return undefined
    if (!isUtf8(buf.subarray(topicAt + 2, pos))) return 'will topic is not valid UTF-8'
    pos = stringEnd(buf, pos, end) // will payload: binary data, any bytes
    if (pos < 0) return undefined
  }
  if (flags & USERNAME) {
    const usernameAt = pos
    pos = stringEnd(buf, pos, end)
    if (pos < 0) return undefined
    if (!isUtf8(buf.subarray(usernameAt + 2, pos))) return 'user name is not valid UTF-8'
  }
  if (flags & PASSWORD) {
    pos = stringEnd(buf, pos, end) // binary data
    if (pos < 0) return undefined
  }
  return pos === end ? undefined : 'bytes after the end of the CONNECT payload'
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
