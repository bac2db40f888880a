/**
 * The mqtt-stack command with `backend: { type: redis }` in its config file: @mqtt-stack/redis-backend is
 * imported, and a persistent session outlives a restart of the command on the same Redis.
 */
import { hasRedis, RedisServer } from '@mqtt-stack/redis-backend/testing'
import mqtt from 'mqtt'
import { describe, expect, it, onTestFinished } from 'vitest'
import { runCli, tempDir } from './cli-support.js'
import { connectClient } from './support.js'

describe.runIf(hasRedis())('the mqtt-stack command on Redis', { timeout: 60_000 }, () => {
  it('[MQTT-3.1.2-4] backend type redis: a persistent session and its queued QoS 1 message outlive a restart of the command', async () => {
    const redis = await RedisServer.start()
    onTestFinished(() => redis.close())
    const dir = tempDir({
      'broker.yaml': `backend:\n  type: redis\n  url: ${redis.url}\n  prefix: "cli-test:"\n`,
    })
    const start = () =>
      runCli(['--config', 'broker.yaml', '--port', '0', '--host', '127.0.0.1'], { cwd: dir })

    const first = start()
    const [url] = await first.listening()
    const subscriber = await connectClient(url!, { clientId: 'kept', clean: false })
    await subscriber.subscribeAsync('kept/#', { qos: 1 })
    await subscriber.endAsync()
    const publisher = await connectClient(url!, { clientId: 'pub' })
    await publisher.publishAsync('kept/news', 'queued while away', { qos: 1 })
    await publisher.endAsync()
    first.child.kill('SIGTERM')
    expect(await first.exit()).toBe(0)

    const second = start()
    const [again] = await second.listening()
    // Listening for the message from before the CONNACK: the queued one may come in the same read.
    const resumed = mqtt.connect(again!, { clientId: 'kept', clean: false, reconnectPeriod: 0 })
    onTestFinished(() => resumed.endAsync(true))
    const message = new Promise<string>((resolve) =>
      resumed.once('message', (topic, payload) => resolve(`${topic}=${payload}`)),
    )
    const connack = new Promise<boolean>((resolve) =>
      resumed.once('connect', (p) => resolve(p.sessionPresent)),
    )
    expect(await connack).toBe(true)
    expect(await message).toBe('kept/news=queued while away')
    await resumed.endAsync()
    second.child.kill('SIGTERM')
    expect(await second.exit()).toBe(0)
    expect(second.stderr()).toBe('')
  })

  it('a redis option the backend refuses exits 2 and names it', async () => {
    const dir = tempDir({ 'broker.yaml': 'backend:\n  type: redis\n  prefix: "a{b}"\n' })
    const cli = runCli(['--config', 'broker.yaml'], { cwd: dir })
    expect(await cli.exit()).toBe(2)
    expect(cli.stderr()).toMatch(/^mqtt-stack: backend: redis-backend: prefix must not contain \{ or \}/)
  })
})
