import { createLineSink, type LineSink } from './line-sink.js'

/**
 * Where the broker writes what a person running it reads. pino's loggers fit as they are (`info(fields,
 * message)`), so an application can pass its own; the CLI uses {@link createLogger}.
 */
export interface BrokerLogger {
  error(fields: Record<string, unknown>, message: string): void
  warn(fields: Record<string, unknown>, message: string): void
  info(fields: Record<string, unknown>, message: string): void
  debug(fields: Record<string, unknown>, message: string): void
}

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'silent'
export type LogFormat = 'pretty' | 'json'

const RANK: Readonly<Record<LogLevel, number>> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 }

export interface LoggerOptions {
  /** Lines below this level are dropped. Default `info`. */
  level?: LogLevel
  /** `pretty`: `time LEVEL message key=value...`; `json`: one JSON object a line. Default `pretty`. */
  format?: LogFormat
  /**
   * Default: every line to standard output (as pino does: one stream keeps the lines in order), through a
   * {@link createLineSink}, so that a slow reader never blocks the broker.
   */
  write?: (line: string, level: Exclude<LogLevel, 'silent'>) => void
}

/** A small line logger: levels, pretty or JSON lines. */
export function createLogger(options: LoggerOptions = {}): BrokerLogger {
  const threshold = RANK[options.level ?? 'info']
  const json = options.format === 'json'
  const write = options.write ?? defaultSink().write
  const at =
    (level: Exclude<LogLevel, 'silent'>) =>
    (fields: Record<string, unknown>, message: string): void => {
      if (RANK[level] > threshold) return
      const time = new Date().toISOString()
      write(
        json
          ? JSON.stringify({ time, level, msg: message, ...fields })
          : pretty(time, level, message, fields),
        level,
      )
    }
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') }
}

function pretty(time: string, level: string, message: string, fields: Record<string, unknown>): string {
  let line = `${time} ${level.toUpperCase().padEnd(5)} ${message}`
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue
    const text = typeof value === 'string' ? value : JSON.stringify(value)
    line += ` ${key}=${/[\s"=]/.test(text) || text === '' ? JSON.stringify(text) : text}`
  }
  return line
}

let stdout: LineSink | undefined

/** The one sink of standard output in this process, shared by every logger that writes there. */
export function defaultSink(): LineSink {
  stdout ??= createLineSink()
  return stdout
}
