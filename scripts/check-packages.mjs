#!/usr/bin/env node
// Checks every public package the way a consumer would see it once published: publint (package.json and
// exports), @arethetypeswrong/cli (types resolve for ESM consumers) and an npm pack dry run in which every
// file named by `exports`, `main` and `types` must be present. Run after `build`.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { publint } from 'publint'
import { formatMessage } from 'publint/utils'

const root = fileURLToPath(new URL('..', import.meta.url))
const attw = join(root, 'node_modules', '.bin', 'attw')
let problems = 0

function fail(name, message) {
  problems++
  console.error(`✗ ${name}: ${message}`)
}

/** Every file path an `exports` map (or main/types) points at. */
function exportedFiles(pkg) {
  const files = new Set()
  const visit = (value) => {
    if (typeof value === 'string') files.add(value.replace(/^\.\//, ''))
    else if (value && typeof value === 'object') Object.values(value).forEach(visit)
  }
  visit(pkg.exports)
  visit(pkg.main)
  visit(pkg.types)
  files.delete('package.json')
  return files
}

for (const dir of readdirSync(join(root, 'packages'))) {
  const pkgDir = join(root, 'packages', dir)
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'))
  if (pkg.private) continue
  const name = pkg.name

  const { messages } = await publint({ pkgDir, strict: true, level: 'warning' })
  for (const message of messages) fail(name, `publint: ${formatMessage(message, pkg) ?? message.code}`)

  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: pkgDir, encoding: 'utf8' }),
  )
  const inTarball = new Set(packed.files.map((file) => file.path))
  for (const file of exportedFiles(pkg)) {
    if (!inTarball.has(file))
      fail(name, `pack: ${file} is named by package.json but missing from the tarball`)
  }
  if (!inTarball.has('README.md')) fail(name, 'pack: README.md is missing from the tarball')

  try {
    execFileSync(attw, ['--pack', pkgDir, '--profile', 'esm-only', '--format', 'table-flipped'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
  } catch (err) {
    fail(name, `attw:\n${err.stdout}${err.stderr}`)
  }

  if (problems === 0) console.log(`✓ ${name}: ${packed.files.length} files, ${packed.size} bytes packed`)
}

// Every changeset must name published packages in a front matter changesets can read.
const publicNames = new Set(
  readdirSync(join(root, 'packages'))
    .map((dir) => JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')))
    .filter((pkg) => !pkg.private)
    .map((pkg) => pkg.name),
)
for (const file of readdirSync(join(root, '.changeset')).filter(
  (f) => f.endsWith('.md') && f !== 'README.md',
)) {
  const text = readFileSync(join(root, '.changeset', file), 'utf8')
  const front = /^---\n([\s\S]*?)\n---\n/.exec(text)
  if (!front) {
    fail(`.changeset/${file}`, 'no front matter (--- / "package": bump / ---)')
    continue
  }
  for (const line of front[1].split('\n').filter(Boolean)) {
    const entry = /^"([^"]+)": (major|minor|patch)$/.exec(line)
    if (!entry) fail(`.changeset/${file}`, `unreadable line "${line}"`)
    else if (!publicNames.has(entry[1])) fail(`.changeset/${file}`, `${entry[1]} is not a published package`)
  }
}

if (problems > 0) {
  console.error(`${problems} package problem(s)`)
  process.exit(1)
}
