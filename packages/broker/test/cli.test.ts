import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashPassword } from '../src/index.js'
import { hasOpenssl, makeCertificates, type TestCertificates } from './certs.js'
import { runCli, tempDir } from './cli-support.js'
import { connectClient, roundTrip } from './support.js'

// Each test starts a Node process with tsx: seconds on a busy machine.
describe('the mqtt-stack command', { timeout: 30_000 }, () => {
  it('--help prints the usage and exits 0', async () => {
    const cli = runCli(['--help'])
    expect(await cli.exit()).toBe(0)
    expect(cli.lines[0]).toBe('Usage: mqtt-stack [options]')
    expect(cli.lines.join('\n')).toContain('--config FILE')
  })

  it('without a config: one mqtt listener from --port/--host; open mode; SIGINT exits 0 with nothing on stderr', async () => {
    const cli = runCli(['--port', '0', '--host', '127.0.0.1'])
    const [url] = await cli.listening()
    expect(url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/)
    const client = await connectClient(url!, { username: 'foo', password: 'bar' })
    expect(client.connected).toBe(true)
    cli.child.kill('SIGINT')
    expect(await cli.exit()).toBe(0)
    expect(cli.stderr()).toBe('')
    expect(cli.lines).toContain('mqtt-stack broker stopping (SIGINT)')
  })

  it('PORT and HOST from the environment', async () => {
    const cli = runCli([], { env: { PORT: '0', HOST: '127.0.0.1' } })
    expect((await cli.listening())[0]).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/)
  })

  it('a bad config exits 2 with the file, line and key', async () => {
    const dir = tempDir({ 'broker.yaml': 'listeners:\n  - type: mqtt\n    prot: 1883\n' })
    const cli = runCli(['--config', 'broker.yaml'], { cwd: dir })
    expect(await cli.exit()).toBe(2)
    expect(cli.stderr()).toBe(
      'mqtt-stack: broker.yaml:3: listeners[0].prot is not an option of a mqtt listener\n',
    )
  })

  it('a bad --port exits 2', async () => {
    const cli = runCli(['--port', 'abc'])
    expect(await cli.exit()).toBe(2)
    expect(cli.stderr()).toContain('invalid port "abc"')
  })

  it('logs connect, refusal and disconnect lines with client id, address, protocol and reason', async () => {
    const dir = tempDir({
      passwd: `alice:${await hashPassword('secret')}\n`,
      'b.yaml': 'passwordFile: passwd\n',
    })
    const cli = runCli(['-c', 'b.yaml', '--port', '0'], { cwd: dir })
    const [url] = await cli.listening()
    const connected = cli.line(/client connected/)
    const client = await connectClient(url!, {
      clientId: 'c1',
      username: 'alice',
      password: 'secret',
      protocolVersion: 5,
    })
    expect(await connected).toMatch(
      /INFO +client connected clientId=c1 address=127\.0\.0\.1 protocol=5\.0 username=alice$/,
    )
    const refused = cli.line(/connection refused/)
    await expect(
      connectClient(url!, { clientId: 'c2', username: 'alice', password: 'wrong' }),
    ).rejects.toThrow()
    expect(await refused).toMatch(
      /WARN +connection refused clientId=c2 address=127\.0\.0\.1 protocol=3\.1\.1 username=alice reason=/,
    )
    const disconnected = cli.line(/client disconnected/)
    await client.endAsync()
    expect(await disconnected).toMatch(
      /INFO +client disconnected clientId=c1 address=127\.0\.0\.1 protocol=5\.0 reason=DISCONNECT$/,
    )
  })

  it('--quiet prints no connection lines; --log-format json prints JSON lines', async () => {
    const quiet = runCli(['--quiet', '--port', '0'])
    const json = runCli(['--log-format', 'json', '--port', '0'])
    const [quietUrl] = await quiet.listening()
    await connectClient(quietUrl!, { clientId: 'q' })
    const [jsonUrl] = await json.listening()
    const line = json.line(/client connected/)
    await connectClient(jsonUrl!, { clientId: 'j' })
    expect(JSON.parse(await line)).toMatchObject({
      level: 'info',
      msg: 'client connected',
      clientId: 'j',
      protocol: '3.1.1',
    })
    // The quiet one said where it listens and that it stops, and nothing of its client.
    quiet.child.kill('SIGTERM')
    expect(await quiet.exit()).toBe(0)
    expect(quiet.lines).toEqual([
      `mqtt-stack broker listening on ${quietUrl}`,
      'mqtt-stack broker stopping (SIGTERM)',
    ])
  })

  describe('passwd', () => {
    it('adds and replaces a user with a salted scrypt hash read from stdin, and -D removes it', async () => {
      const dir = tempDir()
      const file = join(dir, 'passwd')
      expect(await runCli(['passwd', file, 'alice'], { stdin: 'one\n' }).exit()).toBe(0)
      expect(await runCli(['passwd', file, 'bob'], { stdin: 'two\n' }).exit()).toBe(0)
      const first = readFileSync(file, 'utf8')
      expect(first).toMatch(/^alice:\$scrypt\$[^\n]+\nbob:\$scrypt\$[^\n]+\n$/)
      expect(await runCli(['passwd', file, 'alice'], { stdin: 'three\n' }).exit()).toBe(0)
      const second = readFileSync(file, 'utf8')
      expect(second.split('\n')[0]).not.toBe(first.split('\n')[0])
      expect(second.split('\n')[1]).toBe(first.split('\n')[1])
      expect(await runCli(['passwd', '-D', file, 'alice']).exit()).toBe(0)
      expect(readFileSync(file, 'utf8')).toMatch(/^bob:\$scrypt\$[^\n]+\n$/)
    })

    it('exits 2 without a user', async () => {
      const cli = runCli(['passwd', 'file'])
      expect(await cli.exit()).toBe(2)
      expect(cli.stderr()).toContain('usage: mqtt-stack passwd [-D] FILE USER')
    })
  })

  describe('the config of the issue, with users, ACL and TLS', () => {
    let certs: TestCertificates | undefined
    beforeAll(() => {
      if (hasOpenssl()) certs = makeCertificates()
    })
    afterAll(() => certs?.remove())

    async function start() {
      const dir = tempDir({
        passwd: `alice:${await hashPassword('secret')}\n`,
        acl: 'topic read public/#\nuser alice\ntopic readwrite alice/#\ntopic write public/#\n',
      })
      const listeners: object[] = [
        { type: 'mqtt', host: '127.0.0.1', port: 0 },
        { type: 'ws', host: '127.0.0.1', port: 0, path: '/mqtt' },
      ]
      if (certs) {
        for (const [name, pem] of Object.entries({
          'server.crt': certs.pem.serverCert,
          'server.key': certs.pem.serverKey,
          'ca.crt': certs.pem.ca,
        }))
          writeFileSync(join(dir, name), pem)
        listeners.push({ type: 'mqtts', port: 0, cert: 'server.crt', key: 'server.key', ca: 'ca.crt' })
      }
      const config = { listeners, allowAnonymous: true, passwordFile: 'passwd', aclFile: 'acl' }
      writeFileSync(join(dir, 'broker.json'), JSON.stringify(config))
      const cli = runCli(['--config', 'broker.json'], { cwd: dir })
      const urls = await cli.listening(listeners.length)
      return { dir, cli, urls }
    }

    it('serves mqtt, ws and mqtts; alice publishes to public/#, anonymous clients only read it', async () => {
      const { urls } = await start()
      expect(urls[1]).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/)
      const alice = await connectClient(urls[0]!, { username: 'alice', password: 'secret' })
      const anonymous = await connectClient(urls[1]!)
      expect(await roundTrip(anonymous, alice, 'public/news')).toBe('hello')
      await expect(connectClient(urls[0]!, { username: 'alice', password: 'nope' })).rejects.toThrow(
        /bad user ?name/i,
      )
      if (certs) {
        const overTls = await connectClient(urls[2]!, {
          ca: certs.pem.ca,
          username: 'alice',
          password: 'secret',
        })
        expect(await roundTrip(overTls, alice, 'alice/inbox')).toBe('hello')
      }
    })

    it('SIGHUP reloads users and ACL without dropping clients; a broken file keeps the previous ones', async () => {
      const { dir, cli, urls } = await start()
      const anonymous = await connectClient(urls[0]!)
      const granted = (topic: string) =>
        anonymous.subscribeAsync(topic).then(
          (grants) => grants[0]?.qos,
          () => 0x80,
        )
      expect(await granted('news/#')).toBe(0x80)
      writeFileSync(join(dir, 'acl'), 'topic read news/#\n')
      writeFileSync(join(dir, 'passwd'), `bob:${await hashPassword('builder')}\n`)
      const reloaded = cli.line(/reloaded users and ACL/)
      cli.child.kill('SIGHUP')
      expect(await reloaded).toMatch(/users=1 aclRules=1/)
      expect(anonymous.connected).toBe(true)
      expect(await granted('news/#')).toBe(0)
      expect((await connectClient(urls[0]!, { username: 'bob', password: 'builder' })).connected).toBe(true)
      await expect(connectClient(urls[0]!, { username: 'alice', password: 'secret' })).rejects.toThrow()

      writeFileSync(join(dir, 'acl'), 'topic read news/#\ntopic read a/#/b\n')
      const failed = cli.line(/reload failed/)
      cli.child.kill('SIGHUP')
      expect(await failed).toMatch(/ERROR reload failed: .*acl:2: \\"a\/#\/b\\" is not a valid topic filter/)
      expect(await granted('news/x')).toBe(0)
      expect((await connectClient(urls[0]!, { username: 'bob', password: 'builder' })).connected).toBe(true)
    })
  })
})
