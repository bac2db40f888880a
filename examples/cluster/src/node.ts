// One broker node of the cluster: the default broker with the Redis backend in place of the memory one.
// main.ts starts it (node:cluster worker) with its settings in the environment.
import { createBroker } from '@mqtt-stack/broker'
import { RedisBackend } from '@mqtt-stack/redis-backend'

const { NODE_INDEX, REDIS_URL, REDIS_PREFIX, HOST, PORT } = process.env
const name = `node ${NODE_INDEX}`
const backend = new RedisBackend({ url: REDIS_URL!, prefix: REDIS_PREFIX! })
const broker = createBroker({ backend, listeners: [{ type: 'mqtt', host: HOST!, port: Number(PORT) }] })
broker.stack.on('error', (err) => console.error(`${name}: ${err.message}`))

let stopping = false
async function stop(signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  console.log(`${name} stopping (${signal})`)
  await broker.close()
  process.exit(0)
}
// Ctrl-C reaches every process of the terminal's group, so a node gets SIGINT and then main's SIGTERM.
process.on('SIGINT', () => void stop('SIGINT'))
process.on('SIGTERM', () => void stop('SIGTERM'))

try {
  await backend.ready()
  const [address] = await broker.listen()
  console.log(`${name} (pid ${process.pid}) listening on ${address!.url}`)
  process.send?.({ listening: address!.url })
} catch (err) {
  console.error(`${name} could not start: ${(err as Error).message}`)
  process.exit(1)
}
