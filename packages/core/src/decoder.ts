/**
 * Turns a client's byte stream into packets. Frames are cut from the fixed header alone, so an oversized
 * or malformed length is refused before any body is buffered (a hostile client cannot make the broker hold
 * 256 MB by announcing it). The packets of the message flow (PUBLISH and its acknowledgements) are decoded
 * here, straight from the frame; every other packet goes to one mqtt-packet parser shared by all clients,
 * fed a whole frame at a time, which keeps per-connection memory and per-message work small.
 */
import mqtt from 'mqtt-packet'
import { checkFrame, fieldEnd, stringProblem } from './frame-checks.js'
import type { Packet, ProtocolVersion } from './packets.js'

/**
 * Why a frame was refused: a remaining length over the limit or longer than four bytes, a malformed body, or
 * (MQTT 5.0) a Protocol Error in its properties.
 */
export type DecodeProblem = 'too-large' | 'malformed-length' | 'malformed' | 'protocol-error'

/** A packet was decoded. Returns false to stop decoding (the connection is closing). */
export type OnPacket = (packet: Packet) => boolean

/** The stream cannot be decoded further; nothing more is delivered. */
export type OnProblem = (problem: DecodeProblem, message: string, cause: Error | undefined) => void

const CONNECT = 1
const PUBLISH = 3
const PUBACK = 4
const PUBREL = 6
const PUBCOMP = 7
const SUBSCRIBE = 8
const UNSUBSCRIBE = 10
const TYPES = ['reserved', 'connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp'] as const

/** What `#frameSize` returns when the fixed header is cut off, or was refused. */
const INCOMPLETE = -1
const REFUSED = -2

/** The largest fixed header: one type byte and four length bytes [MQTT-1.5.5-1] / 3.1.1 §2.2.3. */
const MAX_HEADER = 5

export class PacketDecoder {
  /** A frame that began in an earlier chunk, and how much of it has arrived. */
  #frame: Buffer | undefined = undefined
  #filled = 0
  /** A fixed header split across chunks. */
  #head: Buffer | undefined = undefined
  #headLength = 0
  #stopped = false

  /**
   * @param connection whose protocol version decodes each frame (4 until its CONNECT is known)
   * @param maxPacketSize the largest whole packet accepted, fixed header included (as MQTT 5.0 counts it)
   */
  constructor(
    private readonly connection: { readonly protocolVersion: ProtocolVersion },
    private readonly onPacket: OnPacket,
    private readonly onProblem: OnProblem,
    private readonly maxPacketSize: number,
  ) {}

