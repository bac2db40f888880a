import { once } from 'node:events'
import { type AddressInfo, createServer, type Server } from 'node:net'
import type { HandlerOptions, Stack } from '../stack.js'
import { connectTestSocket, type PacketPeer, type TestConnectionOptions } from './connection.js'

/** Stacks served over real TCP on 127.0.0.1 and raw peers connected to them, closed together by `close()`. */
export interface TcpHarness {
  /** Closes `stack` with the others, for a stack the test does not serve. */
  track(stack: Stack): void
  /** Serves `stack` on a free port of 127.0.0.1 (its handler made with `options`); resolves with the port. */
  listen(stack: Stack, options?: HandlerOptions): Promise<number>
  /** A raw packet peer connected to `port` of 127.0.0.1. */
  connect(port: number, options?: TestConnectionOptions): Promise<PacketPeer>
  /** Destroys every peer, closes every stack, then every server. Call it after each test. */
  close(): Promise<void>
}

/**
 * A harness for tests over TCP: `const tcp = tcpHarness()` once per file and `afterEach(() => tcp.close())`
 * with your runner's `afterEach`; everything a test opened through it is closed after that test.
 */
export function tcpHarness(): TcpHarness {
  const stacks = new Set<Stack>()
  const servers: Server[] = []
  const peers: PacketPeer[] = []
  return {
    track(stack) {
      stacks.add(stack)
    },
    async listen(stack, options) {
      stacks.add(stack)
      const server = createServer(stack.handler(options))
      servers.push(server)
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      return (server.address() as AddressInfo).port
    },
    async connect(port, options) {
      const peer = await connectTestSocket(port, '127.0.0.1', options)
      peers.push(peer)
      return peer
    },
    async close() {
      for (const peer of peers.splice(0)) peer.destroy()
      const closing = [...stacks].map((stack) => stack.close())
      stacks.clear()
      await Promise.all(closing)
      await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))))
    },
  }
}
