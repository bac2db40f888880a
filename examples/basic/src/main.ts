import { createBroker } from './broker.js'
import { listenOptions } from './listen-options.js'

async function main(): Promise<void> {
  let options: { port: number; host: string }
  try {
    options = listenOptions(process.argv.slice(2), process.env)
  } catch (err) {
    console.error(`mqtt-stack: ${(err as Error).message}`)
    process.exit(2)
  }
  const broker = createBroker(options)
  // Handlers first: a signal that arrives right after the start line must still stop cleanly.
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    console.log(`mqtt-stack broker stopping (${signal})`)
    broker.close().then(
      () => process.exit(0),
      (err) => {
        console.error(err)
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', () => stop('SIGINT'))
  process.once('SIGTERM', () => stop('SIGTERM'))
  const { host, port } = await broker.listen()
  console.log(`mqtt-stack broker listening on mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`)
}

main().catch((err) => {
  console.error(`mqtt-stack: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
})
