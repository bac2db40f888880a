import {
  type CallbackThen,
  type Client,
  type Done,
  isFailureCode,
  Middleware,
  MqttStackError,
  type Next,
  PACKET_TYPES,
  type Packet,
  type PacketType,
  ReasonCode,
  refusePublish,
} from '@mqtt-stack/core'
import { AuthorizeErrorCode } from './errors.js'
import { AUTHORIZE_DEFAULTS, type AuthorizeOptions } from './options.js'

/** A denial's reason code: the provider's when it is an error code (0x80 and up), else 0x87. */
function denialCode(reasonCode: number | undefined): number {
  return isFailureCode(reasonCode) ? reasonCode : ReasonCode.NOT_AUTHORIZED
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
  override readonly after = ['connection', 'authentication']
  override readonly before = ['inbound-manager', 'outbound-manager', 'subscription-manager']

  constructor(config: Partial<AuthorizeOptions> = {}) {
    super(config, AUTHORIZE_DEFAULTS)
  }

  override handle(client: Client, packet: Packet, next: Next, done: Done): void {
    const stack = client.stack
    // Each answer goes on in a `then` made once per middleware, with this chain's next/done: no closure
    // and no per-connection object per packet.
    if (stack.provides('authorizePacket'))
      return stack.executeThen('authorizePacket', { client, packet }, {}, this.#afterPacket, next, done)
    if (packet.cmd === 'publish' && stack.provides('authorizePublish'))
      return stack.executeThen('authorizePublish', { client, packet }, {}, this.#afterPublish, next, done)
    next()
  }

  readonly #afterPacket: CallbackThen<'authorizePacket'> = (err, store, ctx, next, done) => {
    const { client, packet } = ctx
    if (err) return next(err)
    if (client.closed) return done()
    if (store.authorized === false) {
      // 3.1.1 has no way to say why: close. 5.0: DISCONNECT with the reason code (0x87 by default).
      client.close(denialCode(store.reasonCode), notAuthorized(packet))
      return done()
    }
    if (packet.cmd === 'publish' && client.stack.provides('authorizePublish')) {
      client.stack.executeThen('authorizePublish', { client, packet }, {}, this.#afterPublish, next, done)
      return
    }
    next()
  }

  readonly #afterPublish: CallbackThen<'authorizePublish'> = (err, store, ctx, next, done) => {
    const { client, packet } = ctx
    if (err) return next(err)
    if (client.closed) return done()
    if (store.authorized !== false) return next()
    const reasonCode = denialCode(store.reasonCode)
    if (this.config.closeOnDeniedPublish) {
      // [MQTT-3.3.5-2] the server may close the connection instead of acknowledging
      client.stack.notifyDropped('not-authorized', client, packet)
      client.close(reasonCode, notAuthorized(packet))
      return done()
    }
    // [MQTT-3.3.5-2] 5.0: PUBACK or PUBREC with the reason code; 3.1.1: acknowledged as usual and dropped.
    refusePublish(client, packet, reasonCode)
    done()
  }
}
