import { ErrorCode, MqttStackError } from '@mqtt-stack/core'

/** Options of {@link SysTopics}. */
export interface SysTopicsOptions {
  /**
   * Seconds between two updates of the `$SYS` topics (mosquitto's `sys_interval`). A fraction is allowed;
   * 0 sends no periodic update (`publishNow()` still does). Default 10.
   */
  interval: number
  /** The payload of `$SYS/broker/version`. Default `mqtt-stack`; a broker sets its own name and version. */
  version: string
}

export const SYS_DEFAULTS: Readonly<SysTopicsOptions> = Object.freeze({
  interval: 10,
  version: 'mqtt-stack',
})

/** The largest delay `setInterval` accepts, in seconds. */
const MAX_INTERVAL = (2 ** 31 - 1) / 1000

/** The keys a configuration file may set, for {@link sysOptionsFromConfig}. */
const CONFIG_KEYS: ReadonlySet<string> = new Set(['interval', 'version'])

function invalid(key: string, why: string, value: unknown): MqttStackError {
  return new MqttStackError(ErrorCode.INVALID_OPTION, `sys.${key} ${why}, got ${JSON.stringify(value)}`)
}

/** Misconfiguration fails at construction, not at the first update. */
export function checkSysOptions(options: Readonly<SysTopicsOptions>): void {
  const { interval, version } = options
  if (typeof interval !== 'number' || !Number.isFinite(interval) || interval < 0 || interval > MAX_INTERVAL)
    throw invalid('interval', `must be a number of seconds from 0 to ${Math.floor(MAX_INTERVAL)}`, interval)
  if (typeof version !== 'string' || version === '')
    throw invalid('version', 'must be a non-empty string', version)
}

/**
 * The options of a configuration file's `sys` section (plain JSON), checked: an object with `interval`
 * (seconds) and `version`, both optional. Throws an `MqttStackError` (`MQS_ERR_INVALID_OPTION`) that names
 * the bad key, an unknown one included.
 */
export function sysOptionsFromConfig(config: unknown): Partial<SysTopicsOptions> {
  if (typeof config !== 'object' || config === null || Array.isArray(config))
    throw new MqttStackError(ErrorCode.INVALID_OPTION, `sys must be an object such as { "interval": 10 }`)
  const options: Partial<SysTopicsOptions> = {}
  for (const [key, value] of Object.entries(config)) {
    if (!CONFIG_KEYS.has(key))
      throw new MqttStackError(
        ErrorCode.INVALID_OPTION,
        `sys.${key} is not a key of sys (known: ${[...CONFIG_KEYS].join(', ')})`,
      )
    if (key === 'interval') options.interval = value as number
    else options.version = value as string
  }
  checkSysOptions({ ...SYS_DEFAULTS, ...options })
  return options
}
