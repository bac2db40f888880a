/**
 * `pnpm start:cluster` as a user runs it: the example's main from source, three nodes on free loopback ports,
 * a Redis of its own or one given with --redis, real MQTT clients, Ctrl-C (SIGINT) stopping every process.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { hasRedis, RedisServer } from '@mqtt-stack/redis-backend/testing'
import { connectAsync, type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it, onTestFinished } from 'vitest'
import { freePort } from '../src/redis.js'

const cwd = fileURLToPath(new URL('..', import.meta.url))
const started: Array<{ child: ChildProcess; lines: string[] }> = []

// A test that failed half-way: its main is killed, and so are the nodes and the redis-server it printed,
// which a killed main cannot stop.
afterEach(() => {
  for (const { child, lines } of started.splice(0)) {
    if (child.exitCode === null) child.kill('SIGKILL')
    for (const pid of pids(lines)) if (alive(pid)) process.kill(pid, 'SIGKILL')
  }
})

/** The cluster's main from source, with every line it prints collected; `until` waits for one. */
function start(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  started.push({ child, lines })
  const waiting: Array<{ match: RegExp; resolve: (line: string) => void }> = []
  const seen = (line: string) => {
    lines.push(line)
    for (const w of [...waiting])
      if (w.match.test(line)) {
        waiting.splice(waiting.indexOf(w), 1)
        w.resolve(line)
      }
  }
  createInterface({ input: child.stdout! }).on('line', seen)
  createInterface({ input: child.stderr! }).on('line', seen)
  const until = (match: RegExp): Promise<string> => {
    const line = lines.find((l) => match.test(l))
    if (line !== undefined) return Promise.resolve(line)
    return new Promise((resolve) => waiting.push({ match, resolve }))
  }
  return { child, lines, until }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The PIDs of the nodes (and of the redis-server, when it started one) from what it printed. */
const pids = (lines: string[]): number[] =>
  lines.flatMap((line) => {
    const match = /\(pid (\d+)\)/.exec(line)
    return match ? [Number(match[1])] : []
  })

async function client(port: number, clientId: string): Promise<MqttClient> {
  const c = await connectAsync({ host: '127.0.0.1', port, clientId, reconnectPeriod: 0 })
  onTestFinished(() => c.endAsync(true))
  return c
}

function nextMessage(c: MqttClient): Promise<[string, string]> {
  return new Promise((resolve) => c.once('message', (topic, payload) => resolve([topic, String(payload)])))
}

/** Sends SIGINT as Ctrl-C does, and checks that every process it printed a PID for has gone. */
async function interrupt(cluster: ReturnType<typeof start>): Promise<void> {
  const processes = pids(cluster.lines)
  cluster.child.kill('SIGINT')
  const [code] = await once(cluster.child, 'exit')
  expect(code).toBe(0)
  expect(processes.filter(alive)).toEqual([])
}

describe.runIf(hasRedis())('examples/cluster (pnpm start:cluster)', () => {
  it('starts a Redis and three nodes, one per --ports entry; a message published on one node reaches a subscriber on another; SIGINT stops them all', async () => {
    const ports = [await freePort(), await freePort(), await freePort()]
    const cluster = start(['--ports', ports.join(',')])
    await cluster.until(/^start:cluster: 3 nodes on redis:\/\/127\.0\.0\.1:\d+/)
    for (const [i, port] of ports.entries())
      expect(cluster.lines).toContainEqual(
        expect.stringMatching(
          new RegExp(`^node ${i + 1} \\(pid \\d+\\) listening on mqtt://127\\.0\\.0\\.1:${port}$`),
        ),
      )
    expect(pids(cluster.lines)).toHaveLength(4)

    const subscriber = await client(ports[0]!, 'sub-on-node-1')
    await subscriber.subscribeAsync('cluster/#', { qos: 1 })
    const publisher = await client(ports[1]!, 'pub-on-node-2')
    const received = nextMessage(subscriber)
    await publisher.publishAsync('cluster/hello', 'from node 2', { qos: 1 })
    expect(await received).toEqual(['cluster/hello', 'from node 2'])

    await interrupt(cluster)
    expect(cluster.lines).toContain('start:cluster: stopped')
  })

  it('uses a running Redis given with --redis: it starts none, and the nodes keep their state there', async () => {
    const redis = await RedisServer.start()
    onTestFinished(() => redis.close())
    const ports = [await freePort(), await freePort()]
    const cluster = start(['--ports', ports.join(','), '--redis', redis.url, '--prefix', 'given:'])
    await cluster.until(/^start:cluster: 2 nodes on /)
    expect(cluster.lines.some((line) => line.startsWith('redis-server'))).toBe(false)
    expect(cluster.lines).toContain(
      `start:cluster: 2 nodes on ${redis.url} (prefix given:); Ctrl-C stops them`,
    )

    // A persistent session made through node 1 is found by node 2: the session lives in Redis.
    const first = await connectAsync({
      host: '127.0.0.1',
      port: ports[0]!,
      clientId: 'durable',
      clean: false,
      reconnectPeriod: 0,
    })
    await first.subscribeAsync('kept/topic', { qos: 1 })
    await first.endAsync()
    const again = await connectAsync({
      host: '127.0.0.1',
      port: ports[1]!,
      clientId: 'durable',
      clean: false,
      reconnectPeriod: 0,
    })
    onTestFinished(() => again.endAsync(true))
    const connack = await new Promise<boolean>((resolve) => {
      // connectAsync resolved already; the CONNACK's Session Present is on the client's connack event.
      again.once('connect', (packet) => resolve(packet.sessionPresent))
      again.reconnect()
    })
    expect(connack).toBe(true)
    await interrupt(cluster)
    expect(redis.pid !== undefined && alive(redis.pid)).toBe(true)
  })

  it('--port with --nodes: the nodes share one port (node:cluster), and every connection is served', async () => {
    const port = await freePort()
    const cluster = start(['--port', String(port), '--nodes', '2'])
    await cluster.until(/^start:cluster: 2 nodes on /)
    expect(
      cluster.lines.filter((line) => line.endsWith(`listening on mqtt://127.0.0.1:${port}`)),
    ).toHaveLength(2)
    const clients = await Promise.all([0, 1, 2, 3].map((i) => client(port, `shared-${i}`)))
    expect(clients.every((c) => c.connected)).toBe(true)
    await interrupt(cluster)
  })
})

describe('examples/cluster refuses what it cannot do', () => {
  it('says how to get redis-server when it is not on the PATH, and exits 1', async () => {
    // A PATH with only node on it (node may share its directory with redis-server, as in /usr/bin).
    const bin = mkdtempSync(join(tmpdir(), 'cluster-path-'))
    onTestFinished(() => rmSync(bin, { recursive: true, force: true }))
    symlinkSync(process.execPath, join(bin, 'node'))
    const cluster = start(['--ports', '1883'], { ...process.env, PATH: bin })
    const [code] = await once(cluster.child, 'exit')
    expect(code).toBe(1)
    expect(cluster.lines.join('\n')).toMatch(
      /redis-server is not on the PATH\. Install Redis .* --redis redis:\/\/HOST:PORT/,
    )
  })

  it('exits 2 with the usage for a wrong argument', async () => {
    const cluster = start(['--ports', '1883,abc'])
    const [code] = await once(cluster.child, 'exit')
    expect(code).toBe(2)
    expect(cluster.lines[0]).toBe('start:cluster: --ports must be a port from 1 to 65535, not "abc"')
    expect(cluster.lines).toContain('usage: pnpm start:cluster [-- options]')
  })
})
