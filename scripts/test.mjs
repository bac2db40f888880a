#!/usr/bin/env node
// Runs every test of every workspace project in one vitest run, then prints the plain counts line
// `N passed, N failed` that CI reads (vitest's own summary is not recognised there).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs')
const dir = mkdtempSync(join(tmpdir(), 'mqtt-stack-test-'))
const results = join(dir, 'results.json')

const run = spawnSync(
  process.execPath,
  [
    vitest,
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${results}`,
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: 'inherit' },
)

let passed = 0
let failed = 0
let skipped = 0
if (existsSync(results)) {
  const report = JSON.parse(readFileSync(results, 'utf8'))
  passed = report.numPassedTests
  // A file that failed outside its tests (an error at import, in a describe body or a hook) counts as a
  // failure too, so that the counts line never says 0 failed for a red run.
  const failedOutside = report.testResults.filter(
    (file) => file.status === 'failed' && !file.assertionResults.some((test) => test.status === 'failed'),
  ).length
  failed = report.numFailedTests + failedOutside
  skipped = report.numPendingTests + report.numTodoTests
}
rmSync(dir, { recursive: true, force: true })

const status = run.status ?? 1
if (status !== 0 && failed === 0) {
  console.log(`vitest exited with ${status}: errors outside the tests (see above) fail the run`)
  failed = 1
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(status)
