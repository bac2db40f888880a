import { AssertionError } from 'node:assert'
import type { CallbackContext, CallbackName, CallbackStore, Subscription } from '../../callbacks.js'
import type { Client } from '../../client.js'
import type { MqttStackError } from '../../errors.js'
import type { MiddlewareLike } from '../../middleware.js'
import type { IPublishPacket, QoS } from '../../packets.js'
import { Stack } from '../../stack.js'
import { connectTestClient, type TestConnection } from '../connection.js'
import { acceptConnections } from '../fakes.js'
import { message, text, topicAndPayload } from './packets.js'
import type { BackendTarget } from './target.js'

/** A session that never expires: what a 3.1.1 Clean Session 0 connection stores. */
export const PERSISTENT = 0xffffffff

/** One `forwardMessage` the backend executed. */
export interface Delivery {
  clientId: string
  /** The connection it was forwarded to. */
  client: Client
  packet: IPublishPacket
  subscription: Subscription | undefined
}

/** A connection of the kit, as a session manager would have set it up with the backend. */
export interface KitClient {
  clientId: string
  connection: TestConnection
  client: Client
  /** Whether its session outlives the connection (expiry interval above 0). */
  persistent: boolean
  /** A stored session was found (and its subscriptions routed again) when it connected. */
  sessionPresent: boolean
  /** `store.previous` of its `registerClient`: the connection it took over. */
  previous: Client | undefined
  /** The broker node (harness) it is connected to. */
  node: BackendHarness
}

export interface PublishOptions {
  qos?: QoS
  retain?: boolean
  /** The publisher's DUP flag (a PUBLISH it sent again). */
  dup?: boolean
  properties?: IPublishPacket['properties']
  /** The publishing connection; undefined for a message of the server itself (a will, `$SYS`). */
  from?: KitClient
}

/** What the nodes of one test share: one record of deliveries and errors, whichever node saw them. */
interface Shared {
  readonly deliveries: Delivery[]
  readonly errors: MqttStackError[]
  readonly waiters: Set<() => void>
  readonly nodes: BackendHarness[]
}

/** Fence messages go to this topic, one per client id; the kit leaves them out of what it compares. */
const FENCE = 'kit-fence/'

/**
 * One backend in a real `Stack`, driven through its callbacks as the built-ins drive it: a stand-in for the
 * session manager (CONNACK, then `registerClient` and the session), a recorder of `forwardMessage`, and every
 * reported error kept. Nothing assumes an answer in the same tick: each call is awaited, and deliveries are
 * waited for. `peer()` adds another broker node on the same storage.
 */
export class BackendHarness {
  backend: MiddlewareLike
  stack: Stack
  /** Errors the stacks of every node reported and no test has taken (`takeErrors`): a test fails with any left. */
  readonly errors: MqttStackError[]
  /** Every forward on every node since the test started (since the last restart), fences included. */
  readonly deliveries: Delivery[]
  readonly #target: BackendTarget
  readonly #timeout: number
  readonly #shared: Shared
  readonly #fenced = new Set<string>()
  #lastPublisher: KitClient | undefined = undefined
  #fences = 0

  private constructor(target: BackendTarget, backend: MiddlewareLike, shared: Shared) {
    this.#target = target
    this.#timeout = target.timeout ?? 2000
    this.#shared = shared
    this.errors = shared.errors
    this.deliveries = shared.deliveries
    this.backend = backend
    this.stack = this.#stackOf(backend)
    shared.nodes.push(this)
  }

  /** A harness around a new backend from `target.create()`. */
  static async open(target: BackendTarget): Promise<BackendHarness> {
    const shared: Shared = { deliveries: [], errors: [], waiters: new Set(), nodes: [] }
    return new BackendHarness(target, await target.create(), shared)
  }

