/**
 * Starting each broker under test as a fresh child process on a free port of 127.0.0.1, waiting until it
 * accepts connections, reading its RSS (and, for the Node brokers, its JS heap), and stopping it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readRss, sleep, withTimeout } from '../load/stats.js'

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const HERE = fileURLToPath(new URL('./', import.meta.url))
export const HOST = '127.0.0.1'

/**
 * `stack` is the built-ins assembled by hand without @mqtt-stack/broker (peers/stack-server.mjs): the
 * measure of what createBroker and the CLI cost `ours`. `stack-ops` is the same stack with the operations
 * middlewares (metrics, its endpoint listening): the measure of what they cost, against `stack`.
 */
export type BrokerName =
  | 'ours'
  | 'stack'
  | 'stack-ops'
  | 'aedes'
  | 'mosquitto'
  | 'relay'
  | 'stack-redis'
  | 'aedes-redis'
export const BROKER_NAMES: readonly BrokerName[] = [
  'ours',
  'stack',
  'stack-ops',
  'aedes',
  'mosquitto',
  'relay',
  'stack-redis',
  'aedes-redis',
]

/**
 * The brokers on Redis: `stack-redis` is the hand-built stack with RedisBackend in place of MemoryBackend,
 * `aedes-redis` is aedes with mqemitter-redis and aedes-persistence-redis. Each run of one gets its own
 * redis-server; the scenarios on Redis start a second process of the same broker on it (two nodes).
 */
export const REDIS_BROKERS: readonly BrokerName[] = ['stack-redis', 'aedes-redis']

export interface StartOptions {
  /** Run our broker from its TypeScript sources with tsx instead of examples/basic/dist. */
  fromSource?: boolean
  /** More command-line arguments of our broker (the `mqtt-stack` command), e.g. `--config FILE`. */
  args?: readonly string[]
  /** For the brokers on Redis (required there): the Redis URL, and the key prefix of the broker's nodes. */
  redis?: string
  prefix?: string
}

export interface RunningBroker {
  readonly name: BrokerName
  readonly pid: number
  readonly host: string
  readonly port: number
  /** Resident set size of the broker process in bytes. */
  rss(): number | undefined
  /**
   * The V8 heap in use in the broker process, in bytes, as the process itself reports it (ours, aedes and
   * the relay, through memory-probe.cjs); undefined for mosquitto, or when no answer came within
   * `timeoutMs` (its event loop was blocked that long).
   */
  heapUsed(timeoutMs?: number): Promise<number | undefined>
  /** The same answer in full: the V8 heap in use and the memory outside it (ArrayBuffers, Buffers). */
  nodeMemory(timeoutMs?: number): Promise<NodeMemory | undefined>
  /** Set when the process exited before `stop()` was called: a crash. */
  readonly crashed: () => string | undefined
  /** The last few kilobytes of its stderr (errors it printed). */
  readonly stderr: () => string
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves once the process has exited. */
  stop(timeoutMs?: number): Promise<void>
  /** `kill -9` (not counted as a crash); resolves once the process has exited. */
  kill(): Promise<void>
}

/** Why a broker cannot run here (with how to fix it), or undefined when it can. */
export function unavailable(name: BrokerName, options: StartOptions = {}): string | undefined {
  if (name === 'mosquitto') {
    const found = spawnSync('sh', ['-c', 'command -v mosquitto'], { encoding: 'utf8' })
    if (found.status !== 0) return 'mosquitto is not on PATH (install it with `apt-get install mosquitto`)'
  }
  if (
    name === 'stack-redis' &&
    !options.fromSource &&
    !existsSync(join(ROOT, 'packages/redis-backend/dist/index.js'))
  ) {
    return 'packages/redis-backend/dist is missing (run `pnpm build` first)'
  }
  if (REDIS_BROKERS.includes(name)) {
    for (const program of ['redis-server', 'redis-cli']) {
      const found = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' })
      if (found.status !== 0) return `${program} is not on PATH (scripts/install-test-deps.sh installs it)`
    }
  }
  if (name === 'ours' && !options.fromSource && !existsSync(join(ROOT, 'examples/basic/dist/main.js'))) {
    return 'examples/basic/dist/main.js is missing (run `pnpm build` first)'
  }
  return undefined
}

