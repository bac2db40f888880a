/**
 * The operations options of createBroker and the config file: `metrics` (@mqtt-stack/metrics), `limits`
 * (@mqtt-stack/limits) and `sys` (@mqtt-stack/sys), each off unless given, under the same keys in both.
 */
import { join } from 'node:path'
import { ErrorCode, ReasonCode } from '@mqtt-stack/core'
import { describe, expect, it } from 'vitest'
import { ConfigError, createBroker, loadConfig } from '../src/index.js'
import { tempDir } from './cli-support.js'
import { connectClient, startBroker } from './support.js'

/** Scrapes `url` and returns the value of each sample line, keyed by `name{labels}` as printed. */
async function scrape(url: string): Promise<Map<string, number>> {
  const response = await fetch(url)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  const samples = new Map<string, number>()
  for (const line of (await response.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    samples.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return samples
}

describe('createBroker: metrics', () => {
  it('off unless given', () => {
    const broker = createBroker()
    expect(broker.metrics).toBeUndefined()
    void broker.close()
  })

  it('listen() opens /metrics and /healthz; counts are per named listener, checked against the traffic sent', async () => {
    const { broker, addresses } = await startBroker({
      listeners: [
        { type: 'mqtt', port: 0, name: 'public' },
        { type: 'mqtt', port: 0 },
      ],
      users: { alice: 'secret' },
      metrics: { port: 0, host: '127.0.0.1', processMetrics: false },
    })
    const { port } = broker.metrics!.address!
    const base = `http://127.0.0.1:${port}`
    expect((await fetch(`${base}/healthz`)).status).toBe(200)
    const [publicUrl, otherUrl] = addresses.map((address) => address.url)
    const subscriber = await connectClient(publicUrl!, {
      username: 'alice',
      password: 'secret',
      clientId: 's',
    })
    const publisher = await connectClient(otherUrl!, { username: 'alice', password: 'secret', clientId: 'p' })
    await expect(connectClient(publicUrl!, { username: 'alice', password: 'wrong' })).rejects.toThrow()
    await subscriber.subscribeAsync('m/#', { qos: 1 })
    const received = new Promise<void>((resolve) => {
      let count = 0
      subscriber.on('message', () => {
        if (++count === 3) resolve()
      })
    })
    await publisher.publishAsync('m/0', 'a', { qos: 0 })
    await publisher.publishAsync('m/1', 'b', { qos: 1 })
    await publisher.publishAsync('m/2', 'c', { qos: 2 })
    await received
    const samples = await scrape(`${base}/metrics`)
    const portLabel = new URL(otherUrl!).port
    // The second listener has no name: `type:port` of its configured port (0 here).
    expect(portLabel).not.toBe('0')
    expect(samples.get('mqtt_connections_total{listener="public"}')).toBe(2)
    expect(samples.get('mqtt_connections_total{listener="mqtt:0"}')).toBe(1)
    expect(samples.get('mqtt_connected_clients{listener="public"}')).toBe(1)
    expect(samples.get('mqtt_auth_failures_total{listener="public"}')).toBe(1)
    for (const qos of [0, 1, 2])
      expect(samples.get(`mqtt_messages_received_total{listener="mqtt:0",qos="${qos}"}`)).toBe(1)
    expect(samples.get('mqtt_received_packets_total{listener="public",type="subscribe"}')).toBe(1)
    expect(samples.get('mqtt_sent_packets_total{listener="public",type="publish"}')).toBe(3)
    expect(samples.get('mqtt_subscriptions')).toBe(1)
  })

  it('a wrong metrics option is refused naming it', () => {
    expect(() => createBroker({ metrics: { port: 70_000 } })).toThrow(/^createBroker: metrics\.port must be/)
  })
})

describe('createBroker: limits', () => {
  it('off unless given: no Limits in the stack', () => {
    const broker = createBroker()
    expect(broker.limits).toBeUndefined()
    expect(broker.stack.middlewares.map((m) => m.name)).not.toContain('limits')
    void broker.close()
  })

  it('limits: {} puts Limits after keepalive and before authentication', async () => {
    const { broker } = await startBroker({ limits: {} })
    const names = broker.stack.middlewares.map((m) => m.name)
    expect(names.indexOf('limits')).toBe(names.indexOf('keepalive') + 1)
    expect(names.indexOf('authentication')).toBe(names.indexOf('limits') + 1)
  })

  it('a ban added at run time refuses the client id: 5.0 CONNACK 0x8A, 3.1.1 return code 5', async () => {
    const { broker, url } = await startBroker({ limits: {} })
    expect((await connectClient(url, { clientId: 'fine' })).connected).toBe(true)
    broker.limits!.ban({ clientId: 'bad-*' })
    const refused5 = connectClient(url, { clientId: 'bad-1', protocolVersion: 5 })
    await expect(refused5).rejects.toMatchObject({ code: ReasonCode.BANNED })
    const refused4 = connectClient(url, { clientId: 'bad-2', protocolVersion: 4 })
    await expect(refused4).rejects.toMatchObject({ code: 5 })
    broker.limits!.unban({ clientId: 'bad-*' })
    expect((await connectClient(url, { clientId: 'bad-3' })).connected).toBe(true)
  })

  it('limits from the options are in force: maxConnectionsPerAddress 1 refuses a second connection (0x97)', async () => {
    const { url } = await startBroker({ limits: { maxConnectionsPerAddress: 1 } })
    expect((await connectClient(url, { clientId: 'one' })).connected).toBe(true)
    await expect(connectClient(url, { clientId: 'two', protocolVersion: 5 })).rejects.toMatchObject({
      code: ReasonCode.QUOTA_EXCEEDED,
    })
  })

  it('a wrong limit is refused naming it', () => {
    expect(() => createBroker({ limits: { publishRate: -1 } })).toThrow(
      expect.objectContaining({
        code: ErrorCode.INVALID_OPTION,
        message: expect.stringMatching(/^createBroker: limits\.publishRate must be a number >= 0/),
      }),
    )
    expect(() => createBroker({ limits: { maxConections: 5 } as never })).toThrow(
      /^createBroker: limits\.maxConections is not a limit/,
    )
  })
})

describe('createBroker: sys', () => {
  it('off unless given', () => {
    const broker = createBroker()
    expect(broker.sys).toBeUndefined()
    void broker.close()
  })

  it('publishes $SYS/broker/version (this package, retained) and clients/connected; # does not see them [MQTT-4.7.2-1]', async () => {
    const { broker, url } = await startBroker({ sys: { interval: 3600 } })
    expect(broker.stack.middlewares.map((m) => m.name)).toContain('sys')
    const everything = await connectClient(url, { clientId: 'all' })
    const seenByHash: string[] = []
    everything.on('message', (topic) => seenByHash.push(topic))
    await everything.subscribeAsync('#')
    const watcher = await connectClient(url, { clientId: 'watcher' })
    await broker.sys!.publishNow()
    const version = new Promise<string>((resolve) =>
      watcher.on('message', (topic, payload) => {
        if (topic === '$SYS/broker/version') resolve(payload.toString())
      }),
    )
    await watcher.subscribeAsync('$SYS/broker/version')
    expect(await version).toMatch(/^mqtt-stack \d+\.\d+\.\d+/)
    // A later message of its own reaches `#`: every $SYS message before it was seen and not delivered.
    const own = new Promise<void>((resolve) => everything.once('message', () => resolve()))
    await everything.publishAsync('after/sys', 'x', { qos: 1 })
    await own
    expect(seenByHash).toEqual(['after/sys'])
  })

  it('a client may not publish to $SYS: 5.0 PUBACK 0x87', async () => {
    const { url } = await startBroker({ sys: {} })
    const client = await connectClient(url, { protocolVersion: 5 })
    await expect(client.publishAsync('$SYS/broker/uptime', 'forged', { qos: 1 })).rejects.toMatchObject({
      code: ReasonCode.NOT_AUTHORIZED,
    })
  })

  it('refuses sys.version (the broker sets it) and a wrong interval', () => {
    expect(() => createBroker({ sys: { version: 'x' } as never })).toThrow(
      /^createBroker: sys\.version is set by the broker/,
    )
    expect(() => createBroker({ sys: { interval: -1 } })).toThrow(/^createBroker: sys\.interval must be/)
  })
})

describe('config file: metrics, limits and sys', () => {
  it('are read as they are', () => {
    const dir = tempDir({ 'b.yaml': 'limits:\n  maxConnections: 10\nsys:\n  interval: 5\n' })
    expect(loadConfig(join(dir, 'b.yaml')).options).toEqual({
      limits: { maxConnections: 10 },
      sys: { interval: 5 },
    })
  })

  it.each([
    ['limits:\n  maxConnections: -1\n', 2, 'limits.maxConnections must be a number >= 0'],
    ['sys:\n  interval: soon\n', 2, 'sys.interval must be a number of seconds'],
    ['limits:\n  bans:\n    - clientId: 7\n', 3, 'limits.bans[0]'],
    ['metrics:\n  prot: 9000\n', 2, 'metrics.prot'],
  ])('a wrong key is named with its line: %j', (text, line, message) => {
    const dir = tempDir({ 'b.yaml': text })
    const file = join(dir, 'b.yaml')
    expect(() => loadConfig(file)).toThrow(ConfigError)
    expect(() => loadConfig(file)).toThrow(`${file}:${line}: ${message}`)
  })
})
