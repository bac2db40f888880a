import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createTcpServer, type Server } from 'node:net'
import type { Duplex } from 'node:stream'
import {
  createServer as createTlsServer,
  type TLSSocket,
  type TlsOptions,
  Server as TlsServer,
} from 'node:tls'
import { WebSocketServer } from 'ws'
import { recordIdentity } from './identity.js'
import {
  type CertificateIdentityField,
  DEFAULT_HOST,
  DEFAULT_PORTS,
  type ListenerAddress,
  type ListenerOptions,
  type MqttsListenerOptions,
  type TlsListenerOptions,
  type WssListenerOptions,
} from './options.js'
import { ProxiedStream } from './proxied-stream.js'
import { readProxyHeader } from './proxy-protocol.js'
import { WebSocketStream } from './websocket-stream.js'

/** One listening socket that hands each connection, as a byte stream, to `accept`. */
export interface Listener {
  listen(): Promise<ListenerAddress>
  /** Stops accepting; resolves once every connection it accepted has ended. */
  close(): Promise<void>
  /** Ends the connections still open (after the stack has closed its clients). */
  terminate(): void
}

/** Opens nothing yet: `listen()` binds. `maxFrame` bounds a WebSocket message, in bytes. */
export function createListener(
  options: ListenerOptions,
  accept: (stream: Duplex) => void,
  maxFrame: number,
): Listener {
  const host = options.host ?? DEFAULT_HOST
  const port = options.port ?? DEFAULT_PORTS[options.type]
  const path = 'path' in options ? (options.path ?? '') : ''
  const identity = identityField(options)
  switch (options.type) {
    case 'mqtt': {
      // The Stack reads the socket as a stream: the bytes after the header, unshifted, come first.
      const server = options.proxyProtocol
        ? createTcpServer((socket) => readProxyHeader(socket, accept))
        : createTcpServer(accept)
      return serverListener(server, options.type, host, port, path)
    }
    case 'mqtts': {
      const server = createTlsServer(tlsOptions(options), (socket) => {
        if (identity) recordIdentity(socket, identity)
        accept(socket)
      })
      return serverListener(behindProxy(server, options), options.type, host, port, path)
    }
    case 'ws':
    case 'wss': {
      const http =
        options.type === 'ws'
          ? createHttpServer(upgradeOnly)
          : createHttpsServer(tlsOptions(options), upgradeOnly)
      const wss = new WebSocketServer({
        server: http,
        maxPayload: maxFrame,
        ...(options.path === undefined ? {} : { path: options.path }),
        // [MQTT-6.0.0-4] The subprotocol is "mqtt" ("mqttv3.1" for MQTT 3.1 clients that ask for it).
        handleProtocols: (offered) =>
          offered.has('mqtt') ? 'mqtt' : offered.has('mqttv3.1') ? 'mqttv3.1' : false,
      })
      wss.on('connection', (socket, request: IncomingMessage) => {
        const stream = new WebSocketStream(socket, request.socket.remoteAddress)
        if (identity) recordIdentity(request.socket as TLSSocket, identity, stream)
        accept(stream)
      })
      const listener = serverListener(behindProxy(http, options), options.type, host, port, path)
      return {
        listen: listener.listen,
        close: () => {
          wss.close()
          return listener.close()
        },
        terminate: () => {
          for (const socket of wss.clients) socket.terminate()
          listener.terminate()
        },
      }
    }
  }
}

/**
 * `server` itself, or with `proxyProtocol` a TCP server in front of it that reads each connection's PROXY
 * header and hands the rest to `server` (which then never listens) as a stream carrying the client's address.
 */
function behindProxy(server: TlsServer | HttpServer, options: ListenerOptions): Server | HttpServer {
  if (!options.proxyProtocol) return server
  if (server instanceof TlsServer) {
    // A TLS socket over a stream has no address of its own: it takes the one of the stream it wraps.
    server.prependListener('secureConnection', (socket: TLSSocket) => {
      const proxied = wrappedStream(socket)
      if (!(proxied instanceof ProxiedStream)) return
      Object.defineProperty(socket, 'remoteAddress', { value: proxied.remoteAddress, configurable: true })
      Object.defineProperty(socket, 'remotePort', { value: proxied.remotePort, configurable: true })
    })
  }
  return createTcpServer((socket) =>
    readProxyHeader(socket, (ready) => server.emit('connection', new ProxiedStream(ready))),
  )
}

/**
 * The stream under a TLS socket that a server made from a stream other than a `net.Socket` (documented for
 * `tls.Server`'s 'connection' event). Node keeps it as the TLS handle's `_parentWrap.stream`, which is not
 * public API: the proxy tests of each TLS listener fail if a Node version moves it.
 */
function wrappedStream(socket: TLSSocket): unknown {
  const handle = (socket as unknown as { _handle?: { _parentWrap?: { stream?: unknown } } })._handle
  return handle?._parentWrap?.stream
}

/** Which part of a verified client certificate names the user on this listener, if any. */
export function identityField(options: ListenerOptions): CertificateIdentityField | undefined {
  if (options.type !== 'mqtts' && options.type !== 'wss') return undefined
  const { identityAsUsername } = options as TlsListenerOptions
  if (identityAsUsername === true) return 'cn'
  return identityAsUsername || undefined
}

function serverListener(
  server: Server | HttpServer,
  type: ListenerOptions['type'],
  host: string,
  port: number,
  path: string,
): Listener {
  const sockets = new Set<Duplex>()
  // One listener for every socket (`this` is the socket): nothing allocated per connection.
  const forget = function (this: Duplex): void {
    sockets.delete(this)
  }
  // Raw TCP sockets, TLS handshakes and WebSocket upgrades in progress included.
  server.on('connection', (socket: Duplex) => {
    sockets.add(socket)
    socket.on('close', forget)
  })
  let closed: Promise<void> | undefined
  return {
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, host, () => {
          server.off('error', reject)
          const address = server.address()
          if (address === null || typeof address === 'string') return reject(new Error('not a TCP address'))
          const shown = address.address.includes(':') ? `[${address.address}]` : address.address
          resolve({
            type,
            host: address.address,
            port: address.port,
            url: `${type}://${shown}:${address.port}${path}`,
          })
        })
      }),
    close: () => {
      closed ??= new Promise((resolve) => {
        if (!server.listening) return resolve()
        server.close(() => resolve())
      })
      return closed
    },
    terminate: () => {
      for (const socket of sockets) socket.destroy()
    },
  }
}

function tlsOptions(options: MqttsListenerOptions | WssListenerOptions): TlsOptions {
  const required = options.requireCertificate === true
  return {
    cert: options.cert,
    key: options.key,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    requestCert: required || identityField(options) !== undefined,
    rejectUnauthorized: required,
  }
}

/** A plain HTTP request to a WebSocket listener: only the upgrade is served. */
function upgradeOnly(_request: IncomingMessage, response: ServerResponse): void {
  response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' })
  response.end('MQTT over WebSocket: connect with a WebSocket client (subprotocol "mqtt")\n')
}
