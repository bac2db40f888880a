import type { Client } from '@mqtt-stack/core'

/**
 * The listener a client counts under for `maxConnectionsPerListener`: the name core gives it
 * (`stack.handler({ listener })`, `client.listener`); else, for a TCP or TLS socket, its local port
 * (`port 1883`); anything else `default`.
 */
export function listenerOf(client: Client): string {
  if (client.listener !== undefined) return client.listener
  const port = (client.stream as { localPort?: number }).localPort
  return port === undefined ? 'default' : `port ${port}`
}
