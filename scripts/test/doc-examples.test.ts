/**
 * The code blocks of the pages that teach the core contract are complete programs: each ```ts block is
 * written to a file of its own inside examples/basic (where the built packages resolve) and the lot is
 * typechecked with the repository's strict settings. A block that drifts from the API fails here.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../', import.meta.url))
const PAGES = ['docs/writing-a-middleware.md', 'packages/core/README.md']

function blocks(page: string): string[] {
  const text = readFileSync(join(root, page), 'utf8')
  return [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]!)
}

const dir = mkdtempSync(join(root, 'examples/basic/.doc-examples-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('the code blocks of the contract pages typecheck against the built packages', () => {
  for (const page of PAGES) {
    it(`${page}: every ts block is complete and typechecks`, () => {
      const found = blocks(page)
      expect(found.length).toBeGreaterThan(0)
      const files = found.map((code, i) => {
        const file = join(dir, `${page.replace(/\W+/g, '-')}-${i + 1}.ts`)
        // Each block is a module of its own, so two blocks may declare the same names.
        writeFileSync(
          file,
          code.includes('import ') || code.includes('export ') ? code : `${code}\nexport {}\n`,
        )
        return file
      })
      const config = join(dir, `tsconfig.${page.replace(/\W+/g, '-')}.json`)
      writeFileSync(
        config,
        JSON.stringify({
          extends: join(root, 'tsconfig.base.json'),
          compilerOptions: { noEmit: true, declaration: false, sourceMap: false },
          files,
        }),
      )
      const tsc = join(root, 'node_modules/typescript/bin/tsc')
      const run = spawnSync(process.execPath, [tsc, '-p', config], { encoding: 'utf8', cwd: dir })
      const report = run.stdout.replaceAll(`${dir}/`, '')
      expect(report, `tsc found errors in the blocks of ${page} (block n is file -n.ts)`).toBe('')
      expect(run.status).toBe(0)
    }, 60_000)
  }
})
