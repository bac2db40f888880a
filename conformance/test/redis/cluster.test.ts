/**
 * Several broker nodes on one Redis, as one broker: the default broker on @mqtt-stack/redis-backend, each
 * node with its own stack and TCP listener, MQTT.js clients connected to different nodes. On one redis-server
 * and on a Redis Cluster of three masters; the node killed with `kill -9` is a process of its own.
 */

import type { ChildProcess } from 'node:child_process'
import type { RedisBackendOptions } from '@mqtt-stack/redis-backend'
import { hasRedis, RedisCluster, RedisServer } from '@mqtt-stack/redis-backend/testing'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  client,
  collect,
  kill,
  localNode,
  progress,
  type Received,
  receiver,
  startNode,
  until,
} from './nodes.js'

type QoS = 0 | 1 | 2

let prefixes = 0
const v5 = { protocolVersion: 5 } as const
const persistent = { clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } } as const

/** A 5.0 client on `port` subscribed to `filter`, recording what it gets. */
async function subscriber(port: number, clientId: string, filter: string, qos: QoS): Promise<Received> {
  const c = await client(port, { ...v5, clientId })
  await c.subscribeAsync(filter, { qos })
  return collect(c)
}

/**
 * Publishes `count` messages from `pub` without waiting in between, message `i` at QoS `qos(i)` on
 * `<root>/<qos>`; resolves with each as `<topic>=<i>`, in order, once every QoS 1/2 one was acknowledged.
 */
async function publishAll(
  pub: MqttClient,
  count: number,
  qos: (i: number) => QoS,
  root = 'x',
): Promise<string[]> {
  const sent: string[] = []
  const acks: Promise<unknown>[] = []
  for (let i = 0; i < count; i++) {
    const q = qos(i)
    sent.push(`${root}/${q}=${i}`)
    acks.push(pub.publishAsync(`${root}/${q}`, String(i), { qos: q }))
  }
  await Promise.all(acks)
  return sent
}

/**
 * Publishes `count` messages `<root>/<i>` at `qos` from `publisher`, ten unacknowledged at most, each answer
 * sending the next; `child` is killed from the callback of the 50th acknowledgement, so the kill falls
 * during the traffic. Resolves once every message was answered, with those acknowledged and the failures.
 */
async function trafficUntilKilled(
  publisher: MqttClient,
  child: ChildProcess,
  root: string,
  qos: 1 | 2,
  count: number,
): Promise<{ acked: Set<string>; failed: string[] }> {
  const acked = new Set<string>()
  const failed: string[] = []
  let sent = 0
  let answered = 0
  const pump = (): void => {
    while (sent - answered < 10 && sent < count) {
      const payload = String(sent++)
      publisher.publish(`${root}/${payload}`, payload, { qos }, (err) => {
        answered++
        if (err) failed.push(`${payload}: ${err.message}`)
        else acked.add(payload)
        if (acked.size === 50 && child.exitCode === null) child.kill('SIGKILL')
        pump()
        progress.emit('progress')
      })
    }
  }
  pump()
  await until(
    () => answered === count,
    () => `${answered} of ${count} answered`,
  )
  return { acked, failed }
}

