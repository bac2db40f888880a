import { randomUUID } from 'node:crypto'
import {
  type CallbackHandlers,
  type Client,
  type Done,
  Middleware,
  type Next,
  ownPayload,
  type Packet,
  type Stack,
  toMqttStackError,
} from '@mqtt-stack/core'
import { DEFAULTS, type LastWillOptions } from './options.js'
import { type PendingWill, PendingWills, type WillToPublish } from './pending.js'
import { authorizeAndRelay, authorized, delayOf, willPacket } from './publish.js'
import { LastWillState } from './state.js'

/**
 * Keeps the will of a CONNECT and publishes it, once, through `relayMessage` when the connection ends
 * uncleanly (MQTT 5.0: or with a DISCONNECT whose reason code is not 0x00); drops it when the client sent
 * DISCONNECT. MQTT 5.0: waits out the Will Delay Interval, unless the session ends first (`sessionExpired`),
 * and forgets the will when the client id connects again in time (`registerClient`) [MQTT-3.1.3-9].
 *
 * When a backend answers `storeWill`, each will is also kept there (under an owner unique to its connection)
 * from the moment the connection is registered, and claimed with `removeWill` before it is published: a will
 * is published only by the one call that removed it. So the will of a connection whose node died is published
 * once, by the survivor the backend hands it to (`orphanedWill`).
 */
export class LastWill extends Middleware<LastWillOptions> {
  override readonly name = 'last-will'
  override readonly packetTypes = ['connect'] as const
  override readonly requires = ['relayMessage'] as const
  /** Keeps wills: session-manager reports them once when nothing in the stack does. */
  override readonly roles = ['will']
  override readonly after = ['authentication']
  override readonly before = ['session-manager']
  /** Every required callback is a backend's. */
  override readonly providerHints = Object.fromEntries(
    this.requires.map((name) => [name, 'MemoryBackend from @mqtt-stack/memory-backend']),
  )

  /** Client id → the will of its connection on this node, waiting out the delay. */
  readonly #pending = new PendingWills((pending) => this.#claimAndPublish(pending, ignore))
  /** Client id → the will of a connection whose node died, handed to this node by the backend. */
  readonly #orphans = new PendingWills((pending) => this.#claimAndPublish(pending, ignore))
  /** Client id → the connection that holds a delayed will, to tell it when a newer one registers. */
  readonly #live = new Map<string, Client>()
  #stack: Stack | undefined = undefined

  constructor(options: Partial<LastWillOptions> = {}) {
    super(options, DEFAULTS)
  }

  /** How many wills wait out their delay. */
  get pending(): number {
    return this.#pending.size + this.#orphans.size
  }

  override setup(stack: Stack): void {
    this.#stack ??= stack
  }

  override handle(client: Client, packet: Packet, next: Next, _done: Done): void {
    // Only the first CONNECT counts: a second one is a protocol violation (connection ends it), and must
    // never replace or duplicate the will (LESSONS 6).
    if (packet.cmd === 'connect' && client.state.lastWill === undefined) {
      // Kept for the connection's life: its payload must not pin the chunk the CONNECT was read from.
      const will = packet.will && ownPayload(packet.will)
      client.state.lastWill = new LastWillState(will, packet.clean !== false)
    }
    next()
  }

