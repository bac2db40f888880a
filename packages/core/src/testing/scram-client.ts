import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'

/**
 * A SCRAM-SHA-256 client written from RFC 5802 and RFC 7677, independent of any provider: for testing MQTT 5.0
 * enhanced authentication (`authenticationMethod` SCRAM-SHA-256) from the client side.
 */
export function scramClient(
  username: string,
  password: string,
  clientNonce = randomBytes(12).toString('base64'),
) {
  const bare = `n=${username.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${clientNonce}`
  return {
    /** client-first-message, for the CONNECT's (or AUTH 0x19's) Authentication Data. */
    first: Buffer.from(`n,,${bare}`, 'utf8'),
    /** client-final-message for this server-first-message, and the server-final-message to expect. */
    final(serverFirst: string): { message: Buffer; expectedServerFinal: string } {
      const fields = new Map(serverFirst.split(',').map((f) => [f.slice(0, 1), f.slice(2)] as const))
      const nonce = fields.get('r')!
      if (!nonce.startsWith(clientNonce)) throw new Error('the server nonce does not extend ours')
      const salted = pbkdf2Sync(
        password,
        Buffer.from(fields.get('s')!, 'base64'),
        Number(fields.get('i')),
        32,
        'sha256',
      )
      const clientKey = hmac(salted, 'Client Key')
      const storedKey = createHash('sha256').update(clientKey).digest()
      const withoutProof = `c=biws,r=${nonce}`
      const authMessage = `${bare},${serverFirst},${withoutProof}`
      const signature = hmac(storedKey, authMessage)
      const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]!))
      const serverSignature = hmac(hmac(salted, 'Server Key'), authMessage)
      return {
        message: Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8'),
        expectedServerFinal: `v=${serverSignature.toString('base64')}`,
      }
    },
  }
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest()
}
