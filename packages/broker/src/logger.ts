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
  // for...in, not Object.entries: no array per line (a connection storm logs thousands of lines a second).
  for (const key in fields) {
    const value = fields[key]
    if (value === undefined) continue
    const text = typeof value === 'string' ? value : JSON.stringify(value)
    line += ` ${key}=${needsQuotes(text) ? JSON.stringify(text) : text}`
  }
  return line
}

/** Empty, or holding a space, a quote or `=`: quoted, so that a reader splits the line where it was meant. */
function needsQuotes(text: string): boolean {
  if (text === '') return true
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code <= 32 || code === 34 || code === 61) return true
    // Beyond ASCII, the white space of Unicode (no-break space, line separator...).
    if (code > 126 && /\s/.test(text[i]!)) return true
  }
  return false
}

let stdout: LineSink | undefined

/** The one sink of standard output in this process, shared by every logger that writes there. */
export function defaultSink(): LineSink {
  stdout ??= createLineSink()
  return stdout
}
