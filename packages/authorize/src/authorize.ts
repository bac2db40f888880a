import {
  type CallbackResult,
  type Client,
  type Done,
  type IPublishPacket,
  isFailureCode,
  Middleware,
  MqttStackError,
  type Next,
  PACKET_TYPES,
  type Packet,
  type PacketType,
  ReasonCode,
} from '@mqtt-stack/core'
import { AuthorizeErrorCode } from './errors.js'
import { AUTHORIZE_DEFAULTS, type AuthorizeOptions } from './options.js'
import { authorizeState } from './state.js'

/** A denial's reason code: the provider's when it is an error code (0x80 and up), else 0x87. */
function denialCode(reasonCode: number | undefined): number {
  return isFailureCode(reasonCode) ? reasonCode : ReasonCode.NOT_AUTHORIZED
}

/**
 * One per connection: runs `authorizePacket` and `authorizePublish` for the packet in hand with callbacks
 * bound once, so a PUBLISH allocates no closure. Packets of one client are processed one at a time, so one
 * packet is in hand at most.
 */
class Gate {
  readonly #client: Client
  readonly #options: Readonly<AuthorizeOptions>
  #packet: Packet | undefined = undefined
  #next: Next | undefined = undefined
  #done: Done | undefined = undefined

  constructor(client: Client, options: Readonly<AuthorizeOptions>) {
    this.#client = client
    this.#options = options
  }

  checkPacket(packet: Packet, next: Next, done: Done): void {
    this.#hold(packet, next, done)
    this.#client.stack.execute('authorizePacket', { client: this.#client, packet }, {}, this.#afterPacket)
  }

  checkPublish(packet: IPublishPacket, next: Next, done: Done): void {
    this.#hold(packet, next, done)
    this.#client.stack.execute('authorizePublish', { client: this.#client, packet }, {}, this.#afterPublish)
  }

  #hold(packet: Packet, next: Next, done: Done): void {
    this.#packet = packet
    this.#next = next
    this.#done = done
  }

  /** Lets go of the packet in hand before its chain goes on: going on may bring the next packet here. */
  #release(): void {
    this.#packet = undefined
    this.#next = undefined
    this.#done = undefined
  }

  readonly #afterPacket: CallbackResult<'authorizePacket'> = (err, store) => {
    const client = this.#client
    const packet = this.#packet!
    const next = this.#next!
    const done = this.#done!
    if (err) {
      this.#release()
      return next(err)
    }
    if (client.closed) {
      this.#release()
      return done()
    }
    if (store.authorized === false) {
      this.#release()
      // 3.1.1 has no way to say why: close. 5.0: DISCONNECT with the reason code (0x87 by default).
      client.close(denialCode(store.reasonCode), notAuthorized(packet))
      return done()
    }
    if (packet.cmd === 'publish' && client.stack.provides('authorizePublish')) {
      client.stack.execute('authorizePublish', { client, packet }, {}, this.#afterPublish)
      return
    }
    this.#release()
    next()
  }

  readonly #afterPublish: CallbackResult<'authorizePublish'> = (err, store) => {
    const client = this.#client
    const packet = this.#packet as IPublishPacket
    const next = this.#next!
    const done = this.#done!
    this.#release()
    if (err) return next(err)
    if (client.closed) return done()
    if (store.authorized !== false) return next()
    const reasonCode = denialCode(store.reasonCode)
    if (this.#options.closeOnDeniedPublish) {
      // [MQTT-3.3.5-2] the server may close the connection instead of acknowledging
      client.close(reasonCode, notAuthorized(packet))
      return done()
    }
    // [MQTT-3.3.5-2] a 3.1.1 server cannot say "denied": it acknowledges as usual and drops the message.
    // MQTT 5.0 says it with reason code 0x87 on the PUBACK or PUBREC. QoS 0 gets nothing.
    if (packet.qos === 1) {
      if (client.protocolVersion === 5)
        client.write({ cmd: 'puback', messageId: packet.messageId!, reasonCode })
      else client.write({ cmd: 'puback', messageId: packet.messageId! })
    } else if (packet.qos === 2) {
      if (client.protocolVersion === 5)
        client.write({ cmd: 'pubrec', messageId: packet.messageId!, reasonCode })
      else client.write({ cmd: 'pubrec', messageId: packet.messageId! })
    }
    done()
  }
}

function notAuthorized(packet: Packet): MqttStackError {
  return new MqttStackError(AuthorizeErrorCode.NOT_AUTHORIZED, `${packet.cmd} not authorized`, {
    reasonCode: ReasonCode.NOT_AUTHORIZED,
  })
}

const UNCHECKED: ReadonlySet<PacketType> = new Set(['connect', 'pingreq', 'disconnect'])

/**
 * Authorises every packet after CONNECT through `authorizePacket`, and every PUBLISH through
 * `authorizePublish`, each only when some middleware answers it. With no provider everything is allowed.
 */
export class Authorize extends Middleware<AuthorizeOptions> {
  override readonly name = 'authorize'
  /** Every packet type but those that come before (CONNECT) or need no permission (PINGREQ, DISCONNECT). */
  override readonly packetTypes = PACKET_TYPES.filter((type) => !UNCHECKED.has(type))

  constructor(config: Partial<AuthorizeOptions> = {}) {
    super(config, AUTHORIZE_DEFAULTS)
  }

  override handle(client: Client, packet: Packet, next: Next, done: Done): void {
    const stack = client.stack
    if (stack.provides('authorizePacket')) return this.#gate(client).checkPacket(packet, next, done)
    if (packet.cmd === 'publish' && stack.provides('authorizePublish'))
      return this.#gate(client).checkPublish(packet, next, done)
    next()
  }

  #gate(client: Client): Gate {
    const state = authorizeState(client.state)
    let gate = state.gate as Gate | undefined
    if (gate === undefined) {
      gate = new Gate(client, this.config)
      state.gate = gate
    }
    return gate
  }
}