/** A port that was free a moment ago (for mosquitto, which cannot listen on port 0 and report it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Resolves once a TCP connection to host:port succeeds, polling every 20 ms up to `timeoutMs`. */
async function waitAccepting(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port })
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    if (performance.now() > deadline) throw new Error(`nothing accepts connections on ${host}:${port}`)
    await sleep(20)
  }
}

/**
 * Extra Node flags for our broker and the hand-built stacks (stack, stack-ops, stack-redis), to profile them
 * in a real scenario: BENCH_OURS_NODE_ARGS="--cpu-prof".
 */
function oursNodeArgs(): string[] {
  return (process.env.BENCH_OURS_NODE_ARGS ?? '').split(' ').filter(Boolean)
}

const LISTENING = /listening on mqtt:\/\/[^\s]*:(\d+)/

/** Preloaded into every Node broker: answers memory requests on the IPC channel (fd 3). */
const PROBE = ['--require', join(HERE, 'memory-probe.cjs')]
const NODE_STDIO: ['pipe', 'pipe', 'pipe', 'ipc'] = ['pipe', 'pipe', 'pipe', 'ipc']
const MEMORY = 'mqtt-stack-bench:memory'

/** What a Node broker reports of its memory (process.memoryUsage()), in bytes. */
export interface NodeMemory {
  heapUsed: number
  /** C++ memory bound to JS objects: the backing stores of ArrayBuffers and Buffers (socket chunks). */
  external: number
}

interface MemoryAnswer extends NodeMemory {
  type: typeof MEMORY
  id: number
}

