/**
 * The release rehearsal: every public package published on its own to a real npm registry (verdaccio, on
 * 127.0.0.1, its storage in a temporary directory), the way CONTRIBUTING.md's "Releasing" does it, and
 * installed from it as users and third parties get it. On a throwaway copy of this repository (its files as
 * they are now, and the packages' built `dist`):
 *
 * 1. `pnpm version-packages` (scripts/version-packages.mjs) with the pending changesets, then
 *    `changeset publish`: every package at its own version, `workspace:` ranges made real, core a peer that
 *    every built-in meets, a CHANGELOG.md each, and only dist, README, LICENSE and package.json packed.
 * 2. A plugin from templates/plugin, published as @acme/mqtt-stack-hello to the same registry; fresh
 *    projects install a subset of our packages, @mqtt-stack/broker and the plugin, with npm and with pnpm,
 *    and pass QoS 0, 1 and 2 messages from mosquitto_pub to mosquitto_sub over MQTT 3.1.1 and 5.0 through a
 *    Stack with the plugin and through the `mqtt-stack` command.
 * 3. A changeset for one built-in only: only that package is versioned and published, and a project of round
 *    1 upgrades it alone and keeps working.
 * 4. A breaking core change (a minor under 0.x): every built-in follows with a minor and a peer range on the
 *    new core, and npm refuses (pnpm warns about) a new built-in next to the old core.
 *
 * `pnpm release:rehearse` runs this file alone; with `--keep` the registry stays up afterwards (its URL and
 * PID are printed). The registry proxies every other package from the registry npm is configured with, so
 * the run needs it (or npm's and pnpm's caches, which it uses).
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exchange, hasMosquittoClients, VERSIONS } from './mosquitto.js'
import { manifestOf, publicPackages } from './packages.js'
import { listening, type Started, start, stop, stopAll, userEnv, within } from './processes.js'
import { BROKER_YAML, type Plugin, SUBSET, subsetBroker } from './projects.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CHANGESET = join(ROOT, 'node_modules', '@changesets', 'cli', 'bin.js')
const VERSION_PACKAGES = join(ROOT, 'scripts', 'version-packages.mjs')
const REGISTRY = join(ROOT, 'scripts', 'release', 'registry.mjs')
/** `pnpm release:rehearse --keep`: leave the registry up, and the temporary directory, for a look. */
const KEEP = process.env.MQTT_STACK_REHEARSAL_KEEP === '1'

const PLUGIN: Plugin = {
  className: 'Hello',
  packageName: '@acme/mqtt-stack-hello',
  callback: 'acmeHelloCounted',
}
/** What the projects of round 2 install: a subset of the built-ins, the broker and the plugin. */
const INSTALLED = [...SUBSET, '@mqtt-stack/broker', PLUGIN.packageName]
const USER = { name: 'rehearsal', password: 'rehearsal-password' }

const temp = mkdtempSync(join(tmpdir(), 'mqtt-stack-release-'))
const repo = join(temp, 'repo')
const registryDir = join(temp, 'registry')
const userconfig = join(temp, 'npmrc')
let registry = ''
let registryProcess: Started | undefined

afterAll(async () => {
  const port = registry === '' ? '' : new URL(registry).port
  if (registryProcess !== undefined) await stop(registryProcess)
  await stopAll()
  if (KEEP && port !== '') {
    // Up again on its storage and port, detached from this run: its log is a file, nothing waits for it.
    const log = openSync(join(temp, 'registry.log'), 'a')
    const kept = spawn(process.execPath, [REGISTRY, registryDir, '--uplink', uplink(), '--port', port], {
      detached: true,
      stdio: ['ignore', log, log],
    })
    kept.unref()
    console.log(
      [
        `release rehearsal: the registry stays up at ${registry} (PID ${kept.pid}; stop it with kill ${kept.pid})`,
        `  npm view @mqtt-stack/core --registry ${registry}`,
        `  the versioned copy of the repository: ${repo}; the projects: ${join(temp, 'projects')}`,
        `  log: ${join(temp, 'registry.log')}; remove ${temp} when done`,
      ].join('\n'),
    )
    return
  }
  rmSync(temp, { recursive: true, force: true })
}, 120_000) // the copy and the projects hold tens of thousands of files

