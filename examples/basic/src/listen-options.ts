import { parseArgs } from 'node:util'

/** Where to listen: `--port`/`--host` flags first, then PORT/HOST, then 127.0.0.1:1883. */
export function listenOptions(argv: string[], env: NodeJS.ProcessEnv): { port: number; host: string } {
  const { values } = parseArgs({
    args: argv,
    options: { port: { type: 'string', short: 'p' }, host: { type: 'string', short: 'H' } },
    strict: true,
  })
  const rawPort = values.port ?? env.PORT ?? '1883'
  const port = Number(rawPort)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid port "${rawPort}": expected a whole number from 0 to 65535`)
  }
  return { port, host: values.host ?? env.HOST ?? '127.0.0.1' }
}
