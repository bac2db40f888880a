// The built-ins assembled by hand on node:net, as the default broker was before @mqtt-stack/broker: the
// same middlewares in the same order as createBroker's default, without its listeners, options checking and
// connection log. `ours` (the `mqtt-stack` command, createBroker with its default log) is measured against
// it in the same run: what the broker package adds must cost nothing that shows.
//   node stack-server.mjs --port 0 --host 127.0.0.1 [--ops]
// --ops adds the operations middlewares (metrics, with its endpoint listening on a free port; limits at their
// defaults but the publish rate; $SYS topics every second), so that a run of `stack` and `stack-ops`
// measures what they cost. The default publish rate (10,000 messages/s per client, burst 100,000) is below
// what one fan-in publisher sends here (over 30,000/s): at the default the run measures the limit doing its
// job (3.1.1 publishers held back), not what checking it costs, so it is raised past the load.
// --redis URL [--prefix P] puts RedisBackend in place of MemoryBackend (`stack-redis`): state in that Redis
// under prefix P; processes with the same URL and prefix are nodes of one broker.
import { createServer } from 'node:net'
import { parseArgs } from 'node:util'
import { MemoryBackend } from '@mqtt-stack/memory-backend'
import { Metrics } from '@mqtt-stack/metrics'
import { RedisBackend } from '@mqtt-stack/redis-backend'
import { handBuiltStack } from './hand-built-stack.mjs'

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    ops: { type: 'boolean' },
    redis: { type: 'string' },
    prefix: { type: 'string' },
  },
})
const host = values.host ?? '127.0.0.1'
const metrics = values.ops ? new Metrics({ port: 0, host }) : undefined
const backend = values.redis
  ? new RedisBackend({ url: values.redis, prefix: values.prefix ?? 'bench:' })
  : new MemoryBackend()
const stack = handBuiltStack({ backend, metrics, ops: values.ops })
const server = createServer(stack.handler({ listener: 'mqtt' }))
if (metrics) await metrics.listen()
if (backend instanceof RedisBackend) await backend.ready()
server.listen(Number(values.port ?? 0), host, () => {
  console.log(`hand-built stack listening on mqtt://${host}:${server.address().port}`)
})

const stop = () => {
  server.close()
  stack.close().then(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