  /**
   * Another broker node, running at the same time on the same storage: its own stack on the backend
   * `target.peer` gives. Deliveries and errors of every node are recorded together; `close()` of the first
   * node closes them all.
   */
  async peer(): Promise<BackendHarness> {
    const peer = this.#target.peer
    if (peer === undefined) throw new Error('several nodes need BackendTarget.peer')
    return new BackendHarness(this.#target, await peer.call(this.#target, this.backend), this.#shared)
  }

  /** Executes one callback on the stack and returns its store: the backend's answer, whenever it comes. */
  run<N extends CallbackName>(
    name: N,
    ctx: CallbackContext<N>,
    store: CallbackStore<N> = {} as CallbackStore<N>,
  ): Promise<CallbackStore<N>> {
    return this.stack.run(name, ctx, store)
  }

  /**
   * Connects a client (the kit's stand-in sends CONNACK) and sets it up with the backend as session-manager
   * does: `registerClient`, then a clean session
   * (`removeSession`, `storeSession` with expiry 0) or a persistent one (`lookupSession`; a found one has
   * its stored subscriptions routed again with `subscribeTopic`, else `storeSession` with `expiryInterval`).
   */
  async connect(
    clientId: string,
    {
      persistent = false,
      expiryInterval = PERSISTENT,
    }: { persistent?: boolean; expiryInterval?: number } = {},
  ): Promise<KitClient> {
    const connection = connectTestClient(this.stack)
    await connection.connect({ clientId, clean: !persistent })
    const { client } = connection
    const { previous } = await this.run('registerClient', { client, clientId })
    let sessionPresent = false
    if (!persistent) {
      await this.run('removeSession', { clientId })
      await this.run('storeSession', { clientId, session: { clientId, expiryInterval: 0 } })
    } else if ((await this.run('lookupSession', { clientId })).session !== undefined) {
      sessionPresent = true
      const { subscriptions = [] } = await this.run('lookupSubscriptions', { clientId })
      for (const subscription of subscriptions) {
        const { topic, qos } = subscription
        await this.run('subscribeTopic', { client, topic, qos, subscription })
      }
    } else {
      await this.run('storeSession', { clientId, session: { clientId, expiryInterval } })
    }
    return { clientId, connection, client, persistent, sessionPresent, previous, node: this }
  }

  /**
   * The connection ends as session-manager ends it, on its node: `unregisterClient`, then `removeSession`
   * for a clean session that this connection still held. Returns `store.removed` of `unregisterClient`.
   */
  async disconnect(c: KitClient): Promise<boolean> {
    c.client.close()
    await c.connection.closed()
    const { node, client, clientId } = c
    const { removed = false } = await node.run('unregisterClient', { client, clientId })
    if (removed && !c.persistent) await node.run('removeSession', { clientId })
    return removed
  }

  /**
   * Routes `topic` to `c` and persists the subscription, on its node, as subscription-manager does. Returns
   * `existed`.
   */
  async subscribe(
    c: KitClient,
    topic: string,
    qos: QoS,
    options: Partial<Subscription> = {},
  ): Promise<boolean> {
    const subscription: Subscription = { ...options, topic, qos }
    const { node, client, clientId } = c
    const { existed = false } = await node.run('subscribeTopic', { client, topic, qos, subscription })
    await node.run('storeSubscription', { client, clientId, topic, qos, subscription })
    return existed
  }

  /** Stops routing `topic` to `c` and removes the persisted subscription. Returns `removed`. */
  async unsubscribe(c: KitClient, topic: string): Promise<boolean> {
    const { node, client, clientId } = c
    const { removed = false } = await node.run('unsubscribeTopic', { client, topic })
    await node.run('removeSubscription', { client, clientId, topic })
    return removed
  }

  /**
   * Relays a message on this node as inbound-manager does (or last-will, without `from`); returns the
   * relay's store.
   */
  publish(
    topic: string,
    payload: string,
    options: PublishOptions = {},
  ): Promise<CallbackStore<'relayMessage'>> {
    const { qos = 1, retain = false, dup = false, properties, from } = options
    const packet = message(topic, payload, { qos, retain, dup })
    if (properties !== undefined) packet.properties = properties
    if (qos > 0) packet.messageId = 1
    this.#lastPublisher = from
    return this.run('relayMessage', { client: from?.client, packet, topic, payload: packet.payload })
  }

  /** What `clientId` was forwarded, as `topic=payload`, fences left out. */
  received(clientId: string): string[] {
    return this.forwardsTo(clientId).map(({ packet }) => topicAndPayload(packet))
  }

  /** The forwards to `clientId`, fences left out. */
  forwardsTo(clientId: string): Delivery[] {
    return this.deliveries.filter((d) => d.clientId === clientId && !d.packet.topic.startsWith(FENCE))
  }

  /** Waits until `clientId` has been forwarded `count` messages (fences left out), or fails after the timeout. */
  async waitFor(clientId: string, count: number): Promise<string[]> {
    await this.#until(
      () => this.forwardsTo(clientId).length >= count,
      () =>
        `${clientId} was forwarded ${JSON.stringify(this.received(clientId))}, expected ${count} messages`,
    )
    return this.received(clientId)
  }

