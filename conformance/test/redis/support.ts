/**
 * What the tests of the default broker on Redis share: a broker node started as a process of its own (so
 * that a test can `kill -9` it), MQTT.js clients that reconnect by themselves, and waiting for progress.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
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

/** Starts a broker node on `port` (0: a free one), with more RedisBackend `options`; resolves once it listens. */
export async function startNode(
  url: string,
  prefix: string,
  port: number,
  options: Record<string, unknown> = {},
): Promise<Node> {
  const args = ['--import', TSX, NODE, url, prefix, String(port), JSON.stringify(options)]
  const child = spawn(process.execPath, args, {
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

/** A connected MQTT.js client that reconnects to the same port every 100 ms, closed after the test. */
export async function client(port: number, options: IClientOptions): Promise<MqttClient> {
  const c = await mqtt.connectAsync({ host: '127.0.0.1', port, reconnectPeriod: 100, ...options })
  onTestFinished(() => c.endAsync(true))
  return c
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
