import {
  type CallbackHandlers,
  type Client,
  CodecProblem,
  connackRefusal,
  type Done,
  ErrorCode,
  type IConnectPacket,
  Middleware,
  MqttStackError,
  type Next,
  PACKET_TYPES,
  type Packet,
  type ProtocolVersion,
  ReasonCode,
  validateTopicName,
} from '@mqtt-stack/core'
import { ConnectionErrorCode } from './errors.js'
import { LagMonitor } from './lag-monitor.js'
import { type ConnectionOptions, checkOptions, DEFAULTS } from './options.js'
import { ConnectionState } from './state.js'

/** What Connection counts. */
export interface ConnectionStats {
  /** CONNECTs refused with Server busy because the event loop lagged more than `busyLag`. */
  refusedBusy: number
}

/**
 * The connection life cycle: the first packet must be CONNECT and there is only one, the protocol name
 * must agree with the protocol level, a connection that sends no CONNECT in time is closed, DISCONNECT ends
 * the connection cleanly, and every end executes `cleanDisconnect` or `uncleanDisconnect` exactly once.
 * Answers `closeClient`, the way other middlewares close a client, and `decodeFailed` with the CONNACK the
 * protocol wants for a CONNECT that cannot be decoded.
 */
export class Connection extends Middleware<ConnectionOptions> {
  override readonly name = 'connection'
  /** Every packet: the first one must be CONNECT, whatever it is. */
  override readonly packetTypes = PACKET_TYPES
  /** `cleanDisconnect` and `uncleanDisconnect` are announcements: nobody has to answer them. */
  override readonly requires = [] as const

  readonly #lag = new LagMonitor()
  #refusedBusy = 0
  /** The error of the busy spell under way, reported once when it started. */
  #busyError: MqttStackError | undefined = undefined

  constructor(options: Partial<ConnectionOptions> = {}) {
    super(options, DEFAULTS)
    checkOptions(this.config)
  }

