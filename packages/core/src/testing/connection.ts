/** The test's end of a connection to a broker: in memory over a duplex pair, or over TCP. */
import { once } from 'node:events'
import { connect } from 'node:net'
import { type Duplex, duplexPair } from 'node:stream'
import mqtt from 'mqtt-packet'
import type { Client } from '../client.js'
import type { Packet, PacketOf, PacketType, ProtocolVersion } from '../packets.js'
import type { Stack } from '../stack.js'

export interface TestConnectionOptions {
  /** The protocol version the test side parses with until it sends a CONNECT. Default 4 (3.1.1). */
  protocolVersion?: ProtocolVersion
  /** How long `next()` and `closed` wait before failing the test, in ms. Default 2000. */
  timeout?: number
}

interface Waiter {
  resolve(packet: Packet): void
  reject(err: Error): void
  timer: NodeJS.Timeout
}

/** The test's end of one connection to a broker: sends packets and bytes, awaits what the broker sends. */
export class PacketPeer {
  /** Every packet the broker has sent, in order, including those already taken by `next()`. */
  readonly received: Packet[] = []
  readonly #peer: Duplex
  readonly #settings: { protocolVersion: ProtocolVersion }
  readonly #timeout: number
  readonly #unread: Packet[] = []
  readonly #waiters: Waiter[] = []
  readonly #closed: Promise<void>
  #isClosed = false
  #parseError: Error | undefined = undefined

  constructor(testSide: Duplex, options: TestConnectionOptions = {}) {
    this.#peer = testSide
    this.#settings = { protocolVersion: options.protocolVersion ?? 4 }
    this.#timeout = options.timeout ?? 2000
    const parser = mqtt.parser(this.#settings)
    parser.on('packet', (packet: Packet) => this.#receive(packet))
    parser.on('error', (err: Error) => {
      this.#parseError = err
      this.#failWaiters(new Error(`the broker sent bytes the test client cannot parse: ${err.message}`))
    })
    testSide.on('data', (chunk: Buffer) => parser.parse(chunk))
    this.#closed = new Promise((resolve) => {
      const done = () => {
        if (this.#isClosed) return
        this.#isClosed = true
        this.#failWaiters(new Error('the broker closed the connection'))
        resolve()
      }
      testSide.once('end', () => {
        // Like a real client, answer the broker's FIN with ours.
        testSide.end()
        done()
      })
      testSide.once('close', done)
    })
    testSide.on('error', () => {})
  }

  /** True once the broker has ended or destroyed the connection. */
  get isClosed(): boolean {
    return this.#isClosed
  }

  /** Serialises and sends a packet; a CONNECT also switches the parser to its protocol version. */
  send(packet: Packet): void {
    if (packet.cmd === 'connect') this.#settings.protocolVersion = packet.protocolVersion ?? 4
    this.#peer.write(mqtt.generate(packet, this.#settings))
  }

  /** Sends bytes as they are, for malformed input. */
  sendRaw(bytes: Uint8Array): void {
    this.#peer.write(bytes)
  }

  /** The next packet the broker sends (or has sent and no `next()` has taken yet). */
  next(): Promise<Packet> {
    const unread = this.#unread.shift()
    if (unread) return Promise.resolve(unread)
    if (this.#parseError) return Promise.reject(this.#parseError)
    if (this.#isClosed) return Promise.reject(new Error('the broker closed the connection'))
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
          reject(new Error(`no packet from the broker within ${this.#timeout} ms`))
        }, this.#timeout),
      }
      this.#waiters.push(waiter)
    })
  }

  /** The next packet, which must be of type `cmd`; anything else fails with the packet in the message. */
  async expect<T extends PacketType>(cmd: T): Promise<PacketOf<T>> {
    const packet = await this.next()
    if (packet.cmd !== cmd) throw new Error(`expected ${cmd}, the broker sent ${describe(packet)}`)
    return packet as PacketOf<T>
  }

  /** Sends CONNECT (3.1.1 with a clean session unless overridden) and returns the CONNACK. */
  async connect(overrides: Partial<PacketOf<'connect'>> = {}): Promise<PacketOf<'connack'>> {
    this.sendConnect(overrides)
    return this.expect('connack')
  }

  /** Sends the CONNECT of `connect()` without waiting for an answer (for a CONNECT nobody answers). */
  sendConnect(overrides: Partial<PacketOf<'connect'>> = {}): void {
    this.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: 'test-client',
      keepalive: 0,
      ...overrides,
    })
  }

  /** Resolves when the broker closes the connection; rejects after the timeout. */
  closed(): Promise<void> {
    return this.#withTimeout(this.#closed, 'the broker did not close the connection')
  }

  /** Ends the test side cleanly (FIN). */
  end(): void {
    this.#peer.end()
  }

  /** Drops the connection as a network failure would. */
  destroy(): void {
    this.#peer.destroy()
  }

  #receive(packet: Packet): void {
    this.received.push(packet)
    const waiter = this.#waiters.shift()
    if (!waiter) {
      this.#unread.push(packet)
      return
    }
    clearTimeout(waiter.timer)
    waiter.resolve(packet)
  }

  #failWaiters(err: Error): void {
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer)
      waiter.reject(err)
    }
  }

  #withTimeout(promise: Promise<void>, message: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${message} within ${this.#timeout} ms`)), this.#timeout)
    })
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
  }
}

/** The test's end of one in-memory connection to a stack. */
export class TestConnection extends PacketPeer {
  /** The broker's Client for this connection. */
  readonly client: Client

  readonly #brokerSide: Duplex

  constructor(stack: Stack, options: TestConnectionOptions = {}) {
    const [brokerSide, testSide] = duplexPair()
    super(testSide, options)
    this.#brokerSide = brokerSide
    // Destroying one side of a duplex pair does not reach the other: pass it on, both ways.
    brokerSide.once('close', () => testSide.destroy())
    this.client = stack.handler()(brokerSide)
  }

  /** Drops the connection as a network failure would: the broker sees its stream close without DISCONNECT. */
  override destroy(): void {
    super.destroy()
    this.#brokerSide.destroy()
  }
}

/** Connects a raw packet client to a broker listening on TCP, for malformed input over a real socket. */
export async function connectTestSocket(
  port: number,
  host = '127.0.0.1',
  options?: TestConnectionOptions,
): Promise<PacketPeer> {
  const socket = connect(port, host)
  await once(socket, 'connect')
  return new PacketPeer(socket, options)
}

/** Connects a new in-memory client to `stack`. */
export function connectTestClient(stack: Stack, options?: TestConnectionOptions): TestConnection {
  return new TestConnection(stack, options)
}

function describe(packet: Packet): string {
  const { cmd, ...rest } = packet
  return `${cmd} ${JSON.stringify(rest, (_, value) => (value?.type === 'Buffer' ? '<buffer>' : value))}`
}
