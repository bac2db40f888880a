import { connect, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { connect as tlsConnect } from 'node:tls'
import { serializePacket } from '@mqtt-stack/core'
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { WebSocket } from 'ws'
import type { ListenerOptions } from '../src/index.js'
import { parseProxyHeader } from '../src/listeners/proxy-protocol.js'
import type { BrokerLogger } from '../src/logger.js'
import { hasOpenssl, makeCertificates, type TestCertificates } from './certs.js'
import { connectThrough, roundTrip, startBroker } from './support.js'

const CONNECT = serializePacket(
  {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    clientId: 'behind-proxy',
    keepalive: 0,
  },
  4,
)

/** A version 2 header: PROXY command, TCP over IPv4, the client 198.51.100.9:40000 to 127.0.0.1:1883. */
function v2Header(command = 0x21): Buffer {
  const signature = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]
  const addresses = [198, 51, 100, 9, 127, 0, 0, 1, 0x9c, 0x40, 0x07, 0x5b]
  return Buffer.from([...signature, command, 0x11, 0x00, addresses.length, ...addresses])
}

describe('parseProxyHeader', () => {
  it('reads a v1 header (TCP4, TCP6, UNKNOWN) and its length', () => {
    const v4 = Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 51000 1883\r\nrest')
    expect(parseProxyHeader(v4)).toEqual({
      length: v4.length - 4,
      source: { address: '203.0.113.7', port: 51000 },
    })
    expect(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 ::1 4000 1883\r\n'))).toMatchObject({
      source: { address: '2001:db8::1', port: 4000 },
    })
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual({ length: 15, source: undefined })
  })

  it('reads a v2 header: PROXY over IPv4 and IPv6, LOCAL without a source', () => {
    expect(parseProxyHeader(v2Header())).toEqual({
      length: 28,
      source: { address: '198.51.100.9', port: 40000 },
    })
    expect(parseProxyHeader(v2Header(0x20))).toEqual({ length: 28, source: undefined })
    const v6 = Buffer.concat([v2Header().subarray(0, 13), Buffer.from([0x21, 0, 36]), Buffer.alloc(36)])
    v6[16 + 15] = 1
    v6.writeUInt16BE(443, 48)
    expect(parseProxyHeader(v6)).toEqual({ length: 52, source: { address: '0:0:0:0:0:0:0:1', port: 443 } })
  })

  it('asks for more bytes while a header is incomplete, and refuses what is not one', () => {
    expect(parseProxyHeader(Buffer.from('PRO'))).toBeUndefined()
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4'))).toBeUndefined()
    expect(parseProxyHeader(v2Header().subarray(0, 20))).toBeUndefined()
    expect(parseProxyHeader(CONNECT)).toMatch(/did not start with a PROXY protocol header/)
    expect(parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}\r\n`))).toMatch(/longer than 107/)
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 x 1883\r\n'))).toMatch(/malformed/)
  })
})

const sockets: Socket[] = []
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy()
})

/** Sends `bytes` in one write and resolves with the first byte the broker answers, or 'closed'. */
function exchange(port: number, bytes: Buffer): Promise<number | 'closed'> {
  const socket = connect(port, '127.0.0.1', () => socket.write(bytes))
  sockets.push(socket)
  return firstByte(socket)
}

/** A logger that keeps the fields of each line. */
function recordingLogger() {
  const lines: Array<{ message: string; fields: Record<string, unknown> }> = []
  const keep = (fields: Record<string, unknown>, message: string) => void lines.push({ message, fields })
  const logger: BrokerLogger = { error: keep, warn: keep, info: keep, debug: keep }
  return { logger, lines }
}

describe('an mqtt listener with proxyProtocol: true', () => {
  it('takes the client address from a v1 header sent with the CONNECT in one write', async () => {
    const { logger, lines } = recordingLogger()
    const { addresses } = await startBroker({
      listeners: [{ type: 'mqtt', port: 0, proxyProtocol: true }],
      logger,
    })
    const header = Buffer.from(`PROXY TCP4 203.0.113.7 127.0.0.1 51000 ${addresses[0]!.port}\r\n`)
    expect(await exchange(addresses[0]!.port, Buffer.concat([header, CONNECT]))).toBe(0x20) // CONNACK
    const connected = lines.find((line) => line.message === 'client connected')
    expect(connected?.fields).toMatchObject({ clientId: 'behind-proxy', address: '203.0.113.7' })
  })

  it('takes the client address from a v2 header', async () => {
    const { logger, lines } = recordingLogger()
    const { addresses } = await startBroker({
      listeners: [{ type: 'mqtt', port: 0, proxyProtocol: true }],
      logger,
    })
    expect(await exchange(addresses[0]!.port, Buffer.concat([v2Header(), CONNECT]))).toBe(0x20)
    expect(lines.find((line) => line.message === 'client connected')?.fields).toMatchObject({
      address: '198.51.100.9',
    })
  })

  it('closes a connection that sends no PROXY header, without a CONNACK', async () => {
    const { addresses } = await startBroker({ listeners: [{ type: 'mqtt', port: 0, proxyProtocol: true }] })
    expect(await exchange(addresses[0]!.port, CONNECT)).toBe('closed')
  })

  it('refuses proxyProtocol that is not a boolean, naming the option', async () => {
    await expect(
      startBroker({ listeners: [{ type: 'mqtt', port: 0, proxyProtocol: 'yes' as never }] }),
    ).rejects.toThrow(/listeners\[0\]\.proxyProtocol must be true or false/)
  })
})

/**
 * A connection through a load balancer to a listener of `type`: the PROXY `header` on the raw TCP socket,
 * then TLS and/or WebSocket over it as the client would speak them. Resolves with the first byte of the
 * broker's answer to CONNECT, or 'closed'.
 */
function exchangeThrough(
  type: 'mqtts' | 'ws' | 'wss',
  port: number,
  header: Buffer,
  ca: string,
): Promise<number | 'closed'> {
  const raw = connect(port, '127.0.0.1')
  sockets.push(raw)
  raw.write(header)
  const secured = () => tlsConnect({ socket: raw, ca, servername: 'localhost' })
  if (type === 'mqtts') {
    const stream = secured()
    stream.once('secureConnect', () => stream.write(CONNECT))
    return firstByte(stream)
  }
  const socket = new WebSocket(`${type}://127.0.0.1:${port}/`, 'mqtt', {
    createConnection: () => (type === 'wss' ? secured() : raw),
  })
  onTestFinished(() => socket.terminate())
  socket.once('open', () => socket.send(CONNECT))
  return new Promise((resolve) => {
    socket.once('message', (data: Buffer) => resolve(data[0]!))
    socket.once('close', () => resolve('closed'))
    socket.once('error', () => resolve('closed'))
  })
}