  override callbacks(): CallbackHandlers {
    return {
      uncleanDisconnect: (ctx, _store, next) => {
        this.#end(ctx.client, next)
      },
      cleanDisconnect: (ctx, _store, next) => {
        // MQTT 5.0: only a DISCONNECT with reason 0x00 deletes the will [MQTT-3.14.4-3]; any other (0x04
        // "with will message", an error code) leaves it to be published [MQTT-3.1.2-8].
        const reasonCode = ctx.packet?.reasonCode ?? 0
        if (reasonCode !== 0) {
          this.#end(ctx.client, next)
          return
        }
        // [MQTT-3.1.2-10] [MQTT-3.14.4-3] After DISCONNECT the will is discarded without being published.
        this.#forgetLive(ctx.client)
        const state = ctx.client.state.lastWill
        if (state !== undefined) {
          state.will = undefined
          this.#unstore(ctx.client, state)
        }
        next()
      },
      registerClient: (ctx, _store, next) => {
        this.#registered(ctx.client, ctx.clientId, next)
      },
      sessionExpired: (ctx, _store, next) => {
        // The session ended before the will delay passed: the will is published now [MQTT-3.1.3-9].
        const pending = this.#pending.take(ctx.clientId) ?? this.#orphans.take(ctx.clientId)
        if (pending === undefined) return next()
        this.#claimAndPublish(pending, next)
      },
      orphanedWill: (ctx, _store, next) => {
        // The backend took this will over from a dead node: published once due, if still ours to claim.
        const earlier = this.#orphans.hold(ctx.clientId, undefined, ctx.packet, ctx.dueAt, ctx.owner)
        if (earlier !== undefined) this.#claimAndPublish(earlier, ignore)
        next()
      },
    }
  }

  override close(): void {
    // Wills still waiting when the broker stops are dropped here; a backend that stores wills keeps them.
    this.#pending.clear()
    this.#orphans.clear()
    this.#live.clear()
  }

