import { Socket } from 'node:net'
import { afterEach, expect, it, vi } from 'vitest'
import { type Client, type Next, type Packet, Stack } from '../src/index.js'
import { tcpHarness } from './helpers.js'

const tcp = tcpHarness()

it('serves a real TCP socket through net.createServer(stack.handler())', async () => {
  const stack = new Stack()
  stack.use({
    handle(client: Client, packet: Packet, next: Next) {
      if (packet.cmd === 'connect') client.write({ cmd: 'connack', reasonCode: 0, sessionPresent: false })
      next()
    },
  })
  const peer = await tcp.connect(await tcp.listen(stack))
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

afterEach(() => {
  vi.restoreAllMocks()
})

it.each([
  [{}, [true]],
  [{ client: { noDelay: false } }, []],
])(
  'turns Nagle off on the socket of each connection unless noDelay is false (options %j)',
  async (options, expected) => {
    const setNoDelay = vi.spyOn(Socket.prototype, 'setNoDelay')
    const stack = new Stack(options)
    const port = await tcp.listen(stack)
    await tcp.connect(port)
    await vi.waitFor(() => expect(stack.clients.size).toBe(1))
    const [client] = stack.clients
    const calls = setNoDelay.mock.contexts.flatMap((socket, i) =>
      socket === client?.stream ? setNoDelay.mock.calls[i] : [],
    )
    expect(calls).toEqual(expected)
  },
)
