import { ErrorCode, MqttStackError } from '@mqtt-stack/core'

/** Options of `Metrics`, also the `metrics` key of a broker's config file (plain JSON values). */
export interface MetricsOptions {
  /** TCP port of the HTTP endpoint `listen()` opens; 0 picks a free one (read it from `address`). */
  port: number
  /**
   * Address the endpoint binds. Default `undefined`: every interface, as a Prometheus server on another
   * host needs; `'127.0.0.1'` keeps it local.
   */
  host: string | undefined
  /** The path that serves the metrics; `/healthz` is always served too. */
  path: string
  /** Also export the Node process metrics of prom-client (`process_*`, `nodejs_*`: CPU, memory, event loop). */
  processMetrics: boolean
  /** Labels added to every metric, e.g. `{ node: 'broker-1' }` when several brokers share one Prometheus job. */
  labels: Readonly<Record<string, string>>
  /** The `listener` label of connections that came through no named listener. */
  defaultListener: string
}

export const DEFAULTS: Readonly<MetricsOptions> = Object.freeze({
  port: 9464,
  host: undefined,
  path: '/metrics',
  processMetrics: true,
  labels: Object.freeze({}),
  defaultListener: 'default',
})

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
/** Labels the metrics set themselves, which a static label must not shadow. */
const OWN_LABELS = new Set(['listener', 'type', 'qos', 'reason', 'kind'])

function invalid(key: string, why: string, value: unknown): MqttStackError {
  return new MqttStackError(
    ErrorCode.INVALID_OPTION,
    `metrics.${key} ${why}, got ${JSON.stringify(value) ?? String(value)}`,
  )
}

/**
 * Checks options as they come from a config file or a caller and returns them typed (defaults not
 * merged). Throws `MQS_ERR_INVALID_OPTION` naming the first bad key, e.g. `metrics.port must be an integer
 * from 0 to 65535, got "80a"`; an unknown key is refused too (a typo must not be silently ignored).
 */
export function validateMetricsOptions(value: unknown): Partial<MetricsOptions> {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new MqttStackError(
      ErrorCode.INVALID_OPTION,
      `metrics must be an object, got ${JSON.stringify(value)}`,
    )
  const options = value as Record<string, unknown>
  for (const key of Object.keys(options)) {
    if (!(key in DEFAULTS))
      throw invalid(key, `is not an option (known: ${Object.keys(DEFAULTS).join(', ')})`, options[key])
  }
  const { port, host, path, processMetrics, labels, defaultListener } = options
  if (port !== undefined && !(Number.isInteger(port) && (port as number) >= 0 && (port as number) <= 65535))
    throw invalid('port', 'must be an integer from 0 to 65535', port)
  if (host !== undefined && (typeof host !== 'string' || host === ''))
    throw invalid('host', 'must be a non-empty string', host)
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/') || path === '/healthz'))
    throw invalid('path', 'must be a string starting with "/" other than "/healthz"', path)
  if (processMetrics !== undefined && typeof processMetrics !== 'boolean')
    throw invalid('processMetrics', 'must be true or false', processMetrics)
  if (defaultListener !== undefined && (typeof defaultListener !== 'string' || defaultListener === ''))
    throw invalid('defaultListener', 'must be a non-empty string', defaultListener)
  if (labels !== undefined) {
    if (typeof labels !== 'object' || labels === null || Array.isArray(labels))
      throw invalid('labels', 'must be an object of label names to string values', labels)
    for (const [name, label] of Object.entries(labels)) {
      if (!LABEL_NAME.test(name) || name.startsWith('__') || OWN_LABELS.has(name))
        throw invalid(
          `labels.${name}`,
          `is not a label name of its own (not ${[...OWN_LABELS].join(', ')})`,
          name,
        )
      if (typeof label !== 'string') throw invalid(`labels.${name}`, 'must be a string', label)
    }
  }
  return options as Partial<MetricsOptions>
}
