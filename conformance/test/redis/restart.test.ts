/**
 * The default broker on @mqtt-stack/redis-backend, killed with `kill -9` during QoS 1 and QoS 2 traffic and
 * started again on the same Redis and port: what its clients were promised must still hold. redis-server
 * comes from scripts/install-test-deps.sh: without it these tests are skipped, except under CI=true.
 */
import { once } from 'node:events'
import { hasRedis, RedisServer } from '@mqtt-stack/redis-backend/testing'
import { describe, expect, it, onTestFinished } from 'vitest'
import { client, progress, receiver, startNode, until } from './nodes.js'

describe.runIf(hasRedis())(
  'the default broker on redis-backend, killed and started again',
  { timeout: 90_000 },
  () => {
    it('[MQTT-3.1.2-4] [MQTT-4.3.3-2] after kill -9 during QoS 1 and 2 traffic, persistent sessions resume: no accepted QoS 1 message lost, no QoS 2 message twice, retained messages there', async () => {
      const redis = await RedisServer.start()
      onTestFinished(() => redis.close())
      const prefix = `e2e-${process.pid}:`
      const first = await startNode(redis.url, prefix, 0)
      const { port } = first

      // An MQTT 5.0 subscriber that is away (its QoS 1 messages are queued in Redis) and one that stays
      // connected (its QoS 2 messages are inflight when the node dies).
      const persistent = {
        clean: false,
        protocolVersion: 5,
        properties: { sessionExpiryInterval: 3600 },
      } as const
      const away = await client(port, { ...persistent, clientId: 'e2e-away' })
      await away.subscribeAsync('q1/#', { qos: 1 })
      await away.endAsync()
      const present = await client(port, { ...persistent, clientId: 'e2e-present' })
      await present.subscribeAsync('q2/#', { qos: 2 })
      const atPresent: string[] = []
      present.on('message', (_topic, payload) => {
        atPresent.push(payload.toString())
        progress.emit('progress')
      })

      const publisher = await client(port, { clean: false, clientId: 'e2e-publisher', protocolVersion: 4 })
      await publisher.publishAsync('retained/1', 'kept', { qos: 1, retain: true })
      const count = 200
      const acked = { 1: new Set<string>(), 2: new Set<string>() }
      const failed: string[] = []
      // Ten messages unacknowledged at most, QoS 1 and 2 in turn, each acknowledgement sending the next: the
      // traffic is still flowing when the node is killed, at once, from the callback of the 50th PUBACK.
      const exited = once(first.child, 'exit')
      let sent = 0
      let answered = 0
      const pump = (): void => {
        while (sent - answered < 10 && sent < 2 * count) {
          const qos = sent % 2 === 0 ? 1 : 2
          const payload = `${qos}-${Math.floor(sent / 2)}`
          sent++
          publisher.publish(`q${qos}/${payload}`, payload, { qos }, (err) => {
            answered++
            if (err) failed.push(`${payload}: ${err.message}`)
            else acked[qos].add(payload)
            if (acked[1].size === 50 && first.child.exitCode === null) first.child.kill('SIGKILL')
            pump()
            progress.emit('progress')
          })
        }
      }
      pump()
      await exited
      // Killed during the traffic: some messages accepted, others not yet.
      expect(acked[1].size + acked[2].size).toBeLessThan(2 * count)

      // The same Redis, the same port: the clients reconnect by themselves and send again what was not acknowledged.
      await startNode(redis.url, prefix, port)
      await until(
        () => acked[1].size + acked[2].size === 2 * count,
        () =>
          `${acked[1].size} + ${acked[2].size} of ${2 * count} acknowledged; failed: ${failed.join(', ')}`,
      )
      expect(failed).toEqual([])

      const back = await receiver(port, { ...persistent, clientId: 'e2e-away' })
      const atAway = () => new Set(back.got.map((text) => text.slice(text.indexOf('=') + 1)))
      // Every acknowledged QoS 1 message reaches the persistent session that was away (duplicates allowed).
      await until(
        () => [...acked[1]].every((payload) => atAway().has(payload)),
        () => `${atAway().size} of ${acked[1].size} QoS 1 messages at the session that was away`,
      )
      // Every QoS 2 message reaches the session that was connected, exactly once.
      await until(
        () => new Set(atPresent).size === count,
        () => `${new Set(atPresent).size} of ${count} QoS 2 messages at the session that was connected`,
      )
      expect(atPresent.length, 'QoS 2 messages delivered twice').toBe(count)

      const retained = await client(port, { clientId: 'e2e-retained' })
      const got = new Promise<string>((resolve) =>
        retained.once('message', (topic, payload) => resolve(`${topic}=${payload}`)),
      )
      await retained.subscribeAsync('retained/#', { qos: 1 })
      expect(await got).toBe('retained/1=kept')
    })
  },
)
