import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Done, Next } from './callbacks.js'
import {
  type CodecProblem,
  codecError,
  DECODED,
  type DecoderSink,
  PacketDecoder,
  serializeWithin,
  UNDECODABLE,
} from './codec/index.js'
import { ErrorCode, MqttStackError } from './errors.js'
import { HeldChain } from './held-chain.js'
import { CLIENT_DEFAULTS, type ClientOptions } from './options.js'
import type {
  IConnackPacket,
  IConnectPacket,
  IPingrespPacket,
  IPublishPacket,
  Packet,
  ProtocolVersion,
} from './packets.js'
import { ReasonCode } from './reason-codes.js'
import type { Stack } from './stack.js'
import { withDefaults } from './util.js'

/**
 * Per-connection state, typed by the middlewares that keep it. Augment it with optional members:
 *
 * ```ts
 * declare module '@mqtt-stack/core' {
 *   interface ClientState { keepaliveTimer?: NodeJS.Timeout }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging
export interface ClientState {}

export interface ClientEvents {
  /** The stream has closed; `error` is what ended it, if anything went wrong. */
  close: [error: Error | undefined]
  /** A CONNACK that accepts the connection has been written. */
  connack: []
}

type WriteCallback = (err?: Error | null) => void

/** One PINGRESP for every answer: nothing is allocated per PINGREQ. */
const PINGRESP: Readonly<IPingrespPacket> = Object.freeze({ cmd: 'pingresp' })

/**
 * Turns of the event loop, counted while packets are processed: one `setImmediate` per turn marks its end
 * (the check phase comes after every ready socket has been read), so that each client's `timePerTurn` is
 * per turn without a timer per client.
 */
let turn = 0
let turnEndScheduled = false
function endTurn(): void {
  turn++
  turnEndScheduled = false
}
/**
 * The clock and `setImmediate` of the turns, taken when core loads: they pace dispatch, not anything a user
 * times, so a test's fake timers (installed later) must not stall it.
 */
const now = performance.now.bind(performance)
const nextTurn = setImmediate

/** The stream of a client knows its client, for the listeners shared by every connection. */
const CLIENT = Symbol('mqtt-stack client')
/** The stack's hook for a client whose stream closed (internal: not exported by the package). */
export const CLIENT_CLOSED = Symbol('mqtt-stack client closed')
interface ClientStream extends Duplex {
  [CLIENT]: Client
}
type StreamListener<A extends unknown[]> = (this: ClientStream, ...args: A) => void
/** The stream listeners of every client, made in `Client`'s static block. */
let onData: StreamListener<[chunk: Buffer]>
let onEnd: StreamListener<[]>
let onStreamError: StreamListener<[err: Error]>
let onStreamClose: StreamListener<[]>

/**
 * One connection: a duplex stream, a decoder that follows the protocol level of CONNECT, and a bounded
 * writer. Packets of one client are processed one at a time, in order.
 */
export class Client extends EventEmitter<ClientEvents> implements DecoderSink {
  readonly stack: Stack
  readonly stream: Duplex
  /** The client identifier, set when the CONNECT is accepted. */
  id = ''
  /** 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0), from the CONNECT; 4 until then. */
  protocolVersion: ProtocolVersion = 4
  /** True once a CONNECT has been parsed. */
  connectReceived = false
  /**
   * MQTT 5.0: whether the client accepts Reason Strings and User Properties on packets other than PUBLISH,
   * CONNACK and DISCONNECT (its CONNECT's Request Problem Information, 1 when absent) [MQTT-3.1.2-29].
   */
  problemInformation = true
  /** True once a successful CONNACK has been written. */
  connackSent = false
  /** Typed per-connection state of the middlewares. */
  readonly state: ClientState = {}
  /** True once `close()` was called or the stream ended: writes are refused. */
  closed = false
  /** What ended the connection, when it was not a clean close. */
  error: Error | undefined = undefined
  /** QoS 0 messages dropped because the client read too slowly. */
  droppedMessages = 0
  /**
   * MQTT 5.0: the largest packet the client accepts (its CONNECT's Maximum Packet Size); larger packets are
   * never sent to it [MQTT-3.1.2-24].
   */
  maxOutgoingPacketSize = Number.POSITIVE_INFINITY
  /** The name of the listener this connection came through (`stack.handler({ listener })`), if named. */
  readonly listener: string | undefined
  /** The reason code the first `close()` was given: why the server ended the connection, when it said. */
  closeReasonCode: number | undefined = undefined
  /**
   * `performance.now()` when core took the packet now being processed from the queue (0 before the first).
   * Core reads the clock for each packet anyway: a middleware that needs the time of a packet on the hot
   * path reads this instead of the clock again (a clock read costs about as much as a middleware step).
   */
  packetTime = 0

