/**
 * scripts/check-architecture.mjs, run as `pnpm lint` runs it: on this repository, which passes, and on
 * small fixture trees of fake packages, each showing one rule catching one crossing.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
// A plain .mjs script; the interfaces below describe what it returns.
import { checkArchitecture } from '../check-architecture.mjs'

const SCRIPT = fileURLToPath(new URL('../check-architecture.mjs', import.meta.url))

interface Problem {
  file: string
  line: number
  rule: string
  message: string
  fix: string
}

interface Result {
  problems: Problem[]
  known: Problem[]
  projects: number
}

function run(...args: string[]) {
  return spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' })
}

/** The check in this process (TypeScript's pre-processor loads once); the CLI is tested on its own. */
function check(root: string): { status: number; result: Result } {
  const result = checkArchitecture(root) as Result
  return { status: result.problems.length > 0 ? 1 : 0, result }
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`
const builtIn = (name: string, extra: object = {}) =>
  json({
    name: `@mqtt-stack/${name}`,
    exports: { '.': { types: './dist/index.d.ts', import: './dist/index.js' } },
    peerDependencies: { '@mqtt-stack/core': 'workspace:^' },
    devDependencies: { '@mqtt-stack/core': 'workspace:*' },
    ...extra,
  })

/** A tree that keeps every rule, with the shapes that must stay allowed. */
const CLEAN: Record<string, string> = {
  'pnpm-workspace.yaml': "packages:\n  - packages/*\n  - 'examples/*'\n  - benchmarks\n  - conformance\n",
  'tsup.shared.ts': 'export const packageBuild = {}\n',
  'packages/core/package.json': json({
    name: '@mqtt-stack/core',
    exports: {
      '.': { types: './dist/index.d.ts', import: './dist/index.js' },
      './testing': { types: './dist/testing/index.d.ts', import: './dist/testing/index.js' },
      './package.json': './package.json',
    },
    dependencies: { 'mqtt-packet': '^9.0.2' },
  }),
  'packages/core/src/index.ts': "import mqtt from 'mqtt-packet'\nexport const parser = mqtt.parser\n",
  'packages/core/src/testing/index.ts': "export { parser } from '../index.js'\n",
  'packages/keepalive/package.json': builtIn('keepalive', { dependencies: { 'timer-wheel': '^1.0.0' } }),
  'packages/keepalive/tsup.config.ts': "export { packageBuild as default } from '../../tsup.shared.js'\n",
  'packages/keepalive/src/index.ts': [
    "import { Middleware } from '@mqtt-stack/core'",
    "import wheel from 'timer-wheel'",
    '/** Not an import: `import { MemoryBackend } from "@mqtt-stack/memory-backend"` */',
    "// import { MemoryBackend } from '@mqtt-stack/memory-backend'",
    'const text = "import x from \'@mqtt-stack/memory-backend\'"',
    "export { type Options } from './options.js'",
    'export class KeepAlive extends Middleware {}',
    '',
  ].join('\n'),
  'packages/keepalive/src/options.ts': 'export interface Options {}\n',
  'packages/keepalive/test/keepalive.test.ts': [
    "import { connectTestClient } from '@mqtt-stack/core/testing'",
    "import pkg from '@mqtt-stack/core/package.json' with { type: 'json' }",
    "import { KeepAlive } from '../src/index.js'",
    '',
  ].join('\n'),
  'packages/memory-backend/package.json': builtIn('memory-backend'),
  'packages/memory-backend/src/index.ts': "export * from '@mqtt-stack/core'\n",
  'packages/broker/package.json': json({
    name: '@mqtt-stack/broker',
    dependencies: { '@mqtt-stack/keepalive': 'workspace:*', '@mqtt-stack/memory-backend': 'workspace:*' },
    peerDependencies: { '@mqtt-stack/core': 'workspace:^' },
  }),
  'packages/broker/src/index.ts': "export { KeepAlive } from '@mqtt-stack/keepalive'\n",
  'examples/basic/package.json': json({
    name: '@mqtt-stack/example-basic',
    private: true,
    dependencies: { '@mqtt-stack/keepalive': 'workspace:*', '@mqtt-stack/memory-backend': 'workspace:*' },
  }),
  'examples/basic/src/broker.ts': [
    "import { KeepAlive } from '@mqtt-stack/keepalive'",
    "const backend = await import('@mqtt-stack/memory-backend')",
    '',
  ].join('\n'),
  'benchmarks/package.json': json({ name: '@mqtt-stack/benchmarks', private: true }),
  'benchmarks/src/run.ts':
    "import { Stack } from '@mqtt-stack/core'\nimport { x } from '../../tsup.shared.js'\n",
  'conformance/package.json': json({
    name: '@mqtt-stack/conformance',
    dependencies: { '@mqtt-stack/example-basic': 'workspace:*' },
  }),
  'conformance/test/support.ts': "import { broker } from '@mqtt-stack/example-basic'\n",
  // Not scanned: installed and built files.
  'packages/keepalive/node_modules/x/index.js': "import '@mqtt-stack/memory-backend'\n",
  'packages/keepalive/dist/index.js': "import '../../memory-backend/src/index.js'\n",
}

const roots: string[] = []
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true })
})

function tree(changes: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'mqtt-stack-architecture-'))
  roots.push(root)
  for (const [file, text] of Object.entries({ ...CLEAN, ...changes })) {
    mkdirSync(dirname(join(root, file)), { recursive: true })
    writeFileSync(join(root, file), text)
  }
  return root
}

describe('the architecture check (scripts/check-architecture.mjs, run by pnpm lint)', () => {
  it('passes this repository', () => {
    const child = run()
    expect(child.stderr).toBe('')
    expect(child.status).toBe(0)
    expect(child.stdout).toMatch(/✓ architecture: \d+ projects/)
  })

  it('passes a clean tree: built-ins on core only, assemblies on built-ins, comments and strings ignored', () => {
    const { status, result } = check(tree())
    expect(result.problems).toEqual([])
    expect(result.projects).toBe(7)
    expect(status).toBe(0)
  })

  const cases: {
    title: string
    changes: Record<string, string>
    expected: Partial<Problem> & { file: string; line: number; rule: string }
  }[] = [
    {
      title: 'a built-in importing another built-in',
      changes: {
        'packages/keepalive/src/timer.ts':
          "import type { Options } from './options.js'\nimport { MemoryBackend } from '@mqtt-stack/memory-backend'\n",
      },
      expected: { file: 'packages/keepalive/src/timer.ts', line: 2, rule: 'builtin-imports-package' },
    },
    {
      title: "a built-in's test importing another built-in",
      changes: {
        'packages/keepalive/test/with-backend.test.ts':
          "\n\nconst m = await import('@mqtt-stack/memory-backend')\n",
      },
      expected: {
        file: 'packages/keepalive/test/with-backend.test.ts',
        line: 3,
        rule: 'builtin-imports-package',
      },
    },
    {
      title: 'a built-in importing the assembly package',
      changes: {
        'packages/memory-backend/src/index.ts': "export { createBroker } from '@mqtt-stack/broker'\n",
      },
      expected: { file: 'packages/memory-backend/src/index.ts', line: 1, rule: 'builtin-imports-package' },
    },
    {
      title: 'a built-in depending on another built-in',
      changes: {
        'packages/keepalive/package.json': builtIn('keepalive', {
          dependencies: { 'timer-wheel': '^1.0.0', '@mqtt-stack/memory-backend': 'workspace:*' },
        }),
      },
      expected: {
        file: 'packages/keepalive/package.json',
        line: 17,
        rule: 'builtin-depends-on-package',
        message: '@mqtt-stack/keepalive (built-in) lists @mqtt-stack/memory-backend in dependencies',
      },
    },
    {
      title: 'a built-in with another built-in as a dev dependency',
      changes: {
        'packages/memory-backend/package.json': builtIn('memory-backend', {
          devDependencies: { '@mqtt-stack/core': 'workspace:*', '@mqtt-stack/keepalive': 'workspace:*' },
        }),
      },
      expected: {
        file: 'packages/memory-backend/package.json',
        line: 14,
        rule: 'builtin-depends-on-package',
      },
    },
    {
      title: 'core importing a built-in',
      changes: { 'packages/core/src/index.ts': "export { KeepAlive } from '@mqtt-stack/keepalive'\n" },
      expected: { file: 'packages/core/src/index.ts', line: 1, rule: 'core-imports-package' },
    },
    {
      title: 'core depending on a built-in',
      changes: {
        'packages/core/package.json': json({
          name: '@mqtt-stack/core',
          peerDependencies: { '@mqtt-stack/memory-backend': '*' },
        }),
      },
      expected: { file: 'packages/core/package.json', line: 4, rule: 'core-depends-on-package' },
    },
    {
      title: "an example importing a built-in's sources by package name",
      changes: {
        'examples/basic/src/broker.ts':
          "import { KeepAlive } from '@mqtt-stack/keepalive/src/keepalive.js'\n",
      },
      expected: {
        file: 'examples/basic/src/broker.ts',
        line: 1,
        rule: 'deep-import',
        message:
          "imports '@mqtt-stack/keepalive/src/keepalive.js', reaching into the sources of @mqtt-stack/keepalive",
      },
    },
    {
      title: 'a subpath the package does not export',
      changes: { 'benchmarks/src/run.ts': "import { Stack } from '@mqtt-stack/core/dist/stack.js'\n" },
      expected: { file: 'benchmarks/src/run.ts', line: 1, rule: 'deep-import' },
    },
    {
      title: "a benchmark reaching into core's src by a relative path",
      changes: {
        'benchmarks/src/trie.ts': "import { Trie } from '../../packages/core/src/topic/index.js'\n",
      },
      expected: {
        file: 'benchmarks/src/trie.ts',
        line: 1,
        rule: 'relative-import-across-packages',
        message:
          "imports '../../packages/core/src/topic/index.js', a path into packages/core/src (@mqtt-stack/core)",
      },
    },
    {
      title: "a conformance test borrowing another package's test helper",
      changes: {
        'conformance/test/a.test.ts': "import { scram } from '../../packages/keepalive/test/helper.js'\n",
      },
      expected: { file: 'conformance/test/a.test.ts', line: 1, rule: 'relative-import-across-packages' },
    },
    {
      title: "a built-in reaching into another built-in's src by a relative path",
      changes: { 'packages/keepalive/src/store.ts': "export * from '../../memory-backend/src/index.js'\n" },
      expected: { file: 'packages/keepalive/src/store.ts', line: 1, rule: 'relative-import-across-packages' },
    },
  ]

  for (const { title, changes, expected } of cases) {
    it(`catches ${title} [${expected.rule}]`, () => {
      const { status, result } = check(tree(changes))
      expect(result.problems).toEqual([expect.objectContaining(expected)])
      expect(result.problems[0]!.fix.length).toBeGreaterThan(20)
      expect(status).toBe(1)
    })
  }

  it('accepts a listed exception, and fails once it no longer occurs so the list only shrinks', () => {
    const exception = {
      rule: 'relative-import-across-packages',
      file: 'benchmarks/src/trie.ts',
      specifier: '../../packages/core/src/topic/index.js',
      why: 'import it from @mqtt-stack/core',
    }
    const crossing = { 'benchmarks/src/trie.ts': `import { Trie } from '${exception.specifier}'\n` }
    const listed = checkArchitecture(tree(crossing), { exceptions: [exception] }) as Result
    expect(listed.problems).toEqual([])
    expect(listed.known).toEqual([
      expect.objectContaining({ file: exception.file, line: 1, fix: exception.why }),
    ])
    const stale = checkArchitecture(tree(), { exceptions: [exception] }) as Result
    expect(stale.problems).toEqual([
      expect.objectContaining({ file: exception.file, rule: 'stale-exception' }),
    ])
  })

  it('prints file:line, the rule and how to fix it, and exits 1', () => {
    const child = run(
      '--root',
      tree({ 'packages/memory-backend/src/index.ts': "import '@mqtt-stack/keepalive'\n" }),
    )
    expect(child.status).toBe(1)
    expect(child.stderr).toContain(
      "packages/memory-backend/src/index.ts:1: [builtin-imports-package] @mqtt-stack/memory-backend (built-in) imports '@mqtt-stack/keepalive'\n    fix: built-ins use @mqtt-stack/core only",
    )
    expect(child.stderr).toContain('✗ architecture: 1 problem(s)')
  })
})