/** The registry npm is configured with, for verdaccio to proxy third-party packages from. */
let configured = ''
function uplink(): string {
  configured ||= execFileSync('npm', ['config', 'get', 'registry'], { env: userEnv, encoding: 'utf8' }).trim()
  return configured
}

/** npm and pnpm on the rehearsal's registry, logged in there, and nothing of the user's own npmrc. */
function registryEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(userEnv).filter(([key]) => !/^npm_config_(registry|userconfig|.*:registry)$/i.test(key)),
  )
  return {
    ...env,
    npm_config_registry: registry,
    npm_config_userconfig: userconfig,
    // pnpm's metadata cache, by registry host and port: the rehearsal's own (its store stays the user's).
    npm_config_cache_dir: join(temp, 'pnpm-cache'),
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  }
}

interface Ran {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command on the rehearsal's registry; resolves with its exit code and output, whatever the code. */
function command(file: string, args: string[], cwd: string, timeout = 120_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd, env: registryEnv(), timeout, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        // Not an exit code: it did not start, was killed at the timeout, or its output was too long.
        const failed = error !== null && typeof error.code !== 'number'
        const code = error === null ? 0 : failed ? 1 : (error.code as number)
        resolve({ code, stdout, stderr: failed ? `${stderr}\n${error.message}` : stderr })
      },
    )
  })
}

/** Like command(), and fails with all it printed unless it exited with 0. */
async function ok(file: string, args: string[], cwd: string, timeout?: number): Promise<string> {
  const ran = await command(file, args, cwd, timeout)
  if (ran.code !== 0)
    throw new Error(`${file} ${args.join(' ')} exited with ${ran.code}:\n${ran.stdout}\n${ran.stderr}`)
  return ran.stdout
}

/** GET of the registry's document for a package (`{ versions, dist-tags, time }`), or undefined on 404. */
async function packument(name: string): Promise<
  | {
      'dist-tags': Record<string, string>
      versions: Record<string, { dist: { tarball: string }; [field: string]: unknown }>
    }
  | undefined
> {
  const response = await fetch(new URL(name.replace('/', '%2f'), registry))
  if (response.status === 404) return undefined
  if (!response.ok) throw new Error(`GET ${name}: ${response.status}`)
  return response.json()
}

/** The published versions of a package, in the order they were published. */
async function publishedVersions(name: string): Promise<string[]> {
  return Object.keys((await packument(name))?.versions ?? {})
}

/** The files in the published tarball of `name@version` (without `package/`), and its package.json. */
async function tarball(name: string, version: string): Promise<{ files: string[]; manifest: Manifest }> {
  const document = await packument(name)
  const url = document?.versions[version]?.dist.tarball
  if (url === undefined) throw new Error(`${name}@${version} is not published`)
  const file = join(temp, `${name.replace('/', '-')}-${version}.tgz`)
  writeFileSync(file, Buffer.from(await (await fetch(url)).arrayBuffer()))
  const files = execFileSync('tar', ['-tzf', file], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((path) => path.replace(/^package\//, ''))
  const manifest = JSON.parse(
    execFileSync('tar', ['-xzOf', file, 'package/package.json'], { encoding: 'utf8' }),
  )
  return { files, manifest }
}

interface Manifest {
  name: string
  version: string
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  devDependencies?: Record<string, string>
}

/** The package.json of packages/<dir> in the copy. */
function copied(dir: string): Manifest {
  return JSON.parse(readFileSync(join(repo, 'packages', dir, 'package.json'), 'utf8'))
}

/** The version of each public package in the copy, by name. */
function versions(): Map<string, string> {
  return new Map(publicPackages().map((dir) => [copied(dir).name, copied(dir).version]))
}

/** The repository as it is now (tracked and new files, no ignored ones) and the built `dist` of each package. */
function copyRepository(): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((file) => file !== '' && existsSync(join(ROOT, file)))
  for (const file of files) {
    mkdirSync(dirname(join(repo, file)), { recursive: true })
    cpSync(join(ROOT, file), join(repo, file))
  }
  const unbuilt = publicPackages().filter((dir) => !existsSync(join(ROOT, 'packages', dir, 'dist')))
  if (unbuilt.length > 0) throw new Error(`not built (run pnpm build): ${unbuilt.join(', ')}`)
  for (const dir of publicPackages())
    cpSync(join(ROOT, 'packages', dir, 'dist'), join(repo, 'packages', dir, 'dist'), { recursive: true })
  // A repository of its own, for the tags `changeset publish` makes.
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=rehearsal', '-c', 'user.email=rehearsal@localhost', ...args], {
      cwd: repo,
      stdio: 'ignore',
    })
  git('init', '--quiet', '--initial-branch=main')
  git('add', '--all')
  git('commit', '--quiet', '--no-verify', '--message', 'the repository before the release')
  // Installed as a maintainer's clone is (pnpm publish reads the versions of workspace: dependencies there),
  // from pnpm's store; no scripts, the packages are built.
  execFileSync('pnpm', ['install', '--frozen-lockfile', '--prefer-offline', '--ignore-scripts'], {
    cwd: repo,
    env: userEnv,
    stdio: 'ignore',
    timeout: 120_000,
  })
}

