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
import { execFile, execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exchange, hasMosquittoClients, VERSIONS } from './mosquitto.js'
import { type Manifest, manifestOf, packPublicPackages, publicPackages } from './packages.js'
import { listening, start, stopAll, within } from './processes.js'
import { BROKER_YAML as CONFIG, SUBSET, subsetBroker } from './projects.js'

const run = promisify(execFile)

const SUBSET_BROKER = subsetBroker()

const root = mkdtempSync(join(tmpdir(), 'mqtt-stack-consumer-'))

afterAll(async () => {
  await stopAll()
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
  for (const [label, broker] of [
    [SUBSET_LABEL, a],
    [CLI_LABEL, b],
  ] as const) {
    brokers.set(label, Number(await within(30_000, listening(broker, label), `${label}: not listening`)))
  }
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

  it('(b) installs @mqtt-stack/broker and the packages it names (not its optional peers), each from its tarball', () => {
    const {
      dependencies = {},
      peerDependencies = {},
      peerDependenciesMeta = {},
    } = packedManifest('@mqtt-stack/broker') as {
      dependencies?: Record<string, string>
      peerDependencies?: Record<string, string>
      peerDependenciesMeta?: Record<string, { optional?: boolean }>
    }
    // An optional peer (@mqtt-stack/redis-backend, for `backend: { type: redis }`) is not installed.
    const named = Object.keys({ ...dependencies, ...peerDependencies }).filter(
      (name) => name.startsWith('@mqtt-stack/') && peerDependenciesMeta[name]?.optional !== true,
    )
    expect(peerDependenciesMeta['@mqtt-stack/redis-backend']?.optional).toBe(true)
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

describe.runIf(hasMosquittoClients())(
  'mosquitto_pub to mosquitto_sub through each broker',
  { timeout: 20_000 },
  () => {
    for (const label of [SUBSET_LABEL, CLI_LABEL]) {
      for (const [version, flag] of VERSIONS) {
        for (const qos of [0, 1, 2] as const) {
          it(`${label}: QoS ${qos}, MQTT ${version}`, () =>
            exchange(brokers.get(label)!, flag, qos, `consumer/${flag}/${qos}`))
        }
      }
    }
  },
)
