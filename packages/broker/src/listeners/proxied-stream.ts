import type { Socket } from 'node:net'
import { Duplex } from 'node:stream'

/**
 * A TCP socket whose PROXY header was read, as a stream for a TLS or HTTP server to take over. Those servers
 * read a `net.Socket` straight from its handle, past the bytes that came after the header (unshifted back
 * onto the socket); through this stream they read them first. It carries the client's address from the
 * header, and the socket methods an HTTP server and `ws` call.
 */
export class ProxiedStream extends Duplex {
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
  readonly #socket: Socket

  constructor(socket: Socket) {
    super({ allowHalfOpen: false })
    this.#socket = socket
    this.remoteAddress = socket.remoteAddress
    this.remotePort = socket.remotePort
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause()
    })
    socket.on('end', () => this.push(null))
    socket.on('error', (err) => this.destroy(err))
    socket.on('close', () => this.destroy())
    socket.on('timeout', () => this.emit('timeout'))
  }

  setNoDelay(noDelay?: boolean): this {
    this.#socket.setNoDelay(noDelay)
    return this
  }

  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.#socket.setKeepAlive(enable, initialDelay)
    return this
  }

  setTimeout(timeout: number, callback?: () => void): this {
    this.#socket.setTimeout(timeout)
    if (callback) this.once('timeout', callback)
    return this
  }

  override _read(): void {
    this.#socket.resume()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#socket.write(chunk, callback)
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#socket.end(callback)
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#socket.destroy()
    callback(err)
  }
}
