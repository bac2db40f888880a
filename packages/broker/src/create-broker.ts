import { createRequire } from 'node:module'
import { Authentication, ScramSha256, StaticCredentials } from '@mqtt-stack/authentication'
import { Authorize, TopicAcl, type TopicAclRule } from '@mqtt-stack/authorize'
import { Connection } from '@mqtt-stack/connection'
import { CLIENT_DEFAULTS, ErrorCode, MqttStackError, Stack } from '@mqtt-stack/core'
import { InboundManager } from '@mqtt-stack/inbound-manager'
import { KeepAlive } from '@mqtt-stack/keepalive'
import { LastWill } from '@mqtt-stack/last-will'
import { Limits } from '@mqtt-stack/limits'
import { MemoryBackend } from '@mqtt-stack/memory-backend'
import { Metrics } from '@mqtt-stack/metrics'
import { OutboundManager } from '@mqtt-stack/outbound-manager'
import { PacketEmitter } from '@mqtt-stack/packet-emitter'
import { RetainManager } from '@mqtt-stack/retain-manager'
import { SessionManager } from '@mqtt-stack/session-manager'
import { SubscriptionManager } from '@mqtt-stack/subscription-manager'
import { SysTopics } from '@mqtt-stack/sys'
import { CertificateUsername } from './certificate-username.js'
import { ConnectionLog } from './connection-log.js'
import { createListener, identityField, type Listener } from './listeners/listener.js'
import { DEFAULT_PORTS, type ListenerAddress, type ListenerOptions } from './listeners/options.js'
import type { BrokerOptions } from './options.js'
import { validateOptions } from './validate.js'

/** This package's version (`$SYS/broker/version`), read from package.json beside src/ and dist/. */
const VERSION: string = createRequire(import.meta.url)('../package.json').version

export interface Broker {
  readonly stack: Stack
  /** Where the broker accepts connections, once `listen()` has resolved (in the order of `listeners`). */
  readonly addresses: readonly ListenerAddress[]
  /** Binds every listener; if one cannot bind, the others are closed again and the error is thrown. */
  listen(): Promise<ListenerAddress[]>
  /** The limits in force, when created with `limits`: `ban()`, `unban()` and `bans()` change the ban list. */
  readonly limits: Limits | undefined
  /** The `$SYS` topics, when created with `sys`. */
  readonly sys: SysTopics | undefined
  /** The metrics, when created with `metrics`: `listen()` opens its HTTP endpoint too (`metrics.address`). */
  readonly metrics: Metrics | undefined
  /** Replaces the ACL rules in place: connected clients stay, their next packets meet the new rules. */
  setAcl(rules: readonly TopicAclRule[]): void
  /** Stops accepting, closes every client (wills of unclean ends are published), then every middleware. */
  close(): Promise<void>
}

/**
 * The default broker: every built-in, in the order of use documented in the root README, without
 * listeners. Validates `options` and throws MQS_ERR_INVALID_OPTION naming the first wrong one.
 */
export function createStack(options: BrokerOptions = {}): Stack {
  validateOptions(options)
  return assemble(options).stack
}

/** The default broker on its listeners (one `mqtt` listener on 127.0.0.1:1883 unless told otherwise). */
export function createBroker(options: BrokerOptions = {}): Broker {
  validateOptions(options)
  const { stack, acl, limits, sys, metrics } = assemble(options)
  // A WebSocket message holds at least one whole packet; room for two keeps batching clients working.
  const maxFrame =
    2 * (options.stack?.client?.maxPacketSize ?? options.maxPacketSize ?? CLIENT_DEFAULTS.maxPacketSize)
  const listeners: Listener[] = (options.listeners ?? [{ type: 'mqtt' }]).map((listener) =>
    createListener(listener, stack.handler({ listener: listenerName(listener) }), maxFrame),
  )
  const addresses: ListenerAddress[] = []
  let listening: Promise<ListenerAddress[]> | undefined
  let closing: Promise<void> | undefined
  return {
    stack,
    addresses,
    limits,
    sys,
    metrics,
    listen() {
      // Once: a second call gives the same addresses instead of binding again.
      listening ??= (async () => {
        try {
          for (const listener of listeners) addresses.push(await listener.listen())
          await metrics?.listen()
        } catch (err) {
          addresses.length = 0
          await Promise.all(listeners.map((listener) => listener.close()))
          throw err
        }
        return [...addresses]
      })()
      return listening
    },
    setAcl(rules) {
      if (acl === undefined)
        throw new MqttStackError(ErrorCode.INVALID_OPTION, 'setAcl: the broker was created without acl')
      acl.setRules(rules)
    },
    close() {
      closing ??= (async () => {
        const stopped = Promise.all(listeners.map((listener) => listener.close()))
        await stack.close()
        for (const listener of listeners) listener.terminate()
        await stopped
      })()
      return closing
    },
  }
}

