import type { TLSSocket } from 'node:tls'
import type { CertificateIdentityField } from './options.js'

/** The verified client-certificate identity of each connection that has one (TLS socket, or our WebSocket stream). */
const identities = new WeakMap<object, string>()

/** The identity (CN or SAN) of the client certificate `stream` presented, when the CA verified it. */
export function certificateIdentity(stream: object): string | undefined {
  return identities.get(stream)
}

/** Records the identity of `socket`'s client certificate for `stream`, if the certificate was verified. */
export function recordIdentity(
  socket: TLSSocket,
  field: CertificateIdentityField,
  stream: object = socket,
): void {
  if (!socket.authorized) return
  const certificate = socket.getPeerCertificate()
  const identity =
    field === 'cn' ? certificate.subject?.CN : firstAlternativeName(certificate.subjectaltname ?? '')
  // A certificate may carry several CNs (an array): none of them is then "the" identity.
  if (typeof identity === 'string' && identity !== '') identities.set(stream, identity)
}

/** The kinds of subject alternative name that name a client; IP addresses and directory names do not. */
const NAME_KINDS = new Set(['DNS', 'email', 'URI'])

/**
 * The first DNS name, email address or URI of a certificate's `subjectaltname` as Node writes it:
 * `DNS:device-7.example, IP Address:10.0.0.7, URI:spiffe://fleet/device-7`, a value with a comma or a
 * quote in JSON quotes.
 */
export function firstAlternativeName(subjectaltname: string): string | undefined {
  const entry = /(?:^|, )([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)/g
  for (const [, kind, value] of subjectaltname.matchAll(entry)) {
    if (!NAME_KINDS.has(kind!)) continue
    return value!.startsWith('"') ? (JSON.parse(value!) as string) : value
  }
  return undefined
}
