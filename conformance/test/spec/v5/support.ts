/**
 * Helpers of the MQTT 5.0 conformance tests: raw 5.0 peers on the default example broker, byte builders for
 * malformed packets, and a wire peer that keeps the exact bytes of every packet the broker sends.
 */

import { once } from 'node:events'
import { connect as connectSocket, type Socket } from 'node:net'
import type { Packet, PacketOf } from '@mqtt-stack/core'
import type { PacketPeer } from '@mqtt-stack/core/testing'
import type { BrokerOptions } from '@mqtt-stack/example-basic'
import mqtt from 'mqtt-packet'
import { afterEach, expect } from 'vitest'
import { type RunningBroker, startBroker } from '../../support/broker.js'

export type ConnectPacket = PacketOf<'connect'>
export type PublishPacket = PacketOf<'publish'>

/** How long a test waits for one packet or a close. */
export const TIMEOUT = 2000

/** A 5.0 CONNECT with Clean Start and no keepalive; `overrides` replace its fields. */
export function connect5(clientId: string, overrides: Partial<ConnectPacket> = {}): ConnectPacket {
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 5,
    clean: true,
    clientId,
    keepalive: 0,
    ...overrides,
  }
}

/** A raw 5.0 peer on `broker`, not yet connected. */
export function rawPeer(broker: RunningBroker): Promise<PacketPeer> {
  return broker.raw({ protocolVersion: 5, timeout: TIMEOUT })
}

/** A raw peer whose 5.0 CONNECT was accepted; the CONNACK is checked and taken. */
export async function connected(
  broker: RunningBroker,
  clientId: string,
  overrides: Partial<ConnectPacket> = {},
): Promise<PacketPeer> {
  const peer = await rawPeer(broker)
  peer.send(connect5(clientId, overrides))
  const connack = await peer.expect('connack')
  expect(connack.reasonCode).toBe(0)
  return peer
}

/** Starts the default broker and connects one raw 5.0 peer to it. */
export async function brokerWithPeer(
  clientId = 'peer',
  options: BrokerOptions = {},
): Promise<{ broker: RunningBroker; peer: PacketPeer }> {
  const broker = await startBroker(options)
  return { broker, peer: await connected(broker, clientId) }
}

/**
 * Sends PINGREQ and returns every packet the broker sent before its PINGRESP. The broker handles a client's
 * packets one at a time, in order, so whatever an earlier packet made it send comes first: an empty result
 * proves that nothing was sent, without waiting for a timeout.
 */
export async function barrier(peer: PacketPeer): Promise<Packet[]> {
  peer.send({ cmd: 'pingreq' })
  const before: Packet[] = []
  for (let i = 0; i < 1000; i++) {
    const packet = await peer.next()
    if (packet.cmd === 'pingresp') return before
    before.push(packet)
  }
  throw new Error('no PINGRESP among 1000 packets')
}

/** Subscribes `peer` to `filters` (one SUBSCRIBE) and checks that each was granted. */
export async function subscribe(
  peer: PacketPeer,
  filters: string | string[],
  qos: 0 | 1 | 2 = 0,
  messageId = 1,
  properties?: PacketOf<'subscribe'>['properties'],
): Promise<void> {
  const list = typeof filters === 'string' ? [filters] : filters
  peer.send({
    cmd: 'subscribe',
    messageId,
    subscriptions: list.map((topic) => ({ topic, qos })),
    ...(properties === undefined ? {} : { properties }),
  })
  const suback = await peer.expect('suback')
  expect(suback.messageId).toBe(messageId)
  expect(suback.granted).toEqual(list.map(() => qos))
}

/** Publishes at QoS 0 and waits until the broker has handled it (a PINGREQ barrier). */
export async function publish0(
  peer: PacketPeer,
  topic: string,
  payload: string | Buffer,
  extra: Partial<PublishPacket> = {},
): Promise<void> {
  peer.send({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false, ...extra })
  expect(await barrier(peer)).toEqual([])
}

/** Publishes at QoS 1 and returns the PUBACK. */
export async function publish1(
  peer: PacketPeer,
  topic: string,
  payload: string | Buffer,
  messageId: number,
  extra: Partial<PublishPacket> = {},
): Promise<PacketOf<'puback'>> {
  peer.send({ cmd: 'publish', topic, payload, qos: 1, messageId, retain: false, dup: false, ...extra })
  const puback = await peer.expect('puback')
  expect(puback.messageId).toBe(messageId)
  return puback
}

