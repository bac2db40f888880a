import {
  type CallbackHandlers,
  type Client,
  type Done,
  Middleware,
  type Next,
  type Packet,
} from '@mqtt-stack/core'
import { certificateIdentity } from './listeners/identity.js'

/**
 * A verified client certificate's identity (its CN, or a subject alternative name: the listener's
 * `identityAsUsername`) as the username, as mosquitto's `use_identity_as_username`: the CONNECT's username
 * becomes that identity (so ACL rules with `%u` and `users` see it), and `authenticateConnection`
 * accepts it without a password. Connections without such a certificate pass on to the next provider.
 * `use()` it after Connection and before Authentication and TopicAcl.
 */
export class CertificateUsername extends Middleware {
  override readonly name = 'certificate-username'
  override readonly packetTypes = ['connect'] as const

  override handle(client: Client, packet: Packet, next: Next, _done: Done): void {
    const identity = certificateIdentity(client.stream)
    if (identity !== undefined && packet.cmd === 'connect') {
      packet.username = identity
      delete packet.password
    }
    next()
  }

  override callbacks(): CallbackHandlers {
    return {
      authenticateConnection: (ctx, store, next, done) => {
        const identity = certificateIdentity(ctx.client.stream)
        if (identity === undefined) return next()
        store.authenticated = true
        store.user = identity
        done()
      },
    }
  }
}
