/**
 * Client processes nobody here wrote (mosquitto_pub/sub, a Paho script), run with their output read line by
 * line, so a test waits for what a client prints instead of sleeping. Every process a test starts is bounded
 * by its own options (a message count, a timeout) and killed after the test if it is still running.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process'
import type { Readable } from 'node:stream'
import { afterEach } from 'vitest'
import { EVENT_TIMEOUT, Inbox } from '../../support/inbox.js'

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

const running = new Set<ClientProcess>()

afterEach(async () => {
  await Promise.all([...running].map((child) => child.kill()))
})

/** One client process: its stdout lines as they come, its stderr, and its exit. */
export class ClientProcess {
  /** Lines of stdout, in order. */
  readonly lines: Inbox<string>
  readonly #child: ChildProcessByStdio<null, Readable, Readable>
  readonly #exit: Promise<Exit>
  readonly #name: string
  #stderr = ''
  #exited: Exit | undefined = undefined

  constructor(name: string, command: string, args: readonly string[]) {
    this.#name = name
    this.lines = new Inbox(() => this.output())
    this.#child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    running.add(this)
    let partial = ''
    this.#child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n')
      partial = parts.pop() ?? ''
      for (const line of parts) this.lines.push(line)
    })
    this.#child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr += chunk
    })
    this.#exit = new Promise((resolve) => {
      this.#child.once('error', (err) => {
        this.#stderr += `${err.message}\n`
      })
      // 'close' comes after the output streams ended, so every line has been pushed by then.
      this.#child.once('close', (code, signal) => {
        if (partial !== '') this.lines.push(partial)
        partial = ''
        this.#exited = { code, signal }
        running.delete(this)
        this.lines.end(`${this.#name} exited (${signal ?? `code ${code}`})`)
        resolve(this.#exited)
      })
    })
  }

  /** What the process printed so far, for failure messages. */
  output(): string {
    const stdout = this.lines.items.map((line) => `  ${line}`).join('\n')
    return `${this.#name} stdout:\n${stdout}${this.#stderr ? `\n${this.#name} stderr:\n${this.#stderr}` : ''}`
  }

  /** The first stdout line, printed or to come, for which `predicate` holds. */
  line(predicate: (line: string) => boolean, what: string): Promise<string> {
    return this.lines.waitFor(predicate, what)
  }

  /** Resolves when the process has exited on its own; fails the test if it has not within the timeout. */
  async exited(timeout = EVENT_TIMEOUT): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.#name} did not exit within ${timeout} ms\n${this.output()}`)),
        timeout,
      )
    })
    try {
      return await Promise.race([this.#exit, late])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Resolves when the process has exited with code 0; anything else fails with its output. */
  async succeeded(timeout = EVENT_TIMEOUT): Promise<void> {
    const exit = await this.exited(timeout)
    if (exit.code !== 0) {
      throw new Error(`${this.#name} exited (${exit.signal ?? `code ${exit.code}`})\n${this.output()}`)
    }
  }

  /** Kills the process (SIGKILL by default: no chance to send DISCONNECT) and waits for its exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
    if (this.#exited) return this.#exited
    this.#child.kill(signal)
    return this.#exit
  }
}

/** Starts `command` with `args`; `name` identifies it in failure messages. */
export function startProcess(name: string, command: string, args: readonly string[]): ClientProcess {
  return new ClientProcess(name, command, args)
}