  push(chunk: Buffer): void {
    if (this.#stopped) return
    const size = chunk.length
    let i = 0
    if (this.#headLength > 0 && !this.#completeHead(chunk)) return
    if (this.#frame !== undefined) {
      const frame = this.#frame
      const take = Math.min(frame.length - this.#filled, size - i)
      chunk.copy(frame, this.#filled, i, i + take)
      this.#filled += take
      i += take
      if (this.#filled < frame.length) return
      this.#frame = undefined
      if (!this.#decode(frame, 0, frame.length)) return
    }
    while (i < size) {
      const total = this.#frameSize(chunk, i, size)
      if (total === REFUSED) return
      if (total === INCOMPLETE) {
        // A fixed header cut off by the end of the chunk.
        this.#head ??= Buffer.allocUnsafe(MAX_HEADER)
        this.#headLength = chunk.copy(this.#head, 0, i, size)
        return
      }
      if (i + total > size) {
        this.#frame = Buffer.allocUnsafe(total)
        this.#filled = chunk.copy(this.#frame, 0, i, size)
        return
      }
      if (!this.#decode(chunk, i, total)) return
      i += total
    }
  }

  /**
   * The size of the frame whose fixed header (a type byte, then one to four bytes of remaining length)
   * starts at `from`: INCOMPLETE when the header runs past `end`, REFUSED when the stream was refused.
   */
  #frameSize(buf: Buffer, from: number, end: number): number {
    let length = 0
    let multiplier = 1
    let j = from + 1
    for (;;) {
      if (j >= end) return INCOMPLETE
      const byte = buf[j++]!
      length += (byte & 0x7f) * multiplier
      if ((byte & 0x80) === 0) {
        // [MQTT-1.5.5-1] The fewest bytes: a last length byte of 0 after another one is not.
        if (byte === 0 && j - from > 2) {
          this.#stop('malformed-length', 'remaining length not encoded in the fewest bytes')
          return REFUSED
        }
        break
      }
      multiplier *= 128
      if (j - from > 4) {
        this.#stop('malformed-length', 'remaining length longer than four bytes')
        return REFUSED
      }
    }
    const total = j - from + length
    if (total > this.maxPacketSize) {
      this.#stop('too-large', `packet larger than maxPacketSize (${this.maxPacketSize} bytes)`)
      return REFUSED
    }
    return total
  }

  /**
   * Completes a fixed header split across chunks with the first bytes of `chunk` and starts its frame,
   * which the caller fills from `chunk` (the rest of the header included). False when the chunk ended
   * first or the stream was refused.
   */
  #completeHead(chunk: Buffer): boolean {
    const head = this.#head!
    const kept = this.#headLength
    const added = chunk.copy(head, kept, 0, Math.min(MAX_HEADER - kept, chunk.length))
    const total = this.#frameSize(head, 0, kept + added)
    if (total === REFUSED) return false
    if (total === INCOMPLETE) {
      this.#headLength = kept + added
      return false
    }
    this.#frame = Buffer.allocUnsafe(total)
    this.#filled = head.copy(this.#frame, 0, 0, kept)
    this.#headLength = 0
    return true
  }

  #stop(problem: DecodeProblem, message: string, cause?: Error): void {
    this.#stopped = true
    this.#frame = undefined
    this.onProblem(problem, message, cause)
  }

  /** Decodes one whole frame at `start`; false when decoding must stop. */
  #decode(buf: Buffer, start: number, total: number): boolean {
    const first = buf[start]!
    const type = first >> 4
    const version = this.connection.protocolVersion
    let body = start + 2
    while (buf[body - 1]! & 0x80) body++
    const end = start + total
    let packet: Packet | string | undefined
    if (type === PUBLISH) {
      // A topic of ill-formed UTF-8 closes the connection: checked on the bytes, as decoding would replace
      // it. A topic that does not fit is mqtt-packet's to explain.
      const topicEnd = fieldEnd(buf, body, end)
      if (topicEnd >= 0) {
        const propertiesAt = topicEnd + ((first & 0x06) === 0 ? 0 : 2)
        packet = stringProblem(buf.subarray(body + 2, topicEnd), 'topic')
        if (packet === undefined && (version !== 5 || (propertiesAt < end && buf[propertiesAt] === 0)))
          packet = decodePublish(buf, first, body, topicEnd, end, version)
      }
    } else if (type >= PUBACK && type <= PUBCOMP && (version !== 5 || end - body <= 2)) {
      packet = decodeAck(buf, first, type, body, end, version)
    }
    if (packet === undefined) {
      const problem = checkFrame(buf, first, body, end, version)
      if (problem !== undefined) {
        const kind = problem.protocolError ? 'protocol-error' : 'malformed'
        this.#stop(
          kind,
          `${problem.protocolError ? 'protocol error' : 'malformed packet'}: ${problem.message}`,
        )
        return false
      }
      if (type === CONNECT) packet = decodeConnect(buf, first, body, end)
      else if (type === SUBSCRIBE && version !== 5) packet = decodeSubscribe(buf, first, body, end)
      packet ??= parseFrame(buf.subarray(start, end), version)
    }
    if (typeof packet === 'string') {
      this.#stop('malformed', `malformed packet: ${packet}`, new Error(packet))
      return false
    }
    const identified = type === PUBLISH ? (first & 0x06) !== 0 : type === SUBSCRIBE || type === UNSUBSCRIBE
    if (identified && (packet as { messageId?: number }).messageId === 0) {
      // [MQTT-2.3.1-1] SUBSCRIBE, UNSUBSCRIBE and a QoS 1/2 PUBLISH carry a non-zero packet identifier.
      this.#stop('protocol-error', `protocol error: ${packet.cmd} with packet identifier 0`)
      return false
    }
    if (this.onPacket(packet)) return true
    this.#stopped = true
    return false
  }
}

/** mqtt-packet's packet class, so packets decoded here have the same shape as those it decodes. */
type PacketClass = new () => Record<string, unknown>

type Parser = ReturnType<typeof mqtt.parser> & { settings: { protocolVersion: ProtocolVersion } }

let shared: Parser | undefined
const PacketOfMqttPacket = (mqtt.parser() as unknown as { packet: { constructor: PacketClass } }).packet
  .constructor
let parsed: Packet | undefined
let failure: Error | undefined
/** Its settings, given before each frame: it replaces them with the CONNECT it has just parsed. */
const SETTINGS: Readonly<Record<ProtocolVersion, { readonly protocolVersion: ProtocolVersion }>> = {
  3: Object.freeze({ protocolVersion: 3 }),
  4: Object.freeze({ protocolVersion: 4 }),
  5: Object.freeze({ protocolVersion: 5 }),
}

function sharedParser(): Parser {
  if (shared === undefined) {
    shared = mqtt.parser() as Parser
    // Only recorded: no broker code runs inside the parser, so it can never be entered twice.
    shared.on('packet', (packet: Packet) => {
      parsed = packet
    })
    shared.on('error', (err: Error) => {
      failure = err
    })
  }
  return shared
}

/** Any packet, through mqtt-packet: a whole frame in, the packet (or why it is malformed) out. */
function parseFrame(frame: Buffer, version: ProtocolVersion): Packet | string {
  const parser = sharedParser()
  parser.settings = SETTINGS[version]
  parsed = undefined
  failure = undefined
  parser.parse(frame)
  const packet = parsed
  parsed = undefined
  if (failure !== undefined) {
    const { message } = failure
    failure = undefined
    // Its state is reset by its next parse; nothing of this frame may be left for the next client.
    shared = undefined
    return message
  }
  if (packet === undefined) {
    shared = undefined
    return 'incomplete packet'
  }
  // mqtt-packet reads a packet identifier cut off by the end of the frame as -1 instead of failing.
  if ((packet as { messageId?: number }).messageId === -1) return 'Cannot parse messageId'
  // Likewise a property value cut off (-1 for a number, null for a string or binary).
  const { properties, will } = packet as { properties?: object; will?: { properties?: object } }
  if (cutOff(properties) || cutOff(will?.properties))
    return 'a property value runs past the end of the packet'
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

function newPacket(cmd: string, first: number, length: number): Record<string, unknown> {
  const packet = new PacketOfMqttPacket()
  packet.cmd = cmd
  packet.retain = (first & 0x01) !== 0
  packet.qos = (first >> 1) & 0x03
  packet.dup = (first & 0x08) !== 0
  packet.length = length
  return packet
}

/** A PUBLISH without MQTT 5.0 properties, whose topic ends at `topicEnd`. */
function decodePublish(
  buf: Buffer,
  first: number,
  body: number,
  topicEnd: number,
  end: number,
  version: ProtocolVersion,
): Packet | string {
  const qos = (first >> 1) & 0x03
  if (qos === 3) return 'Packet must not have both QoS bits set to 1'
  const packet = newPacket('publish', first, end - body)
  packet.topic = buf.toString('utf8', body + 2, topicEnd)
  let pos = topicEnd
  if (qos > 0) {
    if (end - pos < 2) return 'Cannot parse messageId'
    packet.messageId = buf.readUInt16BE(pos)
    pos += 2
  }
  if (version === 5) pos++ // a property length of 0, checked by the caller
  packet.payload = buf.subarray(pos, end)
  return packet as unknown as Packet
}

/** CONNECT flags. */
const USERNAME = 0x80
const PASSWORD = 0x40
const WILL_RETAIN = 0x20
const WILL_QOS = 0x18
const WILL = 0x04
const CLEAN = 0x02

/**
 * A 3.1/3.1.1 CONNECT (its strings and its end already checked), in mqtt-packet's shape; undefined for
 * anything else, a 5.0 CONNECT or one mqtt-packet refuses, which it then decodes or explains.
 */
function decodeConnect(buf: Buffer, first: number, body: number, end: number): Packet | undefined {
  if ((first & 0x0f) !== 0) return undefined
  let pos = fieldEnd(buf, body, end)
  if (pos < 0 || pos + 4 > end) return undefined
  const protocolId = buf.toString('latin1', body + 2, pos)
  const level = buf[pos]!
  const flags = buf[pos + 1]!
  if (!((protocolId === 'MQTT' && level === 4) || (protocolId === 'MQIsdp' && level === 3))) return undefined
  const will = (flags & WILL) !== 0
  if (flags & 0x01 || (!will && flags & (WILL_RETAIN | WILL_QOS))) return undefined
  const packet = newPacket('connect', first, end - body)
  packet.protocolId = protocolId
  packet.protocolVersion = level
  const willPacket: Record<string, unknown> | undefined = will
    ? { retain: (flags & WILL_RETAIN) !== 0, qos: (flags & WILL_QOS) >> 3 }
    : undefined
  if (willPacket !== undefined) packet.will = willPacket
  packet.clean = (flags & CLEAN) !== 0
  packet.keepalive = buf.readUInt16BE(pos + 2)
  pos += 4
  let next = fieldEnd(buf, pos, end)
  if (next < 0) return undefined
  packet.clientId = buf.toString('utf8', pos + 2, next)
  if (willPacket !== undefined) {
    pos = next
    next = fieldEnd(buf, pos, end)
    if (next < 0) return undefined
    willPacket.topic = buf.toString('utf8', pos + 2, next)
    pos = next
    next = fieldEnd(buf, pos, end)
    if (next < 0) return undefined
    willPacket.payload = buf.subarray(pos + 2, next)
  }
  if (flags & USERNAME) {
    pos = next
    next = fieldEnd(buf, pos, end)
    if (next < 0) return undefined
    packet.username = buf.toString('utf8', pos + 2, next)
  }
  if (flags & PASSWORD) {
    pos = next
    next = fieldEnd(buf, pos, end)
    if (next < 0) return undefined
    packet.password = buf.subarray(pos + 2, next)
  }
  return packet as unknown as Packet
}

/** A 3.1/3.1.1 SUBSCRIBE (its filters already checked as UTF-8), with mqtt-packet's errors and shape. */
function decodeSubscribe(buf: Buffer, first: number, body: number, end: number): Packet | string {
  if ((first & 0x0f) !== 2) return 'Invalid header flag bits, must be 0x2 for subscribe packet'
  if (end - body < 2) return 'Cannot parse messageId'
  const subscriptions: { topic: string; qos: number }[] = []
  const packet = newPacket('subscribe', first, end - body)
  packet.subscriptions = subscriptions
  packet.messageId = buf.readUInt16BE(body)
  let pos = body + 2
  while (pos < end) {
    const topicEnd = fieldEnd(buf, pos, end)
    if (topicEnd < 0) return 'Cannot parse topic'
    if (topicEnd === end) return 'Malformed Subscribe Payload'
    const options = buf[topicEnd]!
    // [MQTT-3.8.3-4] the upper six bits of the requested QoS byte are reserved.
    if (options & 0xfc) return 'Invalid subscribe topic flag bits, bits 7-2 must be 0'
    if ((options & 0x03) === 3) return 'Invalid subscribe QoS, must be <= 2'
    subscriptions.push({ topic: buf.toString('utf8', pos + 2, topicEnd), qos: options })
    pos = topicEnd + 1
  }
  return packet as unknown as Packet
}

/** PUBACK, PUBREC, PUBREL or PUBCOMP with a packet identifier only. */
function decodeAck(
  buf: Buffer,
  first: number,
  type: number,
  body: number,
  end: number,
  version: ProtocolVersion,
): Packet | string {
  const flags = first & 0x0f
  const required = type === PUBREL ? 2 : 0
  if (flags !== required) return `Invalid header flag bits, must be 0x${required} for ${TYPES[type]} packet`
  // 3.1.1: the remaining length of these packets is 2.
  if (end - body !== 2) return `${TYPES[type]} must have a remaining length of 2`
  const packet = newPacket(TYPES[type]!, first, 2)
  packet.messageId = buf.readUInt16BE(body)
  if (version === 5) packet.reasonCode = 0
  return packet as unknown as Packet
}