/** Writes a changeset into the copy. */
function changeset(name: string, releases: Record<string, string>, summary: string): void {
  const front = Object.entries(releases).map(([pkg, bump]) => `"${pkg}": ${bump}`)
  writeFileSync(join(repo, '.changeset', `${name}.md`), ['---', ...front, '---', '', summary, ''].join('\n'))
}

/** `pnpm version-packages` then `changeset publish`, as CONTRIBUTING.md's "Releasing" runs them. */
async function release(): Promise<{ versioned: string; published: string }> {
  const versioned = await ok(process.execPath, [VERSION_PACKAGES], repo)
  const ran = await command(process.execPath, [CHANGESET, 'publish'], repo, 180_000)
  const published = `${ran.stdout}\n${ran.stderr}`
  if (ran.code !== 0) throw new Error(`changeset publish exited with ${ran.code}:\n${published}`)
  return { versioned, published }
}

/** The names `changeset publish` says it published, from its `New tag:` lines. */
function tagged(published: string): string[] {
  return [...published.matchAll(/New tag:\s+(@[^@\s]+)@(\S+)/g)].map(([, name]) => name!).sort()
}

const round1 = { published: '', versions: new Map<string, string>(), plain: new Map<string, string>() }

/** The versions `changeset version` alone would give, from `changeset status --output`. */
async function plainPlan(): Promise<Map<string, string>> {
  const file = join(temp, 'plan.json')
  await ok(process.execPath, [CHANGESET, 'status', `--output=${file}`], repo)
  const { releases } = JSON.parse(readFileSync(file, 'utf8')) as {
    releases: Array<{ name: string; newVersion: string; type: string }>
  }
  return new Map(
    releases.filter(({ type }) => type !== 'none').map(({ name, newVersion }) => [name, newVersion]),
  )
}

beforeAll(async () => {
  copyRepository()
  const server = start(process.execPath, [REGISTRY, registryDir, '--uplink', uplink()])
  registryProcess = server
  registry = await within(
    30_000,
    listening(server, 'the registry', /registry listening on (http:\/\/\S+)$/),
    'the registry did not start',
  )
  const response = await fetch(new URL(`-/user/org.couchdb.user:${USER.name}`, registry), {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: USER.name, password: USER.password }),
  })
  const { token } = (await response.json()) as { token?: string }
  if (token === undefined) throw new Error(`adding a user to the registry: ${response.status}`)
  const host = registry.replace(/^http:/, '')
  writeFileSync(userconfig, `registry=${registry}\n${host}:_authToken=${token}\n`)

  round1.plain = await plainPlan()
  const { published } = await release()
  round1.published = published
  round1.versions = versions()
}, 240_000)