/** The next packet, which must be a PUBLISH; its payload is returned as a string for easy comparison. */
export async function nextPublish(peer: PacketPeer): Promise<PublishPacket & { text: string }> {
  const packet = await peer.expect('publish')
  return { ...packet, text: packet.payload.toString() }
}

/**
 * Expects the connection to end for a protocol violation: a DISCONNECT with `reasonCode` (5.0, after a
 * successful CONNACK [MQTT-3.14.0-1]) as the last packet, then the close [MQTT-4.13.1-1] [MQTT-4.13.2-1].
 */
export async function expectDisconnect(peer: PacketPeer, reasonCode: number): Promise<void> {
  const disconnect = await peer.expect('disconnect')
  expect(disconnect.reasonCode).toBe(reasonCode)
  await peer.closed()
}

/**
 * Expects a refused CONNECT: the connection closes, and the broker sent nothing but, at most, a CONNACK with
 * a reason code of 0x80 or more (a CONNACK is optional for a malformed CONNECT, 4.13.1) and Session Present
 * 0 [MQTT-3.2.2-6]. Returns that CONNACK, if any.
 */
export async function expectRefused(peer: PacketPeer): Promise<PacketOf<'connack'> | undefined> {
  await peer.closed()
  for (const packet of peer.received) {
    expect(packet.cmd).toBe('connack')
    if (packet.cmd !== 'connack') continue
    expect(packet.reasonCode).toBeGreaterThanOrEqual(0x80)
    expect(packet.sessionPresent).toBe(false)
  }
  expect(peer.received.length).toBeLessThanOrEqual(1)
  return peer.received[0] as PacketOf<'connack'> | undefined
}

/** Expects the broker to close the connection without sending anything more. */
export async function expectSilentClose(peer: PacketPeer): Promise<void> {
  const before = peer.received.length
  await peer.closed()
  expect(peer.received.slice(before)).toEqual([])
}

let clocks = 0

/**
 * Resolves once at least 1.5 × `seconds` have passed on the broker's clock: a peer with that keepalive that
 * sends nothing is closed by the broker, never sooner [MQTT-3.1.2-22]. An event of the broker, not a sleep;
 * the broker needs a short `keepaliveCheckInterval` for it to come soon after.
 */
export async function brokerTime(broker: RunningBroker, seconds: number): Promise<void> {
  const peer = await broker.raw({ protocolVersion: 5, timeout: seconds * 1500 + TIMEOUT })
  peer.send(connect5(`clock-${++clocks}`, { keepalive: seconds }))
  await peer.expect('connack')
  await peer.closed()
}

/** Serialises a 5.0 packet. */
export function bytes5(packet: Packet): Buffer {
  return mqtt.generate(packet, { protocolVersion: 5 })
}

/** The variable byte integer encoding of `value` (1.5.5). */
export function varint(value: number): Buffer {
  const out: number[] = []
  let x = value
  do {
    let digit = x % 128
    x = Math.floor(x / 128)
    if (x > 0) digit |= 0x80
    out.push(digit)
  } while (x > 0)
  return Buffer.from(out)
}

/** A Two Byte Integer length, then the bytes (1.5.4 / 1.5.6). */
export function lengthPrefixed(value: string | Uint8Array): Buffer {
  const body = typeof value === 'string' ? Buffer.from(value) : Buffer.from(value)
  const length = Buffer.alloc(2)
  length.writeUInt16BE(body.length)
  return Buffer.concat([length, body])
}

/** A whole packet from its first byte and its body, with a minimal remaining length. */
export function frame(first: number, ...body: Uint8Array[]): Buffer {
  const payload = Buffer.concat(body)
  return Buffer.concat([Buffer.from([first]), varint(payload.length), payload])
}

/** A Two Byte Integer. */
export function u16(value: number): Buffer {
  const out = Buffer.alloc(2)
  out.writeUInt16BE(value)
  return out
}

/**
 * `packet` with the bytes of `placeholder` (once, first match) replaced by `replacement` of the same length,
 * so every length field stays right: for strings that a serialiser would refuse or re-encode.
 */
export function patch(packet: Buffer, placeholder: string, replacement: Uint8Array): Buffer {
  const from = Buffer.from(placeholder)
  if (from.length !== replacement.length) throw new Error('a patch must keep the length')
  const at = packet.indexOf(from)
  if (at < 0) throw new Error(`placeholder ${placeholder} not found`)
  const out = Buffer.from(packet)
  out.set(replacement, at)
  return out
}

/** `packet` with its first byte OR-ed with `flags`: reserved flag bits set. */
export function withFlags(packet: Buffer, flags: number): Buffer {
  const out = Buffer.from(packet)
  out[0] = out[0]! | flags
  return out
}

