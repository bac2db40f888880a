import type {
  CallbackContext,
  CallbackResult,
  Client,
  IPublishPacket,
  MatchVisitor,
  MqttStackError,
  Next,
  QoS,
  Stack,
} from '@mqtt-stack/core'
import type { MemoryStore, Route } from './store.js'

type Properties = NonNullable<IPublishPacket['properties']>

/** Relays kept for reuse; more run at once only while forwards answer asynchronously. */
const MAX_POOLED = 64

/**
 * The store of one `forwardMessage` execution: empty for the handlers, it carries the subscriber back to
 * the one bound callback, so a failed forward is reported with its client without a closure per delivery.
 */
class ForwardStore {
  constructor(readonly client: Client) {}
}

/**
 * One `relayMessage` in progress: the PUBLISH hot path. A Relay is pooled and reused; its visitor and
 * callbacks are bound once, and its scratch Map is its own, so a relay started while another is delivering
 * (a forward that closes a client whose will is published at once) takes another Relay from the pool.
 */
export class Relay {
  readonly #store: MemoryStore
  readonly #pool: Relay[]
  /** Subscriber client id -> its matching route of highest granted QoS (one delivery per client id). */
  readonly #matches = new Map<string, Route>()
  #source: IPublishPacket | undefined = undefined
  #topic = ''
  #payload: Buffer | string = ''
  #publisherId: string | undefined = undefined
  #stack: Stack | undefined = undefined
  #next: Next | undefined = undefined
  /** Forwards and offline stores not yet answered, plus one while deliveries are being started. */
  #pending = 0
  /** The forwarded packet of each delivery QoS, built at most once per relay and shared by its subscribers. */
  #qos0: IPublishPacket | undefined = undefined
  #qos1: IPublishPacket | undefined = undefined
  #qos2: IPublishPacket | undefined = undefined

  constructor(store: MemoryStore, pool: Relay[]) {
    this.#store = store
    this.#pool = pool
  }

  /** Delivers `ctx.packet` to every matching subscription, then calls `next` once. */
  run(ctx: CallbackContext<'relayMessage'>, next: Next): void {
    const store = this.#store
    this.#source = ctx.packet
    this.#topic = ctx.topic
    this.#payload = ctx.payload
    this.#publisherId = ctx.client?.id
    this.#stack = ctx.client?.stack ?? store.stack
    this.#next = next
    this.#pending = 1
    store.trie.forEachMatch(ctx.topic, this.#visit)
    this.#matches.forEach(this.#deliver)
    this.#matches.clear()
    this.#settle()
  }

  /** Keeps, per client id, the matching route of highest granted QoS [MQTT-3.3.5-1]. */
  readonly #visit: MatchVisitor<Route> = (route) => {
    // MQTT 5.0 No Local: not to the connection that published it [MQTT-3.8.3-3]
    if (route.subscription.nl === true && route.clientId === this.#publisherId) return
    const best = this.#matches.get(route.clientId)
    if (best === undefined || route.qos > best.qos) this.#matches.set(route.clientId, route)
  }

  readonly #deliver = (route: Route, clientId: string): void => {
    const source = this.#source!
    // Delivered at the lower of the published and the granted QoS [MQTT-3.8.4-6]
    const qos = Math.min(source.qos, route.qos) as QoS
    const client = this.#store.clients.get(clientId)
    if (client !== undefined && !client.closed && client.connackSent) {
      this.#pending++
      client.stack.execute(
        'forwardMessage',
        { client, packet: this.#packetOf(qos), subscription: route.subscription },
        new ForwardStore(client),
        this.#forwarded,
      )
      return
    }
    // Disconnected: QoS 1 and 2 messages are queued for a persistent session, QoS 0 ones may be dropped
    // [MQTT-3.1.2-5].
    if (qos === 0) return
    const session = this.#store.sessions.get(clientId)
    if (session === undefined || !session.persistent) return
    const packet = this.#packetOf(qos)
    if (this.#stack === undefined) {
      this.#store.enqueueOffline(clientId, packet)
      return
    }
    this.#pending++
    this.#stack.execute('storeOfflineMessage', { clientId, packet }, {}, this.#queued)
  }

  readonly #forwarded: CallbackResult<'forwardMessage'> = (err, store) => {
    // One subscriber's failure is reported and does not fail the publisher's relay.
    if (err) this.#report(err, (store as ForwardStore).client)
    this.#settle()
  }

  readonly #queued: CallbackResult<'storeOfflineMessage'> = (err) => {
    if (err) this.#report(err, undefined)
    this.#settle()
  }

  #report(err: MqttStackError, client: Client | undefined): void {
    const stack = client?.stack ?? this.#stack
    stack?.reportError(err, client, this.#source)
  }

  /** The forwarded packet of delivery QoS `qos`: retain 0 on a live forward [MQTT-3.3.1-9], no DUP, no id. */
  #packetOf(qos: QoS): IPublishPacket {
    if (qos === 0) {
      this.#qos0 ??= this.#build(0)
      return this.#qos0
    }
    if (qos === 1) {
      this.#qos1 ??= this.#build(1)
      return this.#qos1
    }
    this.#qos2 ??= this.#build(2)
    return this.#qos2
  }

  #build(qos: QoS): IPublishPacket {
    const packet: IPublishPacket = {
      cmd: 'publish',
      topic: this.#topic,
      payload: this.#payload,
      qos,
      retain: false,
      dup: false,
    }
    const properties = this.#source!.properties
    if (properties !== undefined) packet.properties = forwardedProperties(properties)
    return packet
  }

  /** One delivery answered; the last one ends the relay and gives the Relay back to the pool. */
  #settle(): void {
    if (--this.#pending > 0) return
    const next = this.#next!
    this.#source = undefined
    this.#payload = ''
    this.#publisherId = undefined
    this.#stack = undefined
    this.#next = undefined
    this.#qos0 = undefined
    this.#qos1 = undefined
    this.#qos2 = undefined
    if (this.#pool.length < MAX_POOLED) this.#pool.push(this)
    // One completion per relay, whatever the number of subscribers (the 2015 defect of one per subscriber).
    next()
  }
}

/**
 * MQTT 5.0 properties forwarded with a message: a topic alias belongs to the publisher's connection
 * [MQTT-3.3.2-7] and a subscription identifier to a subscriber's subscription (5.0 section 3.3.4), so
 * neither is copied.
 */
function forwardedProperties(properties: Properties): Properties {
  if (properties.topicAlias === undefined && properties.subscriptionIdentifier === undefined)
    return properties
  const { topicAlias: _alias, subscriptionIdentifier: _id, ...rest } = properties
  return rest
}
