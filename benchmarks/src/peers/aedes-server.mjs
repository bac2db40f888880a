// aedes 1.2.0 with its default in-memory persistence, as a user gets it from its README.
//   node aedes-server.mjs --port 0 --host 127.0.0.1 [--redis URL --prefix P]
// --redis (`aedes-redis`): mqemitter-redis and aedes-persistence-redis on that Redis, as aedes documents a
// cluster: processes on the same Redis are nodes of one broker. Neither takes a key prefix, so --prefix is
// ignored: each run has a Redis of its own.
import { createServer } from 'node:net'
import { parseArgs } from 'node:util'
import { Aedes } from 'aedes'
import aedesPersistenceRedis from 'aedes-persistence-redis'
import mqemitterRedis from 'mqemitter-redis'

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    redis: { type: 'string' },
    prefix: { type: 'string' },
  },
})
const host = values.host ?? '127.0.0.1'
const aedes = await Aedes.createBroker(
  values.redis
    ? {
        mq: mqemitterRedis({ connectionString: values.redis }),
        persistence: aedesPersistenceRedis(redisOptions(values.redis)),
      }
    : {},
)
const server = createServer(aedes.handle)
server.listen(Number(values.port ?? 0), host, () => {
  console.log(`aedes broker listening on mqtt://${host}:${server.address().port}`)
})

const stop = () => {
  // On Redis, closing fails the commands still queued in ioredis ("Connection is closed"), which nothing in
  // aedes awaits: errors past this point are of the shutdown, not of the run.
  process.on('unhandledRejection', () => process.exit(0))
  server.close()
  aedes.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)

/** ioredis options from redis://host:port (aedes-persistence-redis hands its options to ioredis). */
function redisOptions(url) {
  const { hostname, port } = new URL(url)
  return { host: hostname, port: Number(port || 6379) }
}
