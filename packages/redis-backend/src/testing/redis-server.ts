/**
 * Real redis-server processes for the tests: each on a free loopback port, with its data in a temporary
 * directory, stopped by its PID (SIGTERM, then SIGKILL). scripts/install-test-deps.sh installs Debian's
 * redis-server; without it the tests are skipped, except under CI=true, where they fail.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'

const run = promisify(execFile)

/** How long a redis-server may take to start, to stop, or a cluster to agree, in ms. */
const STARTUP_MS = 10_000

/** Every redis-server started and not yet stopped: killed when the test process exits, however it ends. */
const running = new Set<ChildProcess>()
const killRunning = (): void => {
  for (const child of running) child.kill('SIGKILL')
}

/** Whether redis-server and redis-cli are here; under CI=true a missing one is an error, elsewhere a skip. */
export function hasRedis(): boolean {
  for (const program of ['redis-server', 'redis-cli']) {
    try {
      execFileSync(program, ['--version'], { stdio: 'ignore' })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') continue
      if (process.env.CI === 'true')
        throw new Error(`${program} is missing: run scripts/install-test-deps.sh`)
      return false
    }
  }
  return true
}

/** A loopback port nobody listens on now (and, for a cluster node, its bus port `port + 10000` too). */
async function freePort(withBus = false): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenOnce(0)
    if (!withBus) return port
    if (port + 10_000 > 65_535) continue
    if ((await listenOnce(port + 10_000).catch(() => 0)) !== 0) return port
  }
  throw new Error('no free loopback port pair for a cluster node')
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as { port: number }
      server.close(() => resolve(bound))
    })
  })
}

export interface RedisServerOptions {
  /** appendonly yes (fsync every second): what a restart must find again. Default false. */
  appendonly?: boolean
  /** A node of a Redis Cluster (`cluster-enabled yes`). */
  cluster?: boolean
}

/** One redis-server process on 127.0.0.1, its data directory in a temporary directory. */
export class RedisServer {
  #child: ChildProcess | undefined = undefined

  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly options: RedisServerOptions,
  ) {}

  /** Starts a redis-server on a free port and resolves once it answers PING. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const dir = await mkdtemp(join(tmpdir(), 'mqtt-stack-redis-'))
    // A port taken between the check and the start makes redis-server exit: try another one.
    for (let attempt = 1; ; attempt++) {
      const server = new RedisServer(await freePort(options.cluster === true), dir, options)
      try {
        await server.#spawn()
        return server
      } catch (err) {
        if (attempt === 3) {
          await rm(dir, { recursive: true, force: true })
          throw err
        }
      }
    }
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  get pid(): number | undefined {
    return this.#child?.pid
  }

  async #spawn(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      this.options.appendonly === true ? 'yes' : 'no',
      '--dir',
      this.dir,
      '--logfile',
      '',
      '--daemonize',
      'no',
    ]
    if (this.options.cluster === true)
      args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(this.dir, 'nodes.conf'))
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    if (running.size === 0) process.once('exit', killRunning)
    running.add(child)
    child.once('exit', () => {
      running.delete(child)
      if (running.size === 0) process.off('exit', killRunning)
    })
    let log = ''
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${log}`)), STARTUP_MS)
      child.stdout!.on('data', (chunk: Buffer) => {
        log += chunk.toString()
        if (log.includes('Ready to accept connections')) {
          clearTimeout(timer)
          resolve()
        }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`redis-server exited with ${code}:\n${log}`))
      })
    })
    try {
      await ready
    } catch (err) {
      await this.#kill()
      throw err
    }
    // Keep reading its log, so that a full pipe never blocks it.
    child.stdout!.resume()
    child.stderr!.resume()
    const client = new Redis(this.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 })
    try {
      await client.connect()
      if ((await client.ping()) !== 'PONG') throw new Error('redis-server did not answer PING')
    } finally {
      client.disconnect()
    }
  }

  /** Stops the process: SIGTERM (with AOF on, what was written is flushed), then SIGKILL. */
  async stop(): Promise<void> {
    await this.#kill('SIGTERM')
  }

  /** `kill -9`: what was not yet written to the AOF is lost, as in a crash. */
  async crash(): Promise<void> {
    await this.#kill('SIGKILL')
  }

  /** Starts it again on the same port and directory: with `appendonly`, it loads what it had. */
  async restart(): Promise<void> {
    await this.stop()
    await this.#spawn()
  }

  /** Stops it and deletes its directory. */
  async close(): Promise<void> {
    await this.stop()
    await rm(this.dir, { recursive: true, force: true })
  }

  async #kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child
    this.#child = undefined
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), STARTUP_MS)
    try {
      await exited
    } finally {
      clearTimeout(timer)
    }
  }
}

/** A Redis Cluster of three masters and no replicas, each a RedisServer with `cluster-enabled yes`. */
export class RedisCluster {
  private constructor(readonly nodes: RedisServer[]) {}

  static async start(): Promise<RedisCluster> {
    const nodes: RedisServer[] = []
    try {
      for (let i = 0; i < 3; i++) nodes.push(await RedisServer.start({ cluster: true }))
      const cluster = new RedisCluster(nodes)
      await run('redis-cli', [
        '--cluster',
        'create',
        ...nodes.map((node) => `127.0.0.1:${node.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ])
      await cluster.#agreed()
      return cluster
    } catch (err) {
      for (const node of nodes) await node.close()
      throw err
    }
  }

  /** The start nodes for a cluster client. */
  get startNodes(): { host: string; port: number }[] {
    return this.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }))
  }

  /**
   * Resolves once every node says `cluster_state:ok`. The nodes agree through their gossip, which sends no
   * event to a client: this asks each node again every 50 ms, for at most STARTUP_MS.
   */
  async #agreed(): Promise<void> {
    const deadline = Date.now() + STARTUP_MS
    const clients = this.nodes.map((node) => new Redis(node.port, '127.0.0.1', { maxRetriesPerRequest: 0 }))
    try {
      for (;;) {
        const states = await Promise.all(clients.map((client) => client.cluster('INFO')))
        if (states.every((info) => info.includes('cluster_state:ok'))) return
        if (Date.now() > deadline) throw new Error(`the cluster did not agree:\n${states.join('\n')}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    } finally {
      for (const client of clients) client.disconnect()
    }
  }

  async close(): Promise<void> {
    for (const node of this.nodes) await node.close()
  }
}