describe('round 1: the pending changesets versioned and published', { timeout: 30_000 }, () => {
  it('publishes every public package at its own version, tagged latest', async () => {
    const names = publicPackages().map((dir) => manifestOf(dir).name)
    expect([...round1.versions.keys()].sort()).toEqual(names.sort())
    expect(tagged(round1.published)).toEqual(names.sort())
    for (const [name, version] of round1.versions) {
      expect(version, name).not.toBe(manifestOf(name.replace('@mqtt-stack/', '')).version)
      const document = await packument(name)
      expect(Object.keys(document?.versions ?? {}), name).toEqual([version])
      expect(document?.['dist-tags'], name).toEqual({ latest: version })
    }
  })

  it('versions a 0.x package with a minor where changesets alone would make it 1.0.0', () => {
    for (const [name, version] of round1.plain) {
      const was = manifestOf(name.replace('@mqtt-stack/', '')).version
      if (version !== '1.0.0' || !was.startsWith('0.')) continue
      expect(round1.versions.get(name), name).toBe(`0.${Number(was.split('.')[1]) + 1}.0`)
    }
  })

  it('replaces every workspace: range by a caret range on the version published', async () => {
    for (const [name, version] of round1.versions) {
      const { manifest } = await tarball(name, version)
      expect(JSON.stringify(manifest), name).not.toContain('workspace:')
      for (const field of ['dependencies', 'peerDependencies'] as const) {
        for (const [dependency, range] of Object.entries(manifest[field] ?? {})) {
          const ours = round1.versions.get(dependency)
          if (ours !== undefined) expect(range, `${name} ${field} ${dependency}`).toBe(`^${ours}`)
        }
      }
    }
  })

  it('has @mqtt-stack/core as a peer of every other package, with a range the published core meets', async () => {
    const core = round1.versions.get('@mqtt-stack/core')!
    for (const [name, version] of round1.versions) {
      if (name === '@mqtt-stack/core') continue
      const { manifest } = await tarball(name, version)
      expect(manifest.peerDependencies?.['@mqtt-stack/core'], name).toBe(`^${core}`)
      expect(manifest.dependencies?.['@mqtt-stack/core'], name).toBeUndefined()
    }
  })

  it('writes a CHANGELOG.md for each package, headed by the version published', () => {
    for (const dir of publicPackages()) {
      const { name, version } = copied(dir)
      const changelog = readFileSync(join(repo, 'packages', dir, 'CHANGELOG.md'), 'utf8')
      expect(changelog.startsWith(`# ${name}\n\n## ${version}\n`), name).toBe(true)
    }
    expect(readdirSync(join(repo, '.changeset')).sort()).toEqual(['README.md', 'config.json'])
  })

  it('packs dist, README.md, LICENSE and package.json only', async () => {
    for (const [name, version] of round1.versions) {
      const { files } = await tarball(name, version)
      expect(files.filter((file) => !file.startsWith('dist/')).sort(), name).toEqual([
        'LICENSE',
        'README.md',
        'package.json',
      ])
      expect(files, name).toContain('dist/index.js')
      expect(files, name).toContain('dist/index.d.ts')
    }
  })

  it('tags the copy with each package and version', () => {
    const tags = execFileSync('git', ['tag', '--list'], { cwd: repo, encoding: 'utf8' }).split('\n')
    for (const [name, version] of round1.versions) expect(tags).toContain(`${name}@${version}`)
  })
})

/** A project installed from the registry with one package manager, and the brokers it runs. */
interface Project {
  manager: 'npm' | 'pnpm'
  dir: string
  /** The Stack of the subset and the plugin, and `mqtt-stack --config broker.yaml`, by label. */
  brokers: Map<string, { started: Started; port: number }>
  /** The `acmeHelloCounted <topic>` lines of the subset broker. */
  counted: string[]
}
const SUBSET_LABEL = 'a Stack of a subset of the packages and @acme/mqtt-stack-hello'
const CLI_LABEL = 'mqtt-stack --config broker.yaml'
const projects: Project[] = (['npm', 'pnpm'] as const).map((manager) => ({
  manager,
  dir: join(temp, 'projects', manager),
  brokers: new Map(),
  counted: [],
}))

