import type {
  CallbackContext,
  CallbackResult,
  CallbackStore,
  Client,
  IPublishPacket,
  MatchVisitor,
  MqttStackError,
  Next,
  QoS,
  Stack,
  Subscription,
} from '@mqtt-stack/core'
import { type ClusterRouting, encodeForNodes, type Target } from './cluster.js'
import { ORIGIN, type OriginPacket } from './codec.js'
import { RedisBackendErrorCode, redisFailure } from './errors.js'
import type { SendWaiter } from './inbox-entry.js'
import { type Route, type Routes, SharedGroup } from './routes.js'

type Properties = NonNullable<IPublishPacket['properties']>

/**
 * Marks a packet forwarded to a member of a shared subscription with the group's full filter, so that it is
 * stored with it. A symbol-keyed property: it survives the copies the outbound side makes, and no serialiser
 * reads it.
 */
export const SHARED: unique symbol = Symbol('mqtt-stack.redis-backend.shared')

/** A forwarded PUBLISH, marked when it went to a member of a shared subscription. */
export interface ForwardedPacket extends IPublishPacket {
  [SHARED]?: string
}

/** What a relay needs of the backend: the routes, and the connections of this node. */
export interface RelayContext {
  readonly routes: Routes
  readonly clients: Map<string, Client>
  readonly stack: Stack | undefined
  /** The other nodes: where a client id is connected, and the inboxes to send deliveries to. */
  readonly cluster: ClusterRouting
  /** The relay of an inbound QoS 2 message is done: record it, then call `next`. */
  relayed(origin: Origin, next: Next): void
  /** The relay of an inbound QoS 2 message failed: its resend is relayed again, except to its holders. */
  relayFailed(origin: Origin): void
}

/** An inbound QoS 2 message being relayed: where it came from, and who holds it already (after a crash). */
export interface Origin {
  publisherId: string
  messageId: number
  /** `<publisher client id>\0<packet identifier>`, stored with each delivery. */
  key: string
  /** Its earlier relay, by a node that died, may not have reached every subscriber. */
  unrelayed: boolean
  /** Client ids that hold a delivery of it already (when `unrelayed`): the relay skips them. */
  holders: ReadonlySet<string> | undefined
}

/**
 * Relays kept for reuse: about as many as wait at once under load (inbound-manager pipelines up to 256 QoS 1
 * relays per publisher while their deliveries go to another node's inbox), about 1 KiB each.
 */
const MAX_POOLED = 1024

let runs = 0

/** One `forwardMessage` execution: its context and its store, so that a failure is reported with its client. */
class Forward {
  constructor(
    readonly client: Client,
    readonly packet: IPublishPacket,
    readonly subscription: Subscription,
  ) {}
}

/**
 * One `relayMessage` in progress, pooled: its visitor and callbacks are bound once. One delivery per
 * subscribed client id, at the highest QoS granted among its matching subscriptions; a client connected to
 * this node gets it through `forwardMessage`, a QoS 1/2 message to any other is queued with
 * `storeOfflineMessage` (the backend's script queues it only for a persistent session).
 */
export class Relay {
  readonly #context: RelayContext
  readonly #pool: Relay[]
  readonly #best: Route[] = []
  readonly #ids: (number | number[] | undefined)[] = []
  readonly #keepRetain: boolean[] = []
  readonly #groups: SharedGroup[] = []
  #run = 0
  #source: IPublishPacket | undefined = undefined
  #publisherId: string | undefined = undefined
  #stack: Stack | undefined = undefined
  #next: Next | undefined = undefined
  #pending = 0
  /**
   * A delivery of a QoS 1/2 message that could not be stored (Redis away: an offline queue, an inflight
   * packet, another node's inbox): the relay fails, so the publisher gets no acknowledgement and sends the
   * message again, rather than losing it.
   */
  #failure: MqttStackError | undefined = undefined
  #matched = 0
  #byQos: (IPublishPacket | undefined)[] = [undefined, undefined, undefined]
  #origin: Origin | undefined = undefined
  /** The deliveries asked of each other node by this run. */
  readonly #outbox = new Map<string, Target[]>()

  constructor(context: RelayContext, pool: Relay[]) {
    this.#context = context
    this.#pool = pool
  }

