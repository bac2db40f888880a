import { once } from 'node:events'
import { type AddressInfo, createServer, type Server } from 'node:net'
import { afterEach } from 'vitest'
import type { Client, MqttStackError, Packet, Stack } from '../src/index.js'
import { connectTestSocket, type PacketPeer, type TestConnectionOptions } from '../src/testing/index.js'

/** Listens to the stack's `error` event and keeps what it reports. */
export function collectErrors(stack: Stack) {
  const errors: MqttStackError[] = []
  const contexts: Array<{ client: Client | undefined; packet: Packet | undefined }> = []
  stack.on('error', (err, client, packet) => {
    errors.push(err)
    contexts.push({ client, packet })
  })
  return { stack, errors, contexts }
}

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
