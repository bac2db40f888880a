import { once } from 'node:events'
import { createServer, type Server } from 'node:net'
import { afterEach, expect, it } from 'vitest'
import { type Client, type Next, type Packet, Stack } from '../src/index.js'
import { connectTestSocket, type PacketPeer } from '../src/testing/index.js'

let server: Server | undefined
let stack: Stack | undefined
const peers: PacketPeer[] = []

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.destroy()
  await stack?.close()
  if (server?.listening) await new Promise((resolve) => server?.close(resolve))
})

it('serves a real TCP socket through net.createServer(stack.handler())', async () => {
  stack = new Stack()
  stack.use({
    handle(client: Client, packet: Packet, next: Next) {
      if (packet.cmd === 'connect') client.write({ cmd: 'connack', reasonCode: 0, sessionPresent: false })
      next()
    },
  })
  server = createServer(stack.handler())
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  const peer = await connectTestSocket(port)
  peers.push(peer)
  peer.send({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 5,
    clean: true,
    clientId: 'tcp',
    keepalive: 0,
  })
  expect(await peer.expect('connack')).toMatchObject({ reasonCode: 0 })
  expect(stack.clients.size).toBe(1)
  const [client] = stack.clients
  expect(client?.protocolVersion).toBe(5)

  // A server-side close ends the socket, after a DISCONNECT for this 5.0 client.
  client?.close(0x8b)
  expect(await peer.expect('disconnect')).toMatchObject({ reasonCode: 0x8b })
  await peer.closed()
})
