/**
 * Stack traces point at shipped files: with `node --enable-source-maps`, a trace through a published
 * package names the TypeScript sources its maps refer to, so every one of them must be in the tarball.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const packagesDir = fileURLToPath(new URL('../../packages/', import.meta.url))

function publicPackages(): string[] {
  return readdirSync(packagesDir).filter((name) => {
    const manifest = JSON.parse(readFileSync(join(packagesDir, name, 'package.json'), 'utf8'))
    return manifest.private !== true
  })
}

/** The files `npm pack` would put in the tarball, relative to the package. */
function packed(dir: string): Set<string> {
  const run = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: dir,
    encoding: 'utf8',
  })
  if (run.status !== 0) throw new Error(`npm pack failed in ${dir}: ${run.stderr}`)
  const [result] = JSON.parse(run.stdout) as Array<{ files: Array<{ path: string }> }>
  return new Set(result!.files.map((file) => normalize(file.path)))
}

function maps(dir: string, at = 'dist'): string[] {
  const found: string[] = []
  for (const entry of readdirSync(join(dir, at), { withFileTypes: true })) {
    const path = join(at, entry.name)
    if (entry.isDirectory()) found.push(...maps(dir, path))
    else if (entry.name.endsWith('.js.map')) found.push(path)
  }
  return found
}

describe('source maps of the published packages refer only to shipped files', () => {
  for (const name of publicPackages()) {
    it(`@mqtt-stack/${name}`, () => {
      const dir = join(packagesDir, name)
      const files = packed(dir)
      const missing: string[] = []
      for (const map of maps(dir)) {
        expect(files.has(normalize(map)), `${map} is not packed`).toBe(true)
        const { sources } = JSON.parse(readFileSync(join(dir, map), 'utf8')) as { sources: string[] }
        for (const source of sources) {
          const file = relative(dir, join(dir, dirname(map), source))
          if (!files.has(normalize(file))) missing.push(`${map} -> ${file}`)
        }
      }
      expect(missing).toEqual([])
    }, 30_000)
  }
})
