/**
 * One broker node on Redis, as a process of its own so that a test can `kill -9` it: the default example
 * broker with a RedisBackend. Arguments: the Redis URL, the key prefix, the port (0 for a free one), optionally nodeTimeoutMs. Prints
 * `listening on mqtt://127.0.0.1:<port>` once it listens.
 */
import { createBroker } from '@mqtt-stack/example-basic'
import { RedisBackend } from '@mqtt-stack/redis-backend'

const [url, prefix, port, nodeTimeoutMs] = process.argv.slice(2)
const backend = new RedisBackend({
  url: url!,
  prefix: prefix!,
  ...(nodeTimeoutMs === undefined ? {} : { nodeTimeoutMs: Number(nodeTimeoutMs) }),
})
const broker = createBroker({ host: '127.0.0.1', port: Number(port), backend })
await backend.ready()
const address = await broker.listen()
console.log(`listening on mqtt://${address.host}:${address.port}`)
process.once('SIGTERM', () => {
  void broker.close().then(() => process.exit(0))
})
