import { Duplex } from 'node:stream'
import { ErrorCode, MqttStackError } from '@mqtt-stack/core'
import type { WebSocket } from 'ws'

/**
 * One WebSocket connection as the byte stream a Client reads: binary frames in, one binary frame out per
 * batch of writes (a corked batch becomes a single frame). MQTT packets may span frames and a frame may hold
 * several packets [MQTT-6.0.0-2], so the bytes are passed on as they come.
 */
export class WebSocketStream extends Duplex {
  /** The client's address, as a TCP socket has it (for logs). */
  readonly remoteAddress: string | undefined
  readonly #socket: WebSocket

  constructor(socket: WebSocket, remoteAddress: string | undefined) {
    super()
    this.#socket = socket
    this.remoteAddress = remoteAddress
    socket.on('message', (data, isBinary) => {
      // [MQTT-6.0.0-1] MQTT travels in binary frames: any other data frame closes the connection.
      if (!isBinary) {
        this.destroy(
          new MqttStackError(ErrorCode.PROTOCOL_ERROR, 'a WebSocket text frame: MQTT needs binary'),
        )
        return
      }
      if (!this.push(data as Buffer)) socket.pause()
    })
    socket.on('close', () => {
      this.push(null)
      // The peer cannot read any more: what is still buffered for it has nowhere to go.
      if (!this.writableFinished) this.destroy()
    })
    socket.on('error', (err) => this.destroy(err))
  }

  override _read(): void {
    this.#socket.resume()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#socket.send(chunk, { binary: true }, callback)
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (err?: Error | null) => void,
  ): void {
    const buffers = chunks.map(({ chunk }) => chunk)
    this.#socket.send(buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers), { binary: true }, callback)
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#socket.close(1000)
    callback()
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    // A text frame or a stream error ends at once; the peer of a clean close gets its close frame.
    if (err) this.#socket.terminate()
    else if (this.#socket.readyState === this.#socket.OPEN) this.#socket.close(1000)
    callback(err)
  }
}
