#!/usr/bin/env node
// pnpm release:rehearse [--keep]: the release rehearsal (scripts/test/release-rehearsal.test.ts) alone, on the
// built packages. With --keep, the registry it published to stays up afterwards, with the versioned copy of
// the repository and the projects that installed from it; the test prints the registry's URL and PID.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const args = process.argv.slice(2)
const unknown = args.filter((arg) => arg !== '--keep')
if (unknown.length > 0) {
  console.error(`usage: pnpm release:rehearse [--keep] (unknown: ${unknown.join(' ')})`)
  process.exit(2)
}
const env = { ...process.env }
if (args.includes('--keep')) env.MQTT_STACK_REHEARSAL_KEEP = '1'
const run = spawnSync(
  process.execPath,
  ['scripts/test.mjs', '--project', 'tooling', 'scripts/test/release-rehearsal.test.ts'],
  { cwd: root, env, stdio: 'inherit' },
)
process.exit(run.status ?? 1)
