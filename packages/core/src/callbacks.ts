import type { Client } from './client.js'
import type { CodecProblem } from './codec/index.js'
import type { MqttStackError } from './errors.js'
import type {
  IAuthPacket,
  IConnackPacket,
  IConnectPacket,
  IDisconnectPacket,
  IPublishPacket,
  IPubrelPacket,
  ISubscribePacket,
  IUnsubscribePacket,
  Packet,
  QoS,
} from './packets.js'

/** A subscription as a session holds it: the filter, the granted QoS and the MQTT 5.0 options. */
export interface Subscription {
  /** The topic filter, as the client sent it (a shared subscription keeps its `$share/{group}/` prefix). */
  topic: string
  /** The granted maximum QoS. */
  qos: QoS
  /** MQTT 5.0 No Local. */
  nl?: boolean
  /** MQTT 5.0 Retain As Published. */
  rap?: boolean
  /** MQTT 5.0 Retain Handling: 0 send retained on subscribe, 1 only if new, 2 never. */
  rh?: number
  /** MQTT 5.0 Subscription Identifier of the SUBSCRIBE that created it. */
  subscriptionIdentifier?: number
}

/** What a backend keeps of a session between connections. */
export interface StoredSession {
  clientId: string
  /** Seconds the session outlives its connection: 0 ends it with the connection, 0xFFFFFFFF never expires. */
  expiryInterval: number
  /** Epoch milliseconds of the last disconnect; undefined while connected. */
  disconnectedAt?: number
}

/**
 * Why a message was dropped (see the `messageDropped` callback):
 * - `offline-queue-full`: a disconnected persistent session's offline queue had no room (backend);
 * - `qos0-buffer-full`: a QoS 0 message to a client with more than `dropQoS0Above` bytes unwritten (core);
 * - `slow-consumer`: the message being written when the client was disconnected for having more than
 *   `disconnectAbove` bytes unwritten (core);
 * - `too-large`: over the receiving client's MQTT 5.0 Maximum Packet Size [MQTT-3.1.2-25] (core, outbound);
 * - `not-authorized`: a PUBLISH the publisher may not send, or a delivery `authorizeForward` refused.
 */
export type DropReason =
  | 'offline-queue-full'
  | 'qos0-buffer-full'
  | 'slow-consumer'
  | 'too-large'
  | 'not-authorized'

/** Outbound QoS 1/2 state: a PUBLISH awaiting PUBACK/PUBREC, or a PUBREL awaiting PUBCOMP. */
export type InflightPacket = IPublishPacket | IPubrelPacket

/**
 * The standard catalogue: every callback a complete MQTT 3.1.1 and 5.0 broker uses, with the types of its
 * `ctx` and `store`. `Callbacks` extends it with third-party names.
 */
