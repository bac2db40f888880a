import { once } from 'node:events'
import {
  type Client,
  ErrorCode,
  type MiddlewareLike,
  MqttStackError,
  type Packet,
  Stack,
  serializePacket,
} from '@mqtt-stack/core'
import {
  acceptConnections,
  connectTestClient,
  type PacketPeer,
  tcpHarness,
  testStack,
} from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { Metrics, validateMetricsOptions } from '../src/index.js'
import { parseExposition, sampleValue, tinyBroker } from './helpers.js'

const tcp = tcpHarness()
afterEach(() => tcp.close())

/** A stack with Metrics first, served over TCP as listener `tcp`; its metrics endpoint on a free port. */
async function serve(...rest: Parameters<Stack['use']>[0][]) {
  const stack = new Stack()
  const metrics = new Metrics({ port: 0, host: '127.0.0.1', processMetrics: false })
  stack.use(metrics)
  for (const middleware of rest) stack.use(middleware)
  const port = await tcp.listen(stack, { listener: 'tcp' })
  const address = await metrics.listen()
  const base = `http://127.0.0.1:${address.port}`
  const connect = async (clientId: string, username?: string) => {
    const peer = await tcp.connect(port)
    const connack = await peer.connect({ clientId, ...(username ? { username } : {}) })
    return { peer, connack }
  }
  const scrape = async () => {
    const res = await fetch(`${base}/metrics`)
    expect(res.status).toBe(200)
    return { contentType: res.headers.get('content-type'), ...parseExposition(await res.text()) }
  }
  return { stack, metrics, base, connect, scrape }
}

/** Bytes of `packet` on the wire, as 3.1.1 serialises it. */
const size = (packet: Packet) => serializePacket(packet, 4).length

/** Resolves once the broker has processed everything `peer` sent: core answers the PINGREQ behind it. */
async function fence(peer: PacketPeer): Promise<void> {
  peer.send({ cmd: 'pingreq' })
  await peer.expect('pingresp')
}

