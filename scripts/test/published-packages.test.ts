/**
 * What each published package's tarball carries: `dist`, its LICENSE and README and package.json, nothing
 * else (no sources, no tests); the metadata a registry page shows (license, repository, homepage, bugs,
 * engines); and maps that carry the text of every source they name, so that stack traces
 * (`node --enable-source-maps`) and debuggers show TypeScript lines without the unshipped `src`.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join, normalize, sep } from 'node:path'
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
    it(`@mqtt-stack/${name}: dist, LICENSE, README, registry metadata, and maps with their sources`, () => {
      const dir = join(packagesDir, name)
      const files = packed(dir)
      expect(files.has('LICENSE')).toBe(true)
      expect(files.has('README.md')).toBe(true)
      const outside = [...files].filter(
        (file) => !file.startsWith(`dist${sep}`) && !['LICENSE', 'README.md', 'package.json'].includes(file),
      )
      expect(outside).toEqual([])
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
        const { sources, sourcesContent = [] } = JSON.parse(readFileSync(join(dir, map), 'utf8')) as {
          sources: string[]
          sourcesContent?: Array<string | null>
        }
        sources.forEach((source, i) => {
          if (typeof sourcesContent[i] !== 'string') missing.push(`${map} -> ${source}`)
        })
      }
      expect(missing).toEqual([])
    }, 30_000)
  }
})
