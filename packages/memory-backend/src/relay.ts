import {
  type CallbackContext,
  type CallbackResult,
  type CallbackStore,
  type Client,
  type IPublishPacket,
  type MatchVisitor,
  type MqttStackError,
  type Next,
  ownPayload,
  type QoS,
  type Stack,
  type Subscription,
} from '@mqtt-stack/core'
import { type ForwardedPacket, type MemoryStore, type Route, SHARED, SharedGroup } from './store.js'

type Properties = NonNullable<IPublishPacket['properties']>

/** Relays kept for reuse; more run at once only while forwards answer asynchronously. */
const MAX_POOLED = 64

/** Relay runs so far, of every Relay: a run nested in another's deliveries stamps subscribers apart. */
let runs = 0

/**
 * One `forwardMessage` execution, as its context and as its store (which is empty for the handlers): the
 * store carries the subscriber back to the one bound callback, so a failed forward is reported with its
 * client, with one object per delivery and no closure.
 */
class Forward {
  constructor(
    readonly client: Client,
    readonly packet: IPublishPacket,
    readonly subscription: Subscription,
  ) {}
}

/**
 * One `relayMessage` in progress: the PUBLISH hot path. A Relay is pooled and reused; its visitor and
 * callbacks are bound once, and its scratch arrays are its own, so a relay started while another is delivering
 * (a forward that closes a client whose will is published at once) takes another Relay from the pool.
 */
export class Relay {
  readonly #store: MemoryStore
  readonly #pool: Relay[]
  /**
   * One delivery per subscriber client id: its matching route of highest granted QoS, the identifiers of its
   * matching subscriptions (MQTT 5.0, when any has one) and whether one asks for Retain As Published. The
   * index of a client's delivery is kept on its `Subscriber`, so no table is looked up or filled per message.
   */
  readonly #best: Route[] = []
  readonly #ids: (number | number[] | undefined)[] = []
  readonly #keepRetain: boolean[] = []
  /** This run's number: a `Subscriber` stamped with it has its delivery at `slot` already. */
  #run = 0
  /** MQTT 5.0: the shared subscriptions that match; each gives the message to one member. */
  readonly #groups: SharedGroup[] = []
  #source: IPublishPacket | undefined = undefined
  #topic = ''
  #payload: Buffer | string = ''
  #publisherId: string | undefined = undefined
  #stack: Stack | undefined = undefined
  #next: Next | undefined = undefined
  /** Forwards and offline stores not yet answered, plus one while deliveries are being started. */
  #pending = 0
  /** The subscriptions `run` matched: ordinary ones (No Local ones of the publisher left out), shared groups. */
  #matched = 0
  /** The forwarded packet of each delivery QoS, built at most once per relay and shared by its subscribers. */
  #qos0: IPublishPacket | undefined = undefined
  #qos1: IPublishPacket | undefined = undefined
  #qos2: IPublishPacket | undefined = undefined

  constructor(store: MemoryStore, pool: Relay[]) {
    this.#store = store
    this.#pool = pool
  }

