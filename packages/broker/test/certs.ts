import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestCertificates {
  dir: string
  /**
   * File names in `dir`: ca.crt, server.crt/key (CN localhost, SAN 127.0.0.1), client.crt/key (CN device1;
   * SAN IP 10.0.0.7, DNS device1.fleet.example, URI spiffe://fleet/device1).
   */
  files: Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string>
  pem: Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string>
  remove(): void
}

/** Whether openssl can run here (scripts/install-test-deps.sh installs it; CI must have it). */
export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    if (process.env.CI === 'true') throw new Error('openssl is missing: run scripts/install-test-deps.sh')
    return false
  }
}

/** A throwaway CA with a server and a client certificate it signed, made by openssl in a temporary dir. */
export function makeCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'mqtt-stack-certs-'))
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  const key = (name: string) =>
    run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name)
  key('ca.key')
  run(
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-subj',
    '/CN=mqtt-stack test CA',
    '-days',
    '2',
    '-out',
    'ca.crt',
  )
  for (const [name, cn, ext] of [
    ['server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    [
      'client',
      'device1',
      'extendedKeyUsage=clientAuth\nsubjectAltName=IP:10.0.0.7,DNS:device1.fleet.example,URI:spiffe://fleet/device1',
    ],
  ] as const) {
    key(`${name}.key`)
    run('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`)
    writeFileSync(join(dir, `${name}.ext`), `${ext}\n`)
    run(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    )
  }
  const files = {
    ca: 'ca.crt',
    serverCert: 'server.crt',
    serverKey: 'server.key',
    clientCert: 'client.crt',
    clientKey: 'client.key',
  }
  const pem = Object.fromEntries(
    Object.entries(files).map(([k, file]) => [k, readFileSync(join(dir, file), 'utf8')]),
  ) as TestCertificates['pem']
  return { dir, files, pem, remove: () => rmSync(dir, { recursive: true, force: true }) }
}
