import { once } from 'node:events'
import { request } from 'node:http'
import { describe, expect, it, onTestFinished } from 'vitest'
import { WebSocket } from 'ws'
import { connectClient, roundTrip, startBroker } from './support.js'

/** A raw WebSocket client, terminated after the test. */
async function open(url: string, protocols: string[] = ['mqtt']): Promise<WebSocket> {
  const socket = new WebSocket(url, protocols)
  onTestFinished(() => socket.terminate())
  await once(socket, 'open')
  return socket
}

/** CONNECT of MQTT 3.1.1, client id "ws", clean session, keepalive 60. */
const CONNECT = Buffer.from([0x10, 0x0e, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, 2, 0x77, 0x73])

describe('ws listener, MQTT 3.1.1 and 5.0 alike', () => {
  it('relays between MQTT.js clients over WebSocket, 3.1.1 and 5.0', async () => {
    const { url } = await startBroker({ listeners: [{ type: 'ws', port: 0 }] })
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/)
    const subscriber = await connectClient(url, { protocolVersion: 5 })
    const publisher = await connectClient(url, { protocolVersion: 4 })
    expect(await roundTrip(subscriber, publisher)).toBe('hello')
  })

  it('[MQTT-6.0.0-4] selects the subprotocol "mqtt", and answers CONNECT in a binary frame', async () => {
    const { url } = await startBroker({ listeners: [{ type: 'ws', port: 0 }] })
    const socket = await open(url, ['mqttv5-draft', 'mqtt'])
    expect(socket.protocol).toBe('mqtt')
    socket.send(CONNECT)
    const [data, isBinary] = (await once(socket, 'message')) as [Buffer, boolean]
    expect(isBinary).toBe(true)
    expect([...data]).toEqual([0x20, 2, 0, 0])
  })

  it('[MQTT-6.0.0-2] reads a packet split over frames, and several packets in one frame', async () => {
    const { url } = await startBroker({ listeners: [{ type: 'ws', port: 0 }] })
    const socket = await open(url)
    socket.send(CONNECT.subarray(0, 5))
    socket.send(CONNECT.subarray(5))
    await once(socket, 'message')
    const pingreq = Buffer.from([0xc0, 0])
    const answers: Buffer[] = []
    socket.on('message', (data: Buffer) => answers.push(data))
    socket.send(Buffer.concat([pingreq, pingreq]))
    while (Buffer.concat(answers).length < 4) await once(socket, 'message')
    expect([...Buffer.concat(answers)]).toEqual([0xd0, 0, 0xd0, 0])
  })

  it('[MQTT-6.0.0-1] closes the connection on a text frame', async () => {
    const { url, broker } = await startBroker({ listeners: [{ type: 'ws', port: 0 }] })
    const ended = new Promise<Error | undefined>((resolve) =>
      broker.stack.once('client', (client) => client.once('close', resolve)),
    )
    const socket = await open(url)
    socket.send(CONNECT)
    await once(socket, 'message')
    const closed = once(socket, 'close')
    socket.send('PINGREQ as text')
    await closed
    expect(socket.readyState).toBe(WebSocket.CLOSED)
    expect((await ended)?.message).toMatch(/text frame/)
  })

  it('path: upgrades on that path only', async () => {
    const { addresses } = await startBroker({ listeners: [{ type: 'ws', port: 0, path: '/mqtt' }] })
    const { port } = addresses[0]!
    expect((await open(`ws://127.0.0.1:${port}/mqtt`)).readyState).toBe(WebSocket.OPEN)
    const wrong = new WebSocket(`ws://127.0.0.1:${port}/other`, ['mqtt'])
    onTestFinished(() => wrong.terminate())
    const [err] = (await once(wrong, 'error').catch((e: unknown) => [e])) as [Error]
    expect(err.message).toMatch(/400/)
  })

  it('answers a plain HTTP request with 426 Upgrade Required', async () => {
    const { addresses } = await startBroker({ listeners: [{ type: 'ws', port: 0 }] })
    const req = request({ host: '127.0.0.1', port: addresses[0]!.port, path: '/' })
    req.end()
    const [response] = await once(req, 'response')
    response.resume()
    expect(response.statusCode).toBe(426)
  })
})
