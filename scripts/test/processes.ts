/**
 * Child processes for the tests that run what a user runs (npm, pnpm, brokers, mosquitto clients, a
 * registry): started and tracked so that each is stopped by its PID, bounded waits, and the environment of a
 * user's shell.
 */
import { type ChildProcess, type SpawnSyncReturns, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface, type Interface } from 'node:readline'

/**
 * What vitest and pnpm set for this run, and a user's shell does not have: without it, npm and pnpm read the
 * user's own configuration (`npm_config_registry`, `npm_config_cache`, ...) and nothing of this run.
 */
const SET_FOR_THIS_RUN = [
  /^(VITEST|TEST$|NODE_ENV$)/, // vitest
  /^(pnpm_|PNPM_|npm_command$|npm_execpath$|npm_node_execpath$|npm_lifecycle_|npm_package_|INIT_CWD$)/, // pnpm
  /^npm_config_(user_agent|verify_deps_before_run|npm_globalconfig|_jsr_registry)$/, // pnpm, unknown to npm
]

/** The environment of a user's shell: this process's, less what vitest and pnpm set for this run. */
export const userEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !SET_FOR_THIS_RUN.some((pattern) => pattern.test(key))),
)

/** The output of a finished command; throws with all it printed when it failed, so a failure says why. */
export function succeeds(result: SpawnSyncReturns<string>, what: string): string {
  if (result.error) throw new Error(`${what}: ${result.error.message}`)
  if (result.status !== 0)
    throw new Error(`${what} exited with ${result.status}:\n${result.stdout}\n${result.stderr}`)
  return result.stdout
}

export interface Started {
  child: ChildProcess
  lines: Interface
  /** Resolves with the exit code once the child ended and its stdout and stderr closed. */
  closed: Promise<number | null>
  stderr(): string
  /** Started as the leader of its own process group, which stop() signals as a whole. */
  group: boolean
}
const running = new Set<Started>()

/** Starts a child and keeps it in `running` until it is gone, so that stop() and stopAll() can end it. */
export function start(
  command: string,
  args: string[],
  options: { cwd?: string; group?: boolean; env?: NodeJS.ProcessEnv } = {},
): Started {
  const group = options.group ?? false
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    detached: group,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const closed = once(child, 'close').then(([code]) => code as number | null)
  const started = {
    child,
    lines: createInterface({ input: child.stdout! }),
    closed,
    stderr: () => stderr,
    group,
  }
  running.add(started)
  closed.then(() => running.delete(started))
  return started
}

/** SIGTERM, then SIGKILL if it is still there 5 s later. */
export async function stop(started: Started): Promise<void> {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    if (!running.has(started) || started.child.pid === undefined) return
    try {
      process.kill(started.group ? -started.child.pid : started.child.pid, signal)
    } catch {
      // Ended in the meantime.
    }
    await within(5_000, started.closed).catch(() => {})
  }
}

/** Stops every child started here that is still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map(stop))
}

/** `promise`, or a rejection with `message` after `ms`. */
export function within<T>(ms: number, promise: Promise<T>, message = `not settled in ${ms} ms`): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Resolves with the first capture of `pattern` in a line the child prints (`listening on mqtt://host:(port)`
 * by default); rejects if the child ends first.
 */
export function listening(
  started: Started,
  what: string,
  pattern = /listening on mqtt:\/\/[^\s]+:(\d+)$/,
): Promise<string> {
  return new Promise((resolve, reject) => {
    started.lines.on('line', (line) => {
      const found = pattern.exec(line)?.[1]
      if (found !== undefined) resolve(found)
    })
    started.closed.then((code) =>
      reject(new Error(`${what} ended (${code}) before listening:\n${started.stderr()}`)),
    )
  })
}
