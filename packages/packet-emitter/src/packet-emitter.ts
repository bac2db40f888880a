import {
  type Client,
  type Done,
  ErrorCode,
  Middleware,
  MqttStackError,
  type Next,
  PACKET_TYPES,
  type Packet,
} from '@mqtt-stack/core'
import { DEFAULTS, type PacketEmitterOptions, type PacketEventTarget } from './options.js'

/**
 * A bridge from a stack to an event emitter: `client` for every connection, `packet` for every packet that
 * reaches it (then `next()`), `close` when a connection ends. Without an emitter, packets pass through.
 */
export class PacketEmitter extends Middleware<PacketEmitterOptions> {
  override readonly name = 'packet-emitter'
  override readonly packetTypes = PACKET_TYPES
  override readonly requires = [] as const
  override readonly before = ['connection']
  #emitter: PacketEventTarget | undefined

  constructor(options: Partial<PacketEmitterOptions> = {}) {
    super(options, DEFAULTS)
    this.#emitter = this.config.emitter
  }

  /** The emitter events go to, if any. */
  get emitter(): PacketEventTarget | undefined {
    return this.#emitter
  }

  /** Sets (or, with undefined, removes) the emitter events go to; the seed's name for it. */
  setClientHandler(emitter: PacketEventTarget | undefined): this {
    this.#emitter = emitter
    return this
  }

  override install(client: Client): void {
    this.#emitter?.emit('client', client)
  }

  /** Reads the emitter set at close time. */
  override uninstall(client: Client): void {
    this.#closed(client, client.error)
  }

  override handle(client: Client, packet: Packet, next: Next, _done: Done): void {
    const emitter = this.#emitter
    if (emitter !== undefined) emitter.emit('packet', packet, client)
    next()
  }

  #closed(client: Client, error: Error | undefined): void {
    const emitter = this.#emitter
    if (emitter === undefined) return
    try {
      emitter.emit('close', client, error)
    } catch (cause) {
      // A throwing listener must not escape through the client's close event: report it.
      client.stack.reportError(
        new MqttStackError(ErrorCode.MIDDLEWARE, 'packet-emitter: a close listener threw', { cause }),
        client,
        undefined,
      )
    }
  }
}
