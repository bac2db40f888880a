import { ErrorCode } from '@mqtt-stack/core'
import { connectTestClient } from '@mqtt-stack/core/testing'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { type BrokerOptions, createBroker, createLogger, createStack } from '../src/index.js'
import { connectClient, roundTrip, startBroker } from './support.js'

describe('createBroker', () => {
  it('assembles every built-in in the documented order', async () => {
    const broker = createBroker({
      acl: [],
      scramUsers: {},
      emitter: { emit: () => true },
      metrics: { port: 0 },
      limits: {},
      sys: {},
    })
    onTestFinished(() => broker.close())
    expect(broker.stack.middlewares.map((middleware) => middleware.name)).toEqual([
      'memory-backend',
      'packet-emitter',
      'metrics',
      'connection',
      'keepalive',
      'limits',
      'authentication',
      'scram-sha-256',
      'static-credentials',
      'authorize',
      'sys',
      'topic-acl',
      'last-will',
      'session-manager',
      'retain-manager',
      'inbound-manager',
      'outbound-manager',
      'subscription-manager',
    ])
  })

  it('a connected client of every built-in carries no close listener: uninstall() releases its state', async () => {
    const lines: string[] = []
    const stack = createStack({
      acl: [{ topic: '#', access: 'readwrite' }],
      allowAnonymous: true,
      emitter: { emit: () => true },
      metrics: { port: 0 },
      limits: {},
      sys: { interval: 0 },
      logger: createLogger({ write: (line) => void lines.push(line) }),
    })
    onTestFinished(() => stack.close())
    const t = connectTestClient(stack)
    expect(await t.connect({ clientId: 'c1', keepalive: 60 })).toMatchObject({ returnCode: 0 })
    expect(t.client.listenerCount('close')).toBe(0)
    t.destroy()
    await t.closed()
    // The connection log's uninstall wrote the end of the connection; the others released their state.
    await vi.waitFor(() =>
      expect(lines.some((line) => /client disconnected clientId=c1/.test(line))).toBe(true),
    )
    expect(stack.clients.size).toBe(0)
  })

  it('relays QoS 1 between two MQTT.js clients over TCP, 3.1.1 and 5.0', async () => {
    const { url } = await startBroker()
    const subscriber = await connectClient(url, { protocolVersion: 5 })
    const publisher = await connectClient(url, { protocolVersion: 4 })
    expect(await roundTrip(subscriber, publisher)).toBe('hello')
  })

  describe('open mode', () => {
    for (const protocolVersion of [4, 5] as const) {
      it(`accepts any username and password when no users are configured (protocol ${protocolVersion})`, async () => {
        const { url } = await startBroker()
        const client = await connectClient(url, { protocolVersion, username: 'foo', password: 'bar' })
        expect(client.connected).toBe(true)
      })
    }

    it('allowAnonymous: false refuses a client without a username, still accepts any with one', async () => {
      const { url } = await startBroker({ allowAnonymous: false })
      await expect(connectClient(url)).rejects.toThrow(/Not authorized|bad user name/i)
      expect((await connectClient(url, { username: 'x' })).connected).toBe(true)
    })
  })

  it('users: only those users, with the right password; anonymous clients only when allowed', async () => {
    const { url } = await startBroker({ users: { alice: 'secret' } })
    await expect(connectClient(url)).rejects.toThrow(/not authori[sz]ed/i)
    expect((await connectClient(url, { username: 'alice', password: 'secret' })).connected).toBe(true)
    await expect(connectClient(url, { username: 'alice', password: 'nope' })).rejects.toThrow(
      /bad user ?name/i,
    )
    await expect(connectClient(url, { username: 'foo', password: 'bar' })).rejects.toThrow(/bad user ?name/i)
    const open = await startBroker({ users: { alice: 'secret' }, allowAnonymous: true })
    expect((await connectClient(open.url)).connected).toBe(true)
  })

  it('acl: what the rules do not allow is denied, and setAcl changes them for connected clients', async () => {
    const { url, broker } = await startBroker({ acl: [{ topic: 'open/#', access: 'readwrite' }] })
    const client = await connectClient(url)
    // MQTT.js rejects a SUBACK refusal (0x80).
    const granted = (topic: string) =>
      client.subscribeAsync(topic).then(
        (grants) => grants[0]?.qos,
        () => 0x80,
      )
    expect(await granted('closed/1')).toBe(0x80)
    expect(await granted('open/1')).toBe(0)
    broker.setAcl([{ topic: 'closed/#', access: 'readwrite' }])
    expect(await granted('closed/1')).toBe(0)
    expect(await granted('open/2')).toBe(0x80)
  })

  it('setAcl without an acl at creation says so', () => {
    const broker = createBroker()
    onTestFinished(() => broker.close())
    expect(() => broker.setAcl([])).toThrow(/created without acl/)
  })

  it('listens on several listeners at once, and close() ends them all and their clients', async () => {
    const { broker, addresses } = await startBroker({
      listeners: [
        { type: 'mqtt', port: 0 },
        { type: 'ws', port: 0, path: '/mqtt' },
      ],
    })
    expect(addresses.map((address) => address.url)).toEqual([
      `mqtt://127.0.0.1:${addresses[0]!.port}`,
      `ws://127.0.0.1:${addresses[1]!.port}/mqtt`,
    ])
    const tcp = await connectClient(addresses[0]!.url)
    const ws = await connectClient(addresses[1]!.url)
    expect(await roundTrip(ws, tcp)).toBe('hello')
    const closed = Promise.all(
      [tcp, ws].map((client) => new Promise<void>((resolve) => client.once('close', () => resolve()))),
    )
    await broker.close()
    await closed
    await expect(connectClient(addresses[0]!.url)).rejects.toThrow(/ECONNREFUSED/)
  })

  it('listen() binds once: a second call gives the same addresses', async () => {
    const { broker, addresses } = await startBroker()
    expect(await broker.listen()).toEqual(addresses)
  })

  it('a listener that cannot bind rejects listen() and leaves none bound', async () => {
    const { addresses } = await startBroker()
    const broker = createBroker({
      listeners: [
        { type: 'ws', port: 0 },
        { type: 'mqtt', port: addresses[0]!.port },
      ],
    })
    await expect(broker.listen()).rejects.toThrow(/EADDRINUSE/)
    expect(broker.addresses).toEqual([])
    await broker.close()
  })

  describe('options', () => {
    const invalid: Array<[string, BrokerOptions, RegExp]> = [
      ['an unknown option', { prot: 1 } as never, /prot is not an option/],
      ['a negative limit', { maxOfflineBytes: -1 }, /maxOfflineBytes must be a whole number/],
      ['a maximumQoS of 3', { maximumQoS: 3 as never }, /maximumQoS must be 0, 1 or 2/],
      [
        'allowAnonymous as a string',
        { allowAnonymous: 'yes' as never },
        /allowAnonymous must be true or false/,
      ],
      ['users with a number password', { users: { a: 1 } as never }, /users must be an object/],
      ['users and check', { users: {}, check: () => true }, /check give users or check/],
      [
        'a memory limit with your own backend',
        { backend: { name: 'b' }, maxRetainedBytes: 1 },
        /maxRetainedBytes configures/,
      ],
      [
        'an unknown listener type',
        { listeners: [{ type: 'udp' } as never] },
        /listeners\[0\]\.type must be one of/,
      ],
      [
        'a port out of range',
        { listeners: [{ type: 'mqtt' }, { type: 'ws', port: 70000 }] },
        /listeners\[1\]\.port/,
      ],
      ['a path without a slash', { listeners: [{ type: 'ws', path: 'mqtt' }] }, /listeners\[0\]\.path/],
      [
        'an mqtts listener without a key',
        { listeners: [{ type: 'mqtts', cert: 'x' } as never] },
        /listeners\[0\]\.key is required/,
      ],
      [
        'a key a listener does not have',
        { listeners: [{ type: 'mqtt', path: '/x' } as never] },
        /listeners\[0\]\.path is not an option of a mqtt listener/,
      ],
    ]
    for (const [what, options, message] of invalid) {
      it(`throws MQS_ERR_INVALID_OPTION naming the option for ${what}`, () => {
        expect(() => createBroker(options)).toThrow(
          expect.objectContaining({
            code: ErrorCode.INVALID_OPTION,
            message: expect.stringMatching(message),
          }),
        )
      })
    }
  })
})
