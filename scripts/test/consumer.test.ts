/**
 * The packages as a consumer gets them from the registry: every public package packed with `pnpm pack` (as
 * `pnpm publish` packs it) and installed with npm into projects outside the workspace, then (a) a broker the
 * project assembles from a subset of the packages and (b) `npx mqtt-stack --config broker.yaml`, each passing
 * QoS 0, 1 and 2 messages from mosquitto_pub to mosquitto_sub over MQTT 3.1.1 and 5.0.
 *
 * Two projects, each installing only what it names, so that neither borrows a package from the other: (a) the
 * packages its broker imports (no @mqtt-stack/broker), (b) what the broker's README says to install. npm
 * `overrides` point every @mqtt-stack name at its tarball: nothing of ours comes from the registry (a
 * package of that name there would be someone else's); third-party dependencies do.
 */
import { type ChildProcess, execFile, execFileSync, spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface, type Interface } from 'node:readline'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { type Manifest, manifestOf, packPublicPackages, publicPackages } from './packages.js'

const run = promisify(execFile)

/**
 * Broker (a)'s middlewares in the order of use, each from its own package: the built-ins that QoS 0, 1 and 2
 * need (the root README's "any subset works"), without @mqtt-stack/broker.
 */
const SUBSET_MIDDLEWARES = [
  ['MemoryBackend', '@mqtt-stack/memory-backend'],
  ['Connection', '@mqtt-stack/connection'],
  ['KeepAlive', '@mqtt-stack/keepalive'],
  ['SessionManager', '@mqtt-stack/session-manager'],
  ['InboundManager', '@mqtt-stack/inbound-manager'],
  ['OutboundManager', '@mqtt-stack/outbound-manager'],
  ['SubscriptionManager', '@mqtt-stack/subscription-manager'],
] as const
const SUBSET = ['@mqtt-stack/core', ...SUBSET_MIDDLEWARES.map(([, name]) => name)]
const SUBSET_BROKER = `import { createServer } from 'node:net'
import { Stack } from '@mqtt-stack/core'
${SUBSET_MIDDLEWARES.map(([middleware, name]) => `import { ${middleware} } from '${name}'`).join('\n')}

const stack = new Stack()${SUBSET_MIDDLEWARES.map(([middleware]) => `.use(new ${middleware}())`).join('')}
const server = createServer(stack.handler()).listen(0, '127.0.0.1', () => {
  console.log(\`listening on mqtt://127.0.0.1:\${server.address().port}\`)
})
`

const CONFIG = 'listeners:\n  - type: mqtt\n    host: 127.0.0.1\n    port: 0\nallowAnonymous: true\n'

/** mosquitto-clients come from scripts/install-test-deps.sh; under CI a missing one fails, elsewhere skips. */
function hasMosquittoClients(): boolean {
  const missing = ['mosquitto_pub', 'mosquitto_sub'].filter(
    (program) => (spawnSync(program, ['--help']).error as NodeJS.ErrnoException)?.code === 'ENOENT',
  )
  if (missing.length > 0 && process.env.CI === 'true')
    throw new Error(`${missing.join(' and ')} missing: run scripts/install-test-deps.sh`)
  return missing.length === 0
}

const root = mkdtempSync(join(tmpdir(), 'mqtt-stack-consumer-'))

interface Started {
  child: ChildProcess
  lines: Interface
  /** Resolves with the exit code once the child ended and its stdout and stderr closed. */
  closed: Promise<number | null>
  stderr(): string
  /** Started as the leader of its own process group, which stop() signals as a whole. */
  group: boolean
}
const running = new Set<Started>()

