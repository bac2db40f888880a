/**
 * The default example broker as a process of its own (examples/basic/dist/main.js, built by `pnpm build`),
 * so that a load test's clients and the broker do not share one event loop: a broker that stalls under load
 * is seen stalling, not slowed together with its clients.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const MAIN = fileURLToPath(new URL('../../../examples/basic/dist/main.js', import.meta.url))
const LISTENING = /listening on mqtt:\/\/[^\s]*:(\d+)/

export interface BrokerProcess {
  readonly port: number
  readonly child: ChildProcess
  /** What the broker printed on stderr so far. */
  stderr(): string
  /** SIGTERM, then SIGKILL after 5 s; resolves when the process has exited. */
  stop(): Promise<void>
}

/** Starts the built example broker on a free port of 127.0.0.1 and resolves once it listens. */
export async function startBrokerProcess(args: readonly string[] = []): Promise<BrokerProcess> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`pnpm build\` first`)
  const child = spawn(process.execPath, [MAIN, '--port', '0', '--host', '127.0.0.1', ...args], {
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-16_384)
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`the broker did not start in 10 s: ${stderr}`)), 10_000)
    child.once('exit', (code) => reject(new Error(`the broker exited (${code}) before listening: ${stderr}`)))
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      const match = LISTENING.exec(out)
      if (match) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    })
  })
  return {
    port,
    child,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    },
  }
}