  readonly #options: Readonly<Required<ClientOptions>>
  readonly #decoder: PacketDecoder
  readonly #inbox: Packet[] = []
  #busy = false
  /** The packet whose chain runs now (while `#busy`). */
  #current: Packet | undefined = undefined
  /** A chain a middleware holds open while later packets are processed (see `hold`). */
  #held: HeldChain | undefined = undefined
  /** A PINGRESP was written since the chain of the last PINGREQ began (a middleware may answer it itself). */
  #pingAnswered = false
  #pumping = false
  /** The turn this client last processed a packet in, and when its time in that turn is up. */
  #turn = -1
  #turnEnds = 0
  /** Out of budget: processing goes on at the next turn. */
  #yielded = false
  #paused = false
  #corked = false
  #closeTimer: NodeJS.Timeout | undefined = undefined
  #emittedClose = false
  /** MQTT 5.0 inbound topic aliases of this connection, created on first use. */
  #topicAliases: Map<number, string> | undefined = undefined

  constructor(stack: Stack, stream: Duplex, options?: ClientOptions, listener?: string) {
    super()
    this.stack = stack
    this.stream = stream
    this.listener = listener
    this.#options = clientOptions(options)
    this.#decoder = new PacketDecoder(this, this.#options.maxPacketSize)
    if (this.#options.noDelay) (stream as Partial<Socket>).setNoDelay?.(true)
    // The listeners are shared by every connection (`this` is the stream): no closures per connection.
    const shared = stream as ClientStream
    shared[CLIENT] = this
    shared.on('data', onData)
    shared.on('end', onEnd)
    shared.on('error', onStreamError)
    shared.on('close', onStreamClose)
  }

  /**
   * Serialises `packet` for this client's protocol version and writes it. Returns false when the packet
   * was refused (closed client, dropped QoS 0, serialisation error) or the stream asks to wait for drain.
   * `cb` is called once, with an error when the packet was not written.
   */
  write(packet: Packet, cb?: WriteCallback): boolean {
    if (this.closed) return this.#refuse(cb)
    let bytes: Buffer
    try {
      // Within the client's Maximum Packet Size without the Reason String or User Properties, if need be.
      bytes = serializeWithin(packet, this.protocolVersion, this.maxOutgoingPacketSize)
    } catch (cause) {
      const err = new MqttStackError(
        ErrorCode.SERIALIZE,
        `cannot serialise ${packet.cmd}: ${errorMessage(cause)}`,
        {
          cause,
        },
      )
      this.stack.reportError(err, this, packet)
      if (cb) process.nextTick(cb, err)
      return false
    }
    if (packet.cmd === 'connack') {
      if (connackAccepts(packet, this.protocolVersion)) {
        this.connackSent = true
        this.emit('connack')
      }
    } else if (packet.cmd === 'pingresp') this.#pingAnswered = true
    return this.writeBuffer(bytes, packet.cmd === 'publish' ? packet.qos : undefined, cb)
  }

  /** The per-connection limits in force: the stack's `client` options over the defaults. */
  get limits(): Readonly<Required<ClientOptions>> {
    return this.#options
  }

  /**
   * Writes bytes already serialised for this client's protocol version: a fan-out serialises a message once
   * and writes the same buffer to every subscriber. `qos` marks a PUBLISH, which the overflow policy may drop.
   */
  writeBuffer(bytes: Uint8Array, qos?: number, cb?: WriteCallback): boolean {
    if (this.closed) return this.#refuse(cb)
    const buffered = this.stream.writableLength
    if (buffered > this.#options.disconnectAbove) {
      const err = new MqttStackError(
        ErrorCode.SLOW_CONSUMER,
        `client ${this.id || '(no id)'} has ${buffered} bytes unread, over the ${this.#options.disconnectAbove} limit`,
        { reasonCode: ReasonCode.QUOTA_EXCEEDED },
      )
      this.stack.reportError(err, this, undefined)
      this.destroy(err)
      if (qos !== undefined) this.stack.notifyDropped('slow-consumer', this, undefined)
      if (cb) process.nextTick(cb, err)
      return false
    }
    if (bytes.length > this.maxOutgoingPacketSize) {
      // The client would have to close on it; a PUBLISH is discarded as if sent [MQTT-3.1.2-25]
      if (qos !== undefined) {
        this.droppedMessages++
        this.stack.notifyDropped('too-large', this, undefined)
      }
      const err = new MqttStackError(
        ErrorCode.MESSAGE_DROPPED,
        `${bytes.length}-byte packet over the client's Maximum Packet Size (${this.maxOutgoingPacketSize}) not sent`,
      )
      if (qos === undefined) this.stack.reportError(err, this, undefined)
      if (cb) process.nextTick(cb, err)
      return false
    }
    if (qos === 0 && buffered > this.#options.dropQoS0Above) {
      this.droppedMessages++
      this.stack.notifyDropped('qos0-buffer-full', this, undefined)
      if (cb) {
        process.nextTick(
          cb,
          new MqttStackError(ErrorCode.MESSAGE_DROPPED, 'QoS 0 message dropped: the client reads too slowly'),
        )
      }
      return false
    }
    const traffic = this.stack.traffic
    traffic.packetsSent++
    traffic.bytesSent += bytes.length
    if (qos !== undefined) traffic.publishSent++
    if (!this.#corked) {
      // Batch every write of this tick into one syscall.
      this.#corked = true
      this.stream.cork()
      process.nextTick(Client.#uncork, this)
    }
    const observers = this.stack.writeObservers
    if (observers !== null) for (let i = 0; i < observers.length; i++) observers[i]!(this, bytes)
    return cb ? this.stream.write(bytes, cb) : this.stream.write(bytes)
  }

  /**
   * Resolves at once while less than half of `dropQoS0Above` waits to be written, otherwise when the stream
   * has drained (or the client closes). A middleware that writes a burst (retained messages on subscribe, a
   * resumed queue) awaits it between writes, so the burst is paced by the reader and never reaches the
   * overflow policy that drops messages.
   */
  drained(): Promise<void> {
    if (this.closed || this.stream.writableLength < this.#options.dropQoS0Above / 2) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => {
        this.stream.off('drain', done)
        this.off('close', done)
        resolve()
      }
      this.stream.once('drain', done)
      this.once('close', done)
    })
  }