/** `npm install names` or `pnpm add names`. */
function install(project: Project, names: string[]): Promise<Ran> {
  const args = project.manager === 'npm' ? ['install', ...names] : ['add', ...names]
  return command(project.manager, args, project.dir, 180_000)
}

/** The versions of the @-scoped packages installed at the top of `node_modules`, by name. */
function installed(project: Project): Map<string, string> {
  const found = new Map<string, string>()
  for (const scope of ['@mqtt-stack', '@acme']) {
    const dir = join(project.dir, 'node_modules', scope)
    if (!existsSync(dir)) continue
    for (const entry of readdirSync(dir)) {
      const manifest = JSON.parse(readFileSync(join(dir, entry, 'package.json'), 'utf8')) as Manifest
      found.set(manifest.name, manifest.version)
    }
  }
  return found
}

async function startSubsetBroker(project: Project): Promise<void> {
  const started = start(process.execPath, ['broker.mjs'], { cwd: project.dir })
  started.lines.on('line', (line) => {
    if (line.startsWith(`${PLUGIN.callback} `)) project.counted.push(line.slice(PLUGIN.callback.length + 1))
  })
  const what = `${project.manager}: ${SUBSET_LABEL}`
  const port = Number(await within(30_000, listening(started, what), `${what}: not listening`))
  project.brokers.set(SUBSET_LABEL, { started, port })
}

/** Resolves once the subset broker of `project` printed that the plugin counted a PUBLISH on `topic`. */
async function counted(project: Project, topic: string): Promise<void> {
  if (project.counted.includes(topic)) return
  const { lines } = project.brokers.get(SUBSET_LABEL)!.started
  let listener = (_line: string) => {}
  const printed = new Promise<void>((resolve) => {
    listener = (line) => {
      if (line === `${PLUGIN.callback} ${topic}`) resolve()
    }
    lines.on('line', listener)
  })
  await within(5_000, printed, `no "${PLUGIN.callback} ${topic}" from the broker`).finally(() =>
    lines.off('line', listener),
  )
}

async function startCliBroker(project: Project): Promise<void> {
  // The bin as the package manager linked it; its own process group, so that stop() ends what it runs.
  const bin = join(project.dir, 'node_modules', '.bin', 'mqtt-stack')
  const started = start(bin, ['--config', 'broker.yaml'], { cwd: project.dir, group: true })
  const what = `${project.manager}: ${CLI_LABEL}`
  const port = Number(await within(30_000, listening(started, what), `${what}: not listening`))
  project.brokers.set(CLI_LABEL, { started, port })
}