  /**
   * Delivers `ctx.packet` to every matching subscription, then calls `next` once. Adds to `result.matched`
   * the subscriptions it matched, before any delivery starts.
   */
  run(ctx: CallbackContext<'relayMessage'>, result: CallbackStore<'relayMessage'>, next: Next): void {
    const store = this.#store
    this.#source = ctx.packet
    this.#topic = ctx.topic
    this.#payload = ctx.payload
    this.#publisherId = ctx.client?.id
    this.#stack = ctx.client?.stack ?? store.stack
    this.#next = next
    this.#pending = 1
    this.#matched = 0
    this.#run = ++runs
    store.trie.forEachMatch(ctx.topic, this.#visit)
    result.matched = (result.matched ?? 0) + this.#matched
    const best = this.#best
    const ids = this.#ids
    const keepRetain = this.#keepRetain
    for (let i = 0; i < best.length; i++) this.#deliver(best[i]!, ids[i], keepRetain[i]!)
    best.length = 0
    ids.length = 0
    keepRetain.length = 0
    const groups = this.#groups
    for (let i = 0; i < groups.length; i++) this.#deliverShared(groups[i]!)
    groups.length = 0
    this.#settle()
  }

  /**
   * Relays a message again to one member of `group` only: an unacknowledged message of a member whose session
   * ended. `packet` is what that member held (its packet identifier and DUP are not carried over).
   */
  runGroup(group: SharedGroup, packet: IPublishPacket, stack: Stack, next: Next): void {
    this.#source = packet
    this.#topic = packet.topic
    this.#payload = packet.payload
    this.#publisherId = undefined
    this.#stack = stack
    this.#next = next
    this.#pending = 1
    this.#deliverShared(group)
    this.#settle()
  }

  /**
   * Keeps, per client id, the matching route of highest granted QoS ([MQTT-3.3.5-1], 5.0 [MQTT-3.3.4-2]),
   * the identifiers of all its matching subscriptions [MQTT-3.3.4-3] and whether one of them asks for the
   * retain flag as published; a shared subscription is kept apart, for one of its members.
   */
  readonly #visit: MatchVisitor<Route | SharedGroup> = (route) => {
    if (route instanceof SharedGroup) {
      if (route.members.length > 0) this.#matched++
      this.#groups.push(route)
      return
    }
    // MQTT 5.0 No Local: not to the connection that published it [MQTT-3.8.3-3]
    if (route.subscription.nl === true && route.clientId === this.#publisherId) return
    this.#matched++
    const retain = route.rap && this.#source!.retain
    const subscriber = route.subscriber
    if (subscriber.relayRun !== this.#run) {
      subscriber.relayRun = this.#run
      subscriber.slot = this.#best.length
      this.#best.push(route)
      this.#ids.push(route.id)
      this.#keepRetain.push(retain)
      return
    }
    const slot = subscriber.slot
    if (route.qos > this.#best[slot]!.qos) this.#best[slot] = route
    if (route.id !== undefined) {
      // One copy carries the identifiers of every matching subscription, in no particular order [MQTT-3.3.4-4]
      const ids = this.#ids[slot]
      if (ids === undefined) this.#ids[slot] = route.id
      else if (typeof ids === 'number') this.#ids[slot] = [ids, route.id]
      else ids.push(route.id)
    }
    if (retain) this.#keepRetain[slot] = true
  }

  #deliver(route: Route, ids: number | number[] | undefined, keepRetain: boolean): void {
    const clientId = route.clientId
    // Delivered at the lower of the published and the granted QoS [MQTT-3.8.4-6]
    const qos = Math.min(this.#source!.qos, route.qos) as QoS
    // The shared packet of its QoS, unless 5.0 subscription options make this delivery different.
    const packet =
      ids === undefined && !keepRetain ? this.#packetOf(qos) : this.#own(qos, ids, keepRetain, undefined)
    const client = this.#store.clients.get(clientId)
    if (client !== undefined && !client.closed && client.connackSent) {
      this.#forward(client, packet, route)
      return
    }
    // Disconnected: QoS 1 and 2 messages are queued for a persistent session, QoS 0 ones may be dropped
    // [MQTT-3.1.2-5].
    if (qos === 0) return
    const session = this.#store.sessions.get(clientId)
    if (session === undefined || !session.persistent) return
    this.#queue(clientId, packet)
  }

  /**
   * MQTT 5.0 shared subscription (section 4.8.2): the message goes to one member, the next connected one in
   * turn (round robin), at the QoS granted to that member [MQTT-4.8.2-3]. When none is connected, a QoS 1/2
   * message is queued for the next member with a persistent session, in turn; otherwise it is dropped.
   */
  #deliverShared(group: SharedGroup): void {
    const members = group.members
    const count = members.length
    if (count === 0) return
    const clients = this.#store.clients
    for (let i = 0; i < count; i++) {
      const at = (group.cursor + i) % count
      const route = members[at]!
      const client = clients.get(route.clientId)
      if (client === undefined || client.closed || !client.connackSent) continue
      group.cursor = (at + 1) % count
      this.#forward(client, this.#sharedPacket(group, route), route)
      return
    }
    if (this.#source!.qos === 0) return
    for (let i = 0; i < count; i++) {
      const at = (group.cursor + i) % count
      const route = members[at]!
      if (Math.min(this.#source!.qos, route.qos) === 0) continue
      if (this.#store.sessions.get(route.clientId)?.persistent !== true) continue
      group.cursor = (at + 1) % count
      this.#queue(route.clientId, this.#sharedPacket(group, route))
      return
    }
  }

  /** The packet for one member of a shared subscription: its own identifier, marked with the group. */
  #sharedPacket(group: SharedGroup, route: Route): IPublishPacket {
    const qos = Math.min(this.#source!.qos, route.qos) as QoS
    const keepRetain = route.rap && this.#source!.retain
    if (qos === 0 && route.id === undefined && !keepRetain) return this.#packetOf(0)
    return this.#own(qos, route.id, keepRetain, qos === 0 ? undefined : group.topic)
  }

  #forward(client: Client, packet: IPublishPacket, route: Route): void {
    this.#pending++
    const forward = new Forward(client, packet, route.subscription)
    client.stack.execute('forwardMessage', forward, forward, this.#forwarded)
  }

  #queue(clientId: string, packet: IPublishPacket): void {
    if (this.#stack === undefined) {
      this.#store.enqueueOffline(clientId, packet, this.#store.relayedAt.get(packet))
      return
    }
    this.#pending++
    this.#stack.execute('storeOfflineMessage', { clientId, packet }, {}, this.#queued)
  }

  /**
   * A packet of this delivery only: the subscription identifiers of its subscriber's matching subscriptions
   * [MQTT-3.3.4-3] [MQTT-3.3.4-4], the retain flag as published under Retain As Published ([MQTT-3.3.1-13],
   * else 0 [MQTT-3.3.1-12]), and the mark of a shared subscription.
   */
  #own(
    qos: QoS,
    ids: number | number[] | undefined,
    keepRetain: boolean,
    shared: string | undefined,
  ): IPublishPacket {
    const base = this.#packetOf(qos)
    const packet: ForwardedPacket = { ...base, retain: keepRetain }
    if (ids !== undefined) packet.properties = { ...base.properties, subscriptionIdentifier: ids }
    if (shared !== undefined) packet[SHARED] = shared
    const relayedAt = this.#store.relayedAt.get(base)
    if (relayedAt !== undefined) this.#store.relayedAt.set(packet, relayedAt)
    return packet
  }

  readonly #forwarded: CallbackResult<'forwardMessage'> = (err, store) => {
    // One subscriber's failure is reported and does not fail the publisher's relay.
    if (err) this.#report(err, (store as Forward).client)
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
    // A QoS 1/2 delivery is kept until acknowledged, or queued offline: one copy of the payload out of the
    // read chunk serves every subscriber of this relay (and of its later copies with a packet identifier).
    if (qos > 0) ownPayload(packet)
    const properties = this.#source!.properties
    if (properties !== undefined) {
      packet.properties = forwardedProperties(properties)
      // Its expiry counts from now if it waits to be queued offline [MQTT-3.3.2-6]
      if (properties.messageExpiryInterval !== undefined) this.#store.relayedAt.set(packet, Date.now())
    }
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
 * MQTT 5.0 properties forwarded with a message, unaltered: payload format indicator [MQTT-3.3.2-4], message
 * expiry interval, content type [MQTT-3.3.2-20], response topic [MQTT-3.3.2-15], correlation data
 * [MQTT-3.3.2-16], user properties in their order [MQTT-3.3.2-17] [MQTT-3.3.2-18]. A topic alias belongs to the
 * publisher's connection [MQTT-3.3.2-7] and a subscription identifier to a subscriber's subscription
 * (5.0 section 3.3.4), so neither is copied.
 */
function forwardedProperties(properties: Properties): Properties {
  if (properties.topicAlias === undefined && properties.subscriptionIdentifier === undefined)
    return properties
  const { topicAlias: _alias, subscriptionIdentifier: _id, ...rest } = properties
  return rest
}
