/**
 * What the tests of brokers on Redis share: broker nodes as processes of their own (so that a test can
 * `kill -9` one) or in this process, MQTT.js clients closed after the test, and a wait for the messages and
 * acknowledgements the clients get.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createBroker } from '@mqtt-stack/example-basic'
import { RedisBackend, type RedisBackendOptions } from '@mqtt-stack/redis-backend'
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt'
import { onTestFinished } from 'vitest'

const CONFORMANCE = fileURLToPath(new URL('../..', import.meta.url))
/** tsx's loader by absolute URL, so the node runs the TypeScript sources through conformance's tsconfig paths. */
const TSX = pathToFileURL(join(CONFORMANCE, 'node_modules/tsx/dist/loader.mjs')).href
const NODE = fileURLToPath(new URL('./broker-node.ts', import.meta.url))
/** How long a test waits for an event (a node listening, every message arriving) before it fails. */
export const WAIT_MS = 20_000

export interface Node {
  port: number
  child: ChildProcess
  output(): string
}

/**
 * Starts a broker node process on `port` (0: a free one) and resolves once it listens. `nodeTimeoutMs`:
 * the node's heartbeat TTL (how soon another node finds it dead).
 */
export async function startNode(
  url: string,
  prefix: string,
  port: number,
  nodeTimeoutMs?: number,
): Promise<Node> {
  const args = [url, prefix, String(port)]
  if (nodeTimeoutMs !== undefined) args.push(String(nodeTimeoutMs))
  const child = spawn(process.execPath, ['--import', TSX, NODE, ...args], {
    cwd: CONFORMANCE,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  onTestFinished(() => kill(child))
  let output = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
  })
  const bound = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the node did not listen:\n${output}`)), WAIT_MS)
    child.once('exit', (code) => reject(new Error(`the node exited (${code}):\n${output}`)))
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk
      const match = /listening on mqtt:\/\/[^\s]*:(\d+)/.exec(output)
      if (match === null) return
      clearTimeout(timer)
      resolve(Number(match[1]))
    })
  })
  return { port: bound, child, output: () => output }
}

/** `kill -9`; resolves once the process is gone. */
export async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}

/** A broker node in this process: the default example broker with a RedisBackend, closed after the test. */
export async function localNode(
  options: Partial<RedisBackendOptions>,
): Promise<{ port: number; backend: RedisBackend }> {
  const backend = new RedisBackend(options)
  const broker = createBroker({ host: '127.0.0.1', port: 0, backend })
  onTestFinished(() => broker.close())
  await backend.ready()
  const { port } = await broker.listen()
  return { port, backend }
}

/** A connected MQTT.js client that reconnects to the same port every 100 ms, closed after the test. */
export async function client(port: number, options: IClientOptions): Promise<MqttClient> {
  const c = await mqtt.connectAsync({ host: '127.0.0.1', port, reconnectPeriod: 100, ...options })
  onTestFinished(() => c.endAsync(true))
  return c
}

/** What a client received, as `<topic>=<payload>` and as packets. */
export interface Received {
  got: string[]
  packets: IPublishPacket[]
}

/** Records what `c` receives from now on, emitting `progress` for each message. */
export function collect(c: MqttClient): Received {
  const received: Received = { got: [], packets: [] }
  c.on('message', (topic, payload, packet) => {
    received.got.push(`${topic}=${payload.toString()}`)
    received.packets.push(packet)
    progress.emit('progress')
  })
  return received
}

/**
 * A client that records what it receives from its CONNACK on (a resumed session's queued messages may come
 * in the same read as the CONNACK), closed after the test, with the CONNACK's Session Present flag.
 */
export async function receiver(
  port: number,
  options: IClientOptions,
): Promise<Received & { client: MqttClient; sessionPresent: boolean }> {
  const c = mqtt.connect({ host: '127.0.0.1', port, reconnectPeriod: 100, ...options })
  onTestFinished(() => c.endAsync(true))
  const received = collect(c)
  const sessionPresent = await new Promise<boolean>((resolve) =>
    c.once('connect', (connack) => resolve(connack.sessionPresent)),
  )
  return { ...received, client: c, sessionPresent }
}

/** Emits `progress` on every acknowledgement and message the clients of a test get. */
export const progress = new EventEmitter()

/** Resolves once `done()` holds, asked again on every `progress`; fails after WAIT_MS. */
export function until(done: () => boolean, what: () => string): Promise<void> {
  if (done()) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      progress.off('progress', check)
      reject(new Error(`within ${WAIT_MS} ms: ${what()}`))
    }, WAIT_MS)
    function check(): void {
      if (!done()) return
      clearTimeout(timer)
      progress.off('progress', check)
      resolve()
    }
    progress.on('progress', check)
  })
}
