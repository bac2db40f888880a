import type { CredentialsCheck } from '@mqtt-stack/authentication'
import type { TopicAclRule } from '@mqtt-stack/authorize'
import type { MiddlewareLike, StackOptions } from '@mqtt-stack/core'
import type { LimitsOptions } from '@mqtt-stack/limits'
import type { MetricsOptions } from '@mqtt-stack/metrics'
import type { PacketEventTarget } from '@mqtt-stack/packet-emitter'
import type { ListenerOptions } from './listeners/options.js'
import type { BrokerLogger } from './logger.js'

/** Options of {@link createBroker}. Every one is optional; each built-in keeps its own default. */
export interface BrokerOptions {
  /** Where to accept connections. Default: one `mqtt` listener on 127.0.0.1:1883. */
  listeners?: readonly ListenerOptions[]
  /** Options of the Stack (`onError`, `strict`, per-connection `client` limits). */
  stack?: StackOptions

  /**
   * Accept a CONNECT without a username. Default: `true` without `users` and `check`, `false` with either.
   * With neither `users` nor `check` the broker is open: any username and password are accepted, as
   * mosquitto with `allow_anonymous true` does.
   */
  allowAnonymous?: boolean
  /** Username → password: when set, only these users (and anonymous clients if allowed) may connect. */
  users?: Readonly<Record<string, string>>
  /** Your own credentials check instead of `users` (the CLI's password file is one). */
  check?: CredentialsCheck
  /** MQTT 5.0 enhanced authentication: users who may connect with SCRAM-SHA-256. */
  scramUsers?: Readonly<Record<string, string>>
  /** Topic ACL rules (`%c` client id, `%u` username), first match decides; what none allows is denied. */
  acl?: readonly TopicAclRule[]

  /** Milliseconds a socket may take to send CONNECT. */
  connectTimeout?: number
  /** Longest keepalive accepted, in seconds; MQTT 5.0 clients asking for more are told the server's. */
  maxKeepalive?: number
  /**
   * Milliseconds: the coarsest keepalive check (a silent client is closed at most this late, sooner for short
   * keepalives).
   */
  keepaliveCheckInterval?: number
  /**
   * MQTT 5.0: the Receive Maximum, unacknowledged QoS 1/2 PUBLISH packets a client may have towards the
   * broker; one more is DISCONNECT 0x93. Default 1024 (inbound-manager's README says why).
   */
  receiveMaximum?: number
  /** The highest QoS the broker accepts and grants. */
  maximumQoS?: 0 | 1 | 2
  /** The largest packet accepted from a client, in bytes (sets `stack.client.maxPacketSize`). */
  maxPacketSize?: number
  /** MQTT 5.0: the Response Information given to clients that ask for it. */
  responseInformation?: string
  /** Milliseconds between checks for expired MQTT 5.0 sessions. */
  sessionExpiryCheckInterval?: number

  /** Memory backend: messages queued per disconnected persistent session. */
  maxOfflineMessages?: number
  /** Memory backend: payload bytes queued offline for all sessions together. */
  maxOfflineBytes?: number
  /** Memory backend: retained messages kept in all. */
  maxRetainedMessages?: number
  /** Memory backend: payload bytes of all retained messages together. */
  maxRetainedBytes?: number
  /** Memory backend: unacknowledged outbound messages kept per session. */
  maxInflightMessages?: number
  /**
   * The store and router answering the backend callbacks. Default: a `MemoryBackend` with the limits
   * above (which are refused together with a backend of your own, as they would do nothing).
   */
  backend?: MiddlewareLike

  /**
   * Limits and abuse protection (@mqtt-stack/limits): connection caps and rates, bans, flapping, failed
   * logins, publish rate, subscriptions per client, topic size. Off unless given; `{}` turns every limit on
   * at its default (docs/operations.md has the table). `broker.limits` changes the ban list at run time.
   */
  limits?: Partial<LimitsOptions>
  /**
   * Prometheus metrics (@mqtt-stack/metrics) on an HTTP endpoint of their own (`/metrics`, `/healthz`; default
   * port 9464 on every interface), opened by `listen()`. Off unless given.
   */
  metrics?: Partial<MetricsOptions>
  /**
   * mosquitto's `$SYS/broker/...` topics (@mqtt-stack/sys), published every `interval` seconds (default 10);
   * clients may not publish to `$SYS`. Off unless given.
   */
  sys?: { interval?: number }

  /** Receives every packet and connection, for applications that embed the broker. */
  emitter?: PacketEventTarget
  /** Where connection lines (connect, refusal, disconnect) go. Default: nowhere. */
  logger?: BrokerLogger
}

/** The limits that configure the default MemoryBackend. */
export const MEMORY_BACKEND_OPTIONS = [
  'maxOfflineMessages',
  'maxOfflineBytes',
  'maxRetainedMessages',
  'maxRetainedBytes',
  'maxInflightMessages',
] as const
