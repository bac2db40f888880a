import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import type { RedisBackend } from '@mqtt-stack/redis-backend'
import { type Broker, createBroker } from '../create-broker.js'
import type { ListenerOptions } from '../listeners/options.js'
import { type BrokerLogger, createLogger, defaultSink } from '../logger.js'
import { parseAclFile } from './acl-file.js'
import { type CliArgs, parseCliArgs, USAGE } from './args.js'
import { type LoadedConfig, loadConfig } from './config.js'
import { ConfigError } from './config-error.js'
import { passwd } from './passwd.js'
import { PasswordTable, parsePasswordFile } from './password-file.js'
import { limitYoungGeneration } from './young-generation.js'

/**
 * The `mqtt-stack` command. Resolves once the broker listens (or a subcommand is done); signals stop the
 * process from then on. Exit status 2 for a usage or config mistake, 1 for a failure to start.
 */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  // `pnpm start -- --config FILE` hands the `--` on.
  if (argv[0] === '--') argv = argv.slice(1)
  try {
    if (argv[0] === 'passwd') {
      console.log(await passwd(argv.slice(1), { input: process.stdin, output: process.stdout }))
      return
    }
    const args = parseCliArgs(argv, env)
    if (args.help) {
      process.stdout.write(USAGE)
      return
    }
    await serve(args)
  } catch (err) {
    console.error(`mqtt-stack: ${err instanceof Error ? err.message : String(err)}`)
    process.exit(err instanceof ConfigError ? 2 : 1)
  }
}

async function serve(args: CliArgs): Promise<void> {
  limitYoungGeneration()
  const config: LoadedConfig = args.config ? loadConfig(args.config) : { options: {}, log: {} }
  const logger = createLogger({
    level: args.quiet ? 'warn' : (config.log.level ?? 'info'),
    format: args.logFormat ?? config.log.format ?? 'pretty',
  })
  const files = readFiles(config)
  const table = files.users ? new PasswordTable(files.users) : undefined
  const backend = config.redis === undefined ? undefined : await redisBackend(config.redis)
  const broker = createBroker({
    ...config.options,
    ...(backend ? { backend } : {}),
    listeners: withFlags(config.options.listeners, args),
    ...(table ? { check: table.check } : {}),
    ...(files.acl ? { acl: files.acl } : {}),
    logger,
  })
  // The same sink as the log lines: one order, and a slow reader of standard output never blocks the broker.
  const out = defaultSink()
  const say = (line: string) => out.write(line)
  // Handlers first: a signal that arrives right after the start line must still stop cleanly.
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    say(`mqtt-stack broker stopping (${signal})`)
    broker.close().then(
      () => out.flush().then(() => process.exit(0)),
      (err) => {
        console.error(`mqtt-stack: ${(err as Error).message}`)
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', () => stop('SIGINT'))
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGHUP', () => reload(config, broker, table, logger))
  // Connected, and the routes of the persistent sessions rebuilt, before the first client comes.
  await backend?.ready()
  for (const { url } of await broker.listen()) say(`mqtt-stack broker listening on ${url}`)
  const metrics = broker.metrics?.address
  if (metrics) say(`mqtt-stack metrics on http://${hostPort(metrics)}${broker.metrics!.config.path}`)
}

/** `backend: { type: redis }`: @mqtt-stack/redis-backend, an optional peer dependency, imported only then. */
async function redisBackend(options: Record<string, unknown>): Promise<RedisBackend> {
  let module: typeof import('@mqtt-stack/redis-backend')
  try {
    module = await import('@mqtt-stack/redis-backend')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err
    throw new ConfigError(
      'backend: type: redis needs @mqtt-stack/redis-backend next to @mqtt-stack/broker: npm install @mqtt-stack/redis-backend',
    )
  }
  try {
    return new module.RedisBackend(options)
  } catch (err) {
    // "redis-backend: prefix must not contain ..." names the key.
    throw new ConfigError(`backend: ${(err as Error).message}`)
  }
}

/** `host:port` of a bound address, an IPv6 host in brackets. */
function hostPort({ address, family, port }: AddressInfo): string {
  return family === 'IPv6' ? `[${address}]:${port}` : `${address}:${port}`
}

/** The users and ACL rules of the files the config names; a ConfigError names file and line. */
function readFiles(config: LoadedConfig) {
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8')
    } catch (err) {
      throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`)
    }
  }
  return {
    users:
      config.passwordFile === undefined
        ? undefined
        : parsePasswordFile(read(config.passwordFile), config.passwordFile),
    acl: config.aclFile === undefined ? undefined : parseAclFile(read(config.aclFile), config.aclFile),
  }
}

/** SIGHUP: both files are read before either applies, so a mistake in one changes nothing. */
function reload(
  config: LoadedConfig,
  broker: Broker,
  table: PasswordTable | undefined,
  logger: BrokerLogger,
): void {
  try {
    const { users, acl } = readFiles(config)
    if (users && table) table.replace(users)
    if (acl) broker.setAcl(acl)
    logger.info({ users: users?.size, aclRules: acl?.length }, 'reloaded users and ACL')
  } catch (err) {
    logger.error({ reason: (err as Error).message }, 'reload failed: the previous users and ACL stay')
  }
}

/** --port/--host (or PORT/HOST) set the first listener, the default `mqtt` one without a config. */
function withFlags(listeners: readonly ListenerOptions[] | undefined, args: CliArgs): ListenerOptions[] {
  const [first = { type: 'mqtt' }, ...rest] = listeners ?? []
  return [
    {
      ...first,
      ...(args.port === undefined ? {} : { port: args.port }),
      ...(args.host === undefined ? {} : { host: args.host }),
    },
    ...rest,
  ]
}
