/**
 * Helpers for the MQTT 3.1.1 conformance tests: packets built byte by byte (for what mqtt-packet refuses to
 * generate), raw peers connected with CONNACK 0, a reader of the broker's raw frames (for header bits a
 * parser hides), and the "marker" barrier that proves a message was not delivered without waiting a time.
 */
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import type { Client, Packet, PacketOf } from '@mqtt-stack/core'
import type { PacketPeer } from '@mqtt-stack/core/testing'
import type { BrokerOptions } from '@mqtt-stack/example-basic'
import { afterEach, expect } from 'vitest'
import { type RunningBroker, startBroker } from '../../support/broker.js'

export interface WatchedBroker extends RunningBroker {
  /**
   * Resolves when the broker has seen a connection of `clientId` end (one end per call, counted from the
   * start), so a test knows the broker handled a close before it goes on; fails after two seconds.
   */
  ended(clientId: string): Promise<void>
}

/** The default example broker with a packet emitter that tells the test when connections end. */
export async function startWatchedBroker(options: BrokerOptions = {}): Promise<WatchedBroker> {
  const ends = new Map<string, number>()
  const taken = new Map<string, number>()
  const waiters = new Set<{ clientId: string; wake: () => void }>()
  const emitter = {
    emit(event: string, ...args: unknown[]): boolean {
      if (event !== 'close') return true
      const { id } = args[0] as Client
      ends.set(id, (ends.get(id) ?? 0) + 1)
      for (const waiter of waiters) if (waiter.clientId === id) waiter.wake()
      return true
    },
  }
  const broker = await startBroker({ ...options, emitter })
  const ended = async (clientId: string): Promise<void> => {
    const wanted = (taken.get(clientId) ?? 0) + 1
    taken.set(clientId, wanted)
    if ((ends.get(clientId) ?? 0) >= wanted) return
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        clientId,
        wake: () => {
          if ((ends.get(clientId) ?? 0) < wanted) return
          waiters.delete(waiter)
          clearTimeout(timer)
          resolve()
        },
      }
      const timer = setTimeout(() => {
        waiters.delete(waiter)
        reject(new Error(`the broker saw no end of the connection of ${clientId} within 2000 ms`))
      }, 2000)
      waiters.add(waiter)
    })
  }
  return { ...broker, ended }
}

/** PINGREQ: sent after a bad packet, so a broker that ignores the bad packet answers and fails the test. */
export const PINGREQ = Buffer.from([0xc0, 0x00])

/** Two bytes, most significant first. */
export function u16(value: number): Buffer {
  const bytes = Buffer.alloc(2)
  bytes.writeUInt16BE(value)
  return bytes
}

/** An MQTT UTF-8 encoded string: a two-byte length, then the bytes as given (they may be ill-formed). */
export function mqttString(value: string | Uint8Array): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value)
  return Buffer.concat([u16(bytes.length), bytes])
}

/** A control packet: its first byte, the minimal remaining length, then the body parts. */
export function controlPacket(first: number, ...body: Uint8Array[]): Buffer {
  const rest = Buffer.concat(body)
  const length: number[] = []
  let value = rest.length
  do {
    let digit = value % 128
    value = Math.floor(value / 128)
    if (value > 0) digit |= 0x80
    length.push(digit)
  } while (value > 0)
  return Buffer.concat([Buffer.from([first, ...length]), rest])
}

export interface RawConnect {
  /** The connect flags byte; default 0x02 (clean session, nothing else). */
  flags?: number
  protocolName?: string
  level?: number
  /** The payload fields, in order, already encoded. Default: client id "raw". */
  payload?: Uint8Array[]
}

/** A CONNECT written byte by byte, with whatever flags and payload the test needs. */
export function rawConnect({
  flags = 0x02,
  protocolName = 'MQTT',
  level = 4,
  payload = [mqttString('raw')],
}: RawConnect = {}): Buffer {
  return controlPacket(0x10, mqttString(protocolName), Buffer.from([level, flags]), u16(0), ...payload)
}

/** A raw peer whose 3.1.1 CONNECT (clean session unless overridden) was accepted with CONNACK 0. */
export async function connected(
  broker: RunningBroker,
  clientId: string,
  overrides: Partial<PacketOf<'connect'>> = {},
): Promise<PacketPeer> {
  const peer = await broker.raw()
  const connack = await peer.connect({ clientId, ...overrides })
  expect(connack.returnCode).toBe(0)
  return peer
}

/** Subscribes `peer` to `filters` (topic, requested QoS) and returns the SUBACK's return codes. */
export async function subscribe(
  peer: PacketPeer,
  filters: readonly [string, 0 | 1 | 2][],
  messageId = 1,
): Promise<number[]> {
  peer.send({
    cmd: 'subscribe',
    messageId,
    subscriptions: filters.map(([topic, qos]) => ({ topic, qos })),
  })
  const suback = await peer.expect('suback')
  expect(suback.messageId).toBe(messageId)
  return suback.granted as number[]
}

