/**
 * The default broker on @mqtt-stack/redis-backend when Redis goes away during QoS 1 traffic: its connection
 * to Redis cut for a few seconds (a proxy between them drops it), and Redis restarted with appendonly on.
 * However the broker copes meanwhile, no accepted QoS 1 message may be lost and the broker must not crash.
 */

import { hasRedis, RedisServer, TcpProxy } from '@mqtt-stack/redis-backend/testing'
import mqtt, { type IConnackPacket } from 'mqtt'
import { describe, expect, it, onTestFinished } from 'vitest'
import { client, collect, type Node, progress, type Received, startNode, until, WAIT_MS } from './nodes.js'

/** How long Redis stays away: long enough for every kind of command to be waiting when it comes back. */
const AWAY_MS = 3000
const COUNT = 300

const persistent = { clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } } as const

/**
 * QoS 1 messages, ten unacknowledged at most, each PUBACK sending the next; `fault` runs once the 50th is
 * acknowledged, while the traffic flows. Resolves once all are acknowledged, with them and how many times
 * the broker closed the publisher's connection meanwhile.
 */
async function publishThrough(
  node: Node,
  fault: () => Promise<void>,
): Promise<{ acked: Set<string>; disconnects: number }> {
  const publisher = await client(node.port, { clean: false, clientId: 'f-publisher', protocolVersion: 4 })
  let disconnects = 0
  publisher.on('close', () => disconnects++)
  const acked = new Set<string>()
  const failed: string[] = []
  let sent = 0
  let answered = 0
  let faulted: Promise<void> | undefined
  const pump = (): void => {
    while (sent - answered < 10 && sent < COUNT) {
      const payload = String(sent++)
      publisher.publish(`f/${payload}`, payload, { qos: 1 }, (err) => {
        answered++
        if (err) failed.push(`${payload}: ${err.message}`)
        else acked.add(payload)
        if (acked.size === 50) faulted ??= fault()
        pump()
        progress.emit('progress')
      })
    }
  }
  pump()
  await until(
    () => acked.size === COUNT,
    () => `${acked.size} of ${COUNT} acknowledged; failed: ${failed.join(', ')}`,
  )
  await faulted
  expect(failed).toEqual([])
  return { acked, disconnects }
}

async function subscribers(node: Node) {
  const away = await client(node.port, { ...persistent, clientId: 'f-away' })
  await away.subscribeAsync('f/#', { qos: 1 })
  await away.endAsync()
  const present = await client(node.port, { ...persistent, clientId: 'f-present' })
  await present.subscribeAsync('f/#', { qos: 1 })
  return { present: collect(present) }
}

/** Every acknowledged message reaches both persistent sessions (QoS 1: duplicates allowed). */
async function everyMessageArrived(node: Node, acked: Set<string>, present: Received): Promise<void> {
  const all = (received: Received) => [...acked].every((p) => received.got.includes(`f/${p}=${p}`))
  await until(
    () => all(present),
    () => `${new Set(present.got).size} of ${acked.size} at the session that stayed connected`,
  )
  const away = collect(await client(node.port, { ...persistent, clientId: 'f-away' }))
  await until(
    () => all(away),
    () => `${new Set(away.got).size} of ${acked.size} at the session that was away`,
  )
}

/**
 * The CONNACK a new MQTT 5.0 client gets: its reason code and Session Present, and, for a refusal, once the
 * broker has closed the connection.
 */
async function connack(port: number): Promise<{ reasonCode: number; sessionPresent: boolean }> {
  const c = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: 5, reconnectPeriod: 0 })
  onTestFinished(() => c.endAsync(true))
  c.on('error', () => {}) // a refusal is what some tests expect
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()))
  const packet = await new Promise<IConnackPacket>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no CONNACK within ${WAIT_MS} ms`)), WAIT_MS)
    c.once('packetreceive', (received) => {
      clearTimeout(timer)
      if (received.cmd === 'connack') resolve(received)
      else reject(new Error(`${received.cmd} before CONNACK`))
    })
  })
  const answer = { reasonCode: packet.reasonCode ?? 0, sessionPresent: packet.sessionPresent }
  if (answer.reasonCode >= 0x80) await closed
  return answer
}

describe.runIf(hasRedis())(
  'the default broker on redis-backend when Redis goes away',
  { timeout: 90_000 },
  () => {
    it('[MQTT-4.3.2-2] its Redis connection cut for 3 s during QoS 1 traffic: no acknowledged message lost, the broker stays up', async () => {
      const redis = await RedisServer.start()
      onTestFinished(() => redis.close())
      const proxy = await TcpProxy.start(redis.port)
      onTestFinished(() => proxy.close())
      const node = await startNode(proxy.url, `faults-cut-${process.pid}:`, 0)
      const { present } = await subscribers(node)
      const { acked, disconnects } = await publishThrough(node, async () => {
        proxy.cut()
        await new Promise((resolve) => setTimeout(resolve, AWAY_MS))
        proxy.restore()
      })
      await everyMessageArrived(node, acked, present)
      // Commands waited for Redis: nobody was disconnected.
      expect(disconnects).toBe(0)
      expect(node.child.exitCode).toBeNull()
    })

    it('MQTT 5.0: [MQTT-3.2.2-6] [MQTT-3.2.2-7] Redis away past unavailableTimeout: a CONNECT gets CONNACK 0x88 with Session Present 0, then close; a publisher whose message could not be stored is disconnected unacknowledged and sends it again; nothing acknowledged is lost; the outage is reported once', async () => {
      const redis = await RedisServer.start()
      onTestFinished(() => redis.close())
      const proxy = await TcpProxy.start(redis.port)
      onTestFinished(() => proxy.close())
      const node = await startNode(proxy.url, `faults-long-${process.pid}:`, 0, { unavailableTimeout: 1000 })
      const { present } = await subscribers(node)
      const { acked, disconnects } = await publishThrough(node, async () => {
        proxy.cut()
        // The session cannot be looked up: Server unavailable [MQTT-3.2.2-6], rather than a CONNECT left waiting.
        expect(await connack(node.port)).toEqual({ reasonCode: 0x88, sessionPresent: false })
        proxy.restore()
      })
      await everyMessageArrived(node, acked, present)
      // A message that could not be stored was not acknowledged: the publisher was disconnected and sent it again.
      expect(disconnects).toBeGreaterThan(0)
      expect(await connack(node.port)).toEqual({ reasonCode: 0, sessionPresent: false })
      expect(node.child.exitCode).toBeNull()
      expect(node.output().match(/MQS_ERR_REDIS: redis-backend: the connection to Redis/g)).toHaveLength(1)
    })

    it('[MQTT-4.3.2-2] Redis restarted (appendonly yes) during QoS 1 traffic: no acknowledged message lost, the broker stays up', async () => {
      const redis = await RedisServer.start({ appendonly: true })
      onTestFinished(() => redis.close())
      const node = await startNode(redis.url, `faults-restart-${process.pid}:`, 0)
      const { present } = await subscribers(node)
      const { acked, disconnects } = await publishThrough(node, () => redis.restart())
      await everyMessageArrived(node, acked, present)
      expect(disconnects).toBe(0)
      expect(node.child.exitCode).toBeNull()
    })
  },
)