  /** What was counted since the middleware was created. A getter, so the stack never takes it for a callback. */
  get stats(): ConnectionStats {
    return { refusedBusy: this.#refusedBusy }
  }

  /** Milliseconds the event loop ran late at its last sample (see `busyLag`). */
  get lag(): number {
    return this.#lag.lag
  }

  override close(): void {
    this.#lag.stop()
  }

  override install(client: Client): void {
    if (this.config.busyLag > 0) this.#lag.start()
    const state = new ConnectionState()
    client.state.connection = state
    const { connectTimeout } = this.config
    if (connectTimeout > 0) {
      // One timer per connection, cleared on CONNECT: Node keeps timers of one duration in a single list
      // behind a single native timer, so this costs an O(1) insert and removal, and fires on time.
      state.connectTimer = setTimeout(connectTimedOut, connectTimeout, client, connectTimeout)
      state.connectTimer.unref()
    }
  }

  /** The end of the connection: the one place it is announced, exactly once. */
  override uninstall(client: Client): void {
    announceEnd(client, client.error)
  }

  override handle(client: Client, packet: Packet, next: Next, done: Done): void {
    const state = client.state.connection ?? adopt(client)
    if (packet.cmd === 'connect') {
      this.#connect(client, state, packet, next, done)
      return
    }
    if (!state.connected) {
      // [MQTT-3.1.0-1] The first packet from a client must be CONNECT.
      violation(client, packet, `the first packet must be CONNECT, not ${packet.cmd}`)
      done()
      return
    }
    if (SERVER_ONLY.has(packet.cmd)) {
      // [MQTT-4.8.0-1] A packet that only a server sends is a protocol violation from a client.
      violation(client, packet, `a client sent ${packet.cmd}, which only a server sends`)
      done()
      return
    }
    if (packet.cmd === 'disconnect') {
      if (client.protocolVersion === 5) {
        // MQTT 5.0 section 3.14.2.2.2: a non-zero Session Expiry Interval in the DISCONNECT of a connection
        // whose CONNECT had 0 (or none) is a protocol error; the DISCONNECT is not valid, so the end is not
        // clean (the will is published, the session ends as 0). DISCONNECT 0x82 back.
        const expiry = packet.properties?.sessionExpiryInterval
        if (state.sessionExpiryZero && expiry !== undefined && expiry !== 0) {
          violation(
            client,
            packet,
            `a DISCONNECT sets Session Expiry Interval ${expiry} after a CONNECT with 0`,
          )
          done()
          return
        }
        // The DISCONNECT goes to cleanDisconnect: its reason code (last-will publishes the will unless it
        // is 0x00 [MQTT-3.14.4-3]) and its Session Expiry Interval (session-manager) matter.
        state.disconnectPacket = packet
      }
      state.disconnected = true
      // The client closes after DISCONNECT [MQTT-3.14.4-1]; we close our side too. No reason code: the
      // server sends no DISCONNECT back to a 5.0 client that disconnected.
      client.close()
      done()
      return
    }
    next()
  }

  override callbacks(): CallbackHandlers {
    return {
      closeClient(ctx, _store, next) {
        ctx.client.close(ctx.reasonCode, ctx.error)
        next()
      },
      decodeFailed({ client, problem }, _store, next) {
        // [MQTT-3.1.2-2] A CONNECT at a protocol level the server does not speak gets a refusing CONNACK
        // before core closes the connection. Its level being unknown, the client is still at 4: 0x01 in
        // the form of 3.1.1. A second CONNECT is not answered [MQTT-3.1.0-2].
        if (problem === CodecProblem.UNSUPPORTED_PROTOCOL_VERSION && !client.connectReceived)
          client.write(connackRefusal(client.protocolVersion, ReasonCode.UNSUPPORTED_PROTOCOL_VERSION))
        next()
      },
    }
  }

  #connect(client: Client, state: ConnectionState, packet: IConnectPacket, next: Next, done: Done): void {
    if (state.connected) {
      // [MQTT-3.1.0-2] A second CONNECT is a protocol violation: disconnect the client.
      violation(client, packet, 'a second CONNECT on one connection')
      done()
      return
    }
    // The connect timer runs on until CONNACK: a CONNECT whose chain no middleware ends is caught by it.
    state.connected = true
    if (state.connectTimer !== undefined) client.once('connack', onConnack)
    if (this.#shed(client, packet)) {
      done()
      return
    }
    // An absent Session Expiry Interval is 0 (MQTT 5.0 section 3.1.2.11.2).
    state.sessionExpiryZero = (packet.properties?.sessionExpiryInterval ?? 0) === 0
    const version = packet.protocolVersion ?? 4
    const name = packet.protocolId ?? 'MQTT'
    if ((name === 'MQIsdp') !== (version === 3)) {
      // MQIsdp is MQTT 3.1 (level 3), MQTT is 3.1.1 (level 4) and 5.0 (level 5). A name that does not fit its
      // level [MQTT-3.1.2-1] is refused as an unacceptable protocol level: CONNACK 0x01 (5.0: 0x84), then
      // close [MQTT-3.1.2-2].
      client.write(connackRefusal(version, ReasonCode.UNSUPPORTED_PROTOCOL_VERSION))
      client.protocolViolation(
        new MqttStackError(
          ErrorCode.PROTOCOL_ERROR,
          `protocol name ${name} does not match protocol level ${version}`,
          { reasonCode: ReasonCode.UNSUPPORTED_PROTOCOL_VERSION },
        ),
        packet,
      )
      done()
      return
    }
    const malformed = malformedConnect(packet, version)
    if (malformed !== undefined) {
      // [MQTT-3.1.4-1] A CONNECT that breaks the rules of section 3.1 closes the connection without CONNACK.
      client.protocolViolation(
        new MqttStackError(ErrorCode.MALFORMED_PACKET, `malformed CONNECT: ${malformed}`, {
          reasonCode: ReasonCode.MALFORMED_PACKET,
        }),
        packet,
      )
      done()
      return
    }
    const willQoS = packet.will?.qos ?? 0
    if (version === 5 && willQoS > this.config.maximumQoS) {
      // [MQTT-3.2.2-12] a Will QoS the server does not support: CONNACK 0x9B, then close.
      client.write({ cmd: 'connack', reasonCode: ReasonCode.QOS_NOT_SUPPORTED, sessionPresent: false })
      client.protocolViolation(
        new MqttStackError(
          ErrorCode.PROTOCOL_ERROR,
          `Will QoS ${willQoS} above the Maximum QoS ${this.config.maximumQoS}`,
          { reasonCode: ReasonCode.QOS_NOT_SUPPORTED },
        ),
        packet,
      )
      done()
      return
    }
    next()
  }

