import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

const cwd = fileURLToPath(new URL('..', import.meta.url))
const started: ChildProcess[] = []

/** Starts the example's entry point as `pnpm start` would, from source; resolves with its first line. */
async function start(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  started.push(child)
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  const first = await lines.next()
  return { child, lines, first: String(first.value ?? '') }
}

afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
})

describe('the example broker process', () => {
  it('prints where it listens, takes --port, and stops cleanly on SIGTERM', async () => {
    const { child, lines, first } = await start(['--port', '0', '--host', '127.0.0.1'])
    const match = /^mqtt-stack broker listening on mqtt:\/\/127\.0\.0\.1:(\d+)$/.exec(first)
    expect(match).not.toBeNull()
    const socket = connect(Number(match![1]), '127.0.0.1')
    await once(socket, 'connect')
    const socketClosed = once(socket, 'close')
    socket.on('data', () => {})
    socket.on('end', () => socket.end())
    child.kill('SIGTERM')
    expect((await lines.next()).value).toBe('mqtt-stack broker stopping (SIGTERM)')
    const [code] = await once(child, 'exit')
    expect(code).toBe(0)
    await socketClosed
  })

  it('takes PORT and HOST from the environment and stops on SIGINT', async () => {
    const { child, first } = await start([], { PORT: '0', HOST: '127.0.0.1' })
    expect(first).toMatch(/^mqtt-stack broker listening on mqtt:\/\/127\.0\.0\.1:\d+$/)
    child.kill('SIGINT')
    const [code] = await once(child, 'exit')
    expect(code).toBe(0)
  })

  it('exits with status 2 and a message for an invalid port', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--port', 'abc'], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    started.push(child)
    let stderr = ''
    child.stderr!.on('data', (chunk) => (stderr += chunk))
    const [code] = await once(child, 'exit')
    expect(code).toBe(2)
    expect(stderr).toContain('invalid port "abc"')
  })
})
