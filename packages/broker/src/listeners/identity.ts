import type { TLSSocket } from 'node:tls'

/** The verified client-certificate CN of each connection that has one (TLS socket, or our WebSocket stream). */
const identities = new WeakMap<object, string>()

/** The CN of the client certificate `stream` presented, when the CA verified it. */
export function certificateIdentity(stream: object): string | undefined {
  return identities.get(stream)
}

/** Records the CN of `socket`'s client certificate for `stream`, if the certificate was verified. */
export function recordIdentity(socket: TLSSocket, stream: object = socket): void {
  if (!socket.authorized) return
  const cn = socket.getPeerCertificate().subject?.CN
  // A certificate may carry several CNs (an array): none of them is then "the" identity.
  if (typeof cn === 'string' && cn !== '') identities.set(stream, cn)
}