describe('round 2: a third-party plugin on the same registry, and projects installing from it', {
  timeout: 30_000,
}, () => {
  const plugin = join(temp, 'acme-mqtt-stack-hello')

  beforeAll(async () => {
    // The plugin author's path: the generator of the versioned copy (its core range is the published core's),
    // npm install from the registry (core and the toolchain), build, publish.
    await ok(
      process.execPath,
      [join(repo, 'scripts', 'new-plugin.mjs'), plugin, '--scope', '@acme', '--name', 'hello'],
      temp,
    )
    await ok('npm', ['install', '--prefer-offline'], plugin, 180_000)
    await ok('npm', ['run', 'build'], plugin)
    // --ignore-scripts: prepublishOnly's typecheck and tests are plugin-template.test.ts's to run.
    await ok('npm', ['publish', '--ignore-scripts'], plugin)

    for (const project of projects) {
      mkdirSync(project.dir, { recursive: true })
      const manifest = { name: `rehearsal-${project.manager}`, private: true, type: 'module' }
      writeFileSync(join(project.dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
      writeFileSync(join(project.dir, 'broker.mjs'), subsetBroker(PLUGIN))
      writeFileSync(join(project.dir, 'broker.yaml'), BROKER_YAML)
    }
    const installs = await Promise.all(projects.map((project) => install(project, INSTALLED)))
    installs.forEach((ran, i) => {
      if (ran.code !== 0)
        throw new Error(
          `${projects[i]!.manager} install exited with ${ran.code}:\n${ran.stdout}\n${ran.stderr}`,
        )
    })
    await Promise.all(projects.flatMap((project) => [startSubsetBroker(project), startCliBroker(project)]))
  }, 240_000)

  it('publishes @acme/mqtt-stack-hello with a peer range on the published core, and dist only', async () => {
    const core = round1.versions.get('@mqtt-stack/core')!
    expect(await publishedVersions(PLUGIN.packageName)).toEqual(['0.1.0'])
    const { files, manifest } = await tarball(PLUGIN.packageName, '0.1.0')
    expect(manifest.peerDependencies).toEqual({ '@mqtt-stack/core': `^${core}` })
    expect(files.sort()).toEqual([
      'README.md',
      'dist/index.d.ts',
      'dist/index.js',
      'dist/index.js.map',
      'package.json',
    ])
  })

  for (const project of projects) {
    it(`${project.manager} installs the packages it names, at the versions published, and no others of ours`, () => {
      const found = installed(project)
      const expected = new Map([...round1.versions, [PLUGIN.packageName, '0.1.0']])
      // @mqtt-stack/broker brings the built-ins it depends on; npm puts them at the top, pnpm does not.
      for (const name of INSTALLED) expect(found.get(name), name).toBe(expected.get(name))
      for (const [name, version] of found) expect(version, name).toBe(expected.get(name))
      const own = JSON.parse(readFileSync(join(project.dir, 'package.json'), 'utf8')) as Manifest
      expect(Object.keys(own.dependencies ?? {}).sort()).toEqual([...INSTALLED].sort())
    })
  }

  describe.runIf(hasMosquittoClients())(
    'mosquitto_pub to mosquitto_sub through each broker',
    { timeout: 20_000 },
    () => {
      for (const project of projects) {
        for (const label of [SUBSET_LABEL, CLI_LABEL]) {
          for (const [version, flag] of VERSIONS) {
            for (const qos of [0, 1, 2] as const) {
              it(`${project.manager}, ${label}: QoS ${qos}, MQTT ${version}`, async () => {
                const topic = `rehearsal/${project.manager}/${label === CLI_LABEL ? 'cli' : 'subset'}/${flag}/${qos}`
                await exchange(project.brokers.get(label)!.port, flag, qos, topic)
                // The plugin ran in the subset broker: it answered its callback for the PUBLISH.
                if (label === SUBSET_LABEL) await counted(project, topic)
              })
            }
          }
        }
      }
    },
  )
})

describe('round 3: a changeset for one built-in only', { timeout: 30_000 }, () => {
  let versioned = ''
  let published = ''
  let before = new Map<string, string>()

  beforeAll(async () => {
    changeset('keepalive-fix', { '@mqtt-stack/keepalive': 'patch' }, 'A fix in keepalive alone.')
    before = versions()
    ;({ versioned, published } = await release())
    // Each project upgrades that one package within the range it installed, and restarts its broker.
    await Promise.all(
      projects.map(async (project) => {
        await ok(project.manager, ['update', '@mqtt-stack/keepalive'], project.dir, 120_000)
        await stop(project.brokers.get(SUBSET_LABEL)!.started)
        await startSubsetBroker(project)
      }),
    )
  }, 240_000)

  it('versions keepalive alone, with a patch', () => {
    const after = versions()
    const changed = [...after].filter(([name, version]) => before.get(name) !== version)
    const [major, minor, patch] = before.get('@mqtt-stack/keepalive')!.split('.').map(Number)
    expect(changed).toEqual([['@mqtt-stack/keepalive', `${major}.${minor}.${patch! + 1}`]])
    expect(versioned).toContain('@mqtt-stack/keepalive')
  })

  it('publishes keepalive alone: the other packages keep the one version of round 1', async () => {
    expect(tagged(published)).toEqual(['@mqtt-stack/keepalive'])
    const after = versions()
    for (const [name, version] of round1.versions) {
      const expected = name === '@mqtt-stack/keepalive' ? [version, after.get(name)] : [version]
      expect(await publishedVersions(name), name).toEqual(expected)
    }
  })

  for (const project of projects) {
    it(`a project of round 2 (${project.manager}) upgrades keepalive alone`, () => {
      const found = installed(project)
      const upgraded = versions().get('@mqtt-stack/keepalive')
      for (const [name, version] of found) {
        const expected =
          name === PLUGIN.packageName
            ? '0.1.0'
            : name === '@mqtt-stack/keepalive'
              ? upgraded
              : round1.versions.get(name)
        expect(version, name).toBe(expected)
      }
      expect(found.get('@mqtt-stack/keepalive')).toBe(upgraded)
    })
  }

  describe.runIf(hasMosquittoClients())('and keeps working', { timeout: 20_000 }, () => {
    for (const project of projects) {
      for (const [version, flag] of VERSIONS) {
        it(`${project.manager}, ${SUBSET_LABEL}, after the upgrade: QoS 2, MQTT ${version}`, async () => {
          const topic = `rehearsal/${project.manager}/upgraded/${flag}`
          await exchange(project.brokers.get(SUBSET_LABEL)!.port, flag, 2, topic)
          await counted(project, topic)
        })
      }
    }
  })
})

describe('round 4: a breaking change of core (a minor under 0.x)', { timeout: 30_000 }, () => {
  let before = new Map<string, string>()
  let plain = new Map<string, string>()
  let npm: Ran
  let pnpm: Ran

  beforeAll(async () => {
    changeset(
      'core-breaking',
      { '@mqtt-stack/core': 'minor' },
      'Breaking: a change of the middleware contract.',
    )
    before = versions()
    plain = await plainPlan()
    await release()
    await Promise.all(projects.map((project) => stop(project.brokers.get(SUBSET_LABEL)!.started)))
    const [npmProject, pnpmProject] = projects as [Project, Project]
    const keepalive = versions().get('@mqtt-stack/keepalive')!
    ;[npm, pnpm] = await Promise.all([
      install(npmProject, [`@mqtt-stack/keepalive@${keepalive}`]),
      install(pnpmProject, [`@mqtt-stack/keepalive@${keepalive}`]),
    ])
  }, 240_000)

  it('gives core a minor, and every other package a minor with its peer range on the new core', async () => {
    const after = versions()
    const core = after.get('@mqtt-stack/core')!
    const [major, minor] = before.get('@mqtt-stack/core')!.split('.').map(Number)
    expect(core).toBe(`${major}.${minor! + 1}.0`)
    for (const [name, version] of after) {
      if (name === '@mqtt-stack/core') continue
      const [was, wasMinor] = before.get(name)!.split('.').map(Number)
      expect(version, name).toBe(`${was}.${wasMinor! + 1}.0`)
      const { manifest } = await tarball(name, version)
      expect(manifest.peerDependencies?.['@mqtt-stack/core'], name).toBe(`^${core}`)
    }
  })

  it('where changesets alone would make every other package 1.0.0 (why version-packages)', () => {
    // When this fails, changesets has stopped forcing a major on peer dependents, and
    // scripts/version-packages.mjs can go.
    for (const name of before.keys()) {
      if (name !== '@mqtt-stack/core') expect(plain.get(name), name).toBe('1.0.0')
    }
  })

  it('npm refuses the new keepalive next to the core the project has', () => {
    const core = versions().get('@mqtt-stack/core')!
    expect(npm.code).not.toBe(0)
    const output = `${npm.stdout}\n${npm.stderr}`
    expect(output).toContain('ERESOLVE')
    expect(output).toContain(`peer @mqtt-stack/core@"^${core}" from @mqtt-stack/keepalive@`)
    expect(installed(projects[0]!).get('@mqtt-stack/keepalive')).not.toBe(
      versions().get('@mqtt-stack/keepalive'),
    )
  })

  it('pnpm installs it with a warning about the unmet peer', () => {
    const core = versions().get('@mqtt-stack/core')!
    const output = `${pnpm.stdout}\n${pnpm.stderr}`
    expect(pnpm.code, output).toBe(0)
    expect(installed(projects[1]!).get('@mqtt-stack/keepalive')).toBe(versions().get('@mqtt-stack/keepalive'))
    expect(output).toMatch(new RegExp(`unmet peer @mqtt-stack/core@\\^${core.replaceAll('.', '\\.')}: found`))
  })
})
