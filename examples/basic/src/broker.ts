import { createServer, type Server } from 'node:net'
import { Stack, type StackOptions } from '@mqtt-stack/core'
import { MiniBroker } from './mini-broker.js'

export interface BrokerOptions {
  port?: number
  host?: string
  stack?: StackOptions
}

export interface Broker {
  readonly stack: Stack
  readonly server: Server
  /** Resolves with the address actually bound (port 0 picks a free one). */
  listen(): Promise<{ host: string; port: number }>
  /** Stops accepting, closes every client, then every middleware. */
  close(): Promise<void>
}

/** The default example broker: the middlewares in the order of use, on a TCP server. */
export function createBroker(options: BrokerOptions = {}): Broker {
  const stack = new Stack(options.stack)
  stack.use(new MiniBroker())
  const server = createServer(stack.handler())
  return {
    stack,
    server,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(options.port ?? 1883, options.host ?? '127.0.0.1', () => {
          server.off('error', reject)
          const address = server.address()
          if (address === null || typeof address === 'string') return reject(new Error('not a TCP address'))
          resolve({ host: address.address, port: address.port })
        })
      }),
    close: async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
      await stack.close()
      await stopped
    },
  }
}
