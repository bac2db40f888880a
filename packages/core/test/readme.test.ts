import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ErrorCode, STANDARD_CALLBACKS } from '../src/index.js'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

/** The first-column code spans of the table that follows `heading`. */
function tableNames(heading: string): string[] {
  const section = readme.slice(readme.indexOf(heading))
  const table = section.slice(section.indexOf('\n|'), section.indexOf('\n\n', section.indexOf('\n|')))
  return [...table.matchAll(/^\| `([^`]+)` \|/gm)].map((match) => match[1]!)
}

describe("core's README stays true to the code", () => {
  it('lists every standard callback, and nothing else, in the catalogue table', () => {
    expect(tableNames('| name | ctx | store |').sort()).toEqual(Object.keys(STANDARD_CALLBACKS).sort())
  })

  it('documents every error code', () => {
    expect(tableNames('| code | when | how to fix |').sort()).toEqual(Object.values(ErrorCode).sort())
  })
})