describe('Metrics over TCP, scraped during traffic', () => {
  it('counts connections, packets and bytes by type, messages by QoS, a refusal, an auth failure and a drop', async () => {
    const { stack, scrape, connect } = await serve(tinyBroker())
    const { peer: sub } = await connect('sub')
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't', qos: 1 }] })
    await sub.expect('suback')
    const { peer: pub } = await connect('pub')
    const payload = Buffer.from('hello')
    const qos0 = { cmd: 'publish', topic: 't', payload, qos: 0, retain: false, dup: false } as const
    for (let i = 0; i < 3; i++) pub.send(qos0)
    pub.send({ ...qos0, qos: 1, messageId: 10 })
    pub.send({ ...qos0, qos: 1, messageId: 11 })
    pub.send({ ...qos0, topic: 'denied', qos: 1, messageId: 12 })
    for (let i = 0; i < 3; i++) await pub.expect('puback')
    const delivered: Packet[] = []
    for (let i = 0; i < 5; i++) delivered.push(await sub.expect('publish'))

    // Two QoS 1 deliveries are unacknowledged: in flight.
    let scraped = await scrape()
    expect(sampleValue(scraped.samples, 'mqtt_inflight_messages', { listener: 'tcp' })).toBe(2)

    for (const packet of delivered) {
      if (packet.cmd === 'publish' && packet.qos === 1)
        sub.send({ cmd: 'puback', messageId: packet.messageId! })
    }
    await fence(sub)
    await fence(pub)
    const { peer: mallory, connack } = await connect('mallory', 'mallory')
    expect(connack.returnCode).toBe(5)
    await mallory.closed()

    scraped = await scrape()
    expect(scraped.contentType).toMatch(/^text\/plain; version=0\.0\.4/)
    const { samples, types } = scraped
    const v = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(samples, name, { listener: 'tcp', ...labels })
    expect(v('mqtt_connections_total')).toBe(3)
    expect(v('mqtt_connected_clients')).toBe(2)
    expect(v('mqtt_inflight_messages')).toBe(0)
    expect(v('mqtt_connections_refused_total', { reason: 'not_authorized' })).toBe(1)
    expect(v('mqtt_auth_failures_total')).toBe(1)
    const received = { connect: 3, subscribe: 1, publish: 6, puback: 2, pingreq: 2, disconnect: 0 }
    for (const [type, count] of Object.entries(received))
      expect(v('mqtt_received_packets_total', { type }), type).toBe(count)
    const sent = { connack: 3, suback: 1, publish: 5, puback: 3, pingresp: 2 }
    for (const [type, count] of Object.entries(sent))
      expect(v('mqtt_sent_packets_total', { type }), type).toBe(count)
    expect(v('mqtt_messages_received_total', { qos: '0' })).toBe(3)
    expect(v('mqtt_messages_received_total', { qos: '1' })).toBe(3)
    expect(v('mqtt_messages_delivered_total', { qos: '0' })).toBe(3)
    expect(v('mqtt_messages_delivered_total', { qos: '1' })).toBe(2)
    expect(sampleValue(samples, 'mqtt_messages_dropped_total', { reason: 'not_authorized' })).toBe(1)
    expect(sampleValue(samples, 'mqtt_messages_dropped_total', { reason: 'offline_queue_full' })).toBe(0)
    // Bytes: exactly what the packets take on the wire, both ways.
    const publishIn =
      3 * size(qos0) +
      2 * size({ ...qos0, qos: 1, messageId: 10 }) +
      size({ ...qos0, topic: 'denied', qos: 1, messageId: 12 })
    expect(v('mqtt_received_bytes_total', { type: 'publish' })).toBe(publishIn)
    expect(v('mqtt_sent_bytes_total', { type: 'publish' })).toBe(
      delivered.reduce((sum, p) => sum + size(p), 0),
    )
    expect(v('mqtt_received_bytes_total', { type: 'pingreq' })).toBe(4)
    expect(v('mqtt_sent_bytes_total', { type: 'connack' })).toBe(12)
    expect(types.get('mqtt_sent_packets_total')).toBe('counter')
    expect(types.get('mqtt_connected_clients')).toBe('gauge')
    expect(types.get('mqtt_messages_dropped_total')).toBe('counter')

    // A clean end and an unclean one; mallory was never connected, so it is neither.
    const gone = [...stack.clients].map((client: Client) => once(client, 'close'))
    sub.send({ cmd: 'disconnect' })
    pub.destroy()
    await Promise.all(gone)
    const after = (await scrape()).samples
    expect(sampleValue(after, 'mqtt_disconnections_total', { listener: 'tcp', kind: 'clean' })).toBe(1)
    const unclean = after.filter(
      (sample) => sample.name === 'mqtt_disconnections_total' && sample.labels.kind === 'unclean',
    )
    // The peer went away: its socket ended (connection_lost) or was reset (connection_error).
    expect(unclean.map((sample) => sample.value)).toEqual([1])
    expect(['connection_lost', 'connection_error']).toContain(unclean[0]!.labels.reason)
    expect(sampleValue(after, 'mqtt_connections', { listener: 'tcp' })).toBe(0)
    expect(sampleValue(after, 'mqtt_connected_clients', { listener: 'tcp' })).toBe(0)
  })

  it('serves /healthz with 200 while the stack runs, and closes the endpoint with the stack', async () => {
    const { stack, base, metrics } = await serve(acceptConnections())
    const res = await fetch(`${base}/healthz`)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('ok\n')
    expect((await fetch(`${base}/nothing`)).status).toBe(404)
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405)
    expect(metrics.address?.port).toBeGreaterThan(0)
    await stack.close()
    await expect(fetch(`${base}/healthz`)).rejects.toThrow()
  })

  it('refuses a second listen() and reports a port in use as MQS_ERR_METRICS_LISTEN', async () => {
    const { metrics } = await serve(acceptConnections())
    await expect(metrics.listen()).rejects.toMatchObject({ code: 'MQS_ERR_INVALID_STATE' })
    const taken = new Metrics({ port: metrics.address!.port, host: '127.0.0.1', processMetrics: false })
    const stack = new Stack().use(taken)
    tcp.track(stack)
    await expect(taken.listen()).rejects.toMatchObject({ code: 'MQS_ERR_METRICS_LISTEN' })
  })
})

