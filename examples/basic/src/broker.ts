import { createServer, type Server } from 'node:net'
import { Authentication, ScramSha256, StaticCredentials } from '@mqtt-stack/authentication'
import { Authorize, TopicAcl, type TopicAclRule } from '@mqtt-stack/authorize'
import { Connection } from '@mqtt-stack/connection'
import { type MiddlewareLike, Stack, type StackOptions } from '@mqtt-stack/core'
import { InboundManager } from '@mqtt-stack/inbound-manager'
import { KeepAlive } from '@mqtt-stack/keepalive'
import { LastWill } from '@mqtt-stack/last-will'
import { MemoryBackend } from '@mqtt-stack/memory-backend'
import { OutboundManager } from '@mqtt-stack/outbound-manager'
import { PacketEmitter, type PacketEventTarget } from '@mqtt-stack/packet-emitter'
import { RetainManager } from '@mqtt-stack/retain-manager'
import { SessionManager } from '@mqtt-stack/session-manager'
import { SubscriptionManager } from '@mqtt-stack/subscription-manager'

export interface BrokerOptions {
  port?: number
  host?: string
  stack?: StackOptions
  /** Username → password. When set, only these users may connect; otherwise anyone may. */
  users?: Readonly<Record<string, string>>
  /** Topic ACL rules (`%c` client id, `%u` username). When set, what they do not allow is denied. */
  acl?: readonly TopicAclRule[]
  /** Milliseconds a socket may take to send CONNECT. */
  connectTimeout?: number
  /** Milliseconds between keepalive sweeps. */
  keepaliveCheckInterval?: number
  /** Receives every packet and connection, for applications that embed the broker. */
  emitter?: PacketEventTarget
  /** MQTT 5.0 enhanced authentication: users who may connect with SCRAM-SHA-256. */
  scramUsers?: Readonly<Record<string, string>>
  /** MQTT 5.0: unacknowledged QoS 2 PUBLISH packets a client may have towards the broker. */
  receiveMaximum?: number
  /** The highest QoS the broker accepts and grants. */
  maximumQoS?: 0 | 1 | 2
  /** Longest keepalive accepted, in seconds; MQTT 5.0 clients asking for more are told the server's. */
  maxKeepalive?: number
  /** MQTT 5.0: the Response Information given to clients that ask for it. */
  responseInformation?: string
  /** Milliseconds between checks for expired MQTT 5.0 sessions. */
  sessionExpiryCheckInterval?: number
  /**
   * The middleware that answers the storage and routing callbacks. Default: a `MemoryBackend`. The async
   * conformance run gives a `DeferredBackend` around one (see docs/architecture.md).
   */
  backend?: MiddlewareLike
}

export interface Broker {
  readonly stack: Stack
  readonly server: Server
  /** Resolves with the address actually bound (port 0 picks a free one). */
  listen(): Promise<{ host: string; port: number }>
  /** Stops accepting, closes every client (wills of unclean ends are published), then every middleware. */
  close(): Promise<void>
}

/** The default broker: every built-in, in the order of use documented in the root README. */
export function createStack(options: BrokerOptions = {}): Stack {
  const stack = new Stack(options.stack)
  stack.use(options.backend ?? new MemoryBackend())
  // First among the packet handlers, so the application sees every packet before any chain ends.
  if (options.emitter) stack.use(new PacketEmitter({ emitter: options.emitter }))
  stack
    .use(new Connection(defined({ connectTimeout: options.connectTimeout, maximumQoS: options.maximumQoS })))
    .use(
      new KeepAlive(
        defined({ checkInterval: options.keepaliveCheckInterval, maxKeepalive: options.maxKeepalive }),
      ),
    )
    .use(new Authentication())
  // SCRAM answers only CONNECTs that ask for it, so it goes before the username/password provider.
  if (options.scramUsers) stack.use(new ScramSha256({ users: options.scramUsers }))
  stack
    .use(
      options.users
        ? new StaticCredentials({ users: options.users })
        : new StaticCredentials({ allowAnonymous: true }),
    )
    .use(new Authorize())
  if (options.acl) stack.use(new TopicAcl({ rules: options.acl, default: 'deny' }))
  stack
    .use(new LastWill())
    .use(
      new SessionManager(
        defined({
          responseInformation: options.responseInformation,
          expiryCheckInterval: options.sessionExpiryCheckInterval,
        }),
      ),
    )
    .use(new RetainManager())
    .use(new InboundManager(defined({ receiveMaximum: options.receiveMaximum, maxQoS: options.maximumQoS })))
    .use(new OutboundManager())
    .use(new SubscriptionManager(defined({ maxQoS: options.maximumQoS })))
  return stack
}

/** The default broker on a TCP server. */
export function createBroker(options: BrokerOptions = {}): Broker {
  const stack = createStack(options)
  const server = createServer(stack.handler())
  return {
    stack,
    server,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(options.port ?? 1883, options.host ?? '127.0.0.1', () => {
          server.off('error', reject)
          const address = server.address()
          if (address === null || typeof address === 'string') return reject(new Error('not a TCP address'))
          resolve({ host: address.address, port: address.port })
        })
      }),
    close: async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
      await stack.close()
      await stopped
    },
  }
}

/** Drops undefined options so each middleware keeps its own default. */
function defined<T extends object>(options: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as never
}