/** The first byte `stream` receives, or 'closed' if it closes (or fails) first. */
function firstByte(stream: Duplex): Promise<number | 'closed'> {
  return new Promise((resolve) => {
    stream.once('data', (data: Buffer) => resolve(data[0]!))
    stream.once('close', () => resolve('closed'))
    stream.once('error', () => resolve('closed'))
  })
}

describe.runIf(hasOpenssl())('proxyProtocol on TLS and WebSocket listeners', () => {
  let certs: TestCertificates
  beforeAll(() => {
    certs = makeCertificates()
  })
  afterAll(() => certs.remove())

  const listener = (type: 'mqtts' | 'ws' | 'wss') => {
    const tls = type === 'ws' ? {} : { cert: certs.pem.serverCert, key: certs.pem.serverKey }
    return { type, port: 0, proxyProtocol: true, ...tls } as ListenerOptions
  }

  for (const type of ['mqtts', 'ws', 'wss'] as const) {
    it(`${type}: the header comes before the ${type === 'ws' ? 'HTTP upgrade' : 'TLS handshake'}; logs see the client's address (v1 and v2)`, async () => {
      const { logger, lines } = recordingLogger()
      const { addresses } = await startBroker({ listeners: [listener(type)], logger })
      const port = addresses[0]!.port
      const v1 = Buffer.from(`PROXY TCP4 203.0.113.7 127.0.0.1 51000 ${port}\r\n`)
      expect(await exchangeThrough(type, port, v1, certs.pem.ca)).toBe(0x20) // CONNACK
      expect(await exchangeThrough(type, port, v2Header(), certs.pem.ca)).toBe(0x20)
      const connected = lines.filter((line) => line.message === 'client connected')
      expect(connected.map((line) => line.fields.address)).toEqual(['203.0.113.7', '198.51.100.9'])
    })

    it(`${type}: a connection without a PROXY header is closed`, async () => {
      const { addresses } = await startBroker({ listeners: [listener(type)] })
      expect(await exchangeThrough(type, addresses[0]!.port, Buffer.alloc(0), certs.pem.ca)).toBe('closed')
    })
  }

  it('mqtts: MQTT.js behind the proxy exchanges messages; a client certificate still names the user', async () => {
    const { pem } = certs
    const { logger, lines } = recordingLogger()
    const { addresses } = await startBroker({
      allowAnonymous: false,
      logger,
      listeners: [{ ...listener('mqtts'), ca: pem.ca, identityAsUsername: true } as ListenerOptions],
    })
    const port = addresses[0]!.port
    const viaProxy = (clientId: string) =>
      connectThrough(() => {
        const raw = connect(port, '127.0.0.1')
        sockets.push(raw)
        raw.write(v2Header())
        const tls = { ca: pem.ca, cert: pem.clientCert, key: pem.clientKey, servername: 'localhost' }
        return tlsConnect({ socket: raw, ...tls })
      }, clientId)
    const [a, b] = await Promise.all([viaProxy('a'), viaProxy('b')])
    expect(await roundTrip(a, b)).toBe('hello')
    const connected = lines.filter((line) => line.message === 'client connected')
    expect(connected.map((line) => [line.fields.username, line.fields.address])).toEqual([
      ['device1', '198.51.100.9'],
      ['device1', '198.51.100.9'],
    ])
  })
})
