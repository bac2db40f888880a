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

/** What the log knows of one connection, kept in `client.state.connectionLog`. */
class Seen {
  /** The CONNECT, once there is one: read when a line is written, after any middleware set its username. */
  connect: IConnectPacket | undefined = undefined
  /** A DISCONNECT arrived: the close that follows is the client's own. */
  disconnected = false

  /** `address` is read at install: a closed socket no longer has it. */
  constructor(readonly address: string | undefined) {}
}

declare module '@mqtt-stack/core' {
  interface ClientState {
    connectionLog?: Seen
  }
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
  constructor(config: ConnectionLogOptions) {
    super(config, { logger: config.logger })
  }

  override install(client: Client): void {
    client.state.connectionLog = new Seen(remoteAddress(client))
  }

  override uninstall(client: Client): void {
    const seen = client.state.connectionLog
    if (seen !== undefined) closed(this.config.logger, client, seen, client.error)
  }

  override handle(client: Client, packet: Packet, next: Next, _done: Done): void {
    const seen = client.state.connectionLog
    if (seen && packet.cmd === 'connect') seen.connect ??= packet
    else if (seen && packet.cmd === 'disconnect') seen.disconnected = true
    next()
  }

  override callbacks(): CallbackHandlers {
    return {
      registerClient: (ctx, _store, next) => {
        const seen = ctx.client.state.connectionLog
        this.config.logger.info(
          fields(ctx.client, ctx.clientId, seen, seen?.connect?.username, undefined),
          'client connected',
        )
        next()
      },
    }
  }
}

function closed(logger: BrokerLogger, client: Client, seen: Seen, error: Error | undefined): void {
  const { connect } = seen
  if (client.connackSent) {
    const reason = error?.message ?? (seen.disconnected ? 'DISCONNECT' : 'connection closed')
    logger.info(fields(client, client.id, seen, undefined, reason), 'client disconnected')
  } else if (connect) {
    const reason = error?.message ?? 'connection closed before CONNACK'
    logger.warn(fields(client, connect.clientId, seen, connect.username, reason), 'connection refused')
  } else {
    logger.debug({ address: seen.address, reason: error?.message }, 'connection closed before CONNECT')
  }
}

/** The fields of a line, in one object: a storm writes one line per connection. */
function fields(
  client: Client,
  clientId: string,
  seen: Seen | undefined,
  username: string | undefined,
  reason: string | undefined,
): Record<string, unknown> {
  return { clientId, address: seen?.address, protocol: VERSIONS[client.protocolVersion], username, reason }
}

/** A TCP or TLS socket has `remoteAddress`, and so has our WebSocket stream. */
function remoteAddress(client: Client): string | undefined {
  return (client.stream as { remoteAddress?: string }).remoteAddress
}