function suite(title: string, connection: () => Partial<RedisBackendOptions>) {
  describe(title, () => {
    /** `count` broker nodes in this process on one prefix. */
    async function nodes(count: number): Promise<number[]> {
      const prefix = `cluster-${process.pid}-${++prefixes}:`
      const ports: number[] = []
      for (let i = 0; i < count; i++) ports.push((await localNode({ ...connection(), prefix })).port)
      return ports
    }

    it('[MQTT-4.6.0-6] QoS 0, 1 and 2 messages published on one node reach a subscriber on another exactly once, in the order published', async () => {
      const [a, b] = await nodes(2)
      const atB = await subscriber(b!, 'x-sub', 'x/#', 2)
      const atA = await subscriber(a!, 'x-here', 'x/#', 2)
      const pub = await client(a!, { ...v5, clientId: 'x-pub' })
      const count = 150
      const sent = await publishAll(pub, count, (i) => (i % 3) as QoS)
      await until(
        () => atB.got.length >= count && atA.got.length >= count,
        () => `${atB.got.length} at the other node, ${atA.got.length} at the same node, of ${count}`,
      )
      // Each once, in the order published on each topic (one topic per QoS), on the other node as on the same.
      for (const { got, packets } of [atB, atA]) {
        expect([...got].sort()).toEqual([...sent].sort())
        for (const qos of [0, 1, 2]) {
          const topic = `x/${qos}=`
          expect(got.filter((m) => m.startsWith(topic))).toEqual(sent.filter((m) => m.startsWith(topic)))
        }
        for (const packet of packets) expect(packet.qos).toBe(Number(packet.topic.slice(2)))
      }
    })

    it('[MQTT-3.3.1-6] a retained message published on one node is sent to a new subscription on another', async () => {
      const [a, b] = await nodes(2)
      const pub = await client(a!, { protocolVersion: 4, clientId: 'r-pub' })
      await pub.publishAsync('r/1', 'kept', { qos: 1, retain: true })
      const sub = await client(b!, { protocolVersion: 4, clientId: 'r-sub' })
      const { got, packets } = collect(sub)
      await sub.subscribeAsync('r/#', { qos: 1 })
      await until(
        () => got.length >= 1,
        () => 'no retained message',
      )
      expect(got).toEqual(['r/1=kept'])
      expect(packets[0]!.retain).toBe(true)
    })

    it('[MQTT-3.1.4-2] 5.0: a client id connecting on another node closes the first connection with DISCONNECT 0x8E', async () => {
      const [a, b] = await nodes(2)
      const first = await client(a!, { ...v5, clientId: 'same', reconnectPeriod: 0 })
      const reason = new Promise<number | undefined>((resolve) =>
        first.once('disconnect', (packet) => resolve(packet.reasonCode)),
      )
      await client(b!, { ...v5, clientId: 'same' })
      expect(await reason).toBe(0x8e)
    })

    it('[MQTT-3.1.4-2] 3.1.1: a client id connecting on another node closes the first connection', async () => {
      const [a, b] = await nodes(2)
      const first = await client(a!, { protocolVersion: 4, clientId: 'same-4', reconnectPeriod: 0 })
      const closed = new Promise<void>((resolve) => first.once('close', () => resolve()))
      await client(b!, { protocolVersion: 4, clientId: 'same-4' })
      await closed
      expect(first.connected).toBe(false)
    })

    it('5.0: [MQTT-3.1.2-5] a persistent session left on one node resumes on another with its subscriptions and queued messages', async () => {
      const [a, b] = await nodes(2)
      const away = await client(a!, { ...persistent, clientId: 's-away' })
      await away.subscribeAsync('q/#', { qos: 1 })
      await away.endAsync()
      const pub = await client(b!, { ...v5, clientId: 's-pub' })
      const sent: string[] = []
      for (let i = 0; i < 20; i++) {
        sent.push(`q/t=${i}`)
        await pub.publishAsync('q/t', String(i), { qos: 1 })
      }
      const { got, sessionPresent } = await receiver(b!, { ...persistent, clientId: 's-away' })
      expect(sessionPresent).toBe(true)
      await until(
        () => got.length >= sent.length,
        () => `${got.length} of ${sent.length} queued messages`,
      )
      // Live messages from the first node reach it on the second, through the subscriptions it resumed.
      const other = await client(a!, { ...v5, clientId: 's-pub-a' })
      await other.publishAsync('q/t', 'live', { qos: 1 })
      await until(
        () => got.length > sent.length,
        () => 'no live message',
      )
      expect(got).toEqual([...sent, 'q/t=live'])
    })

    it('5.0: a shared subscription with members on two nodes gives each message to exactly one member', async () => {
      const [a, b, c] = await nodes(3)
      const at1 = await subscriber(a!, 'm1', '$share/g/jobs/#', 1)
      const at2 = await subscriber(b!, 'm2', '$share/g/jobs/#', 1)
      const pub = await client(c!, { ...v5, clientId: 'share-pub' })
      const count = 60
      const sent = await publishAll(pub, count, () => 1, 'jobs')
      await until(
        () => at1.got.length + at2.got.length >= count,
        () => `${at1.got.length} + ${at2.got.length} of ${count}`,
      )
      expect([...at1.got, ...at2.got].sort()).toEqual([...sent].sort())
      expect(at1.got.length).toBeGreaterThan(0)
      expect(at2.got.length).toBeGreaterThan(0)
    })
  })
}

