import { parseSharedFilter, type QoS, type Subscription, SubscriptionTrie } from '@mqtt-stack/core'
import type { Target } from './cluster.js'

/** One subscription of one client id, as the relay matches it. Every field set here: one V8 shape. */
export class Route {
  /** MQTT 5.0 Subscription Identifier, if the SUBSCRIBE had one. */
  readonly id: number | undefined
  /** MQTT 5.0 Retain As Published. */
  readonly rap: boolean
  /**
   * The delivery asked of another node for this route alone, by delivery QoS and RETAIN (`qos * 2 +
   * retain`): made once, so that its JSON is too (inbox-entry.ts); none until one is asked.
   */
  remoteTargets: (Target | undefined)[] | undefined = undefined

  constructor(
    readonly clientId: string,
    readonly subscription: Subscription,
    /** The granted QoS. */
    readonly qos: QoS,
    /** The shared subscription this route is a member of; undefined for an ordinary one. */
    readonly group: SharedGroup | undefined,
    /** Every route of the same client id. */
    readonly subscriber: Subscriber,
  ) {
    this.id = subscription.subscriptionIdentifier
    this.rap = subscription.rap === true
  }
}

/** The routes of one client id by filter, and where the relay that last matched one keeps its delivery. */
export class Subscriber {
  readonly routes = new Map<string, Route>()
  /** The relay run that last matched one of these routes, and the index of its delivery in that run. */
  relayRun = 0
  slot = 0
}

/** MQTT 5.0 `$share/{group}/{filter}`: one trie entry, whose members take the messages in turn. */
export class SharedGroup {
  readonly members: Route[] = []
  /** The member that gets the next message, if connected. */
  cursor = 0

  constructor(
    /** `$share/{group}/{filter}`. */
    readonly topic: string,
    /** The inner filter: where the group sits in the trie. */
    readonly filter: string,
    /** Its key in the trie, `\0{group}`: a client id never contains U+0000 [MQTT-1.5.3-2]. */
    readonly key: string,
  ) {}
}

/**
 * The routing index of this node, in memory: a trie of filters (a shared subscription is one entry whose
 * members are in its group). Routes of persistent sessions are rebuilt from Redis when the backend starts.
 */
export class Routes {
  trie = new SubscriptionTrie<Route | SharedGroup>()
  readonly subscribers = new Map<string, Subscriber>()
  readonly shared = new Map<string, SharedGroup>()
  /** Routes of all clients, shared members included. */
  count = 0

  /** Adds or replaces the route of (`topic`, `clientId`) [MQTT-3.8.4-3]; returns whether one existed. */
  subscribe(clientId: string, topic: string, qos: QoS, subscription: Subscription): boolean {
    let subscriber = this.subscribers.get(clientId)
    if (subscriber === undefined) {
      subscriber = new Subscriber()
      this.subscribers.set(clientId, subscriber)
    }
    const previous = subscriber.routes.get(topic)
    const shared = parseSharedFilter(topic)
    let route: Route
    if (shared === undefined) {
      route = new Route(clientId, subscription, qos, undefined, subscriber)
      this.trie.add(topic, clientId, route)
    } else {
      let group = this.shared.get(topic)
      if (group === undefined) {
        group = new SharedGroup(topic, shared.filter, `\0${shared.group}`)
        this.shared.set(topic, group)
        this.trie.add(group.filter, group.key, group)
      }
      route = new Route(clientId, subscription, qos, group, subscriber)
      const at = previous === undefined ? -1 : group.members.indexOf(previous)
      if (at === -1) group.members.push(route)
      else group.members[at] = route
    }
    subscriber.routes.set(topic, route)
    if (previous === undefined) this.count++
    return previous !== undefined
  }

  /** Removes the route of (`topic`, `clientId`); returns whether there was one. */
  unsubscribe(clientId: string, topic: string): boolean {
    const subscriber = this.subscribers.get(clientId)
    const route = subscriber?.routes.get(topic)
    if (subscriber === undefined || route === undefined) return false
    this.#remove(topic, route)
    subscriber.routes.delete(topic)
    if (subscriber.routes.size === 0) this.subscribers.delete(clientId)
    return true
  }

  /** Removes every route of a client id. */
  removeClient(clientId: string): void {
    const subscriber = this.subscribers.get(clientId)
    if (subscriber === undefined) return
    for (const [topic, route] of subscriber.routes) this.#remove(topic, route)
    this.subscribers.delete(clientId)
  }

  #remove(topic: string, route: Route): void {
    this.count--
    const group = route.group
    if (group === undefined) {
      this.trie.remove(topic, route.clientId)
      return
    }
    const at = group.members.indexOf(route)
    if (at === -1) return
    group.members.splice(at, 1)
    if (at < group.cursor) group.cursor--
    if (group.members.length > 0) return
    this.shared.delete(group.topic)
    this.trie.remove(group.filter, group.key)
  }

  clear(): void {
    this.trie = new SubscriptionTrie()
    this.subscribers.clear()
    this.shared.clear()
    this.count = 0
  }
}
