/** PEM certificate material of a TLS listener (contents, not file names: the CLI reads the files). */
export interface TlsListenerOptions {
  /** The server certificate chain. */
  cert: string | Buffer
  /** The server's private key. */
  key: string | Buffer
  /** CA certificates that client certificates are checked against. */
  ca?: string | Buffer
  /** Ask every client for a certificate signed by `ca` and refuse the handshake without one. */
  requireCertificate?: boolean
  /**
   * Ask clients for a certificate (needs `ca`); a verified one names the client's username, accepted without
   * a password (mosquitto's `use_identity_as_username`): `true` or `'cn'` takes the subject's CN, `'san'` the
   * first DNS name, email address or URI of its subject alternative names. Without `requireCertificate`,
   * clients without a certificate still connect with a username and password.
   */
  identityAsUsername?: boolean | CertificateIdentityField
}

/** Which part of a client certificate is its identity. */
export type CertificateIdentityField = 'cn' | 'san'

interface Address {
  /**
   * The listener's name in metrics (`listener` label), logs and per-listener limits. Default `type:port`
   * with the configured port, e.g. `mqtt:1883`.
   */
  name?: string
  /** Default 127.0.0.1 (give 0.0.0.0 or :: to accept connections from other machines). */
  host?: string
  /** Default 1883 (mqtt), 8883 (mqtts), 8080 (ws), 8443 (wss); 0 picks a free port. */
  port?: number
  /**
   * Every connection starts with a PROXY protocol header (v1 or v2) from a load balancer, before any TLS or
   * HTTP: logs and ACLs see the client's address from it. A connection without one is closed.
   */
  proxyProtocol?: boolean
}

/** MQTT over TCP. */
export interface MqttListenerOptions extends Address {
  type: 'mqtt'
}

/** MQTT over TLS. */
export interface MqttsListenerOptions extends Address, TlsListenerOptions {
  type: 'mqtts'
}

/** MQTT over WebSocket (subprotocol `mqtt`, binary frames). */
export interface WsListenerOptions extends Address {
  type: 'ws'
  /** Accept the WebSocket upgrade on this path only (for example `/mqtt`). Default: any path. */
  path?: string
}

/** MQTT over WebSocket over TLS. */
export interface WssListenerOptions extends Address, TlsListenerOptions {
  type: 'wss'
  /** Accept the WebSocket upgrade on this path only. Default: any path. */
  path?: string
}

export type ListenerOptions =
  | MqttListenerOptions
  | MqttsListenerOptions
  | WsListenerOptions
  | WssListenerOptions

export type ListenerType = ListenerOptions['type']

export const DEFAULT_PORTS: Readonly<Record<ListenerType, number>> = Object.freeze({
  mqtt: 1883,
  mqtts: 8883,
  ws: 8080,
  wss: 8443,
})

export const DEFAULT_HOST = '127.0.0.1'

/** Where a listener accepts connections, once it listens. */
export interface ListenerAddress {
  type: ListenerType
  host: string
  /** The port actually bound (port 0 picks a free one). */
  port: number
  /** `mqtt://127.0.0.1:1883`, `ws://[::1]:8080/mqtt`... */
  url: string
}
