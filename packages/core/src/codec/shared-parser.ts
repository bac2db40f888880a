/**
 * The packets core does not decode itself go to mqtt-packet, through its public parser: one per protocol
 * version, shared by every connection and fed a whole frame at a time. Nothing of the broker runs inside
 * it (its events are only recorded), so it is never entered twice.
 */
import mqtt from 'mqtt-packet'
import type { Packet, ProtocolVersion } from '../packets.js'
import { CodecProblem, CodecRefusal } from './problems.js'
import { keepPublishOrder, keepWillOrder } from './user-properties.js'

type Parser = ReturnType<typeof mqtt.parser>

/** By protocol version; a parser that failed or read a CONNECT is dropped (see `parseFrame`). */
const parsers: (Parser | undefined)[] = []
let parsed: Packet | undefined
let failure: Error | undefined

function record(packet: Packet): void {
  parsed = packet
}

function fail(err: Error): void {
  failure = err
}

function parserFor(version: ProtocolVersion): Parser {
  let parser = parsers[version]
  if (parser === undefined) {
    parser = mqtt.parser({ protocolVersion: version })
    parser.on('packet', record)
    parser.on('error', fail)
    parsers[version] = parser
  }
  return parser
}

/** Any packet, through mqtt-packet: a whole frame in, the packet (or why it is refused) out. */
export function parseFrame(frame: Buffer, version: ProtocolVersion): Packet | CodecRefusal {
  const parser = parserFor(version)
  parsed = undefined
  failure = undefined
  parser.parse(frame)
  // Set by the listeners during parse(), which the compiler cannot see.
  const packet = parsed as Packet | undefined
  const err = failure as Error | undefined
  parsed = undefined
  failure = undefined
  if (err !== undefined) {
    // Part of this frame may be left in it; nothing of it may reach the next client.
    parsers[version] = undefined
    return new CodecRefusal(CodecProblem.MALFORMED_PACKET, err.message, err)
  }
  if (packet === undefined) {
    parsers[version] = undefined
    return new CodecRefusal(CodecProblem.MALFORMED_PACKET, 'no packet in the frame')
  }
  // After a CONNECT mqtt-packet parses as the CONNECT's version; this parser must stay at `version`.
  if (packet.cmd === 'connect') parsers[version] = undefined
  // mqtt-packet reads a packet identifier cut off by the end of the frame as -1 instead of failing.
  if ((packet as { messageId?: number }).messageId === -1)
    return new CodecRefusal(CodecProblem.TRUNCATED, 'the packet identifier runs past the end of the packet')
  // Likewise a property value cut off (-1 for a number, null for a string or binary).
  const { properties, will } = packet as { properties?: object; will?: { properties?: object } }
  if (cutOff(properties) || cutOff(will?.properties))
    return new CodecRefusal(CodecProblem.TRUNCATED, 'a property value runs past the end of the packet')
  // MQTT 5.0 User Properties keep their wire order [MQTT-3.3.2-18] [MQTT-3.1.3-10]: read again from the
  // bytes, only for the packets that have some.
  if (packet.cmd === 'publish') {
    if (packet.properties?.userProperties !== undefined) keepPublishOrder(frame, packet.properties)
  } else if (packet.cmd === 'connect' && packet.will?.properties?.userProperties !== undefined) {
    keepWillOrder(frame, packet.will.properties)
  }
  return packet
}

function cutOff(properties: object | undefined): boolean {
  if (properties === undefined) return false
  for (const value of Object.values(properties)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item === -1 || item === null || item === undefined) return true
      // User Properties: name -> value(s); a pair cut off has a null value.
      if (typeof item === 'object' && !Buffer.isBuffer(item) && cutOff(item)) return true
    }
  }
  return false
}
