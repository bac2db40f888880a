#!/usr/bin/env node
// Keeps the package boundaries of DESIGN.md §1 so they do not rest on reviews (run by `pnpm lint`):
//   node scripts/check-architecture.mjs [--root <dir>] [--json]
//
// Rules (the name in brackets is printed with each problem):
// - [builtin-imports-package], [builtin-depends-on-package]: a built-in (packages/* other than core and
//   the assembly package @mqtt-stack/broker) imports, or lists in package.json, a workspace package other
//   than @mqtt-stack/core. Built-ins cooperate through callbacks declared in core, never directly.
// - [core-imports-package], [core-depends-on-package]: core imports or lists any other workspace package.
// - [deep-import]: an import of `@mqtt-stack/x/src/...`, or of any subpath that x's `exports` do not offer.
// - [relative-import-across-packages]: a relative import that leaves its own project and lands inside
//   another one (`../../packages/x/src/...`): it skips x's package.json, exports and build.
// Examples, benchmarks, conformance and @mqtt-stack/broker are assemblies: they may depend on built-ins,
// by package name. Imports are read with TypeScript's pre-processor (comments and strings are skipped);
// package.json is checked in dependencies, peerDependencies, optionalDependencies and devDependencies
// (a built-in's tests use fakes from @mqtt-stack/core/testing, so a dev dependency on a built-in is a
// coupling too).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ts from 'typescript'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const CORE = '@mqtt-stack/core'
const ASSEMBLY = '@mqtt-stack/broker'
const DEPENDENCY_FIELDS = ['dependencies', 'peerDependencies', 'optionalDependencies', 'devDependencies']
const CODE = /\.[cm]?[jt]sx?$/
const SKIP_DIRS = new Set(['node_modules', 'dist', 'coverage'])

/**
 * Known crossings in this repository that predate the check, each with the way out. The check fails when
 * one disappears (remove it here) as well as on any crossing not listed, so the list can only shrink.
 */
export const KNOWN_EXCEPTIONS = []

const HOW_TO_FIX = {
  'builtin-imports-package':
    'built-ins use @mqtt-stack/core only (DESIGN.md §1). Execute a callback instead (add it to the catalogue in core if it is new, list it in `requires`); in tests, answer it with a fake, or move the test to conformance/.',
  'builtin-depends-on-package':
    'remove the dependency: built-ins depend on @mqtt-stack/core only (peer + dev) and cooperate through callbacks. Only @mqtt-stack/broker, examples/, benchmarks/ and conformance/ assemble built-ins.',
  'core-imports-package':
    'core depends on no other package of the stack. Move what core needs into core, or let the other package use core instead.',
  'core-depends-on-package': 'remove the dependency: core depends on mqtt-packet and nothing of the stack.',
  'deep-import':
    "import the package by its name (or a subpath its package.json `exports` offer); if what you need is not exported, export it from the package's src/index.ts.",
  'relative-import-across-packages':
    'import the other package by its name and list it in package.json (`"workspace:*"`): built-ins may name only @mqtt-stack/core, assemblies any package. A shared test helper belongs in a testing entry point such as @mqtt-stack/core/testing.',
}

/** The project directories pnpm-workspace.yaml names (`dir` or `dir/*`), each with a package.json. */
function workspaceProjects(root) {
  const yaml = join(root, 'pnpm-workspace.yaml')
  const globs = []
  if (existsSync(yaml)) {
    let inPackages = false
    for (const line of readFileSync(yaml, 'utf8').split('\n')) {
      if (/^\S/.test(line)) inPackages = /^packages\s*:/.test(line)
      const entry = inPackages && /^\s+-\s*['"]?([^'"#\s]+)['"]?/.exec(line)
      if (entry) globs.push(entry[1])
    }
  }
  const dirs = []
  for (const glob of globs) {
    if (glob.startsWith('!')) continue
    if (glob.endsWith('/*')) {
      const parent = join(root, glob.slice(0, -2))
      if (!existsSync(parent)) continue
      for (const name of readdirSync(parent).sort()) dirs.push(join(parent, name))
    } else dirs.push(join(root, glob))
  }
  return dirs
    .filter((dir) => existsSync(join(dir, 'package.json')))
    .map((dir) => {
      const text = readFileSync(join(dir, 'package.json'), 'utf8')
      const pkg = JSON.parse(text)
      const path = relative(root, dir).split(sep).join('/')
      const kind =
        pkg.name === CORE
          ? 'core'
          : path.startsWith('packages/') && pkg.name !== ASSEMBLY
            ? 'built-in'
            : 'assembly'
      return { dir, path, pkg, text, kind }
    })
}

function* codeFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || SKIP_DIRS.has(entry.name)) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* codeFiles(path)
    else if (entry.isFile() && CODE.test(entry.name)) yield path
  }
}

/** `@scope/name/sub/path` → ['@scope/name', 'sub/path']; `name/sub` → ['name', 'sub']. */
function splitSpecifier(specifier) {
  const parts = specifier.split('/')
  const size = specifier.startsWith('@') ? 2 : 1
  return [parts.slice(0, size).join('/'), parts.slice(size).join('/')]
}

/** Whether `exports` of a package offers `./sub` (exact keys and `*` patterns). */
function exportsSubpath(pkg, sub) {
  if (pkg.exports === undefined) return !sub.startsWith('src/')
  if (typeof pkg.exports !== 'object' || pkg.exports === null || Array.isArray(pkg.exports)) return false
  const wanted = `./${sub}`
  return Object.keys(pkg.exports).some((key) => {
    if (key === wanted) return true
    const star = key.indexOf('*')
    return star >= 0 && wanted.startsWith(key.slice(0, star)) && wanted.endsWith(key.slice(star + 1))
  })
}

