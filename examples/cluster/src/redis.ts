import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** How long redis-server may take to say it is ready. */
const STARTUP_MS = 10_000

/** Whether a `redis-server` program is on the PATH. */
export function redisServerOnPath(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT'
  }
}

/**
 * A redis-server for this run: on a free loopback port, append-only file on (a node killed and restarted
 * finds its sessions), its data in a temporary directory deleted at stop.
 */
export class LocalRedis {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  static async start(): Promise<LocalRedis> {
    const port = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'mqtt-stack-cluster-'))
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--dir', dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const redis = new LocalRedis(child, port, dir)
    let log = ''
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${log}`)), STARTUP_MS)
      child.stdout!.on('data', (chunk: Buffer) => {
        log += chunk
        if (!log.includes('Ready to accept connections')) return
        clearTimeout(timer)
        child.stdout!.removeAllListeners('data').resume()
        resolve()
      })
      child.once('error', reject)
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}:\n${log}`)))
    })
    child.stderr!.resume()
    try {
      await ready
    } catch (err) {
      await redis.stop()
      throw err
    }
    return redis
  }

  /** SIGTERM, and the directory deleted once it has exited. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = once(this.child, 'exit')
      this.child.kill('SIGTERM')
      await exited
    }
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** A loopback port nobody listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}
