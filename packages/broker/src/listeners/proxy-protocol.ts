import type { Socket } from 'node:net'

/**
 * The PROXY protocol (HAProxy, versions 1 and 2): a load balancer in front of the broker sends one header
 * before the client's bytes, naming the client's address. With `proxyProtocol: true` a listener reads it and
 * hands the stream on with `remoteAddress`/`remotePort` of the client, so logs and ACLs see the real one.
 */

/** The 12 bytes every version 2 header starts with. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
/** A version 1 header is at most 107 bytes, CRLF included. */
const V1_MAX = 107
/** Version 2: 16 fixed bytes, then at most 216 of addresses in practice; more is refused. */
const V2_MAX_ADDRESSES = 1024
/** Milliseconds a connection may take to send its header. */
export const PROXY_HEADER_TIMEOUT = 5000

export interface ProxySource {
  address: string
  port: number
}

/** A whole header: its length, and the client it names (none for LOCAL, UNKNOWN or another family). */
export interface ProxyHeader {
  length: number
  source: ProxySource | undefined
}

/**
 * Reads a header from the first bytes of a connection: the header, `undefined` while more bytes are needed,
 * or an error message when these bytes are not a PROXY header.
 */
export function parseProxyHeader(bytes: Buffer): ProxyHeader | undefined | string {
  if (startsWith(bytes, V2_SIGNATURE)) return parseV2(bytes)
  if (startsWith(bytes, Buffer.from('PROXY '))) return parseV1(bytes)
  // Too short to tell yet: a prefix of either signature.
  if (
    V2_SIGNATURE.subarray(0, bytes.length).equals(bytes) ||
    Buffer.from('PROXY ').subarray(0, bytes.length).equals(bytes)
  )
    return undefined
  return 'the connection did not start with a PROXY protocol header'
}

function startsWith(bytes: Buffer, prefix: Buffer): boolean {
  return bytes.length >= prefix.length && bytes.subarray(0, prefix.length).equals(prefix)
}

function parseV1(bytes: Buffer): ProxyHeader | undefined | string {
  const end = bytes.indexOf('\r\n')
  if (end === -1) return bytes.length >= V1_MAX ? 'a PROXY v1 header longer than 107 bytes' : undefined
  if (end + 2 > V1_MAX) return 'a PROXY v1 header longer than 107 bytes'
  const [, family, source, , sourcePort] = bytes.toString('latin1', 0, end).split(' ')
  const length = end + 2
  if (family === 'UNKNOWN') return { length, source: undefined }
  const port = Number(sourcePort)
  if (
    (family !== 'TCP4' && family !== 'TCP6') ||
    !source ||
    !Number.isInteger(port) ||
    port < 0 ||
    port > 65535
  )
    return 'a malformed PROXY v1 header'
  return { length, source: { address: source, port } }
}

function parseV2(bytes: Buffer): ProxyHeader | undefined | string {
  if (bytes.length < 16) return undefined
  const versionCommand = bytes[12]!
  if (versionCommand >> 4 !== 2) return 'a PROXY v2 header of an unknown version'
  const size = bytes.readUInt16BE(14)
  if (size > V2_MAX_ADDRESSES) return 'a PROXY v2 header too long'
  const length = 16 + size
  if (bytes.length < length) return undefined
  const command = versionCommand & 0x0f
  // LOCAL (0): the proxy's own connection (a health check): the socket's own address stands.
  if (command === 0) return { length, source: undefined }
  if (command !== 1) return 'a PROXY v2 header with an unknown command'
  const family = bytes[13]! >> 4
  if (family === 1 && size >= 12) {
    const address = [...bytes.subarray(16, 20)].join('.')
    return { length, source: { address, port: bytes.readUInt16BE(24) } }
  }
  if (family === 2 && size >= 36) {
    const groups: string[] = []
    for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(16 + i).toString(16))
    return { length, source: { address: groups.join(':'), port: bytes.readUInt16BE(48) } }
  }
  // UNSPEC or a Unix socket: nothing to say about the client.
  return { length, source: undefined }
}

/**
 * Reads the header of `socket`, then calls `ready` with the socket, its client's address in place and every
 * byte after the header still to be read (unshifted: `ready` must read the socket as a stream, as the Stack
 * does; a TLS or HTTP server taking over the socket's handle would not see them). A socket without a valid
 * header within the timeout is destroyed.
 */
export function readProxyHeader(socket: Socket, ready: (socket: Socket) => void): void {
  let received: Buffer = Buffer.alloc(0)
  const timer = setTimeout(() => socket.destroy(), PROXY_HEADER_TIMEOUT)
  timer.unref()
  const onData = (chunk: Buffer): void => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk])
    const header = parseProxyHeader(received)
    if (header === undefined) return
    socket.off('data', onData)
    clearTimeout(timer)
    if (typeof header === 'string') {
      // Not a client of the proxy: closed, as a server closes a connection that breaks its protocol.
      socket.destroy()
      return
    }
    socket.off('error', ignore)
    if (header.source !== undefined) {
      Object.defineProperty(socket, 'remoteAddress', { value: header.source.address, configurable: true })
      Object.defineProperty(socket, 'remotePort', { value: header.source.port, configurable: true })
    }
    const rest = received.subarray(header.length)
    if (rest.length > 0) socket.unshift(rest)
    ready(socket)
  }
  // Until the header is read, nothing else listens: a reset must not become an uncaught 'error'.
  socket.on('error', ignore)
  socket.on('data', onData)
  socket.once('close', () => clearTimeout(timer))
}

function ignore(): void {}