export interface StandardCallbacks {
  // Connection life cycle
  /** Check the credentials of a CONNECT. Set `store.authenticated`; on refusal a return or reason code. */
  authenticateConnection: {
    ctx: {
      client: Client
      packet: IConnectPacket
      username: string | undefined
      password: Buffer | undefined
    }
    store: {
      authenticated?: boolean
      returnCode?: number
      /** 5.0: a refusal code, or 0x18 (continue authentication) to start an AUTH exchange. */
      reasonCode?: number
      user?: unknown
      /** 5.0: Authentication Data for the AUTH (0x18) or the CONNACK. */
      authenticationData?: Buffer
    }
  }
  /** MQTT 5.0 enhanced authentication: one step of an AUTH exchange. */
  continueAuthentication: {
    ctx: { client: Client; packet: IAuthPacket }
    store: { authenticated?: boolean; reasonCode?: number; authenticationData?: Buffer; user?: unknown }
  }
  /** May this client send this packet at all? Runs for every packet after CONNECT. */
  authorizePacket: {
    ctx: { client: Client; packet: Packet }
    store: { authorized?: boolean; reasonCode?: number }
  }
  /** May this client publish this message (including its will)? */
  authorizePublish: {
    ctx: { client: Client; packet: IPublishPacket }
    store: { authorized?: boolean; reasonCode?: number }
  }
  /** May this client subscribe to this one filter, and at what maximum QoS? */
  authorizeSubscribe: {
    ctx: { client: Client; packet: ISubscribePacket; subscription: Subscription }
    store: { authorized?: boolean; qos?: QoS; reasonCode?: number }
  }
  /** May this message be delivered to this client? Runs once per delivery. */
  authorizeForward: {
    ctx: { client: Client; packet: IPublishPacket }
    store: { authorized?: boolean }
  }
  /** The connection ended after a DISCONNECT from the client. */
  cleanDisconnect: { ctx: { client: Client; packet?: IDisconnectPacket }; store: Record<never, never> }
  /** The connection ended any other way (socket error, timeout, takeover, protocol violation). */
  uncleanDisconnect: { ctx: { client: Client; error?: Error }; store: Record<never, never> }
  /**
   * MQTT 5.0: the CONNACK about to be sent. Each middleware that implements an optional feature advertises
   * it in `store.properties` (the session manager starts them at "not available" and sends the result).
   */
  prepareConnack: {
    ctx: { client: Client; packet: IConnectPacket }
    store: { properties: NonNullable<IConnackPacket['properties']> }
  }
  /** Close this client, with an MQTT 5.0 reason code where one applies. */
  closeClient: {
    ctx: { client: Client; reasonCode?: number; error?: Error }
    store: Record<never, never>
  }
  /**
   * The client's bytes cannot be decoded (`problem` says why; `error` is what will be reported). Answer the
   * client as the protocol says, for example with a refusing CONNACK; when the chain ends, the client is
   * closed with `error` by whoever has not closed it yet.
   */
  decodeFailed: {
    ctx: { client: Client; problem: CodecProblem; error: MqttStackError }
    store: Record<never, never>
  }

  // Sessions
  /** Make `client` the connection of `clientId`, closing any earlier one [MQTT-3.1.4-2]. */
  registerClient: { ctx: { client: Client; clientId: string }; store: { previous?: Client } }
  /**
   * `client` has gone; forget it unless a newer connection has taken its client id. `store.removed` is
   * true only when `client` was still the connection of `clientId` (so its session may be ended).
   */
  unregisterClient: { ctx: { client: Client; clientId: string }; store: { removed?: boolean } }
  /** The stored session of a client id, if any. */
  lookupSession: { ctx: { clientId: string }; store: { session?: StoredSession } }
  /** Create or update the stored session of a client id. */
  storeSession: { ctx: { clientId: string; session: StoredSession }; store: Record<never, never> }
  /**
   * Forget a session and everything stored for it: subscriptions, queues, inflight state. Not its wills: a
   * will outlives its session (see `storeWill`).
   */
  removeSession: { ctx: { clientId: string }; store: Record<never, never> }
  /**
   * A persistent session was resumed and its CONNACK sent: deliver what it holds, unacknowledged messages
   * again (PUBLISH with DUP, or PUBREL), then its offline queue in order.
   */
  resumeSession: { ctx: { client: Client; clientId: string }; store: Record<never, never> }
  /** A session ended (its expiry interval ran out, or it ended with its connection) and was removed. */
  sessionExpired: { ctx: { clientId: string }; store: Record<never, never> }
  /**
   * A backend found a stored session whose expiry no broker follows: the node its client was connected to
   * (or left) died, or the broker started again on the same store. `disconnectedAt` (epoch ms) is when it
   * was left, as stored with the session. The session manager follows its expiry from then on.
   */
  orphanedSession: { ctx: { clientId: string; disconnectedAt: number }; store: Record<never, never> }

