import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'

/**
 * A TCP proxy on a free loopback port in front of a server (a redis-server), for fault tests: `cut()`
 * drops every connection through it and refuses new ones until `restore()`, as a network partition or a
 * pulled cable does to the broker's Redis connection while Redis itself keeps running.
 */
export class TcpProxy {
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  #cut = false

  private constructor(
    server: Server,
    readonly port: number,
  ) {
    this.#server = server
  }

  /** Listens on a free loopback port and forwards each connection to `targetPort` on 127.0.0.1. */
  static async start(targetPort: number): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined
    const server = createServer((inbound) => proxy!.#accept(inbound, targetPort))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    proxy = new TcpProxy(server, (server.address() as { port: number }).port)
    return proxy
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** Whether connections are being dropped now. */
  get isCut(): boolean {
    return this.#cut
  }

  /** Drops every open connection (a reset, as a broken network shows it) and refuses new ones. */
  cut(): void {
    this.#cut = true
    for (const socket of this.#sockets) socket.resetAndDestroy()
    this.#sockets.clear()
  }

  /** Accepts and forwards connections again. */
  restore(): void {
    this.#cut = false
  }

  async close(): Promise<void> {
    this.cut()
    this.#server.close()
    await once(this.#server, 'close')
  }

  #accept(inbound: Socket, targetPort: number): void {
    if (this.#cut) {
      inbound.resetAndDestroy()
      return
    }
    const outbound = connect(targetPort, '127.0.0.1')
    for (const [socket, other] of [
      [inbound, outbound],
      [outbound, inbound],
    ] as const) {
      this.#sockets.add(socket)
      socket.on('error', () => other.destroy())
      socket.on('close', () => {
        this.#sockets.delete(socket)
        other.destroy()
      })
      socket.pipe(other)
    }
  }
}
