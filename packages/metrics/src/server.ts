import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { MqttStackError } from '@mqtt-stack/core'

/** Error codes of `@mqtt-stack/metrics`, besides core's `MQS_ERR_INVALID_OPTION`. */
export const MetricsErrorCode = {
  /** The HTTP endpoint could not listen (the port is taken, the host is not an address of this machine). */
  LISTEN: 'MQS_ERR_METRICS_LISTEN',
  /** Rendering the metrics failed (a scrape got HTTP 500). */
  SCRAPE: 'MQS_ERR_METRICS_SCRAPE',
} as const

export type MetricsErrorCode = (typeof MetricsErrorCode)[keyof typeof MetricsErrorCode]

/** What the HTTP endpoint serves. */
export interface Exposition {
  readonly path: string
  /** The metrics in the Prometheus text format, and its content type. */
  render(): Promise<{ contentType: string; body: string }>
  /** Whether `/healthz` says 200: the stack is up. */
  healthy(): boolean
  /** A scrape that failed, for the stack's error channel. */
  failed(err: MqttStackError): void
}

/** The request listener of the endpoint: `GET`/`HEAD` of `path` and of `/healthz`, 404 or 405 otherwise. */
export function requestListener(exposition: Exposition): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]
    if (path !== exposition.path && path !== '/healthz') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end()
      return
    }
    if (path === '/healthz') {
      const ok = exposition.healthy()
      res.writeHead(ok ? 200 : 503, {
        'content-type': 'text/plain; charset=utf-8',
        'cache-control': 'no-store',
      })
      res.end(req.method === 'HEAD' ? undefined : ok ? 'ok\n' : 'not serving\n')
      return
    }
    exposition.render().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' })
        res.end(req.method === 'HEAD' ? undefined : body)
      },
      (cause: unknown) => {
        exposition.failed(new MqttStackError(MetricsErrorCode.SCRAPE, 'metrics: a scrape failed', { cause }))
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n')
      },
    )
  }
}

/** Opens the endpoint; rejects with `MQS_ERR_METRICS_LISTEN` when it cannot listen. */
export async function listenHttp(
  exposition: Exposition,
  port: number,
  host: string | undefined,
): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer(requestListener(exposition))
  // Idle keep-alive connections of a scraper must not hold close() back.
  server.keepAliveTimeout = 5_000
  try {
    server.listen(port, host)
    await once(server, 'listening')
  } catch (cause) {
    server.close()
    throw new MqttStackError(
      MetricsErrorCode.LISTEN,
      `metrics: cannot listen on ${host ?? '*'}:${port}: ${(cause as Error).message}`,
      { cause },
    )
  }
  return { server, address: server.address() as AddressInfo }
}

/** Stops accepting and ends open connections (a scraper's keep-alive ones too). */
export async function closeHttp(server: Server): Promise<void> {
  const closed = once(server, 'close')
  server.close()
  server.closeAllConnections()
  await closed
}
