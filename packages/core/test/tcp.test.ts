import { once } from 'node:events'
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
import mqtt from 'mqtt-packet'
import { afterEach, expect, it } from 'vitest'
import { type Client, type Next, type Packet, Stack, serializePacket } from '../src/index.js'

let server: Server | undefined
let stack: Stack | undefined
const sockets: Socket[] = []

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  await stack?.close()
  if (server?.listening) await new Promise((resolve) => server?.close(resolve))
})

/** The packets a raw TCP client receives, as they arrive. */
function receive(socket: Socket, protocolVersion: 4 | 5) {
  const packets: Packet[] = []
  const parser = mqtt.parser({ protocolVersion })
  parser.on('packet', (packet: Packet) => {
    packets.push(packet)
    socket.emit('mqtt-packet', packet)
  })
  socket.on('data', (chunk) => parser.parse(chunk))
  return packets
}

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
  const socket = tcpConnect(port, '127.0.0.1')
  sockets.push(socket)
  await once(socket, 'connect')
  receive(socket, 5)
  const connack = once(socket, 'mqtt-packet')
  socket.write(
    serializePacket(
      { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'tcp', keepalive: 0 },
      5,
    ),
  )
  expect((await connack)[0]).toMatchObject({ cmd: 'connack', reasonCode: 0 })
  expect(stack.clients.size).toBe(1)
  const [client] = stack.clients
  expect(client?.protocolVersion).toBe(5)

  // A server-side close ends the socket, after a DISCONNECT for this 5.0 client.
  const disconnect = once(socket, 'mqtt-packet')
  const socketEnded = once(socket, 'end')
  client?.close(0x8b)
  expect((await disconnect)[0]).toMatchObject({ cmd: 'disconnect', reasonCode: 0x8b })
  await socketEnded
})