  /**
   * Waits until everything relayed before now has reached each of `clients`: a QoS 0 fence message from the
   * last publisher, on a topic of its own, arrives after them. It relies on what every backend of this
   * repository does: one publisher's messages reach a subscriber in the order relayed, whatever their
   * topics and QoS (the spec asks it per topic and QoS [MQTT-4.6.0-6]). What a client has not been forwarded
   * by then, it is not forwarded. Call it on the node that published.
   */
  async settle(...clients: KitClient[]): Promise<void> {
    for (const c of clients) {
      const topic = `${FENCE}${c.clientId}`
      if (!c.node.#fenced.has(c.clientId)) {
        c.node.#fenced.add(c.clientId)
        const subscription: Subscription = { topic, qos: 0 }
        await c.node.run('subscribeTopic', { client: c.client, topic, qos: 0, subscription })
      }
      const payload = String(++this.#fences)
      const packet = message(topic, payload, { qos: 0 })
      await this.run('relayMessage', { client: this.#lastPublisher?.client, packet, topic, payload })
      const arrived = () =>
        this.deliveries.some(
          (d) => d.clientId === c.clientId && d.packet.topic === topic && text(d.packet.payload) === payload,
        )
      await this.#until(arrived, () => `the fence message to ${c.clientId} never arrived`)
    }
  }

  /** The errors reported since the last call; the test takes responsibility for them. */
  takeErrors(): string[] {
    return this.errors.splice(0).map((err) => err.code)
  }

  /**
   * A restart of the broker on the same storage: the stack is closed (its connections too), and a new one
   * runs the backend `target.restart` gives.
   */
  async restart(): Promise<void> {
    const restart = this.#target.restart
    if (restart === undefined) throw new Error('a durable backend needs BackendTarget.restart')
    if (this.#shared.nodes.length > 1) throw new Error('restart() is for a test of one node')
    await this.stack.close()
    this.backend = await restart.call(this.#target, this.backend)
    this.stack = this.#stackOf(this.backend)
    this.deliveries.length = 0
    this.#fenced.clear()
    this.#lastPublisher = undefined
  }

  /** Closes the stack of every node, the peers first, then lets the target release the storage. */
  async close(): Promise<void> {
    const [first, ...peers] = this.#shared.nodes
    for (const node of peers.reverse()) await node.stack.close()
    await first!.stack.close()
    await this.#target.dispose?.(first!.backend)
  }

  #stackOf(backend: MiddlewareLike): Stack {
    const stack = new Stack({ onError: (err) => this.errors.push(err) })
    const recorder: MiddlewareLike = {
      name: 'kit-recorder',
      callbacks: () => ({
        forwardMessage: (ctx, _store, _next, done) => {
          this.deliveries.push({
            clientId: ctx.client.id,
            client: ctx.client,
            packet: ctx.packet,
            subscription: ctx.subscription,
          })
          for (const wake of this.#shared.waiters) wake()
          done()
        },
      }),
    }
    return stack.use(backend).use(acceptConnections()).use(recorder)
  }

  #until(done: () => boolean, failure: () => string): Promise<void> {
    if (done()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        if (!done()) return
        this.#shared.waiters.delete(wake)
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(() => {
        this.#shared.waiters.delete(wake)
        reject(new AssertionError({ message: `${failure()} within ${this.#timeout} ms` }))
      }, this.#timeout)
      this.#shared.waiters.add(wake)
    })
  }
}