  // Subscriptions
  /**
   * Route messages matching `topic` to `client`. `store.existed` tells whether it replaced one. `packet` is
   * the SUBSCRIBE that made it; without one, the subscription is being restored with its session. Retained
   * messages are sent on `subscriptionGranted`, after the SUBACK.
   */
  subscribeTopic: {
    ctx: { client: Client; packet?: ISubscribePacket; topic: string; qos: QoS; subscription: Subscription }
    store: { existed?: boolean }
  }
  /**
   * A filter of a SUBSCRIBE was routed and stored, and the SUBACK sent: what follows a new subscription goes
   * here (retain-manager sends the retained messages it gets). `existed` is `store.existed` of its
   * `subscribeTopic`.
   */
  subscriptionGranted: {
    ctx: {
      client: Client
      packet: ISubscribePacket
      topic: string
      qos: QoS
      subscription: Subscription
      existed: boolean
    }
    store: Record<never, never>
  }
  /** Stop routing `topic` to `client`. `store.removed` tells whether a subscription existed. */
  unsubscribeTopic: {
    ctx: { client: Client; packet?: IUnsubscribePacket; topic: string }
    store: { removed?: boolean }
  }
  /** Persist a subscription of a session. */
  storeSubscription: {
    ctx: { client: Client; clientId: string; topic: string; qos: QoS; subscription: Subscription }
    store: Record<never, never>
  }
  /** Remove one persisted subscription of a session. */
  removeSubscription: {
    ctx: { client: Client; clientId: string; topic: string }
    store: Record<never, never>
  }
  /** Remove every persisted subscription of a session. */
  clearSubscriptions: {
    ctx: { client?: Client; packet?: IConnectPacket; clientId: string }
    store: Record<never, never>
  }
  /** The persisted subscriptions of a session. */
  lookupSubscriptions: {
    ctx: { client?: Client; packet?: IConnectPacket; clientId: string }
    store: { subscriptions?: Subscription[] }
  }

  // Messages
  /** Route an accepted PUBLISH to every matching subscription. `client` is undefined for server messages. */
  relayMessage: {
    ctx: { client: Client | undefined; packet: IPublishPacket; topic: string; payload: Buffer | string }
    store: {
      /**
       * The subscriptions the message was routed to: each router adds its own count (a router that cannot
       * count leaves it alone). 0 once the chain has ended means nobody subscribes: inbound-manager answers
       * a 5.0 publisher with 0x10 (No matching subscribers). Undefined: not counted.
       */
      matched?: number | undefined
    }
  }
  /**
   * Deliver `packet` (its `qos` already the delivery QoS) to one connected client. A packet that carries a
   * `messageId` is an unacknowledged message sent again: it keeps that identifier.
   */
  forwardMessage: {
    ctx: { client: Client; packet: IPublishPacket; subscription?: Subscription }
    store: Record<never, never>
  }
  /** Store (or, with an empty payload, delete) the retained message of `topic`. */
  storeRetainedMessage: {
    ctx: { client: Client | undefined; topic: string; packet: IPublishPacket }
    store: Record<never, never>
  }
  /** The retained messages whose topics match the filter `topic`. */
  lookupRetainedMessages: {
    ctx: { client?: Client; topic: string }
    store: { packets?: IPublishPacket[] }
  }
  /** Queue a QoS 1/2 message for a disconnected persistent session. */
  storeOfflineMessage: { ctx: { clientId: string; packet: IPublishPacket }; store: { dropped?: boolean } }
  /**
   * The queued messages of a session, oldest first. With `limit`, the first `limit` of them are enough (a
   * backend may give more) and `store.queued` says how many are queued in all; without it, every one.
   */
  lookupOfflineMessages: {
    ctx: { clientId: string; limit?: number }
    store: { packets?: IPublishPacket[]; queued?: number }
  }
  /** Remove these delivered messages from the queue of a session. */
  removeOfflineMessages: { ctx: { clientId: string; packets: IPublishPacket[] }; store: Record<never, never> }
  /** Empty the queue of a session. */
  clearOfflineMessages: { ctx: { clientId: string }; store: Record<never, never> }
  /**
   * A notification: a message was dropped for `reason` and will not be delivered to (or, for
   * `not-authorized` on PUBLISH, accepted from) `client` / `clientId`. Executed through
   * `stack.notifyDropped`, only when some middleware answers it (metrics counts it); handlers call `next()`.
   * `packet` is undefined where only its bytes were at hand.
   */
  messageDropped: {
    ctx: {
      client: Client | undefined
      clientId: string
      packet: IPublishPacket | undefined
      reason: DropReason
    }
    store: Record<never, never>
  }

