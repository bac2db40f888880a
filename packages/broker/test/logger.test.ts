import { describe, expect, it } from 'vitest'
import { createLogger } from '../src/index.js'

function lineOf(fields: Record<string, unknown>, format: 'pretty' | 'json' = 'pretty'): string {
  const lines: string[] = []
  createLogger({ format, write: (line) => void lines.push(line) }).info(fields, 'message')
  return lines[0]!
}

describe('createLogger', () => {
  it('writes fields as key=value, in their order, without the undefined ones', () => {
    expect(lineOf({ clientId: 'c1', address: undefined, protocol: '5.0', count: 3 })).toMatch(
      /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO {2}message clientId=c1 protocol=5\.0 count=3$/,
    )
  })

  it('quotes a value that is empty or holds a space, a quote, `=` or Unicode white space', () => {
    for (const value of [
      '',
      'a b',
      'a"b',
      'a=b',
      'tab\there',
      'line\nbreak',
      'no\u00a0break',
      'sep\u2028arator',
    ])
      expect(lineOf({ value }).endsWith(` value=${JSON.stringify(value)}`)).toBe(true)
  })

  it('leaves any other text as it is, letters beyond ASCII included', () => {
    for (const value of ['plain', 'café/ü', 'a,b;c', '🙂'])
      expect(lineOf({ value }).endsWith(` value=${value}`)).toBe(true)
  })

  it('writes a JSON line with the fields after time, level and message', () => {
    expect(JSON.parse(lineOf({ clientId: 'c1', address: undefined }, 'json'))).toMatchObject({
      level: 'info',
      msg: 'message',
      clientId: 'c1',
    })
  })
})
