// `pnpm start:cluster`: a Redis (started here unless --redis names one) and one broker node per port, each a
// node:cluster worker, so that nodes given the same port share it. Ctrl-C stops every process it started.
import cluster, { type Worker } from 'node:cluster'
import { once } from 'node:events'
import { dirname, extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseOptions, USAGE, UsageError } from './options.js'
import { LocalRedis, redisServerOnPath } from './redis.js'

/** How long a node may take to close its clients before it is killed. */
const STOP_MS = 10_000

let options: ReturnType<typeof parseOptions>
try {
  options = parseOptions(process.argv.slice(2))
} catch (err) {
  if (!(err instanceof UsageError)) throw err
  console.error(`start:cluster: ${err.message}\n${USAGE}`)
  process.exit(2)
}

let redis: LocalRedis | undefined
let redisUrl = options.redis
if (redisUrl === undefined) {
  if (!redisServerOnPath()) {
    console.error(
      'start:cluster: redis-server is not on the PATH. Install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), or use a running one with --redis redis://HOST:PORT',
    )
    process.exit(1)
  }
  redis = await LocalRedis.start()
  redisUrl = redis.url
  console.log(`redis-server (pid ${redis.child.pid}) on ${redisUrl}`)
}

// The node script next to this one: node.ts from source (tsx), node.js once built.
const here = fileURLToPath(import.meta.url)
cluster.setupPrimary({ exec: join(dirname(here), `node${extname(here)}`) })

let stopping = false
const workers: Worker[] = options.ports.map((port, i) =>
  cluster.fork({
    NODE_INDEX: String(i + 1),
    PORT: String(port),
    HOST: options.host,
    REDIS_URL: redisUrl,
    REDIS_PREFIX: options.prefix,
  }),
)
cluster.on('exit', (worker, code, signal) => {
  if (stopping) return
  console.error(
    `start:cluster: node ${workers.indexOf(worker) + 1} exited (${signal ?? code}): stopping the others`,
  )
  void stop(1)
})

async function stop(status: number): Promise<void> {
  if (stopping) return
  stopping = true
  await Promise.all(workers.map(stopWorker))
  await redis?.stop()
  console.log('start:cluster: stopped')
  process.exit(status)
}

async function stopWorker(worker: Worker): Promise<void> {
  const child = worker.process
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_MS)
  await exited
  clearTimeout(timer)
}

process.on('SIGINT', () => void stop(0))
process.on('SIGTERM', () => void stop(0))

await Promise.all(workers.map((worker) => once(worker, 'message')))
if (!stopping)
  console.log(
    `start:cluster: ${workers.length} nodes on ${redisUrl} (prefix ${options.prefix}); Ctrl-C stops them`,
  )