describe('Metrics through a Stack in memory', () => {
  it('counts a connection without a listener under "default", with exact bytes, and its decode failure', async () => {
    const metrics = new Metrics({ processMetrics: false })
    const { stack, errors } = testStack()
    stack.use(metrics).use(acceptConnections())
    tcp.track(stack)
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'a' })
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    const listener = metrics.snapshot().listeners.default!
    expect(listener.packetsReceived).toEqual({ connect: 1, pingreq: 1 })
    expect(listener.packetsSent).toEqual({ connack: 1, pingresp: 1 })
    expect(listener.bytesReceived.pingreq).toBe(2)
    expect(listener.bytesSent).toEqual({ connack: 4, pingresp: 2 })
    expect(listener).toMatchObject({ connections: 1, open: 1, connected: 1 })
    // A packet type 0 cannot be decoded: the connection is closed, and the problem counted.
    t.sendRaw(Buffer.from([0x00, 0x00]))
    await t.closed()
    expect(errors.map((err) => err.code)).toEqual(['MQS_ERR_MALFORMED_PACKET'])
    expect(Object.values(metrics.snapshot().malformed)).toEqual([1])
    expect(await metrics.text()).toMatch(/^mqtt_malformed_packets_total\{problem="[a-z_]+"\} 1$/m)
  })

  it('exports what the backend answers to collectStats as gauges (only the figures it keeps), and the static labels on every sample', async () => {
    let sessions = 4
    const backend: MiddlewareLike = {
      name: 'fake-backend',
      roles: ['backend'],
      callbacks: () => ({
        collectStats: (_ctx, store, next) => {
          Object.assign(store, { sessions, subscriptions: 7, retainedMessages: 3 })
          next()
        },
      }),
    }
    const metrics = new Metrics({ processMetrics: false, labels: { node: 'n1' } })
    const stack = new Stack().use(backend).use(metrics)
    tcp.track(stack)
    const { samples } = parseExposition(await metrics.text())
    expect(sampleValue(samples, 'mqtt_retained_messages')).toBe(3)
    expect(sampleValue(samples, 'mqtt_subscriptions')).toBe(7)
    expect(sampleValue(samples, 'mqtt_sessions')).toBe(4)
    expect(samples.some((sample) => sample.name === 'mqtt_stored_wills')).toBe(false)
    // Asked again at every scrape.
    sessions = 5
    expect(sampleValue(parseExposition(await metrics.text()).samples, 'mqtt_sessions')).toBe(5)
    expect(samples.length).toBeGreaterThan(0)
    expect(samples.every((sample) => sample.labels.node === 'n1')).toBe(true)
  })

  it('exports the process metrics of prom-client unless processMetrics is false', async () => {
    const metrics = new Metrics()
    tcp.track(new Stack().use(metrics))
    expect(await metrics.text()).toMatch(/^process_cpu_user_seconds_total /m)
    const bare = new Metrics({ processMetrics: false })
    tcp.track(new Stack().use(bare))
    expect(await bare.text()).not.toMatch(/process_cpu/)
  })
})

describe('Metrics: why connections end', () => {
  it('counts unclean ends by the error that ended them, else by the reason code the server closed with', async () => {
    const metrics = new Metrics({ processMetrics: false })
    const { stack } = testStack()
    const closeOnDisconnect: MiddlewareLike = {
      packetTypes: ['disconnect'],
      handle(client, _packet, _next, done) {
        client.close()
        done()
      },
    }
    stack.use(metrics).use(acceptConnections()).use(closeOnDisconnect)
    tcp.track(stack)
    const ended = async (end: (client: Client) => void) => {
      const t = connectTestClient(stack)
      await t.connect()
      const gone = once(t.client, 'close')
      end(t.client)
      await gone
    }
    await ended((client) => client.close(0x8e)) // a takeover
    await ended((client) =>
      client.close(0x97, new MqttStackError(ErrorCode.SLOW_CONSUMER, 'acknowledged nothing')),
    )
    await ended((client) => client.destroy())
    const t = connectTestClient(stack)
    await t.connect()
    const gone = once(t.client, 'close')
    t.send({ cmd: 'disconnect' })
    await gone
    expect(metrics.snapshot().listeners.default).toMatchObject({
      cleanDisconnects: 1,
      uncleanDisconnects: 3,
      uncleanReasons: { session_taken_over: 1, slow_consumer: 1, connection_lost: 1 },
    })
  })
})

describe('validateMetricsOptions', () => {
  it('accepts the options of a config file and refuses a bad one, naming the key', () => {
    expect(validateMetricsOptions({ port: 9464, host: '0.0.0.0' })).toEqual({ port: 9464, host: '0.0.0.0' })
    expect(validateMetricsOptions(undefined)).toEqual({})
    const cases: Array<[unknown, RegExp]> = [
      [{ port: '9464' }, /metrics\.port must be an integer/],
      [{ port: 70000 }, /metrics\.port/],
      [{ host: '' }, /metrics\.host/],
      [{ path: 'metrics' }, /metrics\.path/],
      [{ prot: 1 }, /metrics\.prot is not an option/],
      [{ labels: { listener: 'x' } }, /metrics\.labels\.listener/],
      [{ labels: { node: 1 } }, /metrics\.labels\.node must be a string/],
      [{ processMetrics: 'yes' }, /metrics\.processMetrics/],
      [[], /metrics must be an object/],
    ]
    for (const [options, message] of cases) {
      expect(() => validateMetricsOptions(options)).toThrow(message)
      expect(() => validateMetricsOptions(options)).toThrow(
        expect.objectContaining({ code: 'MQS_ERR_INVALID_OPTION' }),
      )
    }
    expect(() => new Metrics({ port: -1 })).toThrow(/metrics\.port/)
  })

  it('refuses a second stack for one Metrics', () => {
    const metrics = new Metrics({ processMetrics: false })
    tcp.track(new Stack().use(metrics))
    let thrown: unknown
    try {
      new Stack().use(metrics)
    } catch (err) {
      thrown = err
    }
    expect(thrown).toMatchObject({
      code: 'MQS_ERR_MIDDLEWARE',
      cause: { message: 'metrics: one Metrics per stack' },
    })
  })
})
