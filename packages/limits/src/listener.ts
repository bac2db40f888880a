import type { Duplex } from 'node:stream'

const LISTENERS = new WeakMap<object, string>()

/**
 * Names the listener a stream was accepted on, for `maxConnectionsPerListener`: call it before handing the
 * stream to `stack.handler()`. An untagged TCP or TLS socket counts under its local port (`port 1883`),
 * anything else under `default`.
 */
export function tagListener(stream: Duplex, name: string): void {
  LISTENERS.set(stream, name)
}

/** The listener `stream` counts under. */
export function listenerOf(stream: Duplex): string {
  const tagged = LISTENERS.get(stream)
  if (tagged !== undefined) return tagged
  const port = (stream as { localPort?: number }).localPort
  return port === undefined ? 'default' : `port ${port}`
}
