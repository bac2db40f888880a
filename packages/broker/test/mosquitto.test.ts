import { execFile, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { describe, expect, it, onTestFinished } from 'vitest'
import { hashPassword } from '../src/index.js'
import { hasOpenssl, makeCertificates } from './certs.js'
import { runCli, tempDir } from './cli-support.js'

const run = promisify(execFile)

/** mosquitto_pub to the broker on `port`; rejects with its stderr when it fails. */
function pub(port: number, args: string[]) {
  return run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), ...args])
}

/** mosquitto-clients come from scripts/install-test-deps.sh; under CI a missing one fails, elsewhere skips. */
function hasMosquittoClients(): boolean {
  try {
    execFileSync('mosquitto_pub', ['--help'], { stdio: 'ignore' })
  } catch (err) {
    // mosquitto_pub --help exits 1 after printing its usage: only a missing program is ENOENT.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return true
    if (process.env.CI === 'true')
      throw new Error('mosquitto_pub is missing: run scripts/install-test-deps.sh')
    return false
  }
  return true
}

/** mosquitto_sub for one message; resolves once its SUBACK came, then `received` gives the payload. */
async function subscribe(port: number, args: string[]) {
  const child = spawn('stdbuf', [
    '-oL',
    'mosquitto_sub',
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-d',
    '-C',
    '1',
    '-W',
    '10',
    ...args,
  ])
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  const lines: string[] = []
  const exited = once(child, 'exit')
  const reader = createInterface({ input: child.stdout })
  await new Promise<void>((resolve, reject) => {
    reader.on('line', (line) => {
      lines.push(line)
      if (/^Subscribed \(mid: \d+\)/.test(line)) resolve()
    })
    exited.then(() => reject(new Error(`mosquitto_sub exited: ${lines.join('\n')}`)))
  })
  return {
    received: async () => {
      const [code] = await exited
      expect(code).toBe(0)
      return lines.filter((line) => !/^Client |^Subscribed |^\s*$/.test(line))
    },
  }
}

describe.runIf(hasMosquittoClients())(
  'mosquitto_pub and mosquitto_sub against the mqtt-stack command',
  { timeout: 60_000 },
  () => {
    it('open mode: accepts mosquitto_pub -u foo -P bar (3.1.1 and 5.0)', async () => {
      const cli = runCli(['--port', '0'])
      const port = Number(new URL((await cli.listening())[0]!).port)
      for (const version of ['mqttv311', 'mqttv5']) {
        await pub(port, ['-V', version, '-u', 'foo', '-P', 'bar', '-t', 't', '-m', 'x'])
      }
    })

    it('with a password file and an ACL: QoS 0, 1 and 2, 3.1.1 and 5.0; a wrong password is refused', async () => {
      const dir = tempDir({
        passwd: `alice:${await hashPassword('secret')}\n`,
        acl: 'user alice\ntopic readwrite alice/#\n',
        'broker.yaml': 'listeners:\n  - type: mqtt\n    port: 0\npasswordFile: passwd\naclFile: acl\n',
      })
      const cli = runCli(['--config', 'broker.yaml'], { cwd: dir })
      const port = Number(new URL((await cli.listening())[0]!).port)
      const credentials = ['-u', 'alice', '-P', 'secret']
      for (const version of ['mqttv311', 'mqttv5']) {
        for (const qos of ['0', '1', '2']) {
          const topic = `alice/${version}/${qos}`
          const sub = await subscribe(port, ['-V', version, '-q', qos, '-t', topic, ...credentials])
          await pub(port, ['-V', version, '-q', qos, '-t', topic, '-m', `hi ${qos}`, ...credentials])
          expect(await sub.received()).toEqual([`hi ${qos}`])
        }
      }
      await expect(
        pub(port, ['-u', 'alice', '-P', 'wrong', '-t', 'alice/x', '-m', 'x']),
      ).rejects.toMatchObject({ stderr: expect.stringMatching(/bad user name or password/i) })
    })

    it.runIf(hasOpenssl())(
      'TLS and mTLS: --cafile, --cert and --key against an mqtts listener from a config file; the CN is the user',
      async () => {
        const certs = makeCertificates()
        onTestFinished(() => certs.remove())
        const { files } = certs
        const dir = tempDir({
          acl: 'pattern readwrite devices/%u/#\n',
          'broker.yaml': [
            'listeners:',
            '  - { type: mqtts, host: 127.0.0.1, port: 0, requireCertificate: true, identityAsUsername: true,',
            `      cert: ${join(certs.dir, files.serverCert)}, key: ${join(certs.dir, files.serverKey)},`,
            `      ca: ${join(certs.dir, files.ca)} }`,
            'allowAnonymous: false',
            'aclFile: acl',
            '',
          ].join('\n'),
        })
        const cli = runCli(['--config', 'broker.yaml'], { cwd: dir })
        const port = Number(new URL((await cli.listening())[0]!).port)
        const ca = ['--cafile', join(certs.dir, files.ca)]
        const client = [
          ...ca,
          '--cert',
          join(certs.dir, files.clientCert),
          '--key',
          join(certs.dir, files.clientKey),
        ]
        for (const version of ['mqttv311', 'mqttv5']) {
          const topic = `devices/device1/${version}`
          const sub = await subscribe(port, ['-V', version, '-q', '1', '-t', topic, ...client])
          await pub(port, ['-V', version, '-q', '1', '-t', topic, '-m', 'over tls', ...client])
          expect(await sub.received()).toEqual(['over tls'])
        }
        // Without a client certificate the TLS handshake fails (requireCertificate): no CONNACK, no refusal.
        await expect(pub(port, [...ca, '-t', 'devices/device1/x', '-m', 'x'])).rejects.toMatchObject({
          stderr: expect.stringMatching(/connection was lost|handshake|certificate/i),
        })
      },
    )
  },
)