/** Starts a child and keeps it in `running` until it is gone, so that stop() and afterAll can end it. */
function start(command: string, args: string[], options: { cwd?: string; group?: boolean } = {}): Started {
  const group = options.group ?? false
  const child = spawn(command, args, { cwd: options.cwd, detached: group, stdio: ['ignore', 'pipe', 'pipe'] })
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
async function stop(started: Started): Promise<void> {
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

/** `promise`, or a rejection with `message` after `ms`. */
function within<T>(ms: number, promise: Promise<T>, message = `not settled in ${ms} ms`): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

afterAll(async () => {
  await Promise.all([...running].map(stop))
  rmSync(root, { recursive: true, force: true })
})

/** A project in `dir` that depends on `names` and takes every @mqtt-stack package from its tarball. */
function writeProject(
  dir: string,
  names: string[],
  tarballs: Map<string, string>,
  files: Record<string, string>,
) {
  const spec = (name: string) => {
    const tarball = tarballs.get(name)
    if (tarball === undefined) throw new Error(`${name} is not a packed package`)
    return `file:${tarball}`
  }
  const manifest = {
    name: 'mqtt-stack-consumer',
    private: true,
    type: 'module',
    dependencies: Object.fromEntries(names.map((name) => [name, spec(name)])),
    overrides: Object.fromEntries([...tarballs.keys()].map((name) => [name, spec(name)])),
  }
  mkdirSync(dir)
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
}

/** The @mqtt-stack packages npm installed in `dir`, with the integrity its lockfile records for each. */
function installed(dir: string): Array<{ name: string; integrity: string }> {
  const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { integrity?: string }>
  }
  return Object.entries(lock.packages).flatMap(([path, entry]) => {
    const name = /(?:^|\/)node_modules\/(@mqtt-stack\/[^/]+)$/.exec(path)?.[1]
    return name === undefined ? [] : [{ name, integrity: entry.integrity ?? '' }]
  })
}

/** The integrity npm records for the tarball of `name`. */
function integrityOf(name: string): string {
  return `sha512-${createHash('sha512')
    .update(readFileSync(tarballs.get(name)!))
    .digest('base64')}`
}

/** The package.json in the tarball of `name`. */
function packedManifest(name: string): Manifest {
  const text = execFileSync('tar', ['-xzOf', tarballs.get(name)!, 'package/package.json'], {
    encoding: 'utf8',
  })
  return JSON.parse(text)
}

/** Resolves with the port of the first `listening on mqtt://host:port` line; rejects if the child ends first. */
function listening(broker: Started, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    broker.lines.on('line', (line) => {
      const port = /listening on mqtt:\/\/[^\s]+:(\d+)$/.exec(line)?.[1]
      if (port !== undefined) resolve(Number(port))
    })
    broker.closed.then((code) =>
      reject(new Error(`${what} ended (${code}) before listening:\n${broker.stderr()}`)),
    )
  })
}

const tarballs = new Map<string, string>()
const subset = join(root, 'subset')
const cli = join(root, 'cli')
const brokers = new Map<string, number>()
const SUBSET_LABEL = '(a) a Stack from a subset of the packages'
const CLI_LABEL = '(b) npx mqtt-stack --config broker.yaml'

beforeAll(async () => {
  mkdirSync(join(root, 'tarballs'))
  for (const [name, tarball] of packPublicPackages(join(root, 'tarballs'))) tarballs.set(name, tarball)
  writeProject(subset, SUBSET, tarballs, { 'broker.mjs': SUBSET_BROKER })
  writeProject(cli, ['@mqtt-stack/broker', '@mqtt-stack/core'], tarballs, { 'broker.yaml': CONFIG })
  await Promise.all(
    [subset, cli].map((cwd) => run('npm', ['install', '--no-audit', '--no-fund'], { cwd, timeout: 240_000 })),
  )

  const a = start(process.execPath, ['broker.mjs'], { cwd: subset })
  // npx runs the bin through `sh -c`, and a SIGTERM to npx leaves the broker running: stop() signals the group.
  const b = start('npx', ['--no-install', 'mqtt-stack', '--config', 'broker.yaml'], { cwd: cli, group: true })
  brokers.set(
    SUBSET_LABEL,
    await within(30_000, listening(a, SUBSET_LABEL), `${SUBSET_LABEL}: not listening`),
  )
  brokers.set(CLI_LABEL, await within(30_000, listening(b, CLI_LABEL), `${CLI_LABEL}: not listening`))
}, 300_000)

