import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { firstAlternativeName } from '../src/listeners/identity.js'
import { hasOpenssl, makeCertificates, type TestCertificates } from './certs.js'
import { connectClient, roundTrip, startBroker } from './support.js'

const silent = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} }

describe.runIf(hasOpenssl())('TLS listeners', () => {
  let certs: TestCertificates
  beforeAll(() => {
    certs = makeCertificates()
  })
  afterAll(() => certs.remove())

  it('mqtts: MQTT.js clients that trust the CA exchange messages', async () => {
    const { pem } = certs
    const { url } = await startBroker({
      listeners: [{ type: 'mqtts', port: 0, cert: pem.serverCert, key: pem.serverKey }],
    })
    expect(url).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/)
    const a = await connectClient(url, { ca: pem.ca })
    const b = await connectClient(url, { ca: pem.ca, protocolVersion: 5 })
    expect(await roundTrip(a, b)).toBe('hello')
  })

  it('mqtts: a client that does not trust the certificate fails the handshake', async () => {
    const { pem } = certs
    const { url } = await startBroker({
      listeners: [{ type: 'mqtts', port: 0, cert: pem.serverCert, key: pem.serverKey }],
    })
    await expect(connectClient(url)).rejects.toThrow(/certificate/)
  })

  it('mqtts with requireCertificate: a client certificate signed by ca is needed', async () => {
    const { pem } = certs
    const { url } = await startBroker({
      listeners: [
        {
          type: 'mqtts',
          port: 0,
          cert: pem.serverCert,
          key: pem.serverKey,
          ca: pem.ca,
          requireCertificate: true,
        },
      ],
    })
    const client = await connectClient(url, { ca: pem.ca, cert: pem.clientCert, key: pem.clientKey })
    expect(client.connected).toBe(true)
    await expect(connectClient(url, { ca: pem.ca })).rejects.toThrow(/certificate|socket hang up|ECONNRESET/i)
  })

  it('wss: MQTT.js over WebSocket over TLS', async () => {
    const { pem } = certs
    const { url } = await startBroker({
      listeners: [{ type: 'wss', port: 0, path: '/mqtt', cert: pem.serverCert, key: pem.serverKey }],
    })
    expect(url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/mqtt$/)
    const a = await connectClient(url, { ca: pem.ca })
    const b = await connectClient(url, { ca: pem.ca, protocolVersion: 5 })
    expect(await roundTrip(a, b)).toBe('hello')
  })

  describe('identityAsUsername', () => {
    it('reads subject alternative names as Node writes them, quoted values included', () => {
      expect(firstAlternativeName('IP Address:10.0.0.7, DNS:a.example, URI:spiffe://x')).toBe('a.example')
      expect(firstAlternativeName('email:ops@example.com')).toBe('ops@example.com')
      expect(firstAlternativeName('DirName:"CN=x, O=y", URI:"urn:a,b"')).toBe('urn:a,b')
      expect(firstAlternativeName('IP Address:10.0.0.7')).toBeUndefined()
      expect(firstAlternativeName('')).toBeUndefined()
    })

    it("refuses a value other than true, false, 'cn' or 'san', and one without ca", async () => {
      const { pem } = certs
      const tls = { type: 'mqtts' as const, port: 0, cert: pem.serverCert, key: pem.serverKey }
      await expect(
        startBroker({ listeners: [{ ...tls, ca: pem.ca, identityAsUsername: 'dn' as never }] }),
      ).rejects.toThrow(/listeners\[0\]\.identityAsUsername must be true, false, 'cn' or 'san'/)
      await expect(startBroker({ listeners: [{ ...tls, identityAsUsername: 'san' }] })).rejects.toThrow(
        /listeners\[0\]\.identityAsUsername needs ca/,
      )
    })

    const acl = [{ topic: 'devices/%u/#', access: 'readwrite' as const }]
    const identified = <T extends 'mqtts' | 'wss'>(type: T, identityAsUsername: true | 'san' = true) => {
      const { pem } = certs
      return { type, port: 0, cert: pem.serverCert, key: pem.serverKey, ca: pem.ca, identityAsUsername }
    }

    it('the CN of a verified client certificate is the username: no password needed, %u rules see it', async () => {
      const { pem } = certs
      const lines: string[] = []
      const { url } = await startBroker({
        users: { alice: 'secret' },
        acl,
        logger: { ...silent, info: (fields, message) => lines.push(`${message} ${fields.username}`) },
        listeners: [identified('mqtts')],
      })
      const tls = { ca: pem.ca, cert: pem.clientCert, key: pem.clientKey }
      // A username and password sent with the certificate are replaced by the CN.
      const device = await connectClient(url, { ...tls, username: 'alice', password: 'wrong' })
      const other = await connectClient(url, { ...tls, protocolVersion: 5 })
      expect(await roundTrip(other, device, 'devices/device1/temp')).toBe('hello')
      expect(lines).toContain('client connected device1')
      expect(lines).not.toContain('client connected alice')
    })

    it("'san': the first DNS name, email or URI of the certificate's alternative names is the username", async () => {
      const { pem } = certs
      const lines: string[] = []
      const { url } = await startBroker({
        allowAnonymous: false,
        acl,
        logger: { ...silent, info: (fields, message) => lines.push(`${message} ${fields.username}`) },
        listeners: [identified('mqtts', 'san')],
      })
      const tls = { ca: pem.ca, cert: pem.clientCert, key: pem.clientKey }
      const a = await connectClient(url, tls)
      const b = await connectClient(url, { ...tls, protocolVersion: 5 })
      expect(await roundTrip(a, b, 'devices/device1.fleet.example/temp')).toBe('hello')
      // The IP address before it names no client; the CN is not used.
      expect(lines).toContain('client connected device1.fleet.example')
      expect(lines.filter((line) => line.startsWith('client connected'))).toHaveLength(2)
    })

    it('without requireCertificate, a client without a certificate still connects with a password', async () => {
      const { pem } = certs
      const { url } = await startBroker({
        users: { alice: 'secret' },
        listeners: [identified('mqtts')],
      })
      expect(
        (await connectClient(url, { ca: pem.ca, username: 'alice', password: 'secret' })).connected,
      ).toBe(true)
      await expect(connectClient(url, { ca: pem.ca })).rejects.toThrow(/not authori[sz]ed/i)
    })

    it('wss: the same over WebSocket', async () => {
      const { pem } = certs
      const { url } = await startBroker({
        allowAnonymous: false,
        listeners: [identified('wss')],
      })
      const client = await connectClient(url, {
        ca: pem.ca,
        cert: pem.clientCert,
        key: pem.clientKey,
        wsOptions: { ca: pem.ca, cert: pem.clientCert, key: pem.clientKey },
      })
      expect(client.connected).toBe(true)
    })
  })
})