  /** The connection ended without a DISCONNECT 0x00: publish the will now or after its delay. */
  #end(client: Client, next: Next): void {
    this.#forgetLive(client)
    const state = client.state.lastWill
    const will = state?.will
    if (state === undefined || will === undefined || state.published) {
      next()
      return
    }
    // A will belongs to an accepted connection only [MQTT-3.1.2-8]: no CONNACK, no will.
    if (!client.connackSent) {
      state.will = undefined
      this.#unstore(client, state)
      next()
      return
    }
    const delay = delayOf(client, will)
    if (delay === 0 || state.superseded === 'ended') {
      // [MQTT-3.1.2-10] Removed once published; marked first, so a second unclean end publishes nothing.
      state.published = true
      state.will = undefined
      const packet = willPacket(will, client.protocolVersion === 5)
      this.#claimAndPublish({ clientId: client.id, client, packet, owner: state.owner }, next)
      return
    }
    // [MQTT-3.1.3-9] A new connection to this session came before the delay passed: the will is not sent.
    state.will = undefined
    if (state.superseded === 'resumed') {
      this.#unstore(client, state)
      next()
      return
    }
    const deadline = Date.now() + delay * 1000
    const packet = willPacket(will, true)
    this.#pending.hold(client.id, client, packet, deadline, state.owner)
    if (state.owner === undefined) return next()
    // The stored will records when it is due, for a survivor that takes it over if this node dies.
    const owner = state.owner
    const ctx = { client, clientId: client.id, packet, delayInterval: delay, owner, dueAt: deadline }
    this.#afterStored(state, () => client.stack.run('storeWill', ctx, {}).then(() => undefined), next)
  }

  /**
   * Publishes a will that is due, after claiming it when it is stored in a backend: only the call that
   * removed it publishes it (a will a claim did not remove was published or cancelled elsewhere).
   */
  #claimAndPublish(pending: WillToPublish, next: Next): void {
    const stack = pending.client?.stack ?? this.#stack
    if (stack === undefined) return next()
    const { client, clientId, owner, packet } = pending
    if (owner === undefined) {
      authorizeAndRelay(stack, client, packet, next)
      return
    }
    const claim = (): Promise<void> =>
      stack.run('removeWill', { clientId, owner }, {}).then(
        ({ removed }) => {
          if (removed !== false) authorizeAndRelay(stack, client, packet, next)
          else next()
        },
        (err: unknown) => {
          // Not removed to be sure: not published here; the backend keeps it (a survivor publishes it if this
          // node dies).
          stack.reportError(toMqttStackError(err), client, packet)
          next()
        },
      )
    const state = client?.state.lastWill
    if (state?.storing === undefined) void claim()
    else void state.storing.then(claim)
  }

  /**
   * A connection with this client id was accepted. A will waiting out its delay is not sent when the session
   * is resumed (Clean Start 0) [MQTT-3.1.3-9]; a Clean Start ends the session first, so it is sent now.
   */
  #registered(client: Client, clientId: string, next: Next): void {
    const cleanStart = client.state.lastWill?.cleanStart ?? true
    const live = this.#live.get(clientId)
    if (live !== undefined && live !== client) {
      // The earlier connection is being taken over: its end decides with this.
      const state = live.state.lastWill
      if (state !== undefined) state.superseded = cleanStart ? 'ended' : 'resumed'
      this.#live.delete(clientId)
    }
    const will = client.state.lastWill?.will
    if (will !== undefined && delayOf(client, will) > 0) this.#live.set(clientId, client)
    const earlier = [this.#pending.take(clientId), this.#orphans.take(clientId)]
    const durable = client.stack.provides('storeWill')
    if (!durable) {
      const pending = earlier[0] ?? earlier[1]
      if (pending === undefined || !cleanStart) return next()
      return this.#claimAndPublish(pending, next)
    }
    this.#registeredDurable(client, clientId, cleanStart, earlier).then(
      () => next(),
      (err: unknown) => next(err as Error),
    )
  }

  async #registeredDurable(
    client: Client,
    clientId: string,
    cleanStart: boolean,
    earlier: (PendingWill | undefined)[],
  ): Promise<void> {
    const stack = client.stack
    for (const pending of earlier) {
      if (pending === undefined) continue
      if (cleanStart) await new Promise<void>((resolve) => this.#claimAndPublish(pending, () => resolve()))
      else if (pending.owner !== undefined)
        await stack.run('removeWill', { clientId, owner: pending.owner }, {})
    }
    // Delayed wills of earlier connections, here or on other nodes: Clean Start 0 resumes the session, they
    // are not sent [MQTT-3.1.3-9]; Clean Start 1 ends it, they are sent now (authorised when stored).
    const { packets = [] } = await stack.run('removeWill', { clientId }, {})
    if (cleanStart) {
      for (const packet of packets)
        await new Promise<void>((resolve) => authorizeAndRelay(stack, undefined, packet, () => resolve()))
    }
    const state = client.state.lastWill
    const will = state?.will
    if (state === undefined || will === undefined || client.closed) return
    const packet = willPacket(will, client.protocolVersion === 5)
    // Stored only once authorised: a will taken over from a dead node has no connection to authorise it with.
    state.storing = this.#store(client, clientId, state, packet, delayOf(client, will))
    await state.storing
  }

  async #store(
    client: Client,
    clientId: string,
    state: LastWillState,
    packet: PendingWill['packet'],
    delayInterval: number,
  ): Promise<void> {
    if (!(await authorized(client, packet))) return
    const owner = randomUUID()
    await client.stack.run('storeWill', { client, clientId, packet, delayInterval, owner }, {})
    state.owner = owner
  }

  /** The will of this connection will not be published: removed from the backend, once stored. */
  #unstore(client: Client, state: LastWillState): void {
    this.#afterStored(
      state,
      () => {
        const owner = state.owner
        if (owner === undefined) return Promise.resolve()
        state.owner = undefined
        return client.stack.run('removeWill', { clientId: client.id, owner }, {}).then(() => undefined)
      },
      ignore,
      client,
    )
  }

  /** Runs `work` once the will of `state` is stored (or at once); a failure is reported. Then `next`. */
  #afterStored(state: LastWillState, work: () => Promise<void>, next: Next, client?: Client): void {
    const run = (): Promise<void> =>
      work().then(
        () => next(),
        (err: unknown) => {
          ;(client?.stack ?? this.#stack)?.reportError(toMqttStackError(err), client, undefined)
          next()
        },
      )
    if (state.storing === undefined) void run()
    else void state.storing.then(run, run)
  }

  #forgetLive(client: Client): void {
    if (this.#live.get(client.id) === client) this.#live.delete(client.id)
  }
}

function ignore(): void {}
