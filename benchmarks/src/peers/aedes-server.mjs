// aedes 1.2.0 with its default in-memory persistence, as a user gets it from its README.
//   node aedes-server.mjs --port 0 --host 127.0.0.1
import { createServer } from 'node:net'
import { parseArgs } from 'node:util'
import { Aedes } from 'aedes'

const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' } } })
const host = values.host ?? '127.0.0.1'
const aedes = await Aedes.createBroker()
const server = createServer(aedes.handle)
server.listen(Number(values.port ?? 0), host, () => {
  console.log(`aedes broker listening on mqtt://${host}:${server.address().port}`)
})

const stop = () => {
  server.close()
  aedes.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
