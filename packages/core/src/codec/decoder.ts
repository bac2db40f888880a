/**
 * Turns a client's byte stream into packets. Frames are cut from the fixed header alone, so an oversized
 * or malformed length is refused before any body is buffered (a hostile client cannot make the broker hold
 * 256 MB by announcing it). The packets of the message flow (PUBLISH and its acknowledgements) are decoded
 * straight from the frame (fast-decode.ts); every other packet is checked on its bytes (frame-checks.ts),
 * then goes to mqtt-packet's parser, shared by all clients and fed a whole frame at a time (shared-parser.ts),
 * which keeps per-connection memory and per-message work small. A refusal stops the stream with a
 * `CodecProblem`.
 */
import type { Packet, ProtocolVersion } from '../packets.js'
import { decodeAck, decodeConnect, decodePublish, decodeSubscribe } from './fast-decode.js'
import { checkFrame, fieldEnd, isLevel3Connect, stringProblem, withFixedFlags } from './frame-checks.js'
import { CodecProblem, CodecRefusal } from './problems.js'
import { parseFrame } from './shared-parser.js'
import { CONNECT, PUBACK, PUBCOMP, PUBLISH, SUBSCRIBE, UNSUBSCRIBE } from './wire.js'

/** The method of a `DecoderSink` that takes each decoded packet; it returns false to stop decoding. */
export const DECODED: unique symbol = Symbol('decoded')
/** The method of a `DecoderSink` told that the stream cannot be decoded further; `detail` is for people. */
export const UNDECODABLE: unique symbol = Symbol('undecodable')

/**
 * Where a decoder delivers: the connection itself (its protocol version decodes each frame, 4 until its
 * CONNECT is known). Symbol-named methods rather than two callbacks: no closures per connection, and they
 * stay off the connection's public surface.
 */
export interface DecoderSink {
  readonly protocolVersion: ProtocolVersion
  [DECODED](packet: Packet): boolean
  [UNDECODABLE](problem: CodecProblem, detail: string, cause: Error | undefined): void
}

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
   * @param connection what takes the packets and the problem, and whose protocol version decodes each frame
   * @param maxPacketSize the largest whole packet accepted, fixed header included (as MQTT 5.0 counts it)
   */
  constructor(
    private readonly connection: DecoderSink,
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
          this.#stop(CodecProblem.MALFORMED_LENGTH, 'remaining length not encoded in the fewest bytes')
          return REFUSED
        }
        break
      }
      multiplier *= 128
      if (j - from > 4) {
        this.#stop(CodecProblem.MALFORMED_LENGTH, 'remaining length longer than four bytes')
        return REFUSED
      }
    }
    const total = j - from + length
    if (total > this.maxPacketSize) {
      this.#stop(
        CodecProblem.PACKET_TOO_LARGE,
        `packet larger than maxPacketSize (${this.maxPacketSize} bytes)`,
      )
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

  #stop(problem: CodecProblem, detail: string, cause?: Error): void {
    this.#stopped = true
    this.#frame = undefined
    this.connection[UNDECODABLE](problem, detail, cause)
  }

  /** Decodes one whole frame at `start`; false when decoding must stop. */
  #decode(buf: Buffer, start: number, total: number): boolean {
    let first = buf[start]!
    const type = first >> 4
    const version = this.connection.protocolVersion
    let body = start + 2
    while (buf[body - 1]! & 0x80) body++
    const end = start + total
    // MQTT 3.1 set flags in fixed headers that 3.1.1 fixes: a 3.1 client's frames (its CONNECT included,
    // decoded before its level is known) are decoded as if it had sent the 3.1.1 ones.
    if (
      version === 3 ? type !== PUBLISH : type === CONNECT && first !== 0x10 && isLevel3Connect(buf, body, end)
    )
      first = withFixedFlags(first)
    let packet: Packet | CodecRefusal | undefined
    if (type === PUBLISH) {
      // A topic of ill-formed UTF-8 closes the connection: checked on the bytes, as decoding would replace
      // it. A topic that does not fit is left to the checks below.
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
      packet = checkFrame(buf, first, body, end, version)
      if (packet === undefined && type === CONNECT) packet = decodeConnect(buf, first, body, end)
      else if (packet === undefined && type === SUBSCRIBE && version !== 5)
        packet = decodeSubscribe(buf, first, body, end)
      packet ??= parseFrame(frameOf(buf, start, end, first), version)
    }
    if (packet instanceof CodecRefusal) {
      this.#stop(packet.problem, packet.detail, packet.cause)
      return false
    }
    const identified = type === PUBLISH ? (first & 0x06) !== 0 : type === SUBSCRIBE || type === UNSUBSCRIBE
    if (identified && (packet as { messageId?: number }).messageId === 0) {
      // [MQTT-2.3.1-1] SUBSCRIBE, UNSUBSCRIBE and a QoS 1/2 PUBLISH carry a non-zero packet identifier.
      this.#stop(CodecProblem.ZERO_PACKET_IDENTIFIER, `${packet.cmd} with packet identifier 0`)
      return false
    }
    if (this.connection[DECODED](packet)) return true
    this.#stopped = true
    return false
  }
}

/** The frame at `start`, with `first` as its first byte: a copy where that differs from the bytes received. */
function frameOf(buf: Buffer, start: number, end: number, first: number): Buffer {
  const frame = buf.subarray(start, end)
  if (frame[0] === first) return frame
  const copy = Buffer.from(frame)
  copy[0] = first
  return copy
}
