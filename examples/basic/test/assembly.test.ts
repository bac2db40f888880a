import { EventEmitter, once } from 'node:events'
import { createServer } from 'node:net'
import { Connection } from '@mqtt-stack/connection'
import { ErrorCode, type Packet, Stack } from '@mqtt-stack/core'
import { connectTestClient } from '@mqtt-stack/core/testing'
import { InboundManager } from '@mqtt-stack/inbound-manager'
import { KeepAlive } from '@mqtt-stack/keepalive'
import { MemoryBackend } from '@mqtt-stack/memory-backend'
import { OutboundManager } from '@mqtt-stack/outbound-manager'
import { SessionManager } from '@mqtt-stack/session-manager'
import { SubscriptionManager } from '@mqtt-stack/subscription-manager'
import mqtt from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { CONNECT_311, collect, flush, nextMessage, startBroker } from './support.js'

const stacks: Stack[] = []
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((stack) => stack.close()))
})

describe('a broker assembled from a subset of the built-ins', () => {
  it('without authentication, authorize, retain-manager and last-will still serves QoS 0, 1 and 2', async () => {
    const stack = new Stack({ onError: () => {} })
    stacks.push(stack)
    stack
      .use(new MemoryBackend())
      .use(new Connection())
      .use(new KeepAlive())
      .use(new SessionManager())
      .use(new InboundManager())
      .use(new OutboundManager())
      .use(new SubscriptionManager())
    const server = createServer(stack.handler())
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as { port: number }
    const url = `mqtt://127.0.0.1:${port}`
    const subscriber = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
    const publisher = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
    try {
      await subscriber.subscribeAsync('subset/+', { qos: 2 })
      const messages = collect(subscriber)
      await publisher.publishAsync('subset/a', 'zero', { qos: 0 })
      await publisher.publishAsync('subset/b', 'one', { qos: 1 })
      await publisher.publishAsync('subset/c', 'two', { qos: 2 })
      await flush(subscriber)
      expect(messages.map((m) => [m.payload, m.qos])).toEqual([
        ['zero', 0],
        ['one', 1],
        ['two', 2],
      ])
    } finally {
      await Promise.all([subscriber.endAsync(true), publisher.endAsync(true)])
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('without a backend fails at start, naming the missing callbacks and the package that provides them', () => {
    const stack = new Stack()
    stacks.push(stack)
    stack.use(new Connection()).use(new SessionManager()).use(new InboundManager())
    let thrown: unknown
    try {
      stack.handler()
    } catch (err) {
      thrown = err
    }
    expect(thrown).toMatchObject({ code: ErrorCode.MISSING_PROVIDER })
    expect((thrown as Error).message).toMatch(/use\(\) MemoryBackend from @mqtt-stack\/memory-backend\n/)
    expect((thrown as Error).message).toMatch(/needed by session-manager, inbound-manager/)
  })
})

describe('authorization with the topic ACL', () => {
  const acl = [
    { topic: 'devices/%c/#', access: 'readwrite' as const },
    { topic: 'public/#', access: 'read' as const },
  ]

  it('lets a client subscribe only where the rules allow (%c), with 0x80 for the rest', async () => {
    const { raw } = await startBroker({ acl })
    const device = await raw()
    device.send({ ...CONNECT_311, clientId: 'dev1' })
    await device.expect('connack')
    const subscriptions = [
      { topic: 'devices/dev1/cmd', qos: 1 },
      { topic: 'devices/dev2/cmd', qos: 1 },
      { topic: 'public/news', qos: 0 },
      { topic: '#', qos: 0 },
    ] as const
    device.send({ cmd: 'subscribe', messageId: 1, subscriptions: [...subscriptions] })
    expect(await device.expect('suback')).toMatchObject({ granted: [1, 0x80, 0, 0x80] })
  })

  it('lets a client publish only where the rules allow (%c)', async () => {
    const { client } = await startBroker({ acl })
    const device = await client({ clientId: 'dev1' })
    await device.subscribeAsync('devices/dev1/#')
    const messages = collect(device)
    await device.publishAsync('devices/dev1/cmd', 'mine', { qos: 1 })
    await device.publishAsync('public/news', 'not allowed to write', { qos: 1 })
    const other = await client({ clientId: 'dev2' })
    await other.publishAsync('devices/dev1/cmd', 'not yours', { qos: 1 })
    const last = nextMessage(device, 'devices/dev1/last')
    await device.publishAsync('devices/dev1/last', 'last', { qos: 1 })
    await last
    expect(messages.map((m) => m.payload)).toEqual(['mine', 'last'])
  })

  it('does not publish the will of a client that may not write its topic', async () => {
    const { client, raw } = await startBroker({ acl })
    const watcher = await client({ clientId: 'watcher' })
    await watcher.subscribeAsync('public/#')
    const messages = collect(watcher)
    const peer = await raw()
    peer.send({
      ...CONNECT_311,
      clientId: 'sneaky',
      will: { topic: 'public/fake', payload: Buffer.from('x'), qos: 0, retain: false },
    })
    await peer.expect('connack')
    peer.destroy()
    await peer.closed()
    const arrived = nextMessage(watcher, 'devices/watcher/ping')
    await watcher.subscribeAsync('devices/watcher/ping')
    await watcher.publishAsync('devices/watcher/ping', 'x')
    await arrived
    expect(messages.filter((m) => m.topic === 'public/fake')).toEqual([])
  })
})

describe('PacketEmitter in the default broker', () => {
  it('bridges connections and packets to an application emitter', async () => {
    const emitter = new EventEmitter()
    const seen: string[] = []
    emitter.on('packet', (packet: Packet) => seen.push(packet.cmd))
    const { broker } = await startBroker({ emitter })
    const connected = once(emitter, 'client')
    const t = connectTestClient(broker.stack)
    await t.connect({ clientId: 'embedded' })
    expect((await connected)[0]).toBe(t.client)
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    expect(seen).toContain('connect')
  })
})
