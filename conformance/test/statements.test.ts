/**
 * docs/conformance.md and the statement lists behind it: every "tested" names a test that exists, every
 * citation in a test name is a statement of its version, the doc is current, and the lists are sound.
 * scripts/conformance.mjs does the work; it runs here as a child process, on this tree and on small
 * fixture trees that show each check failing.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SCRIPT = join(ROOT, 'scripts', 'conformance.mjs')
const DOC = join('docs', 'conformance.md')

interface ScannedTest {
  file: string
  line: number
  title: string
  name: string
  skipped: boolean
  versions: string[]
  citations: string[]
}

interface Row {
  id: string
  binds: string
  status?: string
  shown: string
  tests: { file: string; title: string }[]
}

interface Report {
  versions: Record<string, Row[]>
  tests: ScannedTest[]
  errors: { message: string }[]
  problems: string[]
  gaps: Record<string, { id: string; summary: string }[]>
}

function run(root: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [SCRIPT, '--root', root, ...args], {
    encoding: 'utf8',
    // The --json report passed 1 MiB, spawnSync's default buffer, as tests grew.
    maxBuffer: 64 * 1024 * 1024,
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

function report(root: string): Report {
  const result = run(root, '--json')
  expect(result.status, result.stderr).toBe(0)
  return JSON.parse(result.stdout) as Report
}

/** The tests the doc names for "met, tested" statements, read back from its Markdown tables. */
function namedByDoc(markdown: string): { version: string; id: string; file: string; title: string }[] {
  const named: { version: string; id: string; file: string; title: string }[] = []
  let version: string | undefined
  for (const line of markdown.split('\n')) {
    const heading = /^## MQTT (\S+)$/.exec(line)
    if (heading) version = heading[1]
    if (version === undefined || !line.startsWith('| MQTT-')) continue
    const [id = '', , status, tests = ''] = line.slice(2, -2).split(' | ')
    if (status?.trim() !== 'met, tested') continue
    for (const entry of tests.split('<br>')) {
      const m = /^`([^`]+)` › (.*)$/.exec(entry.trim())
      if (m) {
        const title = m[2]!.replace(/&lt;/g, '<').replace(/\\([\\|])/g, '$1')
        named.push({ version, id: id.trim(), file: m[1]!, title })
      }
    }
  }
  return named
}

/** The named tests that are not among the tests that run. */
function missingTests(markdown: string, tests: readonly ScannedTest[]): string[] {
  const running = new Set(tests.filter((t) => !t.skipped).map((t) => `${t.file} › ${t.title}`))
  return namedByDoc(markdown)
    .filter((n) => !running.has(`${n.file} › ${n.title}`))
    .map((n) => `MQTT ${n.version} ${n.id}: ${n.file} › ${n.title}`)
}

describe('docs/conformance.md and the statement lists (MQTT 3.1.1 and 5.0)', () => {
  let tree: Report

  beforeAll(() => {
    tree = report(ROOT)
  })

  it('every statement the doc marks "met, tested" names tests that exist and run', () => {
    const markdown = readFileSync(join(ROOT, DOC), 'utf8')
    expect(namedByDoc(markdown).length).toBeGreaterThan(100)
    expect(missingTests(markdown, tree.tests)).toEqual([])
  })

  it('every citation in a test name is a statement of the version that name is about', () => {
    expect(tree.errors.map((e) => e.message)).toEqual([])
    expect(tree.tests.filter((t) => t.citations.length > 0).length).toBeGreaterThan(100)
  })

  it('docs/conformance.md is what `pnpm conformance` writes now', () => {
    const result = run(ROOT, '--check')
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
  })

  it('both statement lists are complete and sound: unique ids, a summary each, a reason for each status', () => {
    expect(tree.problems).toEqual([])
    expect(tree.versions['3.1.1']).toHaveLength(141)
    expect(tree.versions['5.0']).toHaveLength(251)
  })

  it('every statement that binds the server has a status or a test', () => {
    expect(tree.gaps).toEqual({ '3.1.1': [], '5.0': [] })
  })
})

// Each check above, shown failing on a small tree of its own.

const TESTS_A = `
import { describe, it } from 'vitest'
describe('MQTT 3.1.1 things', () => {
  it('[MQTT-1.1.1-1] a server rule', () => {})
  it(\`[MQTT-1.1.1-2] a client rule, tested anyway \${1 + 1}\`, () => {})
  it.skip('[MQTT-1.1.1-3] skipped, so it does not count', () => {})
  it('[MQTT-3.1.2-99] a typo', () => {})
  const re = /[(]it\\(/ // a regex that looks like a call
})
describe.skip('MQTT 5.0 skipped suite', () => {
  it('[MQTT-2.2.2-1] not counted', () => {})
})
describe('MQTT 5.0 other things', () => {
  describe('nested', () => {
    it.each([1, 2])('[MQTT-2.2.2-1] [MQTT-1.1.1-1] case %i', () => {})
  })
})
`

function statements(version: string, list: object[]): string {
  return JSON.stringify({ version, statements: list })
}

const SERVER_311 = { id: 'MQTT-1.1.1-1', section: '1.1.1 One', summary: 'a server rule', binds: 'server' }
const CLIENT_311 = {
  id: 'MQTT-1.1.1-2',
  section: '1.1.1 One',
  summary: 'a client rule',
  binds: 'client',
  status: 'n/a',
  reason: 'a rule for clients',
}
const UNTESTED_311 = { id: 'MQTT-1.1.1-3', section: '1.1.1 One', summary: 'an untested rule', binds: 'both' }
const SERVER_50 = { id: 'MQTT-2.2.2-1', section: '2.2.2 Two', summary: 'a 5.0 rule', binds: 'server' }

describe('the conformance checks fail when they should', () => {
  const roots: string[] = []
  afterEach(() => {
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true })
  })

  function fixture(files: Record<string, string>): string {
    const root = mkdtempSync(join(tmpdir(), 'mqtt-stack-conformance-'))
    roots.push(root)
    mkdirSync(join(root, 'docs'))
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true })
      writeFileSync(join(root, path), text)
    }
    return root
  }

  const sound = (tests = TESTS_A): Record<string, string> => ({
    'conformance/statements/mqtt-3.1.1.json': statements('3.1.1', [SERVER_311, CLIENT_311, UNTESTED_311]),
    'conformance/statements/mqtt-5.0.json': statements('5.0', [SERVER_50]),
    'packages/x/test/a.test.ts': tests,
    'packages/x/node_modules/y/b.test.ts': "it('[MQTT-7.7.7-7] never read', () => {})",
  })

  it('reads titles, nesting, versions and skips statically, and reports a citation of no statement', () => {
    const { tests, errors, versions } = report(fixture(sound()))
    expect(tests.map((t) => [t.name, t.versions, t.skipped])).toEqual([
      ['MQTT 3.1.1 things > [MQTT-1.1.1-1] a server rule', ['3.1.1'], false],
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a template title is kept as written
      ['MQTT 3.1.1 things > [MQTT-1.1.1-2] a client rule, tested anyway ${1 + 1}', ['3.1.1'], false],
      ['MQTT 3.1.1 things > [MQTT-1.1.1-3] skipped, so it does not count', ['3.1.1'], true],
      ['MQTT 3.1.1 things > [MQTT-3.1.2-99] a typo', ['3.1.1'], false],
      ['MQTT 5.0 skipped suite > [MQTT-2.2.2-1] not counted', ['5.0'], true],
      ['MQTT 5.0 other things > nested > [MQTT-2.2.2-1] [MQTT-1.1.1-1] case %i', ['5.0'], false],
    ])
    // MQTT-1.1.1-1 is no 5.0 statement, MQTT-3.1.2-99 no statement at all
    expect(errors.map((e) => e.message)).toEqual([
      'packages/x/test/a.test.ts:7: [MQTT-3.1.2-99] is not a statement of MQTT 3.1.1 ("MQTT 3.1.1 things > [MQTT-3.1.2-99] a typo")',
      'packages/x/test/a.test.ts:15: [MQTT-1.1.1-1] is not a statement of MQTT 5.0 ("MQTT 5.0 other things > nested > [MQTT-2.2.2-1] [MQTT-1.1.1-1] case %i")',
    ])
    expect(versions['3.1.1']!.map((r) => [r.id, r.shown, r.tests.length])).toEqual([
      ['MQTT-1.1.1-1', 'met, tested', 1],
      ['MQTT-1.1.1-2', 'n/a: a rule for clients', 1],
      ['MQTT-1.1.1-3', 'met, not tested', 0],
    ])
    expect(versions['5.0']!.map((r) => [r.id, r.shown, r.tests.length])).toEqual([
      ['MQTT-2.2.2-1', 'met, tested', 1],
    ])
  })

  it('reads the citations the rows of a table put in a title ($name, %s), also of it.each<T>(table) and of a const table', () => {
    const tables = `import { describe, it } from 'vitest'
const ROWS = [
  { ids: '[MQTT-2.2.2-1]', what: 'one' },
  { ids: '', what: 'two' },
]
describe('MQTT 5.0 tables', () => {
  it.each(ROWS)('$ids a $what row', () => {})
  it.each<[string, number]>([
    ['[MQTT-2.2.2-1]', 1],
    ['no tag', 2],
  ])('%s, case %i', () => {})
  it.each([1, 2])('[MQTT-2.2.2-1] adds nothing: %i', () => {})
  it.each([...ROWS])('$ids rows not known', () => {})
})
`
    const { tests, errors, versions } = report(fixture(sound(tables)))
    expect(tests.map((t) => t.title)).toEqual([
      '[MQTT-2.2.2-1] a one row',
      ' a two row',
      '[MQTT-2.2.2-1], case 1',
      'no tag, case 2',
      '[MQTT-2.2.2-1] adds nothing: %i',
      '$ids rows not known',
    ])
    expect(errors).toEqual([])
    expect(versions['5.0']![0]!.tests.map((t) => t.title)).toEqual([
      '[MQTT-2.2.2-1] a one row',
      '[MQTT-2.2.2-1], case 1',
      '[MQTT-2.2.2-1] adds nothing: %i',
    ])
  })

  it('a name about both versions cites each id in the versions that have it', () => {
    const both =
      "import { it } from 'vitest'\nit('MQTT 3.1.1 and 5.0: [MQTT-1.1.1-1] [MQTT-2.2.2-1] [MQTT-9.9.9-9]', () => {})\n"
    const { errors, versions } = report(fixture(sound(both)))
    expect(versions['3.1.1']![0]!.tests).toHaveLength(1)
    expect(versions['5.0']![0]!.tests).toHaveLength(1)
    expect(errors).toHaveLength(1)
    expect(errors[0]!.message).toContain('[MQTT-9.9.9-9] is not a statement of MQTT 3.1.1 nor MQTT 5.0')
  })

  it('--check fails on an unknown citation, and on a stale doc once it is fixed', () => {
    const root = fixture(sound())
    expect(run(root).status).toBe(1) // written, but the typo fails the run
    expect(run(root, '--check').status).toBe(1)
    const fixed = TESTS_A.replace("it('[MQTT-3.1.2-99] a typo', () => {})", '').replace(
      ' [MQTT-1.1.1-1] case',
      ' case',
    )
    writeFileSync(join(root, 'packages/x/test/a.test.ts'), fixed)
    expect(run(root, '--check').status).toBe(1) // the doc still lists what the typo'd file said
    expect(run(root).status).toBe(0)
    const check = run(root, '--check')
    expect(check.status).toBe(0)
    expect(check.stdout).toContain(
      'MQTT 3.1.1: 1 server statements met, not tested:\n  MQTT-1.1.1-3  an untested rule',
    )
    writeFileSync(join(root, 'packages/x/test/a.test.ts'), fixed.replace('a server rule', 'a renamed rule'))
    expect(run(root, '--check').status).toBe(1)
  })

  it('a doc that names a test which no longer exists is caught', () => {
    const root = fixture(sound(TESTS_A.replace("it('[MQTT-3.1.2-99] a typo', () => {})", '')))
    run(root)
    const markdown = readFileSync(join(root, DOC), 'utf8')
    const before = report(root).tests
    expect(missingTests(markdown, before)).toEqual([])
    const renamed = TESTS_A.replace("it('[MQTT-3.1.2-99] a typo', () => {})", '').replace(
      'a server rule',
      'renamed',
    )
    writeFileSync(join(root, 'packages/x/test/a.test.ts'), renamed)
    expect(missingTests(markdown, report(root).tests)).toEqual([
      'MQTT 3.1.1 MQTT-1.1.1-1: packages/x/test/a.test.ts › [MQTT-1.1.1-1] a server rule',
    ])
  })

  it('reports a duplicate id, a blank summary, a status without a reason and a client rule without "n/a"', () => {
    const files = sound(TESTS_A.replace("it('[MQTT-3.1.2-99] a typo', () => {})", ''))
    files['conformance/statements/mqtt-3.1.1.json'] = statements('3.1.1', [
      SERVER_311,
      { ...SERVER_311, summary: ' ' },
      { ...UNTESTED_311, status: 'not met' },
      { ...CLIENT_311, status: undefined },
    ])
    const root = fixture(files)
    expect(report(root).problems).toEqual([
      'MQTT 3.1.1 MQTT-1.1.1-1: id MQTT-1.1.1-1 appears twice',
      'MQTT 3.1.1 MQTT-1.1.1-1: blank summary',
      'MQTT 3.1.1 MQTT-1.1.1-3: a status needs a reason',
      'MQTT 3.1.1 MQTT-1.1.1-2: a reason without a status',
      'MQTT 3.1.1 MQTT-1.1.1-2: binds only the client, so its status must be "n/a"',
    ])
    run(root)
    expect(run(root, '--check').status).toBe(1)
  })

  it('lists a server statement with neither a status nor a test as a gap', () => {
    const { gaps } = report(fixture(sound()))
    expect(gaps).toEqual({ '3.1.1': [{ id: 'MQTT-1.1.1-3', summary: 'an untested rule' }], '5.0': [] })
  })
})