/** Ill-formed UTF-8 sequences of two bytes (RFC 3629), and U+0000 padded to two bytes. */
export const BAD_UTF8: Readonly<Record<string, Uint8Array>> = Object.freeze({
  'a lone continuation byte': Uint8Array.from([0x61, 0x80]),
  'a truncated two-byte sequence': Uint8Array.from([0xc3, 0x61]),
  'an overlong encoding of "/"': Uint8Array.from([0xc0, 0xaf]),
  'the byte 0xFF': Uint8Array.from([0x61, 0xff]),
})
/** U+D800 (a surrogate) as UTF-8 would encode it: three bytes [MQTT-1.5.4-1]. */
export const SURROGATE = Uint8Array.from([0xed, 0xa0, 0x80])
export const NUL = Uint8Array.from([0x61, 0x00])

// ---------------------------------------------------------------------------------------------------------
// A peer that keeps the bytes of each packet the broker sends.

const wires: WirePeer[] = []

afterEach(() => {
  for (const wire of wires.splice(0)) wire.destroy()
})

/** One packet as the broker sent it: its bytes and what they decode to. */
export interface Frame {
  bytes: Buffer
  packet: Packet
}

/** A TCP client that cuts the broker's byte stream into frames itself, so a test can look at exact bytes. */
export class WirePeer {
  readonly frames: Frame[] = []
  readonly #socket: Socket
  #buffer = Buffer.alloc(0)
  #read = 0
  #waiter: (() => void) | undefined = undefined
  #ended = false
  #error: Error | undefined = undefined

  private constructor(socket: Socket) {
    this.#socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk])
      try {
        this.#cut()
      } catch (err) {
        this.#error = err as Error
        this.#waiter?.()
      }
    })
    socket.on('close', () => {
      this.#ended = true
      this.#waiter?.()
    })
    socket.on('error', () => {})
  }

  static async connect(port: number): Promise<WirePeer> {
    const socket = connectSocket(port, '127.0.0.1')
    await once(socket, 'connect')
    const wire = new WirePeer(socket)
    wires.push(wire)
    return wire
  }

  send(packet: Packet | Buffer): void {
    this.#socket.write(Buffer.isBuffer(packet) ? packet : bytes5(packet))
  }

  /** The next frame the broker sends. */
  async next(): Promise<Frame> {
    const deadline = Date.now() + TIMEOUT
    while (this.#read >= this.frames.length) {
      if (this.#error) throw this.#error
      if (this.#ended) throw new Error('the broker closed the connection')
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no packet from the broker within ${TIMEOUT} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#waiter = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.#waiter = undefined
    }
    return this.frames[this.#read++]!
  }

  /** The next frame, which must be of type `cmd`. */
  async expect(cmd: Packet['cmd']): Promise<Frame> {
    const next = await this.next()
    expect(next.packet.cmd).toBe(cmd)
    return next
  }

  destroy(): void {
    this.#socket.destroy()
  }

  #cut(): void {
    for (;;) {
      const buffer = this.#buffer
      if (buffer.length < 2) return
      let length = 0
      let multiplier = 1
      let at = 1
      for (;;) {
        if (at >= buffer.length) return
        const byte = buffer[at++]!
        length += (byte & 0x7f) * multiplier
        multiplier *= 128
        if ((byte & 0x80) === 0) break
        if (at > 4) throw new Error('the broker sent a remaining length longer than four bytes')
      }
      if (buffer.length < at + length) return
      const bytes = buffer.subarray(0, at + length)
      this.#buffer = buffer.subarray(at + length)
      let packet: Packet | undefined
      let error: Error | undefined
      const parser = mqtt.parser({ protocolVersion: 5 })
      parser.on('packet', (parsed: Packet) => {
        packet = parsed
      })
      parser.on('error', (err: Error) => {
        error = err
      })
      parser.parse(bytes)
      if (error !== undefined) throw error
      if (packet === undefined) throw new Error('the broker sent a frame that does not parse')
      this.frames.push({ bytes: Buffer.from(bytes), packet })
      this.#waiter?.()
    }
  }
}

/** A wire peer whose 5.0 CONNECT was accepted (CONNACK taken). */
export async function wireConnected(
  broker: RunningBroker,
  clientId: string,
  overrides: Partial<ConnectPacket> = {},
): Promise<WirePeer> {
  const wire = await WirePeer.connect(broker.port)
  wire.send(connect5(clientId, overrides))
  const { packet } = await wire.expect('connack')
  expect(packet.cmd === 'connack' && packet.reasonCode).toBe(0)
  return wire
}
