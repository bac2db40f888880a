/**
 * The public packages of the workspace (those without `"private": true`), for the tests that see them as a
 * consumer does: published-packages, require-and-import and consumer.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const packagesDir = fileURLToPath(new URL('../../packages/', import.meta.url))

export interface Manifest {
  name: string
  version: string
  private?: boolean
  exports?: Record<string, unknown>
  [field: string]: unknown
}

/** The package.json of packages/<dir>. */
export function manifestOf(dir: string): Manifest {
  return JSON.parse(readFileSync(join(packagesDir, dir, 'package.json'), 'utf8'))
}

/** The directory names (under packages/) of the public packages. */
export function publicPackages(): string[] {
  return readdirSync(packagesDir).filter((dir) => manifestOf(dir).private !== true)
}

/**
 * `pnpm pack` of every public package into `destination`, as `pnpm publish` would pack it (`workspace:^`
 * becomes the version). The packages must be built. Returns the tarball of each package name.
 */
export function packPublicPackages(destination: string): Map<string, string> {
  const dirs = publicPackages()
  const unbuilt = dirs.filter((dir) => !existsSync(join(packagesDir, dir, 'dist')))
  if (unbuilt.length > 0) throw new Error(`not built (run pnpm build): ${unbuilt.join(', ')}`)
  const filters = dirs.flatMap((dir) => ['--filter', manifestOf(dir).name])
  const output = execFileSync('pnpm', [...filters, 'pack', '--pack-destination', destination, '--json'], {
    cwd: packagesDir,
    encoding: 'utf8',
  })
  const packed = [JSON.parse(output)].flat() as Array<{ name: string; filename: string }>
  return new Map(packed.map(({ name, filename }) => [name, filename]))
}
