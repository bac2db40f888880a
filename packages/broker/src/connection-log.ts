import {
  type CallbackHandlers,
  type Client,
  type Done,
  type IConnectPacket,
  Middleware,
  type Next,
  type Packet,
} from '@mqtt-stack/core'
import type { BrokerLogger } from './logger.js'

export interface ConnectionLogOptions {
  logger: BrokerLogger
}

interface Seen {
  /** Read at install: a closed socket no longer has it. */
  address: string | undefined
  /** The CONNECT, once there is one: read when a line is written, after any middleware set its username. */
  connect: IConnectPacket | undefined
  /** A DISCONNECT arrived: the close that follows is the client's own. */
  disconnected: boolean
}

const VERSIONS: Readonly<Record<number, string>> = { 3: '3.1', 4: '3.1.1', 5: '5.0' }

/**
 * One log line per connect, refusal and disconnect, with client id, address, protocol version and reason.
 * It only watches: CONNECT and DISCONNECT pass on, and its `registerClient` handler (the moment a CONNECT is
 * accepted) calls `next()`. `use()` it before the backend, so that handler runs before the backend's.
 */
export class ConnectionLog extends Middleware<ConnectionLogOptions> {
  override readonly name = 'connection-log'
  override readonly packetTypes = ['connect', 'disconnect'] as const
  readonly #seen = new WeakMap<Client, Seen>()

  constructor(config: ConnectionLogOptions) {
    super(config, { logger: config.logger })
  }

  override install(client: Client): void {
    const seen: Seen = { address: remoteAddress(client), connect: undefined, disconnected: false }
    this.#seen.set(client, seen)
    client.once('close', (error) => this.#closed(client, seen, error))
  }

  override handle(client: Client, packet: Packet, next: Next, _done: Done): void {
    const seen = this.#seen.get(client)
    if (seen && packet.cmd === 'connect') seen.connect ??= packet
    else if (seen && packet.cmd === 'disconnect') seen.disconnected = true
    next()
  }

  override callbacks(): CallbackHandlers {
    return {
      registerClient: (ctx, _store, next) => {
        const seen = this.#seen.get(ctx.client)
        this.config.logger.info(
          { ...fields(ctx.client, ctx.clientId, seen), username: seen?.connect?.username },
          'client connected',
        )
        next()
      },
    }
  }

  #closed(client: Client, seen: Seen, error: Error | undefined): void {
    const { logger } = this.config
    const { connect } = seen
    if (client.connackSent) {
      const reason = error?.message ?? (seen.disconnected ? 'DISCONNECT' : 'connection closed')
      logger.info({ ...fields(client, client.id, seen), reason }, 'client disconnected')
    } else if (connect) {
      const reason = error?.message ?? 'connection closed before CONNACK'
      logger.warn(
        { ...fields(client, connect.clientId, seen), username: connect.username, reason },
        'connection refused',
      )
    } else {
      logger.debug({ address: seen.address, reason: error?.message }, 'connection closed before CONNECT')
    }
  }
}

function fields(client: Client, clientId: string, seen: Seen | undefined): Record<string, unknown> {
  return { clientId, address: seen?.address, protocol: VERSIONS[client.protocolVersion] }
}

/** A TCP or TLS socket has `remoteAddress`, and so has our WebSocket stream. */
function remoteAddress(client: Client): string | undefined {
  return (client.stream as { remoteAddress?: string }).remoteAddress
}
