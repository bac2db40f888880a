import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterEach } from 'vitest'

const PACKAGE = fileURLToPath(new URL('..', import.meta.url))
/** tsx's loader by absolute URL: the process may run in a directory that has no node_modules. */
const TSX = pathToFileURL(join(PACKAGE, 'node_modules/tsx/dist/loader.mjs')).href
const started: ChildProcess[] = []
const dirs: string[] = []

afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A temporary directory for config files, removed after the test. */
export function tempDir(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'mqtt-stack-cli-'))
  dirs.push(dir)
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  return dir
}

export interface CliProcess {
  child: ChildProcess
  /** Every stdout line so far. */
  lines: string[]
  stderr(): string
  /** Resolves with the first stdout line (from now on) that matches. */
  line(pattern: RegExp): Promise<string>
  /** The URLs of the `listening on` lines, once there are `count` of them. */
  listening(count?: number): Promise<string[]>
  exit(): Promise<number | null>
}

/** Runs the `mqtt-stack` command from its sources (as `npx mqtt-stack` runs dist/cli.js), killed after the test. */
export function runCli(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; stdin?: string } = {},
): CliProcess {
  const child = spawn(process.execPath, ['--import', TSX, join(PACKAGE, 'src/cli.ts'), ...args], {
    cwd: options.cwd ?? PACKAGE,
    env: { ...process.env, NODE_ENV: 'production', ...options.env },
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  })
  started.push(child)
  if (options.stdin !== undefined) child.stdin!.end(options.stdin)
  const lines: string[] = []
  const waiting: Array<{ pattern: RegExp; resolve: (line: string) => void }> = []
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line)
    for (const wait of [...waiting]) {
      if (wait.pattern.test(line)) {
        waiting.splice(waiting.indexOf(wait), 1)
        wait.resolve(line)
      }
    }
  })
  const line = (pattern: RegExp) =>
    Promise.race([
      new Promise<string>((resolve) => waiting.push({ pattern, resolve })),
      exited.then((code) => Promise.reject(new Error(`exited (${code}) waiting for ${pattern}: ${stderr}`))),
    ])
  return {
    child,
    lines,
    stderr: () => stderr,
    line,
    async listening(count = 1) {
      const found = () => lines.filter((l) => l.startsWith('mqtt-stack broker listening on '))
      while (found().length < count) await line(/^mqtt-stack broker listening on /)
      return found().map((l) => l.slice('mqtt-stack broker listening on '.length))
    },
    exit: () => exited,
  }
}