describe.runIf(hasRedis())('broker nodes on one Redis, as one broker', { timeout: 60_000 }, () => {
  let server: RedisServer | undefined
  let cluster: RedisCluster | undefined
  beforeAll(async () => {
    server = await RedisServer.start()
    cluster = await RedisCluster.start()
  }, 30_000)
  afterAll(async () => {
    await server?.close()
    await cluster?.close()
  })

  /**
   * A node in a process of its own, to kill, and a node in this process on the same prefix, both with a
   * heartbeat TTL of 500 ms; `dead` resolves once the survivor handled a dead node.
   */
  async function mortalAndSurvivor() {
    const prefix = `cluster-${process.pid}-${++prefixes}:`
    const dying = await startNode(server!.url, prefix, 0, { nodeTimeoutMs: 500 })
    const { port, backend } = await localNode({ url: server!.url, prefix, nodeTimeoutMs: 500 })
    const dead = new Promise<string>((resolve) => backend.nodes.onDead(async (id) => resolve(id)))
    return { dying, port, dead }
  }

  suite('on one redis-server', () => ({ url: server!.url }))
  suite('on a Redis Cluster of three masters', () => ({ clusterNodes: cluster!.startNodes }))

  it('5.0: when a node dies, its members of a shared subscription stop receiving: every message goes to a member on a live node', async () => {
    const { dying, port, dead } = await mortalAndSurvivor()
    const gone = await client(dying.port, { ...v5, clientId: 'gone', reconnectPeriod: 0 })
    await gone.subscribeAsync('$share/g/work', { qos: 1 })
    const alive = await client(port, { ...v5, clientId: 'alive' })
    await alive.subscribeAsync('$share/g/work', { qos: 1 })
    const { got } = collect(alive)
    await kill(dying.child)
    await dead
    const pub = await client(port, { ...v5, clientId: 'work-pub' })
    const sent: string[] = []
    for (let i = 0; i < 10; i++) {
      sent.push(`work=${i}`)
      await pub.publishAsync('work', String(i), { qos: 1 })
    }
    await until(
      () => got.length >= sent.length,
      () => `${got.length} of ${sent.length} at the member on the live node`,
    )
    expect(got).toEqual(sent)
  })

  it('5.0: [MQTT-3.1.2-5] kill -9 of the node a persistent subscriber is on, during QoS 1 traffic from another node: its session resumes on a live node with every acknowledged message', async () => {
    const { dying, port, dead } = await mortalAndSurvivor()
    const sub = await client(dying.port, { ...persistent, clientId: 'k-sub', reconnectPeriod: 0 })
    await sub.subscribeAsync('k/#', { qos: 1 })
    const before = collect(sub)
    const publisher = await client(port, { ...v5, clientId: 'k-pub' })
    const count = 300
    const { acked, failed } = await trafficUntilKilled(publisher, dying.child, 'k', 1, count)
    expect(failed).toEqual([])
    expect(dying.child.signalCode).toBe('SIGKILL')
    await dead
    // The subscriber comes back on the live node.
    await sub.endAsync(true)
    const after = await receiver(port, { ...persistent, clientId: 'k-sub' })
    const received = () =>
      new Set([...before.got, ...after.got].map((text) => text.slice(text.indexOf('=') + 1)))
    await until(
      () => [...acked].every((payload) => received().has(payload)),
      () =>
        `${[...acked].filter((p) => received().has(p)).length} of ${acked.size} acknowledged messages received`,
    )
  })

  it('5.0: [MQTT-4.3.3-2] kill -9 of the node a QoS 2 publisher is on: it reconnects to another node and sends again, and each message reaches a subscriber there exactly once', async () => {
    const { dying, port, dead } = await mortalAndSurvivor()
    const sub = await subscriber(port, 'q2-sub', 'q2/#', 2)
    // The publisher's session persists, so the node it reconnects to knows the QoS 2 identifiers held.
    const publisher = await client(dying.port, {
      ...persistent,
      clientId: 'q2-pub',
      servers: [
        { host: '127.0.0.1', port: dying.port },
        { host: '127.0.0.1', port },
      ],
    })
    const count = 200
    const { acked, failed } = await trafficUntilKilled(publisher, dying.child, 'q2', 2, count)
    expect(failed).toEqual([])
    // Every message was acknowledged in the end: the publisher sent what the dead node had not, to the other.
    expect(acked.size).toBe(count)
    expect(dying.child.signalCode).toBe('SIGKILL')
    await dead
    await until(
      () => new Set(sub.got).size === count,
      () => `${new Set(sub.got).size} of ${count} QoS 2 messages at the subscriber`,
    )
    expect(sub.got.length, 'QoS 2 messages delivered twice').toBe(count)
  })
})