  // QoS 1/2 state
  /**
   * Remember an outbound PUBLISH (or the PUBREL that replaces it) until it is acknowledged. A backend that
   * keeps this session beyond the process (in Redis, on disk) sets `store.durable`: the messages the client
   * has no room for yet are then stored with `storeOfflineMessage` rather than held in memory, where a crash
   * of the process would lose them once their publisher was acknowledged.
   */
  storeInflightMessage: {
    ctx: { clientId: string; packet: InflightPacket }
    store: { durable?: boolean }
  }
  /** Forget an acknowledged outbound message. */
  removeInflightMessage: { ctx: { clientId: string; messageId: number }; store: Record<never, never> }
  /**
   * The unacknowledged outbound messages of a session, in the order they were sent; `store.durable` as for
   * `storeInflightMessage`.
   */
  lookupInflightMessages: {
    ctx: { clientId: string }
    store: { packets?: InflightPacket[]; durable?: boolean }
  }
  /** Forget every unacknowledged outbound message of a session. */
  clearInflightMessages: { ctx: { clientId: string }; store: Record<never, never> }
  /** Remember an inbound QoS 2 packet id until PUBREL; `store.duplicate` when it was already held. */
  storeIncomingMessage: { ctx: { clientId: string; packet: IPublishPacket }; store: { duplicate?: boolean } }
  /** PUBREL arrived: forget the inbound QoS 2 packet id and return what was held. */
  releaseIncomingMessage: {
    ctx: { clientId: string; messageId: number }
    store: { packet?: IPublishPacket }
  }

  // Wills
  /**
   * Keep the will of a connection, as the PUBLISH to send, with its MQTT 5.0 delay in seconds. `owner` names
   * the connection (one string per connection, unique across nodes): a client id may hold the wills of
   * several connections at once (one being taken over, one waiting out its delay), each removed by its
   * owner. A will stored again with the same owner replaces it. With `dueAt` (epoch ms), the connection of
   * `owner` has ended and its will waits out its delay: only a will of `owner` still stored is updated, none
   * is created. A will outlives its session (`removeSession` keeps it): it is published when the session
   * ends within the delay [MQTT-3.1.3-9]. A backend that runs on several nodes records which node holds the
   * will, and when that node dies hands it to a survivor with `orphanedWill`.
   */
  storeWill: {
    ctx: {
      client: Client
      clientId: string
      packet: IPublishPacket
      delayInterval: number
      owner?: string
      dueAt?: number
    }
    store: Record<never, never>
  }
  /** The will of `owner`, or without `owner` the last one stored for the client id. */
  lookupWill: {
    ctx: { clientId: string; owner?: string }
    store: { packet?: IPublishPacket; delayInterval?: number; dueAt?: number }
  }
  /**
   * Forget a will. With `owner`: that connection's (clean DISCONNECT, or claimed before it is published),
   * and `store.removed` is true only for the one call that removed it, atomically, so that two nodes never
   * both publish it. Without `owner`: every will of the client id that has a delay, wherever held (a new
   * connection with Clean Start 0 resumed the session within the delay: they are not sent [MQTT-3.1.3-9];
   * with Clean Start 1 the session ended: they are sent now), handed back in `store.packets`; wills without
   * a delay stay, to be published by their owners.
   */
  removeWill: {
    ctx: { clientId: string; owner?: string }
    store: { removed?: boolean; packets?: IPublishPacket[] }
  }
  /**
   * A backend took over the will of a connection whose node died, under a new `owner`: publish it once
   * `dueAt` (epoch ms: its delay counted from when the node was last seen alive, or from when the connection
   * ended) has passed, after claiming it with `removeWill` by `owner`, unless a new connection resumed the
   * session meanwhile (then the claim fails). The will was authorised when it was stored.
   */
  orphanedWill: {
    ctx: { clientId: string; packet: IPublishPacket; delayInterval: number; dueAt: number; owner: string }
    store: Record<never, never>
  }

  // Monitoring
  /**
   * What the backend holds now, for monitoring (`$SYS` topics, metrics). Each backend fills the figures it
   * keeps; one left undefined is not known. Off the hot path: executed every few seconds at most.
   */
  collectStats: {
    ctx: Record<never, never>
    store: {
      /** Stored sessions, connected or not. */
      sessions?: number
      /** Sessions kept after their connection (persistent) whose client is not connected now. */
      disconnectedSessions?: number
      /** Subscriptions: (filter, client id) pairs, members of shared subscriptions included. */
      subscriptions?: number
      /** MQTT 5.0 shared subscriptions (`$share/{group}/{filter}`) with at least one member. */
      sharedSubscriptions?: number
      /** Retained messages. */
      retainedMessages?: number
      /** Payload bytes of the retained messages. */
      retainedBytes?: number
      /** Payload bytes queued for disconnected persistent sessions. */
      offlineBytes?: number
      /** Wills stored. */
      wills?: number
    }
  }
}

