import {
  type CallbackContext,
  type CallbackHandler,
  type CallbackHandlers,
  ErrorCode,
  type IPublishPacket,
  Middleware,
  MqttStackError,
  type QoS,
  type Stack,
} from '@mqtt-stack/core'

const SHARE_PREFIX = '$share/'

/**
 * Answers `relayMessage` (whoever answers it before must call `next()`): a PUBLISH with the retain flag is
 * stored with `storeRetainedMessage`, an empty payload deleting what was kept. Answers `subscriptionGranted`
 * (after the SUBACK): a subscription made by a SUBSCRIBE gets the retained messages matching its filter,
 * through `forwardMessage`, with the retain flag set [MQTT-3.3.1-8]. Answers `prepareConnack`: MQTT 5.0 Retain
 * Available.
 */
export class RetainManager extends Middleware {
  override readonly name = 'retain-manager'
  override readonly requires = ['storeRetainedMessage', 'lookupRetainedMessages', 'forwardMessage'] as const
  /** Keeps retained messages: inbound-manager reports them once when nothing in the stack does. */
  override readonly roles = ['retain']
  override readonly after = ['backend']
  override readonly providerHints = {
    storeRetainedMessage: 'MemoryBackend from @mqtt-stack/memory-backend',
    lookupRetainedMessages: 'MemoryBackend from @mqtt-stack/memory-backend',
    forwardMessage: 'OutboundManager from @mqtt-stack/outbound-manager',
  }
  /** The stack, for messages relayed without a client (server messages). */
  #stack: Stack | undefined = undefined

  override setup(stack: Stack): void {
    this.#stack ??= stack
  }

  override callbacks(): CallbackHandlers {
    return {
      prepareConnack: this.#prepareConnack,
      relayMessage: this.#relayMessage,
      subscriptionGranted: this.#subscriptionGranted,
    }
  }

  /** MQTT 5.0: retained messages are available (session-manager starts the property at false). */
  readonly #prepareConnack: CallbackHandler<'prepareConnack'> = (_ctx, store, next) => {
    store.properties.retainAvailable = true
    next()
  }

  /** The PUBLISH hot path: nothing is allocated for a message without the retain flag. */
  readonly #relayMessage: CallbackHandler<'relayMessage'> = (ctx, _store, next) => {
    const packet = ctx.packet
    // Without the retain flag nothing is stored, replaced or removed [MQTT-3.3.1-12]
    if (!packet.retain) return next()
    const stack = ctx.client?.stack ?? this.#stack
    if (!stack) {
      return next(
        new MqttStackError(
          ErrorCode.MIDDLEWARE,
          'retain-manager cannot store a retained message relayed without a client: it was never use()d in a stack',
        ),
      )
    }
    // Stored as the retained message of its topic [MQTT-3.3.1-5]; the backend deletes it instead when the
    // payload is empty [MQTT-3.3.1-10] [MQTT-3.3.1-11]. Either way the message is relayed as usual: the
    // chain goes on when the store has answered (next is the callback).
    stack.execute('storeRetainedMessage', { client: ctx.client, topic: ctx.topic, packet }, {}, next)
  }

  readonly #subscriptionGranted: CallbackHandler<'subscriptionGranted'> = (ctx, _store, next) => {
    if (!wantsRetained(ctx)) return next()
    this.#sendRetained(ctx).then(() => next(), next)
  }

  /** Every retained message matching the filter, in the backend's order, one after the other. */
  async #sendRetained(ctx: CallbackContext<'subscriptionGranted'>): Promise<void> {
    const { client, topic, qos, subscription } = ctx
    // `topic` is a filter: the backend matches stored topic names against it, wildcards included.
    const { packets } = await client.stack.run('lookupRetainedMessages', { client, topic }, {})
    if (!packets) return
    for (const stored of packets) {
      if (client.closed) return
      await client.stack.run(
        'forwardMessage',
        { client, packet: retainedCopy(stored, qos, subscription.subscriptionIdentifier), subscription },
        {},
      )
      // A large retained set is paced by the reader, not dropped by the overflow policy for QoS 0.
      await client.drained()
    }
  }
}

/**
 * Whether a subscription granted by a SUBSCRIBE gets the retained messages (one restored with its session
 * is not granted again, and gets none): never a shared one (MQTT 5.0 section 3.3.1.3: retained messages go
 * to a new non-shared subscription), and per MQTT 5.0 Retain Handling: 0 always [MQTT-3.3.1-9]
 * [MQTT-3.8.4-4], 1 only when the subscription did not exist [MQTT-3.3.1-10], 2 never [MQTT-3.3.1-11]. A
 * 3.1.1 client gets them on every SUBSCRIBE, also one that replaces a subscription [MQTT-3.8.4-3].
 */
function wantsRetained(ctx: CallbackContext<'subscriptionGranted'>): boolean {
  if (ctx.client.protocolVersion !== 5) return true
  if (ctx.topic.startsWith(SHARE_PREFIX)) return false
  const rh = ctx.subscription.rh ?? 0
  if (rh === 0) return true
  if (rh === 1) return !ctx.existed
  return false
}

/**
 * What is sent for a stored message: delivery QoS min(stored, granted) [MQTT-3.8.4-6], retain flag set
 * [MQTT-3.3.1-8], a fresh delivery (no DUP, no packet identifier: the outbound side assigns one). Its MQTT 5.0
 * properties go as stored (the backend gives the remaining message expiry), plus the Subscription Identifier
 * of the subscription it is sent for [MQTT-3.3.4-3]. The stored packet is left as it is.
 */
function retainedCopy(stored: IPublishPacket, granted: QoS, id: number | undefined): IPublishPacket {
  const { messageId: _publisherId, ...rest } = stored
  const packet: IPublishPacket = {
    ...rest,
    qos: stored.qos < granted ? stored.qos : granted,
    retain: true,
    dup: false,
  }
  if (id !== undefined) packet.properties = { ...stored.properties, subscriptionIdentifier: id }
  return packet
}
