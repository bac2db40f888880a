import {
  type CallbackHandlers,
  type Client,
  type Done,
  ErrorCode,
  type ISubscribePacket,
  type ISubscription,
  type IUnsubscribePacket,
  isFailureCode,
  Middleware,
  MqttStackError,
  type Next,
  type Packet,
  type QoS,
  ReasonCode,
  ReturnCode,
  type Subscription,
  type TopicRules,
  validateTopicFilter,
} from '@mqtt-stack/core'
import { checkOptions, DEFAULTS, type SubscriptionManagerOptions } from './options.js'

const SHARE_PREFIX = '$share/'

/** 3.1 and 3.1.1 know no shared subscriptions: `$share/...` is an ordinary filter there. */
const RULES_3: TopicRules = Object.freeze({ shared: false })
const RULES_5: TopicRules = Object.freeze({ shared: true })

/**
 * Ends the SUBSCRIBE and UNSUBSCRIBE chains. Each filter is validated [MQTT-4.7.1-*] and, when some
 * middleware answers `authorizeSubscribe`, authorised; SUBACK carries one code per filter, in order
 * [MQTT-3.8.4-5]. Each granted filter is routed (`subscribeTopic`) and persisted (`storeSubscription`) before
 * the SUBACK goes out, and `subscriptionGranted` (retained messages) runs for each after it.
 * UNSUBSCRIBE runs `unsubscribeTopic` and `removeSubscription` per filter and always answers UNSUBACK
 * [MQTT-3.10.4-4].
 */
export class SubscriptionManager extends Middleware<SubscriptionManagerOptions> {
  override readonly name = 'subscription-manager'
  override readonly packetTypes = ['subscribe', 'unsubscribe'] as const
  override readonly requires = [
    'subscribeTopic',
    'unsubscribeTopic',
    'storeSubscription',
    'removeSubscription',
  ] as const
  override readonly after = ['connection']
  /** Every required callback is a backend's. */
  override readonly providerHints = Object.fromEntries(
    this.requires.map((name) => [name, 'MemoryBackend from @mqtt-stack/memory-backend']),
  )

  constructor(options?: Partial<SubscriptionManagerOptions>) {
    super(options, DEFAULTS)
    checkOptions(this.config)
  }

  override callbacks(): CallbackHandlers {
    const { wildcardSubscriptionAvailable, subscriptionIdentifiersAvailable, sharedSubscriptionAvailable } =
      this.config
    return {
      // MQTT 5.0: advertise what this manager accepts (CONNACK properties 3.2.2.3.11 to 3.2.2.3.13);
      // session-manager starts the three flags at false and drops those equal to the default (true).
      prepareConnack(_ctx, store, next) {
        const properties = store.properties
        properties.wildcardSubscriptionAvailable = wildcardSubscriptionAvailable
        properties.subscriptionIdentifiersAvailable = subscriptionIdentifiersAvailable
        properties.sharedSubscriptionAvailable = sharedSubscriptionAvailable
        next()
      },
    }
  }

  override handle(client: Client, packet: Packet, next: Next, done: Done): void {
    if (packet.cmd === 'subscribe') {
      this.#subscribe(client, packet).then(() => done(), next)
    } else if (packet.cmd === 'unsubscribe') {
      this.#unsubscribe(client, packet).then(() => done(), next)
    } else {
      next()
    }
  }

