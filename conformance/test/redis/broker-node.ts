/**
 * One broker node on Redis, as a process of its own so that a test can `kill -9` it: the default example
 * broker with a RedisBackend. Arguments: the Redis URL, the key prefix, the port (0 for a free one), and
 * optionally more RedisBackend options as JSON. Prints `listening on mqtt://127.0.0.1:<port>` once it
 * listens, and each error the stack reports on standard error.
 */
import { createBroker } from '@mqtt-stack/example-basic'
import { RedisBackend } from '@mqtt-stack/redis-backend'

const [url, prefix, port, options] = process.argv.slice(2)
const backend = new RedisBackend({ ...JSON.parse(options ?? '{}'), url: url!, prefix: prefix! })
const broker = createBroker({ host: '127.0.0.1', port: Number(port), backend })
broker.stack.on('error', (err, client, packet) =>
  console.error(`${err.code}: ${err.message} (client ${client?.id ?? '-'}, ${packet?.cmd ?? '-'})`),
)
await backend.ready()
const address = await broker.listen()
console.log(`listening on mqtt://${address.host}:${address.port}`)
process.once('SIGTERM', () => {
  void broker.close().then(() => process.exit(0))
})