/** Starts `name` as a child process and resolves once it accepts connections. */
export async function startBroker(name: BrokerName, options: StartOptions = {}): Promise<RunningBroker> {
  const why = unavailable(name, options)
  if (why) throw new Error(why)
  const env = { ...process.env, NODE_ENV: 'production' }
  const redis = (): string[] => {
    if (options.redis === undefined) throw new Error(`${name} needs the URL of its Redis`)
    return ['--redis', options.redis, '--prefix', options.prefix ?? 'bench:']
  }
  // The hand-built stacks import the workspace packages: from their dist, or from their sources through the
  // tsconfig paths of examples/basic (tsx reads them from the working directory).
  const stack = (args: readonly string[]): ChildProcess =>
    spawn(
      process.execPath,
      [
        ...PROBE,
        ...oursNodeArgs(),
        ...(options.fromSource ? ['--import', 'tsx'] : []),
        join(HERE, 'stack-server.mjs'),
        '--port',
        '0',
        '--host',
        HOST,
        ...args,
      ],
      { cwd: options.fromSource ? join(ROOT, 'examples/basic') : ROOT, env, stdio: NODE_STDIO },
    )
  let child: ChildProcess
  let port: number | undefined
  let cleanup: (() => void) | undefined
  switch (name) {
    case 'ours':
      child = options.fromSource
        ? spawn(
            process.execPath,
            [
              ...PROBE,
              '--import',
              'tsx',
              'src/main.ts',
              '--port',
              '0',
              '--host',
              HOST,
              ...(options.args ?? []),
            ],
            { cwd: join(ROOT, 'examples/basic'), env, stdio: NODE_STDIO },
          )
        : spawn(
            process.execPath,
            [
              ...PROBE,
              ...oursNodeArgs(),
              join(ROOT, 'examples/basic/dist/main.js'),
              '--port',
              '0',
              '--host',
              HOST,
              ...(options.args ?? []),
              // Flags of the `mqtt-stack` command for a side-by-side run: BENCH_OURS_ARGS=--quiet.
              ...(process.env.BENCH_OURS_ARGS ?? '').split(' ').filter(Boolean),
            ],
            { cwd: ROOT, env, stdio: NODE_STDIO },
          )
      break
    case 'aedes':
    case 'aedes-redis':
      child = spawn(
        process.execPath,
        [
          ...PROBE,
          join(HERE, 'aedes-server.mjs'),
          '--port',
          '0',
          '--host',
          HOST,
          ...(name === 'aedes-redis' ? redis() : []),
        ],
        { cwd: ROOT, env, stdio: NODE_STDIO },
      )
      break
    case 'stack':
      child = stack([])
      break
    case 'stack-ops':
      child = stack(['--ops'])
      break
    case 'stack-redis':
      child = stack(redis())
      break
    case 'relay':
      child = spawn(
        process.execPath,
        [...PROBE, join(HERE, `${name}-server.mjs`), '--port', '0', '--host', HOST],
        { cwd: ROOT, env, stdio: NODE_STDIO },
      )
      break
    case 'mosquitto': {
      port = await freePort()
      const dir = mkdtempSync(join(tmpdir(), 'mqtt-stack-bench-'))
      const config = join(dir, 'mosquitto.conf')
      writeFileSync(
        config,
        `listener ${port} ${HOST}\nallow_anonymous true\npersistence false\nmax_queued_messages 1000\n`,
      )
      cleanup = () => rmSync(dir, { recursive: true, force: true })
      child = spawn('mosquitto', ['-c', config], { cwd: dir, env })
      break
    }
  }
  let stderr = ''
  let stdout = ''
  let stopping = false
  let exit: string | undefined
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      if (!stopping) exit = `exited during the run with ${signal ?? `code ${code}`}`
      cleanup?.()
      resolve()
    })
  })
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-4096)
  })
  const ready = new Promise<number>((resolve, reject) => {
    if (port !== undefined) return resolve(port)
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      if (stdout.length < 4096) stdout += text
      const match = LISTENING.exec(stdout)
      if (match) resolve(Number(match[1]))
    })
    child.once('exit', () => reject(new Error(`${name} exited before listening: ${stderr || stdout}`)))
  })
  ready.catch(() => {}) // awaited below; a late exit must not become an unhandled rejection
  // Keep reading stdout so that a chatty broker never blocks on a full pipe.
  child.stdout?.resume()
  const memoryWaiters = new Map<number, (memory: NodeMemory | undefined) => void>()
  let memoryId = 0
  child.on('message', (message: MemoryAnswer) => {
    if (message?.type !== MEMORY) return
    memoryWaiters.get(message.id)?.({ heapUsed: message.heapUsed, external: message.external })
  })
  const nodeMemory = (timeoutMs = 2000): Promise<NodeMemory | undefined> => {
    if (!child.connected) return Promise.resolve(undefined)
    const id = ++memoryId
    return new Promise((resolve) => {
      const timer = setTimeout(() => answer(undefined), timeoutMs)
      const answer = (value: NodeMemory | undefined): void => {
        clearTimeout(timer)
        memoryWaiters.delete(id)
        resolve(value)
      }
      memoryWaiters.set(id, answer)
      child.send({ type: MEMORY, id }, (err) => {
        if (err) answer(undefined)
      })
    })
  }
  const heapUsed = async (timeoutMs = 2000): Promise<number | undefined> =>
    (await nodeMemory(timeoutMs))?.heapUsed
  const stop = async (timeoutMs = 5000): Promise<void> => {
    stopping = true
    if (child.exitCode !== null || child.signalCode !== null) return exited
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    await exited
    clearTimeout(timer)
  }
  const kill = async (): Promise<void> => {
    stopping = true
    if (child.exitCode !== null || child.signalCode !== null) return exited
    child.kill('SIGKILL')
    await exited
  }
  try {
    const boundPort = await withTimeout(ready, 20_000, `${name} did not start within 20 s`)
    await waitAccepting(HOST, boundPort, 10_000)
    const pid = child.pid!
    return {
      name,
      pid,
      host: HOST,
      port: boundPort,
      rss: () => readRss(pid),
      heapUsed,
      nodeMemory,
      crashed: () => exit,
      stderr: () => stderr,
      stop,
      kill,
    }
  } catch (err) {
    await stop(1000)
    throw err
  }
}
