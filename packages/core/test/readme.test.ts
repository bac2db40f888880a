import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ErrorCode, STANDARD_CALLBACK_NAMES } from '../src/index.js'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

/** The first-column code spans of the table whose header row starts with these column names. */
function tableNames(...columns: string[]): string[] {
  const header = new RegExp(`^\\| ${columns.join(' +\\| ')} +\\|`, 'm').exec(readme)
  if (!header) throw new Error(`no table with columns ${columns.join(', ')}`)
  const rest = readme.slice(header.index)
  const table = rest.slice(0, rest.indexOf('\n\n'))
  return [...table.matchAll(/^\| `([^`]+)` +\|/gm)].map((match) => match[1]!)
}

describe("core's README stays true to the code", () => {
  it('lists every standard callback, and nothing else, in the catalogue table', () => {
    expect(tableNames('name', 'ctx', 'store').sort()).toEqual([...STANDARD_CALLBACK_NAMES].sort())
  })

  it('documents every error code', () => {
    expect(tableNames('code', 'when', 'how to fix').sort()).toEqual(Object.values(ErrorCode).sort())
  })
})
