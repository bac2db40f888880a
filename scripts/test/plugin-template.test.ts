/**
 * The plugin author's path, end to end: scripts/new-plugin.mjs generates a package from templates/plugin
 * into a temporary directory outside this workspace, @mqtt-stack/core is built from its current sources
 * and packed as it would be published, npm installs that tarball (and the toolchain from the registry,
 * as a third party gets it), and the generated package's own typecheck, build and tests must pass there.
 *
 * Why the real npm install: it is what a plugin author runs, measured at about 10 s cold and 5 s with
 * npm's cache (`--prefer-offline`), so nothing of the workspace (its node_modules, tsconfig paths or
 * vitest aliases) can make the template pass by accident. Core is built into the temporary directory
 * with core's own tsup config, so a stale packages/core/dist cannot hide a regression and the workspace
 * is not written to while other tests run.
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process'
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { succeeds, userEnv } from './processes.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const GENERATOR = join(ROOT, 'scripts', 'new-plugin.mjs')
const CORE = join(ROOT, 'packages', 'core')
const TSUP = join(ROOT, 'node_modules', 'tsup', 'dist', 'cli-default.js')

function run(command: string, args: string[], cwd: string, timeout = 120_000): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd, env: userEnv, encoding: 'utf8', timeout })
}

function generate(dir: string, ...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [GENERATOR, dir, ...args], { cwd: ROOT, encoding: 'utf8' })
}

describe('the plugin template (templates/plugin, scripts/new-plugin.mjs)', () => {
  const temp = mkdtempSync(join(tmpdir(), 'mqtt-stack-plugin-'))
  afterAll(() => rmSync(temp, { recursive: true, force: true }))

  describe('the generator', () => {
    it('fills every placeholder from --scope and --name, with core as peer and dev dependency', () => {
      const dir = join(temp, 'filled')
      succeeds(generate(dir, '--scope', '@acme', '--name', 'topic-guard'), 'new-plugin')
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
      const core = JSON.parse(readFileSync(join(CORE, 'package.json'), 'utf8'))
      expect(pkg).toMatchObject({
        name: '@acme/mqtt-stack-topic-guard',
        type: 'module',
        files: ['dist'],
        peerDependencies: { '@mqtt-stack/core': `^${core.version}` },
        devDependencies: { '@mqtt-stack/core': `^${core.version}` },
      })
      expect(pkg.keywords).toContain('mqtt-stack-middleware')
      expect(Object.keys(pkg.exports['.'])[0]).toBe('types')
      const source = readFileSync(join(dir, 'src', 'topic-guard.ts'), 'utf8')
      expect(source).toContain('export class TopicGuard extends Middleware<TopicGuardOptions>')
      expect(source).toContain('acmeTopicGuardCounted: {')
      expect(source).toContain("'ACME_TOPIC_GUARD_ERR_INVALID_OPTION'")
      expect(source).toContain("name = 'acme-topic-guard'")
      for (const file of ['README.md', 'src/index.ts', 'test/topic-guard.test.ts', 'tsconfig.json']) {
        expect(readFileSync(join(dir, file), 'utf8')).not.toMatch(/__[A-Z_]+__/)
      }
    })

    it('pins the toolchain majors of this workspace', () => {
      const dir = join(temp, 'tools')
      succeeds(generate(dir, '--scope', 'acme', '--name', 'tools'), 'new-plugin')
      const ours = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).devDependencies
      const theirs = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).devDependencies
      for (const tool of ['tsup', 'typescript', 'vitest', '@types/node'])
        expect(theirs[tool]).toBe(ours[tool])
    })

    it('refuses a bad name or scope, and a directory that is not empty, without writing anything', () => {
      const bad = generate(join(temp, 'bad'), '--scope', '@acme', '--name', 'Hello')
      expect(bad.status).toBe(2)
      expect(bad.stderr).toContain('--name "Hello" must be kebab case')
      expect(existsSync(join(temp, 'bad'))).toBe(false)
      expect(generate(join(temp, 'bad'), '--name', 'hello').stderr).toContain(
        '--scope and --name are required',
      )
      expect(generate(join(temp, 'bad'), '--scope', '@A!', '--name', 'hello').stderr).toContain(
        'not an npm scope',
      )
      mkdirSync(join(temp, 'full'))
      cpSync(join(ROOT, 'package.json'), join(temp, 'full', 'package.json'))
      expect(generate(join(temp, 'full'), '--scope', '@acme', '--name', 'hello').stderr).toContain(
        'is not empty',
      )
    })
  })

  describe('a generated package, outside the workspace, against the packed @mqtt-stack/core', () => {
    const plugin = join(temp, 'acme-mqtt-stack-hello')
    let tarball = ''

    beforeAll(() => {
      expect(temp.startsWith(ROOT)).toBe(false)
      // Core as published: built from its sources with its own tsup config, then packed by npm.
      const packed = join(temp, 'core')
      succeeds(
        run(process.execPath, [TSUP, '--out-dir', join(packed, 'dist')], CORE),
        'building @mqtt-stack/core',
      )
      cpSync(join(CORE, 'package.json'), join(packed, 'package.json'))
      cpSync(join(CORE, 'README.md'), join(packed, 'README.md'))
      const name = succeeds(run('npm', ['pack', '--pack-destination', temp], packed), 'npm pack').trim()
      tarball = join(temp, name.split('\n').at(-1)!)

      succeeds(generate(plugin, '--scope', '@acme', '--name', 'hello'), 'new-plugin')
      succeeds(
        run('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefer-offline', tarball], plugin),
        'npm install (needs the npm registry for tsup, typescript and vitest)',
      )
    }, 180_000)

    it('has @mqtt-stack/core from the tarball: published files only, no sources, no workspace link', () => {
      const core = join(plugin, 'node_modules', '@mqtt-stack', 'core')
      expect(lstatSync(core).isSymbolicLink()).toBe(false)
      expect(readdirSync(core).sort()).toEqual(['README.md', 'dist', 'package.json'])
      expect(existsSync(join(core, 'dist', 'testing', 'index.d.ts'))).toBe(true)
    })

    it('typechecks, its callback declared by declaration merging into the published types', () => {
      succeeds(run('npm', ['run', 'typecheck'], plugin), 'npm run typecheck')
    }, 60_000)

    it('passes its own tests, written with @mqtt-stack/core/testing', () => {
      const out = succeeds(run('npm', ['test'], plugin), 'npm test')
      expect(out).toMatch(/Tests\s+.*2 passed/)
    }, 60_000)

    it('builds ESM with declarations that keep the callback, and packs dist only', () => {
      succeeds(run('npm', ['run', 'build'], plugin), 'npm run build')
      const types = readFileSync(join(plugin, 'dist', 'index.d.ts'), 'utf8')
      expect(types).toContain("declare module '@mqtt-stack/core'")
      expect(types).toContain('acmeHelloCounted')
      const [packed] = JSON.parse(succeeds(run('npm', ['pack', '--dry-run', '--json'], plugin), 'npm pack'))
      expect(packed.files.map((file: { path: string }) => file.path).sort()).toEqual([
        'README.md',
        'dist/index.d.ts',
        'dist/index.js',
        'dist/index.js.map',
        'package.json',
      ])
    }, 60_000)

    it('loads by its name as a Middleware of the one core an application has', () => {
      const script = [
        "import { Hello } from '@acme/mqtt-stack-hello'",
        "import { Middleware, Stack } from '@mqtt-stack/core'",
        'const hello = new Hello({ every: 2 })',
        'new Stack().use(hello)',
        'console.log(JSON.stringify({ middleware: hello instanceof Middleware, name: hello.name }))',
      ].join('\n')
      const out = succeeds(run(process.execPath, ['--input-type=module', '-e', script], plugin), 'import')
      expect(JSON.parse(out)).toEqual({ middleware: true, name: 'acme-hello' })
    })
  })
})