function lineOf(text, pos) {
  let line = 1
  for (let i = 0; i < pos; i++) if (text.charCodeAt(i) === 10) line++
  return line
}

/** The 1-based line of `"name":` inside the `field` object of a package.json text. */
function dependencyLine(text, field, name) {
  const lines = text.split('\n')
  const start = lines.findIndex((line) => line.includes(`"${field}"`))
  const at = lines.findIndex((line, i) => i > start && line.includes(`"${name}"`))
  return at >= 0 ? at + 1 : start + 1
}

/**
 * Every boundary crossing under `root`: `problems` as `{ file, line, rule, message, fix }` (file relative
 * to root, with forward slashes) and `known`, the crossings `exceptions` accept (`{ rule, file, specifier,
 * why }`; one that no longer occurs is a `stale-exception` problem).
 */
export function checkArchitecture(
  root = REPO,
  { exceptions = resolve(root) === resolve(REPO) ? KNOWN_EXCEPTIONS : [] } = {},
) {
  root = resolve(root)
  const projects = workspaceProjects(root)
  const byName = new Map(projects.map((project) => [project.pkg.name, project]))
  const problems = []
  const known = []
  const unused = new Set(exceptions)
  const report = (problem, specifier) => {
    const exception = exceptions.find(
      (e) => e.rule === problem.rule && e.file === problem.file && e.specifier === specifier,
    )
    if (!exception) return problems.push(problem)
    unused.delete(exception)
    known.push({ ...problem, fix: exception.why })
  }
  const projectOf = (path) =>
    projects
      .filter((project) => path === project.dir || path.startsWith(project.dir + sep))
      .sort((a, b) => b.dir.length - a.dir.length)[0]

  for (const project of projects) {
    const { pkg, kind } = project
    const packageJson = `${project.path}/package.json`

    if (kind !== 'assembly') {
      for (const field of DEPENDENCY_FIELDS) {
        for (const name of Object.keys(pkg[field] ?? {})) {
          if (!byName.has(name) && !name.startsWith('@mqtt-stack/')) continue
          if (kind === 'built-in' && name === CORE) continue
          const rule = kind === 'core' ? 'core-depends-on-package' : 'builtin-depends-on-package'
          report(
            {
              file: packageJson,
              line: dependencyLine(project.text, field, name),
              rule,
              message: `${pkg.name} (${kind}) lists ${name} in ${field}`,
            },
            name,
          )
        }
      }
    }

    for (const path of codeFiles(project.dir)) {
      const text = readFileSync(path, 'utf8')
      const file = relative(root, path).split(sep).join('/')
      for (const { fileName: specifier, pos } of ts.preProcessFile(text, true, true).importedFiles) {
        const at = { file, line: lineOf(text, pos) }
        if (specifier.startsWith('.')) {
          const target = resolve(dirname(path), specifier)
          const owner = projectOf(target)
          if (owner && owner !== project) {
            const into = relative(owner.dir, target).split(sep)[0]
            report(
              {
                ...at,
                rule: 'relative-import-across-packages',
                message: `imports '${specifier}', a path into ${owner.path}/${into === 'src' ? 'src' : into} (${owner.pkg.name})`,
              },
              specifier,
            )
          }
          continue
        }
        const [name, sub] = splitSpecifier(specifier)
        const target = byName.get(name)
        if (!target && !name.startsWith('@mqtt-stack/')) continue
        if (sub && target && !exportsSubpath(target.pkg, sub)) {
          report(
            {
              ...at,
              rule: 'deep-import',
              message: sub.startsWith('src/')
                ? `imports '${specifier}', reaching into the sources of ${name}`
                : `imports '${specifier}', a subpath that ${name} does not export`,
            },
            specifier,
          )
        }
        if (kind === 'core' && name !== CORE) {
          report({ ...at, rule: 'core-imports-package', message: `core imports '${specifier}'` }, specifier)
        } else if (kind === 'built-in' && name !== CORE) {
          report(
            {
              ...at,
              rule: 'builtin-imports-package',
              message: `${pkg.name} (built-in) imports '${specifier}'`,
            },
            specifier,
          )
        }
      }
    }
  }

  for (const exception of unused) {
    problems.push({
      file: exception.file,
      line: 1,
      rule: 'stale-exception',
      message: `the known ${exception.rule} '${exception.specifier}' no longer occurs`,
      fix: 'remove it from KNOWN_EXCEPTIONS in scripts/check-architecture.mjs',
    })
  }
  for (const problem of problems) problem.fix ??= HOW_TO_FIX[problem.rule]
  return { problems, known, projects: projects.length }
}

/** One problem as printed: `file:line: [rule] message` and the fix on the next line. */
export function formatProblem({ file, line, rule, message, fix }) {
  return `${file}:${line}: [${rule}] ${message}\n    fix: ${fix}`
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--root')
  const root = at >= 0 ? resolve(process.argv[at + 1] ?? '.') : REPO
  if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
    console.error(`check-architecture: no directory ${root}`)
    process.exit(2)
  }
  const result = checkArchitecture(root)
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(result, null, 2))
    process.exit(result.problems.length > 0 ? 1 : 0)
  }
  const { problems, known, projects } = result
  for (const problem of known) console.log(`known exception, to remove: ${formatProblem(problem)}`)
  for (const problem of problems) console.error(formatProblem(problem))
  if (problems.length > 0) {
    console.error(`✗ architecture: ${problems.length} problem(s) (rules: scripts/check-architecture.mjs)`)
    process.exit(1)
  }
  console.log(`✓ architecture: ${projects} projects, no package boundary crossed beyond the known exceptions`)
}
