import { parseArgs } from 'node:util'

/** What `pnpm start:cluster` was asked for. */
export interface ClusterOptions {
  /** One port per node; a port given more than once is shared by those nodes (node:cluster). */
  ports: number[]
  host: string
  /** A running Redis to use; without it, a redis-server is started for the run. */
  redis: string | undefined
  /** The key prefix every node shares: the nodes of one broker must agree on it. */
  prefix: string
}

export const USAGE = `usage: pnpm start:cluster [-- options]
  --ports 1883,1884,1885   one node per port (default: these three); a port repeated is shared
  --port P --nodes N       N nodes sharing port P (node:cluster hands each new connection to one of them)
  --host H                 the address every node listens on (default 127.0.0.1)
  --redis redis://H:P      use this Redis instead of starting a redis-server
  --prefix P               the key prefix of this broker in Redis (default mqtt-stack:)`

/** A wrong argument: the message says which and how, then the usage. */
export class UsageError extends Error {}

function port(text: string, what: string): number {
  const value = Number(text)
  if (!/^\d+$/.test(text) || value < 1 || value > 65_535)
    throw new UsageError(`${what} must be a port from 1 to 65535, not "${text}"`)
  return value
}

export function parseOptions(argv: string[]): ClusterOptions {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { values } = parsed
  if (values.ports !== undefined && (values.port !== undefined || values.nodes !== undefined))
    throw new UsageError('give either --ports, or --port with --nodes, not both')
  let ports = [1883, 1884, 1885]
  if (values.ports !== undefined) ports = values.ports.split(',').map((p) => port(p.trim(), '--ports'))
  else if (values.port !== undefined || values.nodes !== undefined) {
    const nodes = Number(values.nodes ?? '3')
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > 64)
      throw new UsageError(`--nodes must be a whole number from 1 to 64, not "${values.nodes}"`)
    ports = Array(nodes).fill(port(values.port ?? '1883', '--port'))
  }
  const redis = values.redis
  if (redis !== undefined && !/^rediss?:\/\/[^/\s]+/.test(redis))
    throw new UsageError(`--redis must be a URL like redis://127.0.0.1:6379, not "${redis}"`)
  return { ports, host: values.host ?? '127.0.0.1', redis, prefix: values.prefix ?? 'mqtt-stack:' }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    options: {
      ports: { type: 'string' },
      port: { type: 'string' },
      nodes: { type: 'string' },
      host: { type: 'string' },
      redis: { type: 'string' },
      prefix: { type: 'string' },
    },
  })
}