  /**
   * Ends the connection: flushes what is buffered, then closes the stream (destroying it after
   * `closeTimeout`). An MQTT 5.0 client that received a CONNACK first gets a DISCONNECT with `reasonCode`.
   * Idempotent.
   */
  close(reasonCode?: number, error?: Error): void {
    if (this.closed) return
    if (error && !this.error) this.error = error
    this.closeReasonCode = reasonCode
    if (reasonCode !== undefined && this.protocolVersion === 5 && this.connackSent) {
      // A Reason String is allowed on DISCONNECT whatever Request Problem Information says [MQTT-3.1.2-29];
      // `write` leaves it out when the client's Maximum Packet Size is too small for it [MQTT-3.14.2-3].
      this.write(
        error === undefined
          ? { cmd: 'disconnect', reasonCode }
          : { cmd: 'disconnect', reasonCode, properties: { reasonString: reasonString(error.message) } },
      )
    }
    this.closed = true
    this.#inbox.length = 0
    this.stream.end()
    this.#closeTimer = setTimeout(forceClose, this.#options.closeTimeout, this.stream)
    this.#closeTimer.unref()
  }

  /** Closes the stream at once, discarding anything not yet written. */
  destroy(error?: Error): void {
    if (error && !this.error) this.error = error
    this.closed = true
    this.#inbox.length = 0
    this.stream.destroy()
  }

