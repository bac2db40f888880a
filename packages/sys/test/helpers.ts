import type { CallbackStore, MiddlewareLike } from '@mqtt-stack/core'
import { type TcpHarness, tcpHarness as testingTcpHarness } from '@mqtt-stack/core/testing'
import { afterEach } from 'vitest'

export {
  acceptConnections,
  testStack,
} from '@mqtt-stack/core/testing'

/** Stacks served over TCP and raw peers connected to them, all closed after each test of the calling file. */
export function tcpHarness(): TcpHarness {
  const tcp = testingTcpHarness()
  afterEach(() => tcp.close())
  return tcp
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