  /** `origin`: the message is an inbound QoS 2 one, whose relay is recorded once done. */
  run(
    ctx: CallbackContext<'relayMessage'>,
    result: CallbackStore<'relayMessage'>,
    next: Next,
    origin: Origin | undefined,
  ): void {
    this.#origin = origin
    this.#source = ctx.packet
    this.#publisherId = ctx.client?.id
    this.#stack = ctx.client?.stack ?? this.#context.stack
    this.#next = next
    this.#pending = 1
    this.#matched = 0
    this.#run = ++runs
    this.#context.routes.trie.forEachMatch(ctx.topic, this.#visit)
    result.matched = (result.matched ?? 0) + this.#matched
    const best = this.#best
    for (let i = 0; i < best.length; i++) this.#deliver(best[i]!, this.#ids[i], this.#keepRetain[i]!)
    if (best.length > 0) {
      // Emptied only when used: setting an array's length costs even when it is 0 already.
      best.length = 0
      this.#ids.length = 0
      this.#keepRetain.length = 0
    }
    const groups = this.#groups
    for (let i = 0; i < groups.length; i++) this.#deliverShared(groups[i]!)
    if (groups.length > 0) groups.length = 0
    if (this.#outbox.size > 0) this.#send()
    this.#settle()
  }

  /** The best route per client id [MQTT-3.3.5-1], every subscription identifier [MQTT-3.3.4-3], groups apart. */
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
      // One copy carries the identifiers of every matching subscription [MQTT-3.3.4-4]
      const ids = this.#ids[slot]
      this.#ids[slot] =
        ids === undefined ? route.id : typeof ids === 'number' ? [ids, route.id] : [...ids, route.id]
    }
    if (retain) this.#keepRetain[slot] = true
  }

  #deliver(route: Route, ids: number | number[] | undefined, keepRetain: boolean): void {
    if (this.#origin?.holders?.has(route.clientId) === true) return
    // At the lower of the published and the granted QoS [MQTT-3.8.4-6]
    const qos = Math.min(this.#source!.qos, route.qos) as QoS
    const client = this.#connected(route.clientId)
    if (client === undefined) {
      // Connected to another node: that node delivers it, from its inbox.
      const node = this.#context.cluster.nodeOf(route.clientId)
      if (node !== undefined) return this.#remote(node, remoteTarget(route, qos, keepRetain, ids))
      // Disconnected: QoS 1 and 2 messages are queued for a persistent session [MQTT-3.1.2-5]
      if (qos === 0) return
    }
    const packet =
      ids === undefined && !keepRetain ? this.#packetOf(qos) : this.#own(qos, ids, keepRetain, undefined)
    if (client !== undefined) this.#forward(client, packet, route)
    else this.#queue(route.clientId, packet)
  }

  #remote(node: string, target: Target): void {
    let targets = this.#outbox.get(node)
    if (targets === undefined) {
      targets = []
      this.#outbox.set(node, targets)
    }
    targets.push(target)
  }

  /**
   * One append to the inbox of each other node with deliveries, all in one pipelined write. A QoS 1/2 relay
   * is done once every node accepted its deliveries, so its PUBACK or PUBREC comes after that.
   */
  #send(): void {
    const text = encodeForNodes(this.#source!, this.#origin?.key)
    const cluster = this.#context.cluster
    const qos = this.#source!.qos
    for (const [node, targets] of this.#outbox) {
      // QoS 0 waits only while that node is behind: its publisher is held back rather than memory growing.
      if (qos > 0 || cluster.congested(node)) {
        this.#pending++
        cluster.sendFor(node, text, targets, false, this.#waiter)
      } else cluster.sendFor(node, text, targets, false, undefined)
    }
    this.#outbox.clear()
  }

  /** Told when the deliveries this relay asked of another node are in its inbox (made once per Relay). */
  readonly #waiter: SendWaiter = {
    sent: () => this.#settle(),
    notSent: (err: unknown) => {
      this.#failure ??= redisFailure(err, 'sending to another node')
      this.#settle()
    },
  }

  /**
   * MQTT 5.0 shared subscription: one member, the next connected one in turn, at the QoS granted to it
   * [MQTT-4.8.2-3]; with none connected, a QoS 1/2 message is queued for the next member in turn.
   */
  #deliverShared(group: SharedGroup): void {
    const members = group.members
    const count = members.length
    if (count === 0) return
    const holders = this.#origin?.holders
    if (holders !== undefined && members.some((member) => holders.has(member.clientId))) return
    for (let i = 0; i < count; i++) {
      const at = (group.cursor + i) % count
      const route = members[at]!
      const client = this.#connected(route.clientId)
      if (client === undefined) {
        // A member connected to another node: one delivery, by that node, for the whole cluster.
        const node = this.#context.cluster.nodeOf(route.clientId)
        if (node === undefined) continue
        group.cursor = (at + 1) % count
        const qos = Math.min(this.#source!.qos, route.qos) as QoS
        const retain = route.rap && this.#source!.retain ? 1 : 0
        return this.#remote(node, [route.clientId, qos, retain, route.id ?? null, group.topic])
      }
      group.cursor = (at + 1) % count
      this.#forward(client, this.#sharedPacket(group, route), route)
      return
    }
    if (this.#source!.qos === 0) return
    for (let i = 0; i < count; i++) {
      const at = (group.cursor + i) % count
      const route = members[at]!
      if (route.qos === 0) continue
      group.cursor = (at + 1) % count
      this.#queue(route.clientId, this.#sharedPacket(group, route))
      return
    }
  }

  #connected(clientId: string): Client | undefined {
    const client = this.#context.clients.get(clientId)
    return client !== undefined && !client.closed && client.connackSent ? client : undefined
  }

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
    if (this.#stack === undefined) return
    this.#pending++
    this.#stack.execute('storeOfflineMessage', { clientId, packet }, {}, this.#queued)
  }

  /** A packet of one delivery: its subscription identifiers, Retain As Published [MQTT-3.3.1-12], its group. */
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
    return packet
  }

  readonly #forwarded: CallbackResult<'forwardMessage'> = (err, store) => {
    // A delivery Redis could not store fails the relay; any other failure is that subscriber's: reported,
    // and the publisher's relay goes on.
    if (err?.code === RedisBackendErrorCode.REDIS) this.#failure ??= err
    else if (err) this.#report(err, (store as Forward).client)
    this.#settle()
  }

  readonly #queued: CallbackResult<'storeOfflineMessage'> = (err) => {
    if (err) this.#failure ??= err
    this.#settle()
  }

  #report(err: MqttStackError, client: Client | undefined): void {
    ;(client?.stack ?? this.#stack)?.reportError(err, client, this.#source)
  }

  /** The packet of delivery QoS `qos`, built once per relay: RETAIN 0 [MQTT-3.3.1-9], no DUP, no identifier. */
  #packetOf(qos: QoS): IPublishPacket {
    let packet = this.#byQos[qos]
    if (packet === undefined) {
      const source = this.#source!
      packet = {
        cmd: 'publish',
        topic: source.topic,
        payload: source.payload,
        qos,
        retain: false,
        dup: false,
      }
      if (source.properties !== undefined) packet.properties = forwardedProperties(source.properties)
      if (this.#origin !== undefined) (packet as OriginPacket)[ORIGIN] = this.#origin.key
      this.#byQos[qos] = packet
    }
    return packet
  }

  #settle(): void {
    if (--this.#pending > 0) return
    const next = this.#next!
    const origin = this.#origin
    this.#origin = undefined
    this.#source = undefined
    this.#publisherId = undefined
    this.#stack = undefined
    this.#next = undefined
    this.#byQos[0] = this.#byQos[1] = this.#byQos[2] = undefined
    const failure = this.#failure
    this.#failure = undefined
    if (this.#pool.length < MAX_POOLED) this.#pool.push(this)
    if (failure !== undefined) {
      if (origin !== undefined) this.#context.relayFailed(origin)
      next(failure)
    } else if (origin === undefined) next()
    else this.#context.relayed(origin, next)
  }
}

/**
 * MQTT 5.0 properties forwarded unaltered [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17]
 * [MQTT-3.3.2-20], except a topic alias (the publisher's connection's [MQTT-3.3.2-7]) and a subscription
 * identifier (a subscriber's).
 */
export function forwardedProperties(properties: Properties): Properties {
  if (properties.topicAlias === undefined && properties.subscriptionIdentifier === undefined)
    return properties
  const { topicAlias: _alias, subscriptionIdentifier: _id, ...rest } = properties
  return rest
}

/** The delivery asked of another node: the route's own (made once) when its identifiers are the route's alone. */
function remoteTarget(
  route: Route,
  qos: QoS,
  keepRetain: boolean,
  ids: number | number[] | undefined,
): Target {
  const retain = keepRetain ? 1 : 0
  if (ids !== route.id) return [route.clientId, qos, retain, ids ?? null, null]
  route.remoteTargets ??= []
  const slot = qos * 2 + retain
  let target = route.remoteTargets[slot]
  if (target === undefined) {
    target = [route.clientId, qos, retain, ids ?? null, null]
    route.remoteTargets[slot] = target
  }
  return target
}
