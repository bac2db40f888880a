import { once } from 'node:events'
import { type AddressInfo, createServer, type Server } from 'node:net'
import type { CallbackStore, MiddlewareLike, Stack } from '@mqtt-stack/core'
import { connectTestSocket, type PacketPeer, type TestConnectionOptions } from '@mqtt-stack/core/testing'
import { afterEach } from 'vitest'

export {
  acceptConnections,
  testStack,
} from '@mqtt-stack/core/testing'

/**
 * Stacks served over real TCP on 127.0.0.1 and the raw peers connected to them, all closed after each test
 * of the file that calls this (once, at its top level).
 */
export function tcpHarness() {
  const stacks: Stack[] = []
  const servers: Server[] = []
  const peers: PacketPeer[] = []
  afterEach(async () => {
    for (const peer of peers.splice(0)) peer.destroy()
    await Promise.all(stacks.splice(0).map((stack) => stack.close()))
    await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))))
  })
  return {
    /** Closes `stack` after the test, when it is not served. */
    track(stack: Stack): void {
      stacks.push(stack)
    },
    /** Serves `stack` on a free port; returns the port. */
    async listen(stack: Stack): Promise<number> {
      stacks.push(stack)
      const server = createServer(stack.handler())
      servers.push(server)
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      return (server.address() as AddressInfo).port
    },
    /** A raw packet peer connected to `port`. */
    async connect(port: number, options?: TestConnectionOptions): Promise<PacketPeer> {
      const peer = await connectTestSocket(port, '127.0.0.1', options)
      peers.push(peer)
      return peer
    },
  }
}

export interface Relayed {
  topic: string
  payload: string
  retain: boolean
  qos: number
  /** Whether a client was given: server messages have none. */
  fromClient: boolean
}

/**
 * Stands in for the backend's router: answers `relayMessage` by recording what is relayed, and
 * `collectStats` with `stats` when given. `waitFor` resolves when a relayed message matches.
 */
export function relayRecorder(stats?: CallbackStore<'collectStats'>) {
  const relayed: Relayed[] = []
  const waiters: Array<{ test: (message: Relayed) => boolean; resolve: (message: Relayed) => void }> = []
  const middleware: MiddlewareLike = {
    name: 'relay-recorder',
    roles: ['backend'],
    callbacks: () => ({
      relayMessage: (ctx, _store, next) => {
        const message: Relayed = {
          topic: ctx.topic,
          payload: String(ctx.payload),
          retain: ctx.packet.retain,
          qos: ctx.packet.qos,
          fromClient: ctx.client !== undefined,
        }
        relayed.push(message)
        for (const waiter of waiters.splice(0)) {
          if (waiter.test(message)) waiter.resolve(message)
          else waiters.push(waiter)
        }
        next()
      },
      ...(stats === undefined
        ? {}
        : {
            collectStats: (_ctx, store, next) => {
              Object.assign(store, stats)
              next()
            },
          }),
    }),
  }
  return {
    relayed,
    middleware,
    /** The last value relayed on each topic. */
    latest(): Map<string, string> {
      return new Map(relayed.map((message) => [message.topic, message.payload]))
    },
    waitFor(test: (message: Relayed) => boolean): Promise<Relayed> {
      return new Promise((resolve) => waiters.push({ test, resolve }))
    },
  }
}

/** Stands in for Authorize in name, so SysTopics does not report that nothing guards `$SYS`. */
export const namedAuthorize: MiddlewareLike = { name: 'authorize' }