  async #subscribe(client: Client, packet: ISubscribePacket): Promise<void> {
    const requests = packet.subscriptions
    // The payload of a SUBSCRIBE must hold at least one topic filter [MQTT-3.8.3-3]
    if (requests.length === 0)
      return noFilter(client, packet, 'SUBSCRIBE without a topic filter [MQTT-3.8.3-3]')
    const stack = client.stack
    const v5 = client.protocolVersion === 5
    if (v5 && sharedWithNoLocal(requests)) {
      // It is a Protocol Error to set No Local on a shared subscription [MQTT-3.8.3-4]
      client.protocolViolation(
        new MqttStackError(
          ErrorCode.PROTOCOL_ERROR,
          'SUBSCRIBE with No Local on a shared subscription [MQTT-3.8.3-4]',
          { reasonCode: ReasonCode.PROTOCOL_ERROR },
        ),
        packet,
      )
      return
    }
    const rules = v5 ? RULES_5 : RULES_3
    const authorize = stack.provides('authorizeSubscribe')
    const codes: number[] = []
    const granted: Subscription[] = []
    // Several filters are handled as a sequence of SUBSCRIBEs answered by one SUBACK [MQTT-3.8.4-4]
    for (const request of requests) {
      if (validateTopicFilter(request.topic, rules) !== undefined) {
        // An invalid filter is refused, not routed [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.1-3]
        codes.push(v5 ? ReasonCode.TOPIC_FILTER_INVALID : ReturnCode.FAILURE)
        continue
      }
      if (v5) {
        const refusal = this.#unsupported(request.topic, packet)
        if (refusal !== undefined) {
          codes.push(refusal)
          continue
        }
      }
      const subscription = toSubscription(request, packet, v5)
      // The grant may be lower than the request [MQTT-3.8.4-6]
      let qos = Math.min(request.qos, this.config.maxQoS) as QoS
      if (authorize) {
        const verdict = await stack.run('authorizeSubscribe', { client, packet, subscription }, {})
        if (verdict.authorized === false) {
          const reasonCode = verdict.reasonCode
          codes.push(
            v5 ? (isFailureCode(reasonCode) ? reasonCode : ReasonCode.NOT_AUTHORIZED) : ReturnCode.FAILURE,
          )
          continue
        }
        if (verdict.qos !== undefined && verdict.qos < qos) qos = verdict.qos
      }
      subscription.qos = qos
      codes.push(qos)
      granted.push(subscription)
    }
    // Routed and stored before the SUBACK: a client that publishes as soon as it has its SUBACK gets the
    // message, however late the backend answers.
    const existed: boolean[] = []
    for (const subscription of granted) {
      // A client gone meanwhile must not be left a route to a dead connection.
      if (client.closed) return
      const { topic, qos } = subscription
      const routed = await stack.run('subscribeTopic', { client, packet, topic, qos, subscription }, {})
      await stack.run('storeSubscription', { client, clientId: client.id, topic, qos, subscription }, {})
      existed.push(routed.existed === true)
    }
    if (client.closed) return
    // SUBACK with the packet identifier of the SUBSCRIBE [MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-2.3.1-7], one
    // return code per filter in the order of the filters [MQTT-3.8.4-5] [MQTT-3.9.3-1]
    client.write({ cmd: 'suback', messageId: packet.messageId!, granted: codes })
    // Then what follows each new subscription (its retained messages), filter by filter.
    for (const [i, subscription] of granted.entries()) {
      if (client.closed) return
      const { topic, qos } = subscription
      await stack.run(
        'subscriptionGranted',
        { client, packet, topic, qos, subscription, existed: existed[i]! },
        {},
      )
    }
  }

  /** MQTT 5.0: the SUBACK code of a feature turned off by the options, if the filter uses one. */
  #unsupported(topic: string, packet: ISubscribePacket): number | undefined {
    const config = this.config
    const shared = topic.startsWith(SHARE_PREFIX)
    if (shared && !config.sharedSubscriptionAvailable) return ReasonCode.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED
    if (!config.subscriptionIdentifiersAvailable && packet.properties?.subscriptionIdentifier !== undefined)
      return ReasonCode.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED
    if (!config.wildcardSubscriptionAvailable && hasWildcard(topic, shared))
      return ReasonCode.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED
    return undefined
  }

  async #unsubscribe(client: Client, packet: IUnsubscribePacket): Promise<void> {
    const filters = packet.unsubscriptions
    // The payload of an UNSUBSCRIBE must hold at least one topic filter [MQTT-3.10.3-2]
    if (filters.length === 0)
      return noFilter(client, packet, 'UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]')
    const stack = client.stack
    const rules = client.protocolVersion === 5 ? RULES_5 : RULES_3
    const codes: number[] = []
    // Several filters are handled as a sequence of UNSUBSCRIBEs answered by one UNSUBACK [MQTT-3.10.4-6]
    for (const topic of filters) {
      if (validateTopicFilter(topic, rules) !== undefined) {
        // No subscription can exist for a filter that was never valid: nothing to remove.
        codes.push(ReasonCode.TOPIC_FILTER_INVALID)
        continue
      }
      const { removed } = await stack.run('unsubscribeTopic', { client, packet, topic }, {})
      await stack.run('removeSubscription', { client, clientId: client.id, topic }, {})
      codes.push(removed ? ReasonCode.SUCCESS : ReasonCode.NO_SUBSCRIPTION_EXISTED)
    }
    // UNSUBACK with the packet identifier of the UNSUBSCRIBE, also when nothing was subscribed
    // [MQTT-3.10.4-4] [MQTT-3.10.4-5]. 3.1.1 writes no payload; 5.0 writes one reason code per filter.
    client.write({ cmd: 'unsuback', messageId: packet.messageId!, granted: codes })
  }
}

/** The subscription a session keeps, with the requested QoS until the grant is known. */
function toSubscription(request: ISubscription, packet: ISubscribePacket, v5: boolean): Subscription {
  const subscription: Subscription = { topic: request.topic, qos: request.qos }
  if (!v5) return subscription
  if (request.nl !== undefined) subscription.nl = request.nl
  if (request.rap !== undefined) subscription.rap = request.rap
  if (request.rh !== undefined) subscription.rh = request.rh
  const identifier = packet.properties?.subscriptionIdentifier
  if (identifier !== undefined) subscription.subscriptionIdentifier = identifier
  return subscription
}

/** Whether a (valid) filter holds `+` or `#`; a shared one is looked at past its `$share/{group}/`. */
function hasWildcard(topic: string, shared: boolean): boolean {
  const start = shared ? topic.indexOf('/', SHARE_PREFIX.length) + 1 : 0
  for (let i = start; i < topic.length; i++) {
    const c = topic.charCodeAt(i)
    if (c === 0x2b || c === 0x23) return true
  }
  return false
}

function sharedWithNoLocal(requests: readonly ISubscription[]): boolean {
  for (const request of requests)
    if (request.nl === true && request.topic.startsWith(SHARE_PREFIX)) return true
  return false
}

/** A SUBSCRIBE or UNSUBSCRIBE with no filter is a protocol violation: the client is closed. */
function noFilter(client: Client, packet: ISubscribePacket | IUnsubscribePacket, message: string): void {
  client.protocolViolation(
    new MqttStackError(ErrorCode.PROTOCOL_ERROR, message, { reasonCode: ReasonCode.PROTOCOL_ERROR }),
    packet,
  )
}
