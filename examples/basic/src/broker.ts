import {
  type Broker as BrokerPackageBroker,
  type BrokerOptions as BrokerPackageOptions,
  createBroker as createPackageBroker,
  createStack as createPackageStack,
} from '@mqtt-stack/broker'
import type { Stack } from '@mqtt-stack/core'

/** `@mqtt-stack/broker`'s options, listening on one TCP port. */
export interface BrokerOptions extends Omit<BrokerPackageOptions, 'listeners'> {
  /** Default 1883; 0 picks a free port. */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
}

export interface Broker {
  readonly stack: Stack
  /** The broker of `@mqtt-stack/broker` underneath (`addresses`, `setAcl`). */
  readonly broker: BrokerPackageBroker
  /** Resolves with the address actually bound (port 0 picks a free one). */
  listen(): Promise<{ host: string; port: number }>
  /** Stops accepting, closes every client (wills of unclean ends are published), then every middleware. */
  close(): Promise<void>
}

/** The default broker: every built-in, in the order of use documented in the root README. */
export function createStack(options: BrokerOptions = {}): Stack {
  const { port: _port, host: _host, ...rest } = options
  return createPackageStack(rest)
}

/** The default broker on one TCP listener: `@mqtt-stack/broker`'s createBroker, kept for its callers. */
export function createBroker(options: BrokerOptions = {}): Broker {
  const { port, host, ...rest } = options
  const broker = createPackageBroker({
    ...rest,
    listeners: [
      { type: 'mqtt', ...(port === undefined ? {} : { port }), ...(host === undefined ? {} : { host }) },
    ],
  })
  return {
    stack: broker.stack,
    broker,
    listen: async () => {
      const [address] = await broker.listen()
      return { host: address!.host, port: address!.port }
    },
    close: () => broker.close(),
  }
}