  /** Closes the client for a protocol violation: reported, with the MQTT 5.0 reason code where one applies. */
  protocolViolation(err: MqttStackError, packet?: Packet): void {
    if (this.closed) return
    this.stack.reportError(err, this, packet)
    this.close(err.reasonCode, err)
  }

  #refuse(cb: WriteCallback | undefined): false {
    if (cb) {
      process.nextTick(
        cb,
        new MqttStackError(
          ErrorCode.CLIENT_CLOSED,
          `client ${this.id || '(no id)'} is closed; nothing was written`,
        ),
      )
    }
    return false
  }

  /** A client out of budget goes on (see `#pump`); static, so no closure per connection. */
  static #nextTurn(client: Client): void {
    client.#yielded = false
    client.#pump()
  }

  /** Ends the batch of writes of a tick (see `writeBuffer`); static, so no closure per connection. */
  static #uncork(client: Client): void {
    client.#corked = false
    client.stream.uncork()
  }

  /**
   * The decoder has stopped. What to answer (a CONNACK refusing an unsupported protocol level, say) is
   * protocol policy, for the middlewares that answer `decodeFailed`; the client is closed in any case, so
   * a stack without one never leaves it hanging.
   */
  [UNDECODABLE](problem: CodecProblem, detail: string, cause: Error | undefined): void {
    const error = codecError(problem, detail, cause)
    // Nothing decoded before the problem is processed any more, as when the client closed at once.
    this.#inbox.length = 0
    // Once per connection at most: a closure here costs nothing per packet.
    this.stack.execute('decodeFailed', { client: this, problem, error }, {}, (err) => {
      if (err) this.stack.reportError(err, this, undefined)
      this.protocolViolation(error)
    })
  }

  /** Queues a decoded packet for the stack; false once the client is closed, which stops the decoder. */
  [DECODED](packet: Packet): boolean {
    if (this.closed) return false
    const traffic = this.stack.traffic
    traffic.packetsReceived++
    if (packet.cmd === 'publish') traffic.publishReceived++
    if (packet.cmd === 'connect' && !this.connectReceived) {
      // Later packets are decoded, and writes serialised, for this version.
      this.connectReceived = true
      this.protocolVersion = packet.protocolVersion ?? 4
      if (packet.properties?.requestProblemInformation === false) this.problemInformation = false
      const maximumPacketSize = packet.properties?.maximumPacketSize
      if (this.protocolVersion === 5 && maximumPacketSize) this.maxOutgoingPacketSize = maximumPacketSize
    } else if (packet.cmd === 'publish' && packet.properties?.topicAlias !== undefined) {
      if (!this.#resolveTopicAlias(packet)) return false
    }
    this.#inbox.push(packet)
    if (this.#inbox.length >= this.#options.maxQueuedPackets && !this.#paused) {
      this.#paused = true
      this.stream.pause()
    }
    this.#pump()
    return !this.closed
  }

  /**
   * MQTT 5.0 inbound topic aliases are part of decoding: every middleware sees the full topic name and no
   * alias, which is never forwarded [MQTT-3.3.2-7].
   */
  #resolveTopicAlias(packet: IPublishPacket): boolean {
    const properties = packet.properties!
    const alias = properties.topicAlias!
    if (alias === 0 || alias > this.#options.topicAliasMaximum) {
      // [MQTT-3.3.2-8] [MQTT-3.3.2-9]
      this.protocolViolation(
        new MqttStackError(
          ErrorCode.PROTOCOL_ERROR,
          `topic alias ${alias} outside 1..${this.#options.topicAliasMaximum}`,
          {
            reasonCode: ReasonCode.TOPIC_ALIAS_INVALID,
          },
        ),
        packet,
      )
      return false
    }
    if (packet.topic) {
      this.#topicAliases ??= new Map()
      this.#topicAliases.set(alias, packet.topic)
    } else {
      const topic = this.#topicAliases?.get(alias)
      if (topic === undefined) {
        this.protocolViolation(
          new MqttStackError(ErrorCode.PROTOCOL_ERROR, `topic alias ${alias} used before it was set`, {
            reasonCode: ReasonCode.PROTOCOL_ERROR,
          }),
          packet,
        )
        return false
      }
      packet.topic = topic
    }
    delete properties.topicAlias
    return true
  }

  /** Processes queued packets one at a time; a chain that completes synchronously loops here, not recursing. */
  #pump(): void {
    if (this.#pumping || this.#yielded) return
    this.#pumping = true
    while (!this.#busy && this.#inbox.length > 0 && !this.closed) {
      const time = now()
      if (this.#turn !== turn) {
        this.#turn = turn
        this.#turnEnds = time + this.#options.timePerTurn
        if (!turnEndScheduled) {
          turnEndScheduled = true
          nextTurn(endTurn)
        }
      } else if (time > this.#turnEnds) {
        // The rest waits for the next turn, reading paused meanwhile: the other connections go first.
        this.#yielded = true
        if (!this.#paused) {
          this.#paused = true
          this.stream.pause()
        }
        nextTurn(Client.#nextTurn, this)
        break
      }
      const packet = this.#inbox.shift()!
      this.packetTime = time
      this.#busy = true
      this.#current = packet
      if (packet.cmd === 'pingreq') this.#pingAnswered = false
      this.stack.process(this, packet, this.#processed)
    }
    this.#pumping = false
    if (this.#yielded) return
    if (this.#paused && this.#inbox.length === 0 && !this.closed) {
      this.#paused = false
      this.stream.resume()
    }
  }

  readonly #processed = (err: MqttStackError | null, packet: Packet): void => {
    if (packet === this.#held?.packet) {
      this.#heldEnded(err, this.#held)
      return
    }
    this.#busy = false
    this.#current = undefined
    if (err) {
      this.fail(err, packet)
      return
    }
    if (packet.cmd === 'pingreq') {
      // [MQTT-3.12.4-1] Core answers every PINGREQ whose chain went through, unless a middleware did: a broker
      // that accepts CONNECTs answers pings whatever middlewares it has. One that refuses closes the client.
      if (!this.#pingAnswered && !this.closed) this.write(PINGRESP)
    } else if (packet.cmd === 'connect') this.#checkAnswered(packet)
    this.#pump()
  }

  /** The held chain has ended: its packet was not the one in hand, so the pump goes on as it was. */
  #heldEnded(err: MqttStackError | null, held: HeldChain): void {
    this.#held = undefined
    if (err) this.fail(err, held.packet)
    else if (held.packet.cmd === 'connect') this.#checkAnswered(held.packet)
    held.ended()
  }

  /**
   * An operational failure (a backend that failed, say): `packet` was not handled, so the client cannot go
   * on. Reported, and closed with the error's reason code (0x80 Unspecified error without one). Core does
   * this when a chain fails; a middleware calls it for a failure found after its chain ended.
   */
  fail(err: MqttStackError, packet?: Packet): void {
    this.stack.reportError(err, this, packet)
    this.close(err.reasonCode ?? ReasonCode.UNSPECIFIED_ERROR, err)
  }

  /**
   * A CONNECT whose chain ended with the client open and no CONNACK written would leave it waiting forever:
   * no middleware in the stack accepts connections. Reported and closed instead.
   */
  #checkAnswered(packet: IConnectPacket): void {
    if (this.connackSent || this.closed) return
    const err = new MqttStackError(
      ErrorCode.UNANSWERED_CONNECT,
      `the CONNECT of client "${packet.clientId}" went through every middleware and none sent a CONNACK: the stack ` +
        'needs a middleware that accepts connections (among the built-ins, session-manager)',
      { reasonCode: ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR },
    )
    this.stack.reportError(err, this, packet)
    this.close(undefined, err)
  }

  /**
   * Holds the chain of the packet in hand open while this client's later packets are processed: an AUTH
   * exchange holds its CONNECT's chain until it ends. Call it from a handler of that chain with the `next`
   * and `done` it was given; go on later through the returned chain's `next(after)` or `done(after)`.
   * One chain at a time may be held.
   */
  hold(next: Next, done: Done): HeldChain {
    const packet = this.#current
    if (packet === undefined || this.#held !== undefined) {
      throw new MqttStackError(
        ErrorCode.INVALID_STATE,
        this.#held ? 'hold(): a chain is held already' : 'hold() outside the chain of a packet',
      )
    }
    const held = new HeldChain(packet, next, done)
    this.#held = held
    this.#busy = false
    this.#current = undefined
    // The holder returns first; then the packets behind the held one go on.
    process.nextTick(Client.#resume, this)
    return held
  }

  /** True while a middleware holds a chain of this client open (see `hold`). */
  get holding(): boolean {
    return this.#held !== undefined
  }

  static #resume(client: Client): void {
    client.#pump()
  }

  static {
    // Module functions, made here to reach the private fields: `this` is the stream they listen to.
    onData = function (this: ClientStream, chunk: Buffer): void {
      const client = this[CLIENT]
      if (client.closed) return
      client.stack.traffic.bytesReceived += chunk.length
      client.#decoder.push(chunk)
    }
    onEnd = function (this: ClientStream): void {
      // The peer will send nothing more; finish our side too, unless `close()` already has (ending it again
      // would build an ERR_STREAM_ALREADY_FINISHED, stack trace and all, on every client that disconnects).
      this[CLIENT].closed = true
      if (!this.writableEnded) this.end()
    }
    onStreamError = function (this: ClientStream, err: Error): void {
      const client = this[CLIENT]
      if (!client.error) client.error = err
      client.closed = true
    }
    onStreamClose = function (this: ClientStream): void {
      const client = this[CLIENT]
      client.closed = true
      client.#inbox.length = 0
      if (client.#closeTimer) clearTimeout(client.#closeTimer)
      if (client.#emittedClose) return
      client.#emittedClose = true
      client.stack[CLIENT_CLOSED]?.(client)
      client.emit('close', client.error)
    }
  }
}

/** Merged options, shared by every client made with the same options object (a stack's `client`). */
const merged = new WeakMap<ClientOptions, Readonly<Required<ClientOptions>>>()

function clientOptions(options: ClientOptions | undefined): Readonly<Required<ClientOptions>> {
  if (options === undefined) return CLIENT_DEFAULTS
  let result = merged.get(options)
  if (result === undefined) {
    result = Object.freeze(withDefaults(CLIENT_DEFAULTS, options))
    merged.set(options, result)
  }
  return result
}

/** A function with an argument rather than a closure: nothing per connection. */
function forceClose(stream: Duplex): void {
  stream.destroy()
}

/** A Reason String of a readable length: the message of the error, cut at 200 characters. */
function reasonString(message: string): string {
  return message.length > 200 ? `${message.slice(0, 199)}…` : message
}

/** Return code 0 accepts a 3.1/3.1.1 connection; a 5.0 reason code below 0x80 does. */
function connackAccepts(packet: IConnackPacket, protocolVersion: ProtocolVersion): boolean {
  const code = packet.reasonCode ?? packet.returnCode ?? 0
  return protocolVersion === 5 ? code < ReasonCode.UNSPECIFIED_ERROR : code === 0
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
