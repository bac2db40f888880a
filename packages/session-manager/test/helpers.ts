import type {
  Client,
  IDisconnectPacket,
  MiddlewareLike,
  MqttStackError,
  Stack,
  StoredSession,
  Subscription,
} from '@mqtt-stack/core'

/**
 * Stands in for connection: a DISCONNECT closes cleanly; when a client's stream closes it executes
 * `cleanDisconnect` or `uncleanDisconnect` once. `ended(client)` resolves when that chain has ended.
 * PINGREQ gets PINGRESP (packets run one at a time, so its answer means earlier chains have ended).
 */
export function fakeConnection() {
  const sawDisconnect = new WeakMap<Client, IDisconnectPacket>()
  const ends = new WeakMap<Client, Promise<void>>()
  const middleware: MiddlewareLike = {
    name: 'fake-connection',
    packetTypes: ['disconnect', 'pingreq'],
    install(client) {
      ends.set(
        client,
        new Promise((resolve) => {
          client.once('close', () => {
            const packet = sawDisconnect.get(client)
            if (packet === undefined) {
              client.stack.execute('uncleanDisconnect', { client }, {}, () => resolve())
              return
            }
            // As connection does: a 5.0 DISCONNECT goes with cleanDisconnect.
            const ctx = client.protocolVersion === 5 ? { client, packet } : { client }
            client.stack.execute('cleanDisconnect', ctx, {}, () => resolve())
          })
        }),
      )
    },
    handle(client, packet, _next, done) {
      if (packet.cmd === 'disconnect') {
        sawDisconnect.set(client, packet)
        client.close()
      } else {
        client.write({ cmd: 'pingresp' })
      }
      done()
    },
  }
  return { middleware, ended: (client: Client) => ends.get(client)! }
}

/** Lets a test hold a backend callback until it releases it. */
export function gate() {
  let release!: () => void
  const opened = new Promise<void>((resolve) => {
    release = resolve
  })
  return { opened, release }
}

/** A tiny backend: connections, sessions and subscriptions in Maps, every call recorded in order. */
export function fakeBackend() {
  const calls: string[] = []
  const clients = new Map<string, Client>()
  const sessions = new Map<string, StoredSession>()
  const subscriptions = new Map<string, Subscription[]>()
  const restored: Array<{ clientId: string; topic: string; qos: number; hasPacket: boolean }> = []
  /** A lookupSession held until the test releases it; `reached` resolves when the backend got the call. */
  const holds: { lookupSession?: { reached: () => void; opened: Promise<void> } } = {}
  const waiters: Array<{ call: string; resolve: () => void }> = []
  const record = (call: string) => {
    calls.push(call)
    for (const waiter of waiters.filter((w) => w.call === call)) {
      waiters.splice(waiters.indexOf(waiter), 1)
      waiter.resolve()
    }
  }
  /** Resolves when the backend receives `call` (e.g. 'removeSession p') from now on. */
  const nextCall = (call: string) => new Promise<void>((resolve) => waiters.push({ call, resolve }))
  const middleware: MiddlewareLike = {
    name: 'fake-backend',
    callbacks: () => ({
      registerClient(ctx, store, next) {
        record(`registerClient ${ctx.clientId}`)
        const previous = clients.get(ctx.clientId)
        if (previous && previous !== ctx.client) {
          store.previous = previous
          previous.close(0x8e)
        }
        clients.set(ctx.clientId, ctx.client)
        next()
      },
      unregisterClient(ctx, store, next) {
        record(`unregisterClient ${ctx.clientId}`)
        if (clients.get(ctx.clientId) === ctx.client) {
          clients.delete(ctx.clientId)
          store.removed = true
        } else {
          store.removed = false
        }
        next()
      },
      lookupSession(ctx, store, next) {
        record(`lookupSession ${ctx.clientId}`)
        const session = sessions.get(ctx.clientId)
        if (session) store.session = session
        const hold = holds.lookupSession
        if (!hold) return next()
        hold.reached()
        hold.opened.then(() => next())
      },
      storeSession(ctx, _store, next) {
        record(`storeSession ${ctx.clientId} ${ctx.session.expiryInterval}`)
        sessions.set(ctx.clientId, ctx.session)
        next()
      },
      removeSession(ctx, _store, next) {
        record(`removeSession ${ctx.clientId}`)
        sessions.delete(ctx.clientId)
        subscriptions.delete(ctx.clientId)
        next()
      },
      lookupSubscriptions(ctx, store, next) {
        record(`lookupSubscriptions ${ctx.clientId}`)
        const mine = subscriptions.get(ctx.clientId)
        if (mine) store.subscriptions = mine
        next()
      },
      subscribeTopic(ctx, _store, next) {
        record(`subscribeTopic ${ctx.topic}`)
        restored.push({
          clientId: ctx.client.id,
          topic: ctx.topic,
          qos: ctx.qos,
          hasPacket: ctx.packet !== undefined,
        })
        next()
      },
      sessionExpired(ctx, _store, next) {
        // Answered by last-will in a broker; recorded here for the order of calls.
        record(`sessionExpired ${ctx.clientId}`)
        next()
      },
      resumeSession(ctx, _store, next) {
        record(`resumeSession ${ctx.clientId}`)
        // What an outbound-manager would do: deliver what the session holds, after the CONNACK.
        ctx.client.write({
          cmd: 'publish',
          topic: 'queued',
          payload: Buffer.from('for you'),
          qos: 0,
          retain: false,
          dup: false,
        })
        next()
      },
    }),
  }
  return { middleware, calls, clients, sessions, subscriptions, restored, holds, nextCall }
}

/** Keeps every error the stack reports. */
export function collectErrors(stack: Stack): MqttStackError[] {
  const errors: MqttStackError[] = []
  stack.on('error', (err) => errors.push(err))
  return errors
}
