/**
 * A TCP client that keeps the exact bytes of every packet the broker sends (fixed header included), for the
 * header bits and field layouts that a parser would normalise away. Destroyed after each test.
 */
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import type { Packet } from '@mqtt-stack/core'
import mqtt from 'mqtt-packet'
import { afterEach, expect } from 'vitest'
import { type ProtocolVersion, serialise } from './packets.js'

/** How long `next()` waits for a packet, in ms. */
const TIMEOUT = 2000

const wires: WirePeer[] = []

afterEach(() => {
  for (const wire of wires.splice(0)) wire.destroy()
})

/** One packet as the broker sent it: its bytes and what they decode to. */
export interface Frame {
  bytes: Buffer
  packet: Packet
}

/** Cuts the broker's byte stream into frames itself and decodes each with the protocol version given. */
export class WirePeer {
  readonly frames: Frame[] = []
  readonly #socket: Socket
  readonly #protocolVersion: ProtocolVersion
  #buffer = Buffer.alloc(0)
  #read = 0
  #waiter: (() => void) | undefined = undefined
  #ended = false
  #error: Error | undefined = undefined

  private constructor(socket: Socket, protocolVersion: ProtocolVersion) {
    this.#socket = socket
    this.#protocolVersion = protocolVersion
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

  /** A new connection to `port` on 127.0.0.1 that sends and decodes packets of `protocolVersion`. */
  static async connect(port: number, protocolVersion: ProtocolVersion): Promise<WirePeer> {
    const socket = connect(port, '127.0.0.1')
    await once(socket, 'connect')
    const wire = new WirePeer(socket, protocolVersion)
    wires.push(wire)
    return wire
  }

  /** Sends a packet (serialised with this peer's protocol version) or bytes as they are. */
  send(packet: Packet | Buffer): void {
    this.#socket.write(Buffer.isBuffer(packet) ? packet : serialise(packet, this.#protocolVersion))
  }

  /** The next frame the broker sends; fails when the connection closes first or after two seconds. */
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

  /** Stops reading from the socket, as a client that reads nothing: what the broker sends piles up. */
  pause(): void {
    this.#socket.pause()
  }

  /** Reads again. */
  resume(): void {
    this.#socket.resume()
  }

  /** Resolves when the broker has closed the connection (at once if it has). */
  async closed(): Promise<void> {
    if (!this.#ended) await once(this.#socket, 'close')
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
      this.frames.push({ bytes: Buffer.from(bytes), packet: this.#decode(bytes) })
      this.#waiter?.()
    }
  }

  #decode(bytes: Buffer): Packet {
    let packet: Packet | undefined
    let error: Error | undefined
    const parser = mqtt.parser({ protocolVersion: this.#protocolVersion })
    parser.on('packet', (parsed: Packet) => {
      packet = parsed
    })
    parser.on('error', (err: Error) => {
      error = err
    })
    parser.parse(bytes)
    if (error !== undefined) throw error
    if (packet === undefined) throw new Error('the broker sent a frame that does not parse')
    return packet
  }
}