  /**
   * Sheds a new connection while the event loop lags more than `busyLag`: it could not be served in time,
   * and accepting it would slow every connected client further. CONNACK says so (5.0: 0x89 Server busy;
   * 3.1.1: 0x03 Server unavailable), then the connection closes. True when shed.
   */
  #shed(client: Client, packet: IConnectPacket): boolean {
    const { busyLag } = this.config
    if (busyLag === 0 || this.#lag.lag <= busyLag) {
      this.#busyError = undefined
      return false
    }
    this.#refusedBusy++
    client.write(connackRefusal(packet.protocolVersion ?? 4, ReasonCode.SERVER_BUSY))
    // One error a spell, reported when it starts: a refusal is counted, it costs no error object of its own.
    if (this.#busyError === undefined) {
      this.#busyError = new MqttStackError(
        ConnectionErrorCode.SERVER_BUSY,
        `the event loop lags ${Math.round(this.#lag.lag)} ms (busyLag ${busyLag}): new connections are refused with Server busy until it catches up`,
        { reasonCode: ReasonCode.SERVER_BUSY },
      )
      client.stack.reportError(this.#busyError, client, packet)
    }
    client.close(undefined, this.#busyError)
    return true
  }
}

/** Packets that flow from server to client only (the others of 3.1.1 go both ways or client to server). */
const SERVER_ONLY: ReadonlySet<string> = new Set(['connack', 'suback', 'unsuback', 'pingresp'])

/** The will topic is a topic name, checked here without a limit on its levels. */
const WILL_TOPIC_RULES = Object.freeze({ maxLevels: Number.POSITIVE_INFINITY })

/** What makes a parsed CONNECT malformed, if anything (the parser has checked the rest of the format). */
function malformedConnect(packet: IConnectPacket, version: ProtocolVersion): string | undefined {
  // U+0000 in a string [MQTT-1.5.3-2] is refused by core's decoder, before this.
  // [MQTT-3.1.2-22] 3.1.1 (and 3.1): no password without a user name; 5.0 allows it
  if (version !== 5 && packet.password !== undefined && packet.username === undefined)
    return 'a password without a user name'
  const will = packet.will
  if (will) {
    // [MQTT-3.1.2-14] a will QoS of 3
    if ((will.qos ?? 0) > 2) return 'will QoS 3'
    // The will topic is a topic name: not empty, no wildcard, no U+0000 [MQTT-4.7.1-1] [MQTT-4.7.3-1]
    const problem = validateTopicName(will.topic, WILL_TOPIC_RULES)
    if (problem !== undefined) return `an invalid will topic (${problem})`
  }
  return undefined
}

/** A client installed before this middleware was used (or by hand) gets its state on first sight. */
function adopt(client: Client): ConnectionState {
  const state = new ConnectionState()
  client.state.connection = state
  return state
}

function violation(client: Client, packet: Packet, message: string): void {
  client.protocolViolation(
    new MqttStackError(ErrorCode.PROTOCOL_ERROR, message, { reasonCode: ReasonCode.PROTOCOL_ERROR }),
    packet,
  )
}

function clearConnectTimer(state: ConnectionState): void {
  if (state.connectTimer === undefined) return
  clearTimeout(state.connectTimer)
  state.connectTimer = undefined
}

function connectTimedOut(client: Client, timeout: number): void {
  const state = client.state.connection
  if (state) state.connectTimer = undefined
  if (client.closed || client.connackSent) return
  if (client.connectReceived) {
    // An AUTH exchange holds the CONNECT's chain: authentication bounds it with its own timeout.
    if (client.holding) return
    // The CONNECT went into the stack and nothing answered it in time: a middleware never ended its chain.
    const err = new MqttStackError(
      ErrorCode.UNANSWERED_CONNECT,
      `the CONNECT of client "${client.id}" got no CONNACK within ${timeout} ms: a middleware did not end its chain`,
    )
    client.stack.reportError(err, client, undefined)
    client.close(undefined, err)
    return
  }
  // The spec says a server SHOULD close a connection that sends no CONNECT within a reasonable time. This
  // is not reported as an error (idle sockets are a fact of networks); the error reaches `uncleanDisconnect`.
  client.close(
    undefined,
    new MqttStackError(ConnectionErrorCode.CONNECT_TIMEOUT, `no CONNECT within ${timeout} ms`),
  )
}

/** The client's `connack` event: `this` is the client, so no closure per connection. */
function onConnack(this: Client): void {
  const state = this.state.connection
  if (state) clearConnectTimer(state)
}

function announceEnd(client: Client, error: Error | undefined): void {
  const state = client.state.connection
  if (state === undefined || state.ended) return
  state.ended = true
  clearConnectTimer(state)
  const reported = (err: MqttStackError | null): void => {
    if (err) client.stack.reportError(err, client, undefined)
  }
  if (state.disconnected) {
    const packet = state.disconnectPacket
    client.stack.execute(
      'cleanDisconnect',
      packet === undefined ? { client } : { client, packet },
      {},
      reported,
    )
    return
  }
  const cause = error ?? client.error
  client.stack.execute(
    'uncleanDisconnect',
    cause === undefined ? { client } : { client, error: cause },
    {},
    reported,
  )
}
