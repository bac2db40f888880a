/**
 * What each published package's tarball carries: its LICENSE and README, the metadata a registry page shows
 * (license, repository, homepage, bugs, engines), and every source its maps refer to, so that stack traces
 * (`node --enable-source-maps`) point at shipped files.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { manifestOf, packagesDir, publicPackages } from './packages.js'

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

describe('the tarball of each published package', () => {
  for (const name of publicPackages()) {
    it(`@mqtt-stack/${name}: LICENSE, README, registry metadata, and the sources of its maps`, () => {
      const dir = join(packagesDir, name)
      const files = packed(dir)
      expect(files.has('LICENSE')).toBe(true)
      expect(files.has('README.md')).toBe(true)
      const manifest = manifestOf(name)
      expect(manifest).toMatchObject({
        license: 'MIT',
        repository: { type: 'git', directory: `packages/${name}` },
        homepage: expect.stringContaining(`packages/${name}`),
        bugs: { url: expect.stringMatching(/^https:/) },
        engines: { node: expect.any(String) },
      })
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
