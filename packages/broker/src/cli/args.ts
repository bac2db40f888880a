import { parseArgs } from 'node:util'
import type { LogFormat } from '../logger.js'
import { ConfigError } from './config-error.js'

export const USAGE = `Usage: mqtt-stack [options]
       mqtt-stack passwd [-D] FILE USER

Runs an MQTT 3.1/3.1.1/5.0 broker: every mqtt-stack built-in, on the memory backend or on Redis
(config: backend: { type: redis, url }, with @mqtt-stack/redis-backend installed).

Options:
  -c, --config FILE      YAML or JSON config file (listeners, allowAnonymous, passwordFile, aclFile, log, backend, limits)
  -p, --port PORT        port of the first listener (or PORT; default 1883, 0 picks a free one)
  -H, --host HOST        host of the first listener (or HOST; default 127.0.0.1)
  -q, --quiet            no connection lines: warnings and errors only
      --log-format FMT   pretty (default) or json
  -h, --help             show this help

passwd: sets USER's password in FILE (created if missing) as a salted scrypt hash; the password is read
from standard input (asked twice on a terminal). -D removes USER instead.

Signals: SIGINT and SIGTERM stop the broker (exit status 0); SIGHUP reloads passwordFile and aclFile
without dropping clients.
`

export interface CliArgs {
  help: boolean
  config: string | undefined
  port: number | undefined
  host: string | undefined
  quiet: boolean
  logFormat: LogFormat | undefined
}

/** Flags first, then PORT/HOST from the environment. Throws a ConfigError for a bad flag or value. */
export function parseCliArgs(argv: string[], env: NodeJS.ProcessEnv): CliArgs {
  let values: ReturnType<typeof parse>['values']
  try {
    values = parse(argv).values
  } catch (err) {
    throw new ConfigError(`${(err as Error).message} (see --help)`)
  }
  const rawPort = values.port ?? env.PORT
  let port: number | undefined
  if (rawPort !== undefined) {
    port = Number(rawPort)
    if (rawPort.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535)
      throw new ConfigError(`invalid port "${rawPort}": expected a whole number from 0 to 65535`)
  }
  const logFormat = values['log-format']
  if (logFormat !== undefined && logFormat !== 'pretty' && logFormat !== 'json')
    throw new ConfigError(`invalid --log-format "${logFormat}": expected pretty or json`)
  const host = values.host ?? (env.HOST === '' ? undefined : env.HOST)
  return {
    help: values.help ?? false,
    config: values.config,
    port,
    host,
    quiet: values.quiet ?? false,
    logFormat,
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string', short: 'H' },
      quiet: { type: 'boolean', short: 'q' },
      'log-format': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  })
}