/**
 * Sends `bytes`, then a PINGREQ, and expects the broker to close the connection without sending anything
 * (no CONNACK, no acknowledgement, no PINGRESP): a broker that ignored the bad packet would answer the ping.
 */
export async function expectClosedWithoutAnswer(peer: PacketPeer, bytes: Uint8Array): Promise<void> {
  const before = peer.received.length
  peer.sendRaw(bytes)
  peer.sendRaw(PINGREQ)
  await peer.closed()
  expect(peer.received.slice(before).map((packet) => packet.cmd)).toEqual([])
}

/** The topic every marker is published to; a subscriber that waits for markers subscribes to it. */
export const MARKER_TOPIC = 'marker'

/**
 * A barrier: `publisher` publishes a QoS 0 marker after whatever it sent before, and this resolves with the
 * PUBLISH packets `subscriber` received before the marker (markers excluded). The broker handles one
 * client's packets in order, so anything the publisher's earlier packets caused to be delivered is there.
 */
export async function publishesBeforeMarker(
  publisher: PacketPeer,
  subscriber: PacketPeer,
): Promise<PacketOf<'publish'>[]> {
  const payload = `marker-${++markers}`
  publisher.send({ cmd: 'publish', topic: MARKER_TOPIC, payload, qos: 0, retain: false, dup: false })
  const before: PacketOf<'publish'>[] = []
  for (let i = 0; i < 100; i++) {
    const packet = await subscriber.next()
    if (packet.cmd !== 'publish') throw new Error(`expected PUBLISH, the broker sent ${packet.cmd}`)
    if (packet.topic === MARKER_TOPIC) {
      if (String(packet.payload) === payload) return before
      continue // an earlier marker, published for another subscriber
    }
    before.push(packet)
  }
  throw new Error('no marker among 100 packets')
}
let markers = 0

/** The PUBLISH packets among `packets`. */
export function publishes(packets: readonly Packet[]): PacketOf<'publish'>[] {
  return packets.filter((packet): packet is PacketOf<'publish'> => packet.cmd === 'publish')
}

const readers: FrameReader[] = []

afterEach(() => {
  for (const reader of readers.splice(0)) reader.destroy()
})

/**
 * A TCP client that keeps the broker's packets as raw frames (fixed header included), for the header bits
 * and field layout that a parser would normalise away. Destroyed after each test.
 */
export class FrameReader {
  readonly frames: Buffer[] = []
  readonly #socket: Socket
  #pending = Buffer.alloc(0)
  #read = 0
  #waiter: (() => void) | undefined = undefined
  #closed = false

  private constructor(socket: Socket) {
    this.#socket = socket
    socket.on('data', (chunk: Buffer) => this.#receive(chunk))
    socket.on('error', () => {})
    socket.on('close', () => {
      this.#closed = true
      this.#waiter?.()
    })
  }

  static async connect(port: number): Promise<FrameReader> {
    const socket = connect(port, '127.0.0.1')
    await once(socket, 'connect')
    const reader = new FrameReader(socket)
    readers.push(reader)
    return reader
  }

  write(bytes: Uint8Array): void {
    this.#socket.write(bytes)
  }

  /** The next frame the broker sent; fails after `timeout` ms or when the connection closes first. */
  async next(timeout = 2000): Promise<Buffer> {
    let timedOut = false
    const deadline = setTimeout(() => {
      timedOut = true
      this.#waiter?.()
    }, timeout)
    try {
      while (this.#read >= this.frames.length) {
        if (this.#closed) throw new Error('the broker closed the connection')
        if (timedOut) throw new Error(`no frame from the broker within ${timeout} ms`)
        await new Promise<void>((resolve) => {
          this.#waiter = resolve
        })
      }
      return this.frames[this.#read++]!
    } finally {
      clearTimeout(deadline)
      this.#waiter = undefined
    }
  }

  destroy(): void {
    this.#socket.destroy()
  }

  #receive(chunk: Buffer): void {
    this.#pending = Buffer.concat([this.#pending, chunk])
    for (;;) {
      let length = 0
      let multiplier = 1
      let i = 1
      for (; i < this.#pending.length && i <= 4; i++) {
        const byte = this.#pending[i]!
        length += (byte & 0x7f) * multiplier
        multiplier *= 128
        if ((byte & 0x80) === 0) break
      }
      if (i >= this.#pending.length) break
      const total = i + 1 + length
      if (this.#pending.length < total) break
      this.frames.push(this.#pending.subarray(0, total))
      this.#pending = this.#pending.subarray(total)
    }
    this.#waiter?.()
  }
}