describe('a project outside the workspace with the packed tarballs installed by npm', () => {
  it('packs every public package', () => {
    const names = publicPackages().map((dir) => manifestOf(dir).name)
    expect([...tarballs.keys()].sort()).toEqual(names.sort())
    expect(names).toEqual(expect.arrayContaining(['@mqtt-stack/core', '@mqtt-stack/broker']))
  })

  it('(a) installs just the packages its broker imports, each from its tarball', () => {
    const found = installed(subset)
    expect(found.map(({ name }) => name).sort()).toEqual([...SUBSET].sort())
    expect(existsSync(join(subset, 'node_modules/@mqtt-stack/broker'))).toBe(false)
    for (const { name, integrity } of found) expect(integrity, name).toBe(integrityOf(name))
  })

  it('(b) installs @mqtt-stack/broker and the packages it names, each from its tarball', () => {
    const { dependencies = {}, peerDependencies = {} } = packedManifest('@mqtt-stack/broker') as {
      dependencies?: Record<string, string>
      peerDependencies?: Record<string, string>
    }
    const named = Object.keys({ ...dependencies, ...peerDependencies }).filter((name) =>
      name.startsWith('@mqtt-stack/'),
    )
    const found = installed(cli)
    expect(found.map(({ name }) => name).sort()).toEqual(['@mqtt-stack/broker', ...named].sort())
    for (const { name, integrity } of found) expect(integrity, name).toBe(integrityOf(name))
  })

  it("the installed @mqtt-stack/core is the tarball's: the same package.json", () => {
    for (const project of [subset, cli]) {
      const onDisk = readFileSync(join(project, 'node_modules/@mqtt-stack/core/package.json'), 'utf8')
      expect(JSON.parse(onDisk)).toEqual(packedManifest('@mqtt-stack/core'))
    }
  })

  it('starts both brokers on loopback', () => {
    expect([...brokers.keys()]).toEqual([SUBSET_LABEL, CLI_LABEL])
    for (const port of brokers.values()) expect(port).toBeGreaterThan(0)
  })
})

/** The packets of mosquitto's `-d` log, in order: `> PUBLISH q1` sent, `< PUBACK` received. */
function packets(lines: string[]): string[] {
  return lines.flatMap((line) => {
    const match = /^Client \S+ (sending|received) ([A-Z]+)(?: \(d\d, q(\d))?/.exec(line)
    if (match === null) return []
    return [
      `${match[1] === 'sending' ? '>' : '<'} ${match[2]}${match[3] === undefined ? '' : ` q${match[3]}`}`,
    ]
  })
}

/** What the sender of a PUBLISH of each QoS sends and receives after it; the receiver's is the mirror. */
const ACKS = [[], ['< PUBACK'], ['< PUBREC', '> PUBREL', '< PUBCOMP']] as const
const mirror = (packet: string) => `${packet.startsWith('<') ? '>' : '<'}${packet.slice(1)}`

describe.runIf(hasMosquittoClients())(
  'mosquitto_pub to mosquitto_sub through each broker',
  { timeout: 20_000 },
  () => {
    for (const label of [SUBSET_LABEL, CLI_LABEL]) {
      for (const [version, flag] of [
        ['3.1.1', 'mqttv311'],
        ['5.0', 'mqttv5'],
      ] as const) {
        for (const qos of [0, 1, 2] as const) {
          it(`${label}: QoS ${qos}, MQTT ${version}`, async () => {
            const port = String(brokers.get(label))
            const topic = `consumer/${flag}/${qos}`
            const message = `QoS ${qos} over ${version}`
            const common = ['-h', '127.0.0.1', '-p', port, '-V', flag, '-q', String(qos), '-t', topic, '-d']
            // stdbuf: mosquitto_sub's stdout is a pipe, and its `Subscribed` line must come before it exits.
            const sub = start('stdbuf', ['-oL', 'mosquitto_sub', ...common, '-C', '1', '-W', '5'])
            onTestFinished(() => stop(sub))
            const received: string[] = []
            await new Promise<void>((resolve, reject) => {
              sub.lines.on('line', (line) => {
                received.push(line)
                if (line.startsWith('Subscribed (mid')) resolve()
              })
              sub.closed.then(() => reject(new Error(`mosquitto_sub ended:\n${received.join('\n')}`)))
            })
            const pub = await run('mosquitto_pub', [...common, '-m', message], { timeout: 10_000 })
            expect(await sub.closed, sub.stderr()).toBe(0)

            expect(received.find((line) => line.startsWith('Subscribed'))).toMatch(new RegExp(`: ${qos}$`))
            expect(received.filter((line) => !/^(Client|Subscribed) /.test(line))).toEqual([message])
            expect(packets(pub.stdout.split('\n'))).toEqual([
              '> CONNECT',
              '< CONNACK',
              `> PUBLISH q${qos}`,
              ...ACKS[qos],
              '> DISCONNECT',
            ])
            expect(packets(received)).toEqual([
              '> CONNECT',
              '< CONNACK',
              '> SUBSCRIBE',
              '< SUBACK',
              `< PUBLISH q${qos}`,
              ...ACKS[qos].map(mirror),
              '> DISCONNECT',
            ])
          })
        }
      }
    }
  },
)
