import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { MemoryBackend, MemoryBackendErrorCode } from '../src/index.js'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

/** The first-column code spans of the first table after `marker` whose header starts with `columns`. */
function tableNames(marker: string, ...columns: string[]): string[] {
  const from = readme.indexOf(marker)
  if (from === -1) throw new Error(`no "${marker}" in the README`)
  const header = new RegExp(`^\\| ${columns.join(' +\\| ')} +\\|`, 'm').exec(readme.slice(from))
  if (!header) throw new Error(`no table with columns ${columns.join(', ')} after "${marker}"`)
  const rest = readme.slice(from + header.index)
  const table = rest.slice(0, rest.indexOf('\n\n'))
  return [...table.matchAll(/^\| `([^`]+)` +\|/gm)].map((match) => match[1]!)
}

describe('the README stays true to the code', () => {
  it('lists every answered callback, and nothing else', () => {
    const answered = Object.keys(new MemoryBackend().callbacks()).sort()
    expect(tableNames('Answered', 'name', 'ctx', 'store').sort()).toEqual(answered)
  })

  it('lists every option with its default', () => {
    const options = tableNames('## Options', 'option', 'type', 'default')
    expect(options.sort()).toEqual(Object.keys(new MemoryBackend().config).sort())
  })

  it('documents every error code', () => {
    const codes = tableNames('## Errors', 'code', 'when', 'how to fix')
    expect(codes).toEqual(expect.arrayContaining(Object.values(MemoryBackendErrorCode)))
  })
})