/** A listener's name: its own, or `type:port` (the configured port). */
function listenerName(listener: ListenerOptions): string {
  return listener.name ?? `${listener.type}:${listener.port ?? DEFAULT_PORTS[listener.type]}`
}

interface Assembled {
  stack: Stack
  acl: TopicAcl | undefined
  limits: Limits | undefined
  sys: SysTopics | undefined
  metrics: Metrics | undefined
}

function assemble(options: BrokerOptions): Assembled {
  const stackOptions =
    options.maxPacketSize === undefined
      ? options.stack
      : { ...options.stack, client: { maxPacketSize: options.maxPacketSize, ...options.stack?.client } }
  const stack = new Stack(stackOptions)
  // Before the backend, so its registerClient handler runs before the backend ends that chain.
  if (options.logger) stack.use(new ConnectionLog({ logger: options.logger }))
  stack.use(
    options.backend ??
      new MemoryBackend(
        defined({
          maxOfflineMessages: options.maxOfflineMessages,
          maxOfflineBytes: options.maxOfflineBytes,
          maxRetainedMessages: options.maxRetainedMessages,
          maxRetainedBytes: options.maxRetainedBytes,
          maxInflightMessages: options.maxInflightMessages,
        }),
      ),
  )
  // First among the packet handlers, so the application sees every packet before any chain ends.
  if (options.emitter) stack.use(new PacketEmitter({ emitter: options.emitter }))
  // Before Connection, so it counts every packet, the refused CONNECTs among them.
  const metrics = options.metrics ? new Metrics(options.metrics) : undefined
  if (metrics) stack.use(metrics)
  stack.use(
    new Connection(defined({ connectTimeout: options.connectTimeout, maximumQoS: options.maximumQoS })),
  )
  // Before Authentication and TopicAcl: the CN replaces the CONNECT's username before they read it.
  if (options.listeners?.some((listener) => identityField(listener) !== undefined))
    stack.use(new CertificateUsername())
  stack.use(
    new KeepAlive(
      defined({ checkInterval: options.keepaliveCheckInterval, maxKeepalive: options.maxKeepalive }),
    ),
  )
  // Before Authentication: a banned or over-the-limit connection is refused before its password is checked.
  const limits = options.limits ? new Limits(options.limits) : undefined
  if (limits) stack.use(limits)
  stack.use(new Authentication())
  // SCRAM answers only CONNECTs that ask for it, so it goes before the username/password provider.
  if (options.scramUsers) stack.use(new ScramSha256({ users: options.scramUsers }))
  // Neither users nor check: open mode, any username and password are accepted. With either, only those
  // users connect unless allowAnonymous says otherwise (mosquitto's default with a password file).
  const closed = options.users !== undefined || options.check !== undefined
  const allowAnonymous = options.allowAnonymous ?? !closed
  stack
    .use(new StaticCredentials(defined({ users: options.users, check: options.check, allowAnonymous })))
    .use(new Authorize())
  // After Authentication, before LastWill: PUBLISHes and wills to $SYS are refused whatever the ACL allows.
  const sys = options.sys ? new SysTopics({ ...options.sys, version: `mqtt-stack ${VERSION}` }) : undefined
  if (sys) stack.use(sys)
  const acl = options.acl ? new TopicAcl({ rules: options.acl, default: 'deny' }) : undefined
  if (acl) stack.use(acl)
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
  return { stack, acl, limits, sys, metrics }
}

/** Drops undefined options so each middleware keeps its own default. */
function defined<T extends object>(options: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as never
}