/**
 * The callback catalogue: the standard callbacks plus any a third party declares.
 *
 * `ctx` is the input of a call; `store` is its output, filled in by the handlers. Third parties add names
 * by declaration merging, with their own prefix:
 *
 * ```ts
 * declare module '@mqtt-stack/core' {
 *   interface Callbacks { acmeRateLimitExceeded: { ctx: { client: Client }; store: {} } }
 * }
 * ```
 *
 * The table in core's README says who executes and who answers each one.
 */
export interface Callbacks extends StandardCallbacks {}

/** Every callback name known to the compiler: the catalogue above plus third-party augmentations. */
export type CallbackName = keyof Callbacks
/** A callback name a third party added by augmenting `Callbacks`: what a middleware's `declares` lists. */
export type DeclaredCallbackName = Exclude<CallbackName, keyof StandardCallbacks>
export type CallbackContext<N extends CallbackName> = Callbacks[N]['ctx']
export type CallbackStore<N extends CallbackName> = Callbacks[N]['store']

/** Go on to the next handler; with an error, stop the chain and report it. */
export type Next = (err?: Error | null) => void
/** End the chain here; with an error, stop and report it. */
export type Done = (err?: Error | null) => void

/** A handler of callback `N`, in the seed's form `(ctx, store, next, done)`. It may be `async`. */
export type CallbackHandler<N extends CallbackName> = (
  ctx: CallbackContext<N>,
  store: CallbackStore<N>,
  next: Next,
  done: Done,
) => void | Promise<void>

/** The object form: `callbacks()` returns handlers by name, typed without annotations. */
export type CallbackHandlers = { [N in CallbackName]?: CallbackHandler<N> }

/** Called once when a callback chain ends. */
export type CallbackResult<N extends CallbackName> = (
  err: MqttStackError | null,
  store: CallbackStore<N>,
) => void

/** What `stack.executeThen` calls when the chain ends: its result, its input, and the caller's next/done. */
export type CallbackThen<N extends CallbackName> = (
  err: MqttStackError | null,
  store: CallbackStore<N>,
  ctx: CallbackContext<N>,
  next: Next,
  done: Done,
) => void

/** Each standard name once; `satisfies` makes the compiler check it against the catalogue, both ways. */
const STANDARD = {
  authenticateConnection: true,
  continueAuthentication: true,
  authorizePacket: true,
  authorizePublish: true,
  authorizeSubscribe: true,
  authorizeForward: true,
  cleanDisconnect: true,
  uncleanDisconnect: true,
  prepareConnack: true,
  closeClient: true,
  registerClient: true,
  unregisterClient: true,
  lookupSession: true,
  storeSession: true,
  removeSession: true,
  resumeSession: true,
  sessionExpired: true,
  orphanedSession: true,
  subscribeTopic: true,
  subscriptionGranted: true,
  decodeFailed: true,
  unsubscribeTopic: true,
  storeSubscription: true,
  removeSubscription: true,
  clearSubscriptions: true,
  lookupSubscriptions: true,
  relayMessage: true,
  forwardMessage: true,
  storeRetainedMessage: true,
  lookupRetainedMessages: true,
  storeOfflineMessage: true,
  lookupOfflineMessages: true,
  removeOfflineMessages: true,
  clearOfflineMessages: true,
  messageDropped: true,
  storeInflightMessage: true,
  removeInflightMessage: true,
  lookupInflightMessages: true,
  clearInflightMessages: true,
  storeIncomingMessage: true,
  releaseIncomingMessage: true,
  storeWill: true,
  lookupWill: true,
  removeWill: true,
  orphanedWill: true,
  collectStats: true,
} satisfies Record<keyof StandardCallbacks, true>

/** The names of the standard catalogue, at run time. Core's README says who executes and who answers each. */
export const STANDARD_CALLBACK_NAMES: readonly StandardCallbackName[] = Object.freeze(
  Object.keys(STANDARD) as StandardCallbackName[],
)

/** The names of the standard catalogue (without third-party augmentations). */
export type StandardCallbackName = keyof StandardCallbacks
